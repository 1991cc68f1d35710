//! Conversions between Unix seconds and the RFC 3339 strings Railway speaks.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// RFC 3339 in UTC with second precision; the Unix epoch for an out-of-range time.
pub fn rfc3339(unix: i64) -> String {
    OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".to_owned())
}

/// Unix seconds of an RFC 3339 timestamp (fractions dropped), `None` when unparsable.
pub fn unix(ts: &str) -> Option<i64> {
    OffsetDateTime::parse(ts, &Rfc3339)
        .ok()
        .map(OffsetDateTime::unix_timestamp)
}

/// Unix nanoseconds, for ordering log lines with sub-second timestamps.
pub fn unix_nanos(ts: &str) -> Option<i128> {
    OffsetDateTime::parse(ts, &Rfc3339)
        .ok()
        .map(OffsetDateTime::unix_timestamp_nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_reads_nanoseconds() {
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(unix("2023-11-14T22:13:20Z"), Some(1_700_000_000));
        assert_eq!(unix("2023-11-14T22:13:20.123456789Z"), Some(1_700_000_000));
        assert!(unix_nanos("2023-11-14T22:13:20.2Z") > unix_nanos("2023-11-14T22:13:20.1Z"));
        assert_eq!(unix("yesterday"), None);
    }
}
