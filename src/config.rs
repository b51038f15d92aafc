//! `sundown.yaml`: the one config file, parsed strictly.
//!
//! Owns the user-facing contract (key names, defaults, validation) and the
//! one-line errors that name the file, line and key. It performs no I/O
//! besides reading the file and never talks to AWS.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use schemars::JsonSchema;
use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize};

/// Where the config comes from when `--config` is not given.
pub const ENV_VAR: &str = "SUNDOWN_CONFIG";
/// The default path, relative to the working directory.
pub const DEFAULT_PATH: &str = "sundown.yaml";

/// The whole of `sundown.yaml`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Name shown in reports and notifications, and the stack's part of the tags
    /// `schedule stop` remembers in: letters, digits, spaces and `_ . : / = + - @`.
    #[serde(deserialize_with = "stack_name")]
    #[schemars(length(min = 1, max = 102))]
    pub stack: String,
    /// The AWS region of the stack (e.g. us-east-1).
    #[serde(deserialize_with = "non_empty")]
    #[schemars(length(min = 1))]
    pub region: String,
    /// Allowlist of AWS account ids; teardown refuses any other account.
    #[serde(default, deserialize_with = "account_ids")]
    #[schemars(inner(regex(pattern = r"^[0-9]{12}$")))]
    pub accounts: Vec<String>,
    /// The tag that keeps a resource out of every teardown.
    #[serde(default)]
    pub protect: Protect,
    /// What makes a resource that sundown finds by name the stack's.
    #[serde(default)]
    pub scope: Scope,
    /// Phase 1: the stack's namespaces on its EKS cluster. Absent: the phase is skipped.
    pub kubernetes: Option<Kubernetes>,
    /// Phase 2: SageMaker endpoints, their configs and models, found by name. Absent: skipped.
    pub sagemaker: Option<SageMaker>,
    /// Phase 3: every image in the stack's ECR repositories. Absent: skipped.
    pub ecr: Option<Ecr>,
    /// Phase 4: `terraform destroy` of the stack's module. Absent: skipped.
    pub terraform: Option<Terraform>,
    /// Where the report goes after a teardown.
    #[serde(default)]
    pub notify: Notify,
    /// How `sundown schedule stop|start` runs.
    #[serde(default)]
    pub schedule: Schedule,
    /// What `sundown verify` expects; every key has a default.
    #[serde(default)]
    pub verify: Verify,
}

/// The tag that keeps a resource out of every teardown.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Protect {
    /// Tag key.
    #[serde(deserialize_with = "non_empty")]
    #[schemars(length(min = 1))]
    pub tag: String,
    /// Tag value that protects.
    #[serde(deserialize_with = "non_empty")]
    #[schemars(length(min = 1))]
    pub value: String,
}

impl Default for Protect {
    fn default() -> Self {
        Protect {
            tag: "sundown:protect".into(),
            value: "true".into(),
        }
    }
}

impl Protect {
    /// True when a resource's tags carry the protect tag with its value.
    pub fn matches<'a>(&self, mut tags: impl Iterator<Item = (&'a str, &'a str)>) -> bool {
        tags.any(|(k, v)| k == self.tag && v == self.value)
    }
}

/// Ownership beyond the name: `scope.tags`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Scope {
    /// Tags a resource found by name must carry, every one with this value,
    /// to be the stack's (SageMaker endpoints, leftover configs and models,
    /// node groups in `schedule`). Empty: ownership is by name only.
    #[serde(default, deserialize_with = "tag_map")]
    pub tags: BTreeMap<String, String>,
}

/// The Kubernetes label that protects a namespace.
pub const NAMESPACE_PROTECT_LABEL: &str = "sundown.io/protect";

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Kubernetes {
    /// EKS cluster name: endpoint, CA and token come from AWS unless `kubeconfig` is set.
    #[serde(default)]
    pub cluster: Option<String>,
    /// A kubeconfig to use instead of EKS discovery. With `cluster` too, its
    /// server must be the cluster's endpoint (or `api_server`).
    #[serde(default)]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig's context; required when it has more than one.
    #[serde(default)]
    pub context: Option<String>,
    /// The API server the kubeconfig must point at when that is not the
    /// cluster's endpoint (a private endpoint through a tunnel or proxy).
    #[serde(default)]
    pub api_server: Option<String>,
    /// Namespaces the teardown deletes (and awaits). May be empty: a cluster whose
    /// node groups `schedule` manages but whose teardown deletes no namespace.
    #[serde(deserialize_with = "distinct_names")]
    #[schemars(extend("uniqueItems" = true))]
    pub namespaces: Vec<String>,
    /// How long the phase waits for its namespaces to be gone (e.g. 90s, 10m, 1h30m).
    #[serde(default = "ten_minutes", deserialize_with = "duration")]
    #[schemars(with = "String", extend("default" = "10m"))]
    pub wait: Duration,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SageMaker {
    /// Endpoints whose name starts with this prefix belong to the stack.
    #[serde(deserialize_with = "non_empty")]
    #[schemars(length(min = 1))]
    pub endpoint_prefix: String,
    /// Also delete the endpoint configs of deleted endpoints, and leftover ones matching the name.
    #[serde(default = "yes")]
    pub delete_configs: bool,
    /// Also delete the models of deleted configs, and leftover ones matching the name.
    #[serde(default = "yes")]
    pub delete_models: bool,
    /// Bound of the whole phase: deleting every endpoint and waiting for them all to be gone.
    #[serde(default = "twenty_minutes", deserialize_with = "duration")]
    #[schemars(with = "String", extend("default" = "20m"))]
    pub wait: Duration,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Ecr {
    /// Repositories whose images are all deleted (the repositories themselves are Terraform's).
    #[serde(deserialize_with = "unique_names")]
    #[schemars(length(min = 1), extend("uniqueItems" = true))]
    pub repositories: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Terraform {
    /// The Terraform module's directory; relative paths are resolved against the config file's directory.
    #[serde(default = "infra")]
    pub dir: PathBuf,
    /// The Terraform executable: a name on PATH or a path.
    #[serde(default = "terraform")]
    pub binary: String,
    /// The Terraform workspace (TF_WORKSPACE); the default workspace when unset.
    #[serde(default)]
    pub workspace: Option<String>,
    /// `-var-file` arguments of `terraform destroy`, relative to `dir`.
    #[serde(default)]
    pub var_files: Vec<PathBuf>,
    /// `-backend-config` files for `terraform init`, relative to `dir`.
    #[serde(default)]
    pub backend_config: Vec<PathBuf>,
    /// How long Terraform waits for the state lock (`-lock-timeout`).
    #[serde(default = "five_minutes", deserialize_with = "duration")]
    #[schemars(with = "String", extend("default" = "5m"))]
    pub lock_timeout: Duration,
    /// Bound of `terraform destroy`; on expiry it is stopped as on a cancel.
    #[serde(default = "sixty_minutes", deserialize_with = "duration")]
    #[schemars(with = "String", extend("default" = "60m"))]
    pub timeout: Duration,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Notify {
    /// SNS topic that receives the report; none when unset.
    #[serde(default)]
    pub sns_topic_arn: Option<String>,
    /// The pull-request comment of the Action: update sundown's comment, post a new one, or none.
    #[serde(default)]
    pub github_comment: GithubComment,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum GithubComment {
    /// Update sundown's earlier comment on the pull request, or post one.
    #[default]
    Update,
    /// Post a new comment every run.
    New,
    /// No comment.
    Off,
}

/// How `sundown schedule stop|start` runs.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    /// Bound of one run's waits: for an endpoint still Deleting before `start`
    /// recreates it, and for a node group mid-update before it is scaled.
    /// Keep it below the scheduler Lambda's timeout.
    #[serde(default = "ten_minutes", deserialize_with = "duration")]
    #[schemars(with = "String", extend("default" = "10m"))]
    pub wait: Duration,
}

impl Default for Schedule {
    fn default() -> Self {
        Schedule { wait: ten_minutes() }
    }
}

/// Expectations of `sundown verify`. The lifecycle rules themselves are fixed
/// (see `checks::s3`); these are the values a stack chooses.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Verify {
    /// The tag every stack resource carries; the value defaults to `stack`.
    #[serde(default)]
    pub project_tag: Option<Tag>,
    /// Data buckets whose lifecycle and tiering are checked.
    #[serde(default)]
    pub buckets: Vec<String>,
    /// Prefix of the Intelligent-Tiering archive configuration.
    #[serde(default = "data_prefix")]
    pub tiering_prefix: String,
    /// Log groups under these prefixes must expire.
    #[serde(default)]
    pub log_group_prefixes: Vec<String>,
    /// The longest retention a log group may have.
    #[serde(default = "thirty")]
    pub max_log_retention_days: i64,
    /// ACTUAL-spend notification thresholds (percent) the budget must have.
    #[serde(default = "thresholds")]
    pub budget_thresholds: Vec<f64>,
    /// EventBridge schedule expression of the off-hours stop rule.
    #[serde(default = "stop_cron", deserialize_with = "non_empty")]
    #[schemars(length(min = 1))]
    pub stop_schedule: String,
    /// EventBridge schedule expression of the morning start rule.
    #[serde(default = "start_cron", deserialize_with = "non_empty")]
    #[schemars(length(min = 1))]
    pub start_schedule: String,
    /// Part of the ARN the schedule rules must target (e.g. the scheduler Lambda's name); any target when unset.
    #[serde(default)]
    pub scheduler: Option<String>,
    /// Training jobs created within this many days must use managed spot training.
    #[serde(default = "thirty")]
    pub training_days: i64,
    /// Each node group needs at least this many instance types to ride out spot reclaims.
    #[serde(default = "two")]
    pub min_spot_instance_types: usize,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Tag {
    /// Tag key.
    #[serde(deserialize_with = "non_empty")]
    #[schemars(length(min = 1))]
    pub key: String,
    /// Tag value.
    #[serde(deserialize_with = "non_empty")]
    #[schemars(length(min = 1))]
    pub value: String,
}

impl Default for Verify {
    fn default() -> Self {
        Verify {
            project_tag: None,
            buckets: Vec::new(),
            tiering_prefix: data_prefix(),
            log_group_prefixes: Vec::new(),
            max_log_retention_days: thirty(),
            budget_thresholds: thresholds(),
            stop_schedule: stop_cron(),
            start_schedule: start_cron(),
            scheduler: None,
            training_days: thirty(),
            min_spot_instance_types: two(),
        }
    }
}

impl Config {
    /// The project tag: `verify.project_tag`, else `Project` = the stack's name.
    pub fn project_tag(&self) -> Tag {
        self.verify.project_tag.clone().unwrap_or_else(|| Tag {
            key: "Project".into(),
            value: self.stack.clone(),
        })
    }
}

fn data_prefix() -> String {
    "data/".into()
}
fn thirty() -> i64 {
    30
}
fn two() -> usize {
    2
}
fn thresholds() -> Vec<f64> {
    vec![80.0, 100.0]
}
fn stop_cron() -> String {
    "cron(0 19 * * ? *)".into()
}
fn start_cron() -> String {
    "cron(0 7 * * ? *)".into()
}

fn yes() -> bool {
    true
}
fn infra() -> PathBuf {
    PathBuf::from("infra")
}
fn terraform() -> String {
    "terraform".into()
}
fn five_minutes() -> Duration {
    Duration::from_secs(5 * 60)
}
fn ten_minutes() -> Duration {
    Duration::from_secs(10 * 60)
}
fn twenty_minutes() -> Duration {
    Duration::from_secs(20 * 60)
}
fn sixty_minutes() -> Duration {
    Duration::from_secs(60 * 60)
}

/// A stack name that fits in the schedule's tag keys (`markers::unfit_stack_name`).
fn stack_name<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let s = non_empty(d)?;
    match crate::markers::unfit_stack_name(&s) {
        Some(why) => Err(de::Error::custom(why)),
        None => Ok(s),
    }
}

fn non_empty<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let s = String::deserialize(d)?;
    if s.trim().is_empty() {
        return Err(de::Error::custom("must not be empty"));
    }
    Ok(s)
}

/// A list of distinct, non-empty names; an empty list is almost always a mistake.
fn unique_names<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let names = Vec::<String>::deserialize(d)?;
    if names.is_empty() {
        return Err(de::Error::custom(
            "must list at least one name (remove the section to skip this phase)",
        ));
    }
    check_distinct(names)
}

/// A list of distinct, non-empty names; empty is allowed.
fn distinct_names<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    check_distinct(Vec::<String>::deserialize(d)?)
}

fn check_distinct<E: de::Error>(names: Vec<String>) -> Result<Vec<String>, E> {
    let mut seen = HashSet::new();
    for name in &names {
        if name.trim().is_empty() {
            return Err(de::Error::custom("names must not be empty"));
        }
        if !seen.insert(name) {
            return Err(de::Error::custom(format!("{name:?} is listed twice")));
        }
    }
    Ok(names)
}

/// A map of tag keys to values, neither empty.
fn tag_map<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    let tags = BTreeMap::<String, String>::deserialize(d)?;
    if tags.iter().any(|(k, v)| k.trim().is_empty() || v.trim().is_empty()) {
        return Err(de::Error::custom("tag keys and values must not be empty"));
    }
    Ok(tags)
}

fn account_ids<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let ids = Vec::<String>::deserialize(d)?;
    for id in &ids {
        if id.len() != 12 || !id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(de::Error::custom(format!("{id:?} is not a 12-digit AWS account id")));
        }
    }
    Ok(ids)
}

fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(d)?;
    humantime::parse_duration(&text)
        .map_err(|e| de::Error::custom(format!("invalid duration {text:?} ({e}); write e.g. 90s, 10m or 1h30m")))
}

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
        let text = include_str!("../sundown.example.yaml");
        let c = parse(text).unwrap();
        assert_eq!(c.kubernetes.unwrap().wait, Duration::from_secs(600));
        assert_eq!(c.sagemaker.unwrap().wait, Duration::from_secs(1200));
        let t = c.terraform.unwrap();
        assert_eq!(t.lock_timeout, Duration::from_secs(300));
        assert_eq!(t.timeout, Duration::from_secs(3600));
    }

    #[test]
    fn repository_config_parses() {
        let c = parse(include_str!("../sundown.yaml")).unwrap();
        assert_eq!(c.project_tag().value, "retail-forecast");
        assert_eq!(c.verify.max_log_retention_days, 30);
    }

    #[test]
    fn unknown_key_names_line_and_key() {
        let err = parse("stack: s\nregion: r\necr:\n  repositorys: [a]\n").unwrap_err();
        assert!(err.starts_with("sundown.yaml:4:"), "{err}");
        assert!(err.contains("ecr.repositorys: unknown key"), "{err}");
    }

    #[test]
    fn bad_duration_names_line_and_key() {
        let err = parse("stack: s\nregion: r\nsagemaker:\n  endpoint_prefix: p\n  wait: soon\n").unwrap_err();
        assert!(err.starts_with("sundown.yaml:5:"), "{err}");
        assert!(err.contains("sagemaker.wait: invalid duration \"soon\""), "{err}");
    }

    #[test]
    fn missing_stack_is_named() {
        let err = parse("region: r\n").unwrap_err();
        assert!(err.contains("stack: required key is missing"), "{err}");
    }

    #[test]
    fn account_ids_are_twelve_digits() {
        assert!(
            parse("stack: s\nregion: r\naccounts: [\"12345\"]\n")
                .unwrap_err()
                .contains("12-digit")
        );
        // An unquoted id keeps its digits, leading zeros included.
        let c = parse("stack: s\nregion: r\naccounts: [012345678901]\n").unwrap();
        assert_eq!(c.accounts, ["012345678901"]);
    }

    #[test]
    fn duplicate_and_empty_lists_are_refused() {
        assert!(
            parse("stack: s\nregion: r\necr:\n  repositories: [a, a]\n")
                .unwrap_err()
                .contains("listed twice")
        );
        assert!(
            parse("stack: s\nregion: r\necr:\n  repositories: []\n")
                .unwrap_err()
                .contains("at least one")
        );
        // A cluster whose teardown deletes no namespace (its node groups are scheduled).
        let c = parse("stack: s\nregion: r\nkubernetes:\n  cluster: c\n  namespaces: []\n").unwrap();
        assert!(c.kubernetes.unwrap().namespaces.is_empty());
    }

    #[test]
    fn kubernetes_names_its_cluster_or_kubeconfig() {
        let err = parse("stack: s\nregion: r\nkubernetes:\n  namespaces: [a]\n").unwrap_err();
        assert!(
            err.starts_with("sundown.yaml:3:1: kubernetes: name the stack's cluster"),
            "{err}"
        );
    }

    #[test]
    fn scope_tags_are_a_map_of_non_empty_strings() {
        let c = parse("stack: s\nregion: r\nscope:\n  tags: { Project: p, Environment: dev }\n").unwrap();
        assert_eq!(c.scope.tags.get("Environment").map(String::as_str), Some("dev"));
        assert!(
            parse("stack: s\nregion: r\nscope:\n  tags: { Project: \"\" }\n")
                .unwrap_err()
                .contains("must not be empty")
        );
        assert!(parse("stack: s\nregion: r\n").unwrap().scope.tags.is_empty());
    }
}
