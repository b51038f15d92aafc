//! GitHub Actions workflow commands and environment files, written by hand:
//! annotations, groups and masks on stdout; outputs and the job summary in
//! the files GitHub names in `GITHUB_OUTPUT` and `GITHUB_STEP_SUMMARY`.
//!
//! Formats: <https://docs.github.com/actions/reference/workflow-commands-for-github-actions>.

use std::fmt::Write as _;
use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};

use crate::text::{random_hex, truncate};

/// GitHub refuses a job summary of 1 MiB or more; stay under it with room for the note.
pub const SUMMARY_LIMIT: usize = 1024 * 1024 - 1024;

/// Hides `secret` in every later log line of the job.
pub fn mask(secret: &str) {
    if !secret.is_empty() {
        println!("::add-mask::{}", escape_data(secret));
    }
}

pub fn group(title: &str) {
    println!("::group::{}", escape_data(title));
}

pub fn end_group() {
    println!("::endgroup::");
}

/// `level` is `error`, `warning` or `notice`.
pub fn annotate(level: &str, title: &str, message: &str) {
    println!("::{level} title={}::{}", escape_property(title), escape_data(message));
}

/// An annotation pointing at a line of a file (config errors).
pub fn annotate_file(level: &str, file: &Path, line: Option<usize>, col: Option<usize>, message: &str) {
    let mut props = format!("file={}", escape_property(&file.display().to_string()));
    if let Some(line) = line {
        let _ = write!(props, ",line={line}");
    }
    if let Some(col) = col {
        let _ = write!(props, ",col={col}");
    }
    println!("::{level} {props}::{}", escape_data(message));
}

pub fn escape_data(text: &str) -> String {
    text.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
}

pub fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

/// Appends `name<<DELIM … DELIM` blocks to the `GITHUB_OUTPUT` file. The
/// delimiter is random, so no value can end the block early and inject
/// another output.
pub fn write_outputs(file: &Path, outputs: &[(&str, String)]) -> Result<()> {
    let mut text = String::new();
    for (name, value) in outputs {
        let delimiter = loop {
            let d = format!("ghadelimiter_{}", random_hex(16));
            if !value.contains(&d) {
                break d;
            }
        };
        let _ = write!(text, "{name}<<{delimiter}\n{value}\n{delimiter}\n");
    }
    append(file, &text).with_context(|| format!("writing outputs to GITHUB_OUTPUT {}", file.display()))
}

/// Appends markdown to the `GITHUB_STEP_SUMMARY` file, cut under GitHub's 1 MiB limit.
pub fn write_summary(file: &Path, markdown: &str) -> Result<()> {
    let text = truncate(
        markdown,
        SUMMARY_LIMIT,
        "\n\n_(summary truncated: GitHub keeps at most 1 MiB; the full report is in the `report` output)_\n",
    );
    append(file, &text).with_context(|| format!("writing the job summary to {}", file.display()))
}

fn append(file: &Path, text: &str) -> std::io::Result<()> {
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(file)?;
    f.write_all(text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_use_a_delimiter_that_no_value_contains() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("out");
        write_outputs(&file, &[("status", "success".into()), ("multi", "a\nb".into())]).unwrap();
        let text = std::fs::read_to_string(&file).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("status<<ghadelimiter_"), "{text}");
        assert_eq!(lines[1], "success");
        assert_eq!(lines[2], lines[0].trim_start_matches("status<<"));
        assert_eq!(&lines[4..6], ["a", "b"]);
        assert_ne!(
            lines[0].trim_start_matches("status<<"),
            lines[3].trim_start_matches("multi<<")
        );
    }

    #[test]
    fn escaping_keeps_annotations_on_one_line() {
        assert_eq!(escape_data("50%\nnext"), "50%25%0Anext");
        assert_eq!(escape_property("a:b,c"), "a%3Ab%2Cc");
    }
}
