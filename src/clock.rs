//! Now, as sundown reads it: the system clock in Unix seconds, or, for tests
//! only, the RFC 3339 time in `SUNDOWN_NOW` (so that a test can stand at a
//! stack's expiry, a holiday or a Friday evening). Nothing here reaches up.

/// The test-only variable that sets the clock (`2027-01-31T18:00:00Z`).
pub const ENV_VAR: &str = "SUNDOWN_NOW";

/// Now, in Unix seconds: `SUNDOWN_NOW` when it is set (and is a time), else the system clock.
pub fn now() -> u64 {
    if let Some(at) = std::env::var(ENV_VAR).ok().filter(|v| !v.is_empty()) {
        match parse_utc(&at) {
            Some(secs) => return secs,
            None => tracing::warn!("{ENV_VAR}={at:?} is not an RFC 3339 UTC time; using the system clock"),
        }
    }
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// An RFC 3339 time in UTC (`2027-01-31T18:00:00Z`, fractions allowed) as Unix seconds.
pub fn parse_utc(text: &str) -> Option<u64> {
    humantime::parse_rfc3339(text.trim())
        .ok()?
        .duration_since(std::time::UNIX_EPOCH)
        .ok()
        .map(|d| d.as_secs())
}

/// A Unix time as RFC 3339 in UTC, to the second.
pub fn rfc3339(unix_seconds: u64) -> String {
    humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + std::time::Duration::from_secs(unix_seconds)).to_string()
}

/// The UTC date (`2026-12-05`) of a Unix time.
pub fn utc_date(unix_seconds: u64) -> String {
    rfc3339(unix_seconds)[..10].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_and_print_in_utc() {
        assert_eq!(parse_utc("2026-12-07T14:00:00Z"), Some(1_796_652_000));
        assert_eq!(rfc3339(1_796_652_000), "2026-12-07T14:00:00Z");
        assert_eq!(utc_date(1_796_652_000), "2026-12-07");
        assert_eq!(parse_utc("2026-12-07T14:00:00"), None, "no zone");
        assert_eq!(parse_utc("tomorrow"), None);
    }
}
