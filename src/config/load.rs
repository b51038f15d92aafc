//! Loading `sundown.yaml`: the path (flag, `SUNDOWN_CONFIG`, default), the
//! size limit, parsing with the key path of an error, and `ConfigError`
//! (`FILE:LINE:COLUMN: KEY: MESSAGE`), whose line is found by key.

use super::*;
use std::fmt;
use std::path::{Path, PathBuf};

/// A config problem, reported as `FILE:LINE:COLUMN: KEY: MESSAGE`. Exit code 2.
#[derive(Debug)]
pub struct ConfigError {
    pub file: PathBuf,
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub key: Option<String>,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        if let Some(key) = &self.key {
            write!(f, ": {key}")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ConfigError {}

impl ConfigError {
    fn whole_file(file: &Path, message: impl Into<String>) -> Self {
        ConfigError {
            file: file.to_owned(),
            line: None,
            column: None,
            key: None,
            message: message.into(),
        }
    }
}

/// The line and column (1-based) of the first tab in a line's indentation.
fn tab_in_indentation(text: &str) -> Option<(usize, usize)> {
    text.lines().enumerate().find_map(|(i, line)| {
        let indent = &line[..line.len() - line.trim_start().len()];
        match line.trim().is_empty() {
            true => None,
            false => indent.find('\t').map(|at| (i + 1, at + 1)),
        }
    })
}

/// Picks the config path: `--config`, else `$SUNDOWN_CONFIG`, else `./sundown.yaml`.
pub fn resolve_path(flag: Option<PathBuf>) -> PathBuf {
    flag.or_else(|| std::env::var_os(ENV_VAR).filter(|v| !v.is_empty()).map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(DEFAULT_PATH))
}

/// Files larger than this are not configs; refuse rather than parse them.
const MAX_BYTES: u64 = 1024 * 1024;

impl Config {
    /// Reads and validates the config at `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let meta = std::fs::metadata(path).map_err(|e| {
            let hint = if e.kind() == std::io::ErrorKind::NotFound {
                format!("not found; pass --config PATH or set {ENV_VAR} (see sundown.example.yaml)")
            } else {
                format!("cannot read: {e}")
            };
            ConfigError::whole_file(path, hint)
        })?;
        if meta.is_dir() {
            return Err(ConfigError::whole_file(
                path,
                "is a directory; pass the path of sundown.yaml itself",
            ));
        }
        if meta.len() > MAX_BYTES {
            return Err(ConfigError::whole_file(
                path,
                format!("is {} bytes; a config is at most 1 MiB", meta.len()),
            ));
        }
        let text =
            std::fs::read_to_string(path).map_err(|e| ConfigError::whole_file(path, format!("cannot read: {e}")))?;
        let mut config = Config::parse(&text, path)?;
        config.resolve_relative_to(path.parent().unwrap_or(Path::new(".")));
        Ok(config)
    }

    /// Parses config text; `file` only names the source in errors.
    pub fn parse(text: &str, file: &Path) -> Result<Config, ConfigError> {
        if text.trim().is_empty() {
            return Err(ConfigError::whole_file(
                file,
                "is empty; it needs at least `stack:` and `region:`",
            ));
        }
        // YAML indents with spaces only; the parser's own error lands on the parent key and never says why.
        if let Some((line, column)) = tab_in_indentation(text) {
            return Err(ConfigError {
                file: file.to_owned(),
                line: Some(line),
                column: Some(column),
                key: None,
                message: "a tab in the indentation: YAML indents with spaces only; replace it with spaces".into(),
            });
        }
        let deserializer = serde_norway::Deserializer::from_str(text);
        let config: Config = serde_path_to_error::deserialize(deserializer).map_err(|err| {
            let path = err.path().to_string();
            let inner = err.into_inner();
            let (message, key) = split_message(&inner.to_string(), &path);
            // serde_norway places errors raised inside a value at the enclosing
            // mapping; the key's own line is what a user needs, so find it.
            let serde_location = inner.location().map(|l| (l.line(), l.column()));
            let location = key.as_deref().and_then(|k| locate(text, k)).or(serde_location);
            ConfigError {
                file: file.to_owned(),
                line: location.map(|l| l.0),
                column: location.map(|l| l.1),
                key,
                message,
            }
        })?;
        config.validate(text, file)?;
        Ok(config)
    }

    /// Rules across keys, which serde cannot express.
    fn validate(&self, text: &str, file: &Path) -> Result<(), ConfigError> {
        if let Some(k) = &self.kubernetes
            && k.cluster.is_none()
            && k.kubeconfig.is_none()
        {
            let location = locate(text, "kubernetes");
            return Err(ConfigError {
                file: file.to_owned(),
                line: location.map(|l| l.0),
                column: location.map(|l| l.1),
                key: Some("kubernetes".into()),
                message: "name the stack's cluster (kubernetes.cluster) or a kubeconfig (kubernetes.kubeconfig); \
                          sundown never takes the current kubectl context from the environment"
                    .into(),
            });
        }
        if let Some(start) = self.schedule.start.rule()
            && super::same_schedule(&self.schedule.stop, start)
        {
            let location = locate(text, "start");
            return Err(ConfigError {
                file: file.to_owned(),
                line: location.map(|l| l.0),
                column: location.map(|l| l.1),
                key: Some("schedule.start".into()),
                message: "is the same expression as schedule.stop: the stack would stop and start at once; \
                          give the start rule its own time"
                    .into(),
            });
        }
        Ok(())
    }

    fn resolve_relative_to(&mut self, base: &Path) {
        let absolute = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        if let Some(path) = self.kubernetes.as_mut().and_then(|k| k.kubeconfig.as_mut()) {
            absolute(path);
        }
        if let Some(t) = &mut self.terraform {
            absolute(&mut t.dir);
        }
    }
}

/// Keys that moved, and where to: an old key is an error naming its new one.
const MOVED: &[(&str, &str)] = &[
    ("verify.stop_schedule", "schedule.stop"),
    ("verify.start_schedule", "schedule.start"),
    ("verify.scheduler", "schedule.scheduler"),
];

/// Turns serde's message and path into (message, key). serde_norway appends
/// " at line L column C"; the location is reported separately, so it is cut.
fn split_message(raw: &str, path: &str) -> (String, Option<String>) {
    let parent = if path == "." || path.is_empty() {
        None
    } else {
        Some(path.to_string())
    };
    let mut message = match raw.find(" at line ") {
        Some(at) => &raw[..at],
        None => raw,
    };
    // serde_norway starts messages about nested values with the path of their mapping.
    if let Some((prefix, rest)) = message.split_once(": ")
        && path.starts_with(prefix)
        && !prefix.contains(' ')
    {
        message = rest;
    }
    let message = message.to_string();
    let join = |field: &str| match &parent {
        Some(p) if p == field || p.ends_with(&format!(".{field}")) => p.clone(),
        Some(p) => format!("{p}.{field}"),
        None => field.to_string(),
    };
    // Errors about one field name it in backticks; make it part of the key.
    if let Some(field) = backticked(&message, "unknown field `") {
        if let Some((_, to)) = MOVED.iter().find(|(from, _)| *from == join(field)) {
            return (
                format!("has moved: write it as {to} (see docs/schedule.md)"),
                Some(join(field)),
            );
        }
        let expected = message
            .split_once(", expected")
            .map(|(_, rest)| rest.trim().to_string());
        let hint = match expected {
            Some(list) => format!("unknown key; expected {list}"),
            None => "unknown key".to_string(),
        };
        return (hint, Some(join(field)));
    }
    if let Some(field) = backticked(&message, "missing field `") {
        return ("required key is missing".to_string(), Some(join(field)));
    }
    (message, parent)
}

/// The line and column of a dotted key in block-style YAML, when it is
/// written there. A missing key resolves to its parent (or line 1 at the top).
fn locate(text: &str, key: &str) -> Option<(usize, usize)> {
    let segments: Vec<&str> = key.split('.').map(|s| s.split('[').next().unwrap_or(s)).collect();
    let mut depth = 0;
    let mut parent_indent: Option<usize> = None;
    let mut found = (1, 1);
    for (number, line) in text.lines().enumerate() {
        let body = line.trim_start();
        if body.is_empty() || body.starts_with('#') {
            continue;
        }
        let indent = line.len() - body.len();
        if parent_indent.is_some_and(|p| indent <= p) {
            break; // left the parent's block without finding the key
        }
        let is_key = body
            .strip_prefix(segments[depth])
            .is_some_and(|rest| rest.starts_with(':'));
        if is_key {
            found = (number + 1, indent + 1);
            depth += 1;
            if depth == segments.len() {
                return Some(found);
            }
            parent_indent = Some(indent);
        }
    }
    Some(found)
}

fn backticked<'a>(message: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = message.strip_prefix(prefix)?;
    rest.split('`').next()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, String> {
        Config::parse(text, Path::new("sundown.yaml")).map_err(|e| e.to_string())
    }

    #[test]
    fn minimal_config_skips_every_phase() {
        let c = parse("stack: s\nregion: us-east-1\n").unwrap();
        assert!(c.kubernetes.is_none() && c.sagemaker.is_none() && c.ecr.is_none() && c.terraform.is_none());
        assert_eq!(c.protect.tag, "sundown:protect");
        assert_eq!(c.notify.github_comment, GithubComment::Update);
    }

    #[test]
    fn example_config_parses() {
        let text = include_str!("../../sundown.example.yaml");
        let c = parse(text).unwrap();
        assert_eq!(c.kubernetes.unwrap().wait, Duration::from_secs(600));
        assert_eq!(c.sagemaker.unwrap().wait, Duration::from_secs(1200));
        let t = c.terraform.unwrap();
        assert_eq!(t.lock_timeout, Duration::from_secs(300));
        assert_eq!(t.timeout, Duration::from_secs(3600));
    }

    #[test]
    fn repository_config_parses() {
        let c = parse(include_str!("../../sundown.yaml")).unwrap();
        assert_eq!(c.project_tag().value, "retail-forecast");
        assert_eq!(c.verify.max_log_retention_days, 30);
    }

    #[test]
    fn unknown_key_names_line_and_key() {
        let err = parse("stack: s\nregion: us-east-1\necr:\n  repositorys: [a]\n").unwrap_err();
        assert!(err.starts_with("sundown.yaml:4:"), "{err}");
        assert!(err.contains("ecr.repositorys: unknown key"), "{err}");
    }

    #[test]
    fn bad_duration_names_line_and_key() {
        let err = parse("stack: s\nregion: us-east-1\nsagemaker:\n  endpoint_prefix: p\n  wait: soon\n").unwrap_err();
        assert!(err.starts_with("sundown.yaml:5:"), "{err}");
        assert!(err.contains("sagemaker.wait: invalid duration \"soon\""), "{err}");
    }

    #[test]
    fn the_same_stop_and_start_schedule_is_refused_at_its_line() {
        let err = parse(
            "stack: s\nregion: us-east-1\nschedule:\n  stop: cron(0 19 ? * MON-FRI *)\n  start: cron(0 19 ? * mon-fri *)\n",
        )
        .unwrap_err();
        assert!(err.starts_with("sundown.yaml:5:"), "{err}");
        assert!(
            err.contains("schedule.start: is the same expression as schedule.stop"),
            "{err}"
        );
    }

    #[test]
    fn the_schedule_keys_that_moved_out_of_verify_name_their_new_key() {
        for (old, new) in [
            (
                "stop_schedule: cron(0 19 * * ? *)",
                "verify.stop_schedule: has moved: write it as schedule.stop",
            ),
            (
                "start_schedule: cron(0 7 * * ? *)",
                "verify.start_schedule: has moved: write it as schedule.start",
            ),
            (
                "scheduler: fn",
                "verify.scheduler: has moved: write it as schedule.scheduler",
            ),
        ] {
            let err = parse(&format!("stack: s\nregion: us-east-1\nverify:\n  {old}\n")).unwrap_err();
            assert!(err.starts_with("sundown.yaml:4:"), "{err}");
            assert!(err.contains(new), "{err}");
        }
    }

    #[test]
    fn holidays_are_utc_dates_and_start_may_be_manual() {
        let c = parse(
            "stack: s\nregion: us-east-1\nschedule:\n  start: manual\n  holidays: [2026-12-25, \"2027-01-01\"]\n",
        )
        .unwrap();
        assert_eq!(c.schedule.start, Start::Manual);
        assert!(c.schedule.is_holiday(1_798_156_800 + 3600), "2026-12-25 01:00 UTC");
        assert!(!c.schedule.is_holiday(1_798_156_800 - 1), "2026-12-24 23:59:59 UTC");
        for bad in ["2026-02-30", "25.12.2026", "2026-1-1"] {
            let err = parse(&format!(
                "stack: s\nregion: us-east-1\nschedule:\n  holidays: [\"{bad}\"]\n"
            ))
            .unwrap_err();
            assert!(
                err.contains("schedule.holidays") && err.contains("YYYY-MM-DD"),
                "{bad}: {err}"
            );
        }
        let err = parse("stack: s\nregion: us-east-1\nschedule:\n  holidays: [2026-12-25, 2026-12-25]\n").unwrap_err();
        assert!(err.contains("schedule.holidays"), "{err}");
    }

    #[test]
    fn a_lifetime_is_a_utc_time_not_long_past() {
        let lifetime = |at: &str| parse(&format!("stack: s\nregion: us-east-1\nlifetime:\n  expires_at: {at}\n"));
        let c = lifetime("2027-01-31T18:00:00Z").unwrap();
        let l = c.lifetime.unwrap();
        assert_eq!((l.expires_at, l.remind_before.as_secs()), (1_801_418_400, 24 * 3600));
        for (at, says) in [
            ("2027-01-31T18:00:00", "has no zone"),
            ("\"2027-01-31 18:00:00\"", "has no zone"),
            ("next friday", "is not a time"),
            ("2020-01-01T00:00:00Z", "more than a year in the past"),
        ] {
            let err = lifetime(at).unwrap_err();
            assert!(err.starts_with("sundown.yaml:4:"), "{at}: {err}");
            assert!(err.contains("lifetime.expires_at") && err.contains(says), "{at}: {err}");
        }
    }

    #[test]
    fn missing_stack_is_named() {
        let err = parse("region: us-east-1\n").unwrap_err();
        assert!(err.contains("stack: required key is missing"), "{err}");
    }

    #[test]
    fn account_ids_are_twelve_digits() {
        assert!(
            parse("stack: s\nregion: us-east-1\naccounts: [\"12345\"]\n")
                .unwrap_err()
                .contains("12-digit")
        );
        // An unquoted id keeps its digits, leading zeros included.
        let c = parse("stack: s\nregion: us-east-1\naccounts: [012345678901]\n").unwrap();
        assert_eq!(c.accounts, ["012345678901"]);
    }

    #[test]
    fn duplicate_and_empty_lists_are_refused() {
        assert!(
            parse("stack: s\nregion: us-east-1\necr:\n  repositories: [a, a]\n")
                .unwrap_err()
                .contains("listed twice")
        );
        assert!(
            parse("stack: s\nregion: us-east-1\necr:\n  repositories: []\n")
                .unwrap_err()
                .contains("at least one")
        );
        // A cluster whose teardown deletes no namespace (its node groups are scheduled).
        let c = parse("stack: s\nregion: us-east-1\nkubernetes:\n  cluster: c\n  namespaces: []\n").unwrap();
        assert!(c.kubernetes.unwrap().namespaces.is_empty());
    }

    #[test]
    fn kubernetes_names_its_cluster_or_kubeconfig() {
        let err = parse("stack: s\nregion: us-east-1\nkubernetes:\n  namespaces: [a]\n").unwrap_err();
        assert!(
            err.starts_with("sundown.yaml:3:1: kubernetes: name the stack's cluster"),
            "{err}"
        );
    }

    #[test]
    fn scope_tags_are_a_map_of_non_empty_strings() {
        let c = parse("stack: s\nregion: us-east-1\nscope:\n  tags: { Project: p, Environment: dev }\n").unwrap();
        assert_eq!(c.scope.tags.get("Environment").map(String::as_str), Some("dev"));
        assert!(
            parse("stack: s\nregion: us-east-1\nscope:\n  tags: { Project: \"\" }\n")
                .unwrap_err()
                .contains("must not be empty")
        );
        assert!(parse("stack: s\nregion: us-east-1\n").unwrap().scope.tags.is_empty());
    }
}
