//! Text helpers shared by the faces and by `notify`: cutting a message to a
//! service's size limit, and random markers. They sit below both, so no
//! module has to reach up into `action` for them.

use std::io::Read;

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
    fn random_hex_has_two_digits_per_byte() {
        let a = random_hex(8);
        assert_eq!(a.len(), 16);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, random_hex(8));
    }
}
