//! `sundown.yaml`: the one config file, parsed strictly.
//!
//! Owns the user-facing contract (key names, defaults, validation) and the
//! one-line errors that name the file, line and key. It performs no I/O
//! besides reading the file and never talks to AWS.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use schemars::JsonSchema;
use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize};

mod load;
mod teardown;
mod values;
pub use load::{ConfigError, resolve_path};
pub use teardown::{Order, Teardown};
use values::{
    account_ids, check_distinct, distinct_names, duration, non_empty, non_empty_option, region, stack_name, tag_map,
    unique_names,
};

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
    /// The AWS region of the stack, as AWS names it (e.g. us-east-1).
    #[serde(deserialize_with = "region")]
    #[schemars(regex(pattern = r"^[a-z]{2,4}(-[a-z]+)+-[0-9]+$"))]
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
    /// How the phases follow one another.
    #[serde(default)]
    pub teardown: Teardown,
    /// Where the report goes after a teardown.
    #[serde(default)]
    pub notify: Notify,
    /// The off-hours schedule of `sundown schedule stop|start`.
    #[serde(default)]
    pub schedule: Schedule,
    /// Opt-in time to live: once `expires_at` has passed, the expiry workflow tears the stack down
    /// without a typed confirmation (the reviewed commit that set it is the confirmation).
    #[serde(default)]
    pub lifetime: Option<Lifetime>,
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
    /// Namespaces the teardown deletes (and awaits); one labelled `sundown.io/protect=true` is kept.
    /// May be empty: a cluster whose node groups `schedule` manages but whose teardown deletes no namespace.
    #[serde(deserialize_with = "distinct_names")]
    #[schemars(extend("uniqueItems" = true))]
    pub namespaces: Vec<String>,
    /// Bound of the whole phase: the namespaces gone, then their volumes, then the cluster's
    /// load balancers and the controller's groups (e.g. 90s, 10m, 1h30m).
    #[serde(default = "ten_minutes", deserialize_with = "duration")]
    #[schemars(with = "String", extend("default" = "10m"))]
    pub wait: Duration,
    /// The log group EKS makes for the cluster's control-plane logs (`/aws/eks/<cluster>/cluster`,
    /// which outlives it): `delete` it once `terraform destroy` has taken the cluster, or `keep` it.
    #[serde(default)]
    pub logs: EndpointLogs,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SageMaker {
    /// Endpoints whose name starts with this prefix belong to the stack.
    #[serde(deserialize_with = "non_empty")]
    #[schemars(length(min = 1))]
    pub endpoint_prefix: String,
    /// Running training, processing, transform and tuning jobs whose name starts with this prefix (and that
    /// carry `scope.tags`) belong to the stack: the teardown stops them first. Default: `endpoint_prefix`.
    #[serde(default, deserialize_with = "non_empty_option")]
    #[schemars(length(min = 1))]
    pub job_prefix: Option<String>,
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
    /// The log group SageMaker makes for each endpoint (`/aws/sagemaker/Endpoints/<name>`, which outlives it):
    /// `delete` it once its endpoint is gone, or `keep` it (listed as kept).
    #[serde(default)]
    pub logs: EndpointLogs,
}

impl SageMaker {
    /// The prefix that names the stack's jobs: `job_prefix`, else `endpoint_prefix`.
    pub fn job_prefix(&self) -> &str {
        self.job_prefix.as_deref().unwrap_or(&self.endpoint_prefix)
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum EndpointLogs {
    /// Delete the log group once what it logs (an endpoint, the cluster) is gone.
    #[default]
    Delete,
    /// Keep the log groups, listed as kept.
    Keep,
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
    /// The Terraform workspace to destroy (passed as TF_WORKSPACE). Unset: Terraform's own choice,
    /// TF_WORKSPACE, else the workspace selected in the module, else `default`; the plan names it.
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

/// A stack's time to live (see docs/stacks.md).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Lifetime {
    /// When the stack goes: an RFC 3339 time in UTC, e.g. `2027-01-31T18:00:00Z`.
    #[serde(deserialize_with = "utc_time")]
    #[schemars(with = "String", length(min = 1))]
    pub expires_at: u64,
    /// How long before `expires_at` the reminder goes out; a stack is torn down only if its
    /// reminder was delivered at least this long before.
    #[serde(default = "one_day", deserialize_with = "duration")]
    #[schemars(with = "String", extend("default" = "24h"))]
    pub remind_before: Duration,
}

fn one_day() -> Duration {
    Duration::from_secs(24 * 3600)
}

/// An RFC 3339 time in UTC, as Unix seconds; not more than a year in the past (`clock::now`).
fn utc_time<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    let text = String::deserialize(d)?;
    let zoned = text.trim().ends_with(['Z', 'z']);
    let at = crate::clock::parse_utc(&text).filter(|_| zoned).ok_or_else(|| {
        let why = if humantime::parse_rfc3339_weak(text.trim()).is_ok() && !zoned {
            "has no zone"
        } else {
            "is not a time"
        };
        de::Error::custom(format!(
            "{text:?} {why}; write an RFC 3339 time in UTC, e.g. 2027-01-31T18:00:00Z"
        ))
    })?;
    let now = crate::clock::now();
    if at + 366 * 86_400 < now {
        return Err(de::Error::custom(format!(
            "{text:?} is more than a year in the past; set the time the stack should go"
        )));
    }
    Ok(at)
}

/// The off-hours schedule: when `sundown schedule stop|start` run, the days
/// the stack stays stopped, and how long one run may wait.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    /// EventBridge schedule expression of the off-hours stop rule, in UTC.
    #[serde(default = "stop_cron", deserialize_with = "non_empty")]
    #[schemars(length(min = 1), extend("default" = "cron(0 19 * * ? *)"))]
    pub stop: String,
    /// EventBridge schedule expression of the morning start rule, in UTC; or
    /// `manual`: the start rule does nothing and `sundown schedule start` by hand brings the stack back.
    #[serde(default, deserialize_with = "start_mode")]
    #[schemars(with = "String", length(min = 1), extend("default" = "cron(0 7 * * ? *)"))]
    pub start: Start,
    /// UTC dates (`2026-12-25`) on which the start rule does nothing: the stack stays stopped.
    #[serde(default, deserialize_with = "holidays")]
    #[schemars(inner(regex(pattern = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")))]
    pub holidays: Vec<String>,
    /// Part of the ARN the schedule rules must target (e.g. the scheduler Lambda's name); any target when unset.
    #[serde(default)]
    pub scheduler: Option<String>,
    /// Bound of one run's waits: for each node-group update to end Successful,
    /// each recreated endpoint to be InService, an endpoint still Deleting
    /// before `start` recreates it, and a node group mid-update before it is
    /// scaled. Keep it below the scheduler Lambda's timeout.
    #[serde(default = "ten_minutes", deserialize_with = "duration")]
    #[schemars(with = "String", extend("default" = "10m"))]
    pub wait: Duration,
}

impl Default for Schedule {
    fn default() -> Self {
        Schedule {
            stop: stop_cron(),
            start: Start::default(),
            holidays: Vec::new(),
            scheduler: None,
            wait: ten_minutes(),
        }
    }
}

impl Schedule {
    /// Whether the UTC day of `unix_seconds` is one of `holidays`.
    pub fn is_holiday(&self, unix_seconds: u64) -> bool {
        let day = crate::clock::utc_date(unix_seconds);
        self.holidays.contains(&day)
    }
}

/// How the stack starts again after a stop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Start {
    /// The start rule's EventBridge schedule expression.
    Rule(String),
    /// No start rule acts: only `sundown schedule start` by hand.
    Manual,
}

impl Default for Start {
    fn default() -> Self {
        Start::Rule(start_cron())
    }
}

impl Start {
    /// The start rule's expression; `None` when starts are manual.
    pub fn rule(&self) -> Option<&str> {
        match self {
            Start::Rule(cron) => Some(cron),
            Start::Manual => None,
        }
    }
}

fn start_mode<'de, D: Deserializer<'de>>(d: D) -> Result<Start, D::Error> {
    let text = non_empty(d)?;
    Ok(if text.trim() == "manual" {
        Start::Manual
    } else {
        Start::Rule(text)
    })
}

/// Distinct UTC dates written `YYYY-MM-DD`.
fn holidays<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let days = Vec::<String>::deserialize(d)?;
    for day in &days {
        let shaped = day.len() == 10 && day.as_bytes()[4] == b'-' && day.as_bytes()[7] == b'-';
        if !shaped || humantime::parse_rfc3339(&format!("{day}T00:00:00Z")).is_err() {
            return Err(de::Error::custom(format!(
                "{day:?} is not a date; write UTC dates as YYYY-MM-DD, e.g. 2026-12-25"
            )));
        }
    }
    check_distinct(days)
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
/// Whether two schedule expressions are the same, spacing and case aside.
pub fn same_schedule(a: &str, b: &str) -> bool {
    let norm = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ").to_ascii_lowercase();
    norm(a) == norm(b)
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
