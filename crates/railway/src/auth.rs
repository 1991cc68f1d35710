//! Railway tokens, named as Railway's CLI names them.

use std::fmt;

use crate::error::RailwayError;

/// A Railway API token. `Debug` and `Display` never show the secret.
#[derive(Clone, PartialEq, Eq)]
pub enum Token {
    /// Account or workspace token (`RAILWAY_API_TOKEN`), sent as `Authorization: Bearer`.
    Account(String),
    /// Project token (`RAILWAY_TOKEN`), sent as `Project-Access-Token`.
    Project(String),
}

impl Token {
    /// The variable of an account or workspace token.
    pub const ACCOUNT_VARIABLE: &'static str = "RAILWAY_API_TOKEN";
    /// The variable of a project token.
    pub const PROJECT_VARIABLE: &'static str = "RAILWAY_TOKEN";

    /// The environment variable this kind of token is configured with; errors name it.
    pub fn variable(&self) -> &'static str {
        match self {
            Self::Account(_) => Self::ACCOUNT_VARIABLE,
            Self::Project(_) => Self::PROJECT_VARIABLE,
        }
    }

    /// The token from the two variables Railway's CLI reads (values as given, `None` when unset).
    /// Blank values count as unset; setting both is ambiguous and refused, as Railway's docs say.
    pub fn from_variables(
        api_token: Option<&str>,
        project_token: Option<&str>,
    ) -> Result<Self, RailwayError> {
        let clean = |v: Option<&str>| {
            v.map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        match (clean(api_token), clean(project_token)) {
            (Some(t), None) => Ok(Self::Account(t)),
            (None, Some(t)) => Ok(Self::Project(t)),
            (Some(_), Some(_)) => Err(RailwayError::Config(format!(
                "set only one of {} and {}",
                Self::ACCOUNT_VARIABLE,
                Self::PROJECT_VARIABLE
            ))),
            (None, None) => Err(RailwayError::Config(format!(
                "set {} (account or workspace token) or {} (project token)",
                Self::ACCOUNT_VARIABLE,
                Self::PROJECT_VARIABLE
            ))),
        }
    }

    pub(crate) fn secret(&self) -> &str {
        match self {
            Self::Account(s) | Self::Project(s) => s,
        }
    }

    /// Header name and value to send.
    pub(crate) fn header(&self) -> (&'static str, String) {
        match self {
            Self::Account(s) => ("authorization", format!("Bearer {s}")),
            Self::Project(s) => ("project-access-token", s.clone()),
        }
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self {
            Self::Account(_) => "Account",
            Self::Project(_) => "Project",
        };
        write!(f, "{kind}(<redacted>)")
    }
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (redacted)", self.variable())
    }
}

/// Who we are and which environment we read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credentials {
    /// How requests authenticate.
    pub token: Token,
    /// The project read (`RAILWAY_PROJECT_ID`).
    pub project_id: String,
    /// The environment read (`RAILWAY_ENVIRONMENT_ID`, or the id a name resolved to).
    pub environment_id: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_hide_the_secret() {
        let creds = Credentials {
            token: Token::Project("tok-very-secret".into()),
            project_id: "p".into(),
            environment_id: "e".into(),
        };
        let shown = format!(
            "{creds:?} {} {:?}",
            creds.token,
            Token::Account("tok-very-secret".into())
        );
        assert!(!shown.contains("tok-very-secret"), "{shown}");
        assert!(shown.contains("RAILWAY_TOKEN"));
    }

    #[test]
    fn token_from_variables() {
        assert_eq!(
            Token::from_variables(Some(" a "), None).unwrap(),
            Token::Account("a".into())
        );
        assert_eq!(
            Token::from_variables(Some(""), Some("p")).unwrap(),
            Token::Project("p".into())
        );
        let both = Token::from_variables(Some("a-secret"), Some("p-secret")).unwrap_err();
        assert!(both.to_string().contains("only one"));
        assert!(!both.to_string().contains("secret"));
        assert!(Token::from_variables(None, Some("  ")).is_err());
    }

    #[test]
    fn headers_follow_the_cli_convention() {
        assert_eq!(
            Token::Account("a".into()).header(),
            ("authorization", "Bearer a".into())
        );
        assert_eq!(
            Token::Project("b".into()).header(),
            ("project-access-token", "b".into())
        );
    }
}
