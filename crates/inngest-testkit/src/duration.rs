//! Inngest time strings (`90s`, `2h45m`, `7d`, `500ms`).

use std::time::Duration;

/// Parse a time string made of `<number><unit>` parts with units `ns`, `us`/`µs`,
/// `ms`, `s`, `m`, `h`, `d`, `w`. `None` for anything else (dates included).
pub fn parse_time_str(s: &str) -> Option<Duration> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    let mut total = 0f64;
    let mut rest = s;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_len == 0 {
            return None;
        }
        let value: f64 = rest[..num_len].parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let secs = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "d" => 86_400.0,
            "w" => 604_800.0,
            _ => return None,
        };
        total += value * secs;
        rest = &rest[unit_len..];
    }
    Some(Duration::from_secs_f64(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_compound_strings() {
        assert_eq!(parse_time_str("90s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_time_str("2h45m"), Some(Duration::from_secs(9900)));
        assert_eq!(parse_time_str("7d"), Some(Duration::from_secs(604_800)));
        assert_eq!(parse_time_str("1w"), Some(Duration::from_secs(604_800)));
        assert_eq!(parse_time_str("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_time_str("1.5h"), Some(Duration::from_secs(5400)));
    }

    #[test]
    fn rejects_other_forms() {
        assert_eq!(parse_time_str(""), None);
        assert_eq!(parse_time_str("2026-01-01T00:00:00Z"), None);
        assert_eq!(parse_time_str("10"), None);
        assert_eq!(parse_time_str("h"), None);
        assert_eq!(parse_time_str("3 hours"), None);
    }
}
