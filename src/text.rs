//! Text helpers shared by every layer: money and durations as users read them,
//! cutting a message to a service's size limit, and random markers. They sit
//! in the base layer, so no module reaches up into `cost` or `report` for them.

use std::io::Read;

/// `$12.34`; a sum that rounds to zero is `$0.00`, never `$-0.00`.
pub fn dollars(usd: f64) -> String {
    let usd = if usd.abs() < 0.005 { 0.0 } else { usd };
    format!("${usd:.2}")
}

/// `$412/month`, as plans, reports and notifications say it.
pub fn per_month(usd: f64) -> String {
    if usd >= 100.0 {
        format!("${usd:.0}/month")
    } else {
        format!("${usd:.2}/month")
    }
}

/// `42s`, `3m02s`, `1h05m00s`: how progress lines and reports show a duration.
pub fn short_duration(d: std::time::Duration) -> String {
    let s = d.as_secs();
    match (s / 3600, s % 3600 / 60, s % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, s) => format!("{m}m{s:02}s"),
        (h, m, s) => format!("{h}h{m:02}m{s:02}s"),
    }
}

/// `text` cut to at most `limit` bytes on a character boundary, with `note` appended when cut.
pub fn truncate(text: &str, limit: usize, note: &str) -> String {
    if text.len() <= limit {
        return text.to_string();
    }
    let mut end = limit.saturating_sub(note.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{note}", &text[..end])
}

/// Random hex from the kernel; falls back to time and pid where /dev/urandom is missing.
pub fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    let read = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut buf));
    if read.is_err() {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default()
            ^ u128::from(std::process::id());
        for (i, b) in buf.iter_mut().enumerate() {
            *b = (seed >> ((i % 16) * 8)) as u8;
        }
    }
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_keeps_the_limit_and_char_boundaries() {
        let text = "é".repeat(1000);
        let cut = truncate(&text, 101, "[cut]");
        assert!(cut.len() <= 101, "{}", cut.len());
        assert!(cut.ends_with("[cut]"));
        assert_eq!(truncate("short", 100, "[cut]"), "short");
    }

    #[test]
    fn a_sum_that_rounds_to_zero_has_no_sign() {
        assert_eq!(dollars(-0.0), "$0.00");
        assert_eq!(dollars(-0.0000001), "$0.00");
        assert_eq!(dollars(-1.5), "$-1.50");
        assert_eq!(dollars(12.344), "$12.34");
    }

    #[test]
    fn random_hex_has_two_digits_per_byte() {
        let a = random_hex(8);
        assert_eq!(a.len(), 16);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, random_hex(8));
    }
}
