//! Railway tokens, named as Railway's CLI names them.

use std::fmt;

/// A Railway API token. `Debug` and `Display` never show the secret.
#[derive(Clone, PartialEq, Eq)]
pub enum Token {
    /// Account or workspace token (`RAILWAY_API_TOKEN`), sent as `Authorization: Bearer`.
    Account(String),
    /// Project token (`RAILWAY_TOKEN`), sent as `Project-Access-Token`.
    Project(String),
}

impl Token {
    pub const ACCOUNT_VARIABLE: &'static str = "RAILWAY_API_TOKEN";
    pub const PROJECT_VARIABLE: &'static str = "RAILWAY_TOKEN";

    /// The environment variable this kind of token is configured with; errors name it.
    pub fn variable(&self) -> &'static str {
        match self {
            Self::Account(_) => Self::ACCOUNT_VARIABLE,
            Self::Project(_) => Self::PROJECT_VARIABLE,
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
    pub token: Token,
    pub project_id: String,
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
