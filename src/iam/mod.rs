//! `sundown iam-policy --for teardown|read-only|schedule`: the least-privilege
//! IAM policy for a `sundown.yaml`: the actions the configured phases call, on
//! the stack's resources where the service allows resource-level permissions.
//!
//! It reads the config (and the Terraform backend settings it names) and never
//! AWS. The action lists are the calls the code makes; the IAM test runs each
//! command on moto with IAM enforced and exactly these actions, and drops them
//! one at a time. Calls that only add figures (prices, Cost Explorer) or a
//! notification are a separate statement whose `Sid` starts with `Optional`.

mod sweep;
mod teardown;

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Result;
use serde_json::{Value, json};

use crate::config::Config;
use crate::exit::refuse;
use sweep::sweep;
use teardown::teardown;

/// Which command the policy is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// `sundown teardown` (with its plan discovery) and the Action's teardown.
    Teardown,
    /// `sundown plan`, `verify` and `cost`: the plan job's role.
    ReadOnly,
    /// `sundown schedule stop|start` and the scheduler Lambda.
    Schedule,
}

/// One `Allow` statement.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    pub sid: String,
    pub actions: BTreeSet<&'static str>,
    pub resources: Vec<String>,
    /// `aws:ResourceTag/KEY` = VALUE conditions.
    pub tags: BTreeMap<String, String>,
    pub optional: bool,
}

impl Statement {
    fn new(sid: &str, actions: &[&'static str], resources: Vec<String>) -> Statement {
        Statement {
            sid: sid.into(),
            actions: actions.iter().copied().collect(),
            resources,
            tags: BTreeMap::new(),
            optional: false,
        }
    }

    fn optional(mut self) -> Statement {
        self.optional = true;
        self
    }

    fn to_json(&self) -> Value {
        let mut statement = json!({
            "Sid": self.sid,
            "Effect": "Allow",
            "Action": self.actions.iter().collect::<Vec<_>>(),
            "Resource": self.resources,
        });
        if !self.tags.is_empty() {
            let equals: BTreeMap<String, &String> = self
                .tags
                .iter()
                .map(|(k, v)| (format!("aws:ResourceTag/{k}"), v))
                .collect();
            statement["Condition"] = json!({ "StringEquals": equals });
        }
        statement
    }
}

/// Where the stack lives, for ARNs.
struct Arns {
    partition: &'static str,
    region: String,
    account: String,
}

impl Arns {
    fn new(config: &Config) -> Arns {
        let partition = if config.region.starts_with("cn-") {
            "aws-cn"
        } else if config.region.starts_with("us-gov-") {
            "aws-us-gov"
        } else {
            "aws"
        };
        // One allowed account names it; several (or none) leave it open, the allowlist still guards.
        let account = match config.accounts.as_slice() {
            [one] => one.clone(),
            _ => "*".into(),
        };
        Arns {
            partition,
            region: config.region.clone(),
            account,
        }
    }

    fn arn(&self, service: &str, resource: &str) -> String {
        format!(
            "arn:{}:{service}:{}:{}:{resource}",
            self.partition, self.region, self.account
        )
    }

    /// SageMaker ARNs are lower-case whatever the name's case.
    fn sagemaker(&self, kind: &str, prefix: &str) -> [String; 2] {
        let prefix = prefix.to_lowercase();
        [
            self.arn("sagemaker", &format!("{kind}/{prefix}")),
            self.arn("sagemaker", &format!("{kind}/{prefix}-*")),
        ]
    }
}

/// The policy document for `config`, as IAM takes it.
pub fn policy(config: &Config, purpose: Purpose, state: State) -> Result<Value> {
    Ok(json!({
        "Version": "2012-10-17",
        "Statement": statements(config, purpose, state)?.iter().map(Statement::to_json).collect::<Vec<_>>(),
    }))
}

/// The policy, pretty-printed with a final newline.
pub fn render(config: &Config, purpose: Purpose, state: State) -> Result<String> {
    let mut text = serde_json::to_string_pretty(&policy(config, purpose, state)?).expect("a policy serializes");
    text.push('\n');
    Ok(text)
}

/// Whether the policy grants the Terraform state (`teardown`, `read-only`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// The state statements, from the backend settings; settings that cannot be read are an error.
    FromBackend,
    /// No state statements (`iam-policy --without-state`): the first statement's Sid says so.
    LeftOut,
}

/// The Sid of the first statement when the state statements are left out.
pub const WITHOUT_STATE_SID: &str = "IdentityNoTerraformStateStatementsWithoutState";

/// The statements for `config`: required ones first, then the optional ones.
pub fn statements(config: &Config, purpose: Purpose, state: State) -> Result<Vec<Statement>> {
    let arns = Arns::new(config);
    let mut out = vec![Statement::new(
        "Identity",
        &["sts:GetCallerIdentity"],
        vec!["*".to_owned()],
    )];
    let mut optional = Vec::new();
    if purpose != Purpose::Schedule {
        let location = match state {
            State::FromBackend => state_location(config)?,
            State::LeftOut => {
                out[0].sid = WITHOUT_STATE_SID.into();
                None
            }
        };
        out.extend(discovery(config, &arns, purpose, location));
        optional.extend(cost_statements(config, &arns, purpose == Purpose::ReadOnly));
    }
    match purpose {
        Purpose::Teardown => teardown(config, &arns, &mut out, &mut optional),
        Purpose::ReadOnly => read_only(config, &arns, &mut out),
        Purpose::Schedule => schedule(config, &arns, &mut out, &mut optional),
    }
    out.extend(optional);
    Ok(out)
}

/// What plan and teardown discover (and `verify --for read-only` reads the same way).
fn discovery(config: &Config, arns: &Arns, purpose: Purpose, state: Option<(String, String)>) -> Vec<Statement> {
    let all = || vec!["*".to_owned()];
    let cluster = config.kubernetes.as_ref().and_then(|k| k.cluster.as_deref());
    let mut out = Vec::new();
    if let Some(cluster) = cluster {
        out.push(Statement::new(
            "ReadCluster",
            &["eks:DescribeCluster"],
            vec![arns.arn("eks", &format!("cluster/{cluster}"))],
        ));
        // What the Load Balancer Controller made for the cluster besides load balancers.
        out.push(Statement::new(
            "ReadControllerGroups",
            &[
                "ec2:DescribeSecurityGroups",
                "elasticloadbalancing:DescribeTargetGroups",
            ],
            all(),
        ));
    }
    if config.kubernetes.is_some() {
        // The load balancers a cluster's Services made; Describe calls take no resource.
        out.push(Statement::new(
            "ReadLoadBalancers",
            &[
                "elasticloadbalancing:DescribeLoadBalancers",
                "elasticloadbalancing:DescribeTags",
            ],
            all(),
        ));
    }
    if config.sagemaker.is_some() {
        // List calls take no resource; endpoints outside the stack are described too,
        // to keep the configs and models they use.
        out.push(Statement::new(
            "ListSageMaker",
            &[
                "sagemaker:ListEndpoints",
                "sagemaker:ListEndpointConfigs",
                "sagemaker:ListModels",
                "sagemaker:ListTags",
                // The stack's running jobs, stopped first.
                "sagemaker:ListTrainingJobs",
                "sagemaker:ListProcessingJobs",
                "sagemaker:ListTransformJobs",
                "sagemaker:ListHyperParameterTuningJobs",
            ],
            all(),
        ));
        out.push(Statement::new(
            "DescribeSageMaker",
            &[
                "sagemaker:DescribeEndpoint",
                "sagemaker:DescribeEndpointConfig",
                "sagemaker:DescribeModel",
            ],
            ["endpoint/*", "endpoint-config/*", "model/*"]
                .iter()
                .map(|r| arns.arn("sagemaker", r))
                .collect(),
        ));
        // The log groups SageMaker makes per endpoint; DescribeLogGroups takes no resource.
        out.push(Statement::new(
            "ReadEndpointLogGroups",
            &["logs:DescribeLogGroups"],
            all(),
        ));
    }
    if let Some(ecr) = &config.ecr {
        out.push(Statement::new(
            "ReadRepositories",
            &[
                "ecr:DescribeImages",
                "ecr:DescribeRepositories",
                "ecr:ListImages",
                "ecr:ListTagsForResource",
            ],
            repositories(arns, &ecr.repositories),
        ));
    }
    if let Some((bucket, key)) = state {
        let mut state = Statement::new(
            "ReadTerraformState",
            &["s3:ListBucket"],
            vec![format!("arn:{}:s3:::{bucket}", arns.partition)],
        );
        if purpose == Purpose::ReadOnly {
            out.push(state);
            out.push(Statement::new(
                "ReadTerraformStateObject",
                &["s3:GetObject"],
                vec![format!("arn:{}:s3:::{bucket}/{key}", arns.partition)],
            ));
        } else {
            state.sid = "TerraformStateBucket".into();
            out.push(state);
            // The state is read and written; only the lock file is ever deleted (`use_lockfile`).
            out.push(Statement::new(
                "TerraformState",
                &["s3:GetObject", "s3:PutObject"],
                vec![format!("arn:{}:s3:::{bucket}/{key}", arns.partition)],
            ));
            out.push(Statement::new(
                "TerraformStateLock",
                &["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                vec![format!("arn:{}:s3:::{bucket}/{key}.tflock", arns.partition)],
            ));
        }
    }
    out
}

/// `verify`'s checks.
fn read_only(config: &Config, arns: &Arns, out: &mut Vec<Statement>) {
    let all = || vec!["*".to_owned()];
    let cluster = config.kubernetes.as_ref().and_then(|k| k.cluster.as_deref());
    out.push(Statement::new(
        "Verify",
        &[
            "logs:DescribeLogGroups",
            "sagemaker:ListTrainingJobs",
            "events:ListRules",
            "events:ListTargetsByRule",
            "tag:GetResources",
        ],
        all(),
    ));
    out.push(Statement::new(
        "VerifyBudget",
        &["budgets:ViewBudget"],
        vec![format!("arn:{}:budgets::{}:budget/*", arns.partition, arns.account)],
    ));
    out.push(Statement::new(
        "VerifyTrainingJobs",
        &["sagemaker:DescribeTrainingJob"],
        vec![arns.arn("sagemaker", "training-job/*")],
    ));
    out.extend(sweep(config, arns));
    if let Some(ecr) = &config.ecr {
        out.push(Statement::new(
            "VerifyRepositories",
            &["ecr:GetLifecyclePolicy"],
            repositories(arns, &ecr.repositories),
        ));
    }
    if let Some(cluster) = cluster {
        out.push(Statement::new(
            "VerifyNodeGroups",
            &["eks:DescribeCluster", "eks:ListNodegroups", "eks:DescribeNodegroup"],
            node_groups(arns, cluster),
        ));
    }
    if !config.verify.buckets.is_empty() {
        out.push(Statement::new(
            "VerifyBuckets",
            &["s3:GetLifecycleConfiguration", "s3:GetIntelligentTieringConfiguration"],
            config
                .verify
                .buckets
                .iter()
                .map(|b| format!("arn:{}:s3:::{b}", arns.partition))
                .collect(),
        ));
    }
}

/// `schedule stop|start`: scale node groups, delete and recreate endpoints, remember in tags.
fn schedule(config: &Config, arns: &Arns, out: &mut Vec<Statement>, optional: &mut Vec<Statement>) {
    let all = || vec!["*".to_owned()];
    let cluster = config.kubernetes.as_ref().and_then(|k| k.cluster.as_deref());
    if config.sagemaker.is_some() {
        out.push(Statement::new(
            "ListSchedule",
            &[
                "sagemaker:ListEndpoints",
                "sagemaker:ListEndpointConfigs",
                "sagemaker:ListTags",
            ],
            all(),
        ));
        // `start` finds the configs named otherwise that remember the stack's endpoints.
        out.push(Statement::new("FindStoppedConfigs", &["tag:GetResources"], all()));
        out.push(Statement::new(
            "DescribeSchedule",
            &["sagemaker:DescribeEndpoint", "sagemaker:DescribeEndpointConfig"],
            vec![
                arns.arn("sagemaker", "endpoint/*"),
                arns.arn("sagemaker", "endpoint-config/*"),
            ],
        ));
    }
    if let Some(cluster) = cluster {
        out.push(Statement::new(
            "ScaleNodeGroups",
            &[
                "eks:ListNodegroups",
                "eks:DescribeNodegroup",
                "eks:UpdateNodegroupConfig",
                // Each update is checked until it is Successful.
                "eks:DescribeUpdate",
                "eks:TagResource",
                "eks:UntagResource",
            ],
            node_groups(arns, cluster),
        ));
    }
    if let Some(sm) = &config.sagemaker {
        let endpoints: Vec<String> = arns.sagemaker("endpoint", &sm.endpoint_prefix).into();
        let mut with_configs = endpoints.clone();
        // The remembering tags live on the configs, whatever their names; CreateEndpoint
        // names its config too, and a recreated endpoint gets its config's tags.
        with_configs.push(arns.arn("sagemaker", "endpoint-config/*"));
        out.push(Statement::new(
            "StopEndpoints",
            &["sagemaker:DeleteEndpoint"],
            endpoints,
        ));
        out.push(Statement::new(
            "StartEndpointsAndRememberInTags",
            &["sagemaker:CreateEndpoint", "sagemaker:AddTags", "sagemaker:DeleteTags"],
            with_configs,
        ));
    }
    // The alert when a stop or start fails: what makes a failed night visible, so not optional.
    if let Some(topic) = &config.notify.sns_topic_arn {
        out.push(Statement::new("AlertOnFailure", &["sns:Publish"], vec![topic.clone()]));
    }
    optional.push(
        Statement::new(
            "OptionalNightSavings",
            &["pricing:GetProducts", "ec2:DescribeSpotPriceHistory"],
            all(),
        )
        .optional(),
    );
}

/// Calls that only add dollar figures: optional. The teardown prices only what
/// it stops (`cost::stops`); `sundown cost` (`full`) also asks Cost Explorer,
/// lists what it cannot price and reads the training jobs.
fn cost_statements(config: &Config, arns: &Arns, full: bool) -> Vec<Statement> {
    let mut figures = vec![
        "pricing:GetProducts",
        "ec2:DescribeSpotPriceHistory",
        "eks:DescribeClusterVersions",
        "logs:DescribeLogGroups",
        "cloudwatch:GetMetricStatistics",
    ];
    if full {
        figures.extend([
            "ce:GetCostAndUsage",
            "ec2:DescribeNatGateways",
            "ec2:DescribeVolumes",
            "ec2:DescribeAddresses",
            "sagemaker:ListTrainingJobs",
        ]);
    }
    let mut out = vec![Statement::new("OptionalCostFigures", &figures, vec!["*".into()]).optional()];
    if full {
        out.push(
            Statement::new(
                "OptionalCostTrainingJobs",
                &["sagemaker:DescribeTrainingJob"],
                vec![arns.arn("sagemaker", "training-job/*")],
            )
            .optional(),
        );
    }
    if let Some(cluster) = config.kubernetes.as_ref().and_then(|k| k.cluster.as_deref()) {
        out.push(
            Statement::new(
                "OptionalCostNodeGroups",
                &["eks:ListNodegroups", "eks:DescribeNodegroup"],
                node_groups(arns, cluster),
            )
            .optional(),
        );
    }
    out
}

fn repositories(arns: &Arns, names: &[String]) -> Vec<String> {
    names
        .iter()
        .map(|r| arns.arn("ecr", &format!("repository/{r}")))
        .collect()
}

/// A cluster and its node groups.
fn node_groups(arns: &Arns, cluster: &str) -> Vec<String> {
    vec![
        arns.arn("eks", &format!("cluster/{cluster}")),
        arns.arn("eks", &format!("nodegroup/{cluster}/*")),
    ]
}

/// The S3 backend's bucket and key, from the Terraform directory's backend
/// settings (`-backend-config` files, then the module's `.tf` files); `None`
/// for local state (no `backend` block, or `backend "local"`), which needs no
/// statement. Settings that cannot be read, an S3 backend without its bucket
/// or key, and another backend type are refusals: the policy never narrows in silence.
fn state_location(config: &Config) -> Result<Option<(String, String)>> {
    let Some(tf) = config.terraform.as_ref() else {
        return Ok(None);
    };
    let way_out = "or run `sundown iam-policy --without-state` to leave the Terraform state statements out";
    let mut texts = Vec::new();
    for file in &tf.backend_config {
        let path = tf.dir.join(file);
        let text = std::fs::read_to_string(&path).map_err(|e| {
            refuse(format!(
                "terraform.backend_config {} cannot be read ({e}); fix the path in sundown.yaml, {way_out}",
                path.display()
            ))
        })?;
        texts.push(text);
    }
    let mut modules = Vec::new();
    if let Ok(entries) = std::fs::read_dir(&tf.dir) {
        let mut tf_files: Vec<_> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "tf"))
            .collect();
        tf_files.sort();
        for file in tf_files {
            modules.push(
                std::fs::read_to_string(&file)
                    .map_err(|e| refuse(format!("{} cannot be read ({e}); {way_out}", file.display())))?,
            );
        }
    }
    let backend = modules.iter().find_map(|text| backend_type(text));
    match backend.as_deref() {
        None | Some("local") => return Ok(None),
        Some("s3") => {}
        Some(other) => {
            return Err(refuse(format!(
                "the {other} backend of {}: the policy covers only the S3 backend's state; grant access to it by hand, {way_out}",
                tf.dir.display()
            )));
        }
    }
    texts.extend(modules);
    let (mut bucket, mut key) = (None, None);
    for text in &texts {
        bucket = bucket.or_else(|| setting(text, "bucket"));
        key = key.or_else(|| setting(text, "key"));
    }
    match (bucket, key) {
        (Some(bucket), Some(key)) => Ok(Some((bucket, key))),
        _ => Err(refuse(format!(
            "the S3 backend of {} names no bucket and key in its .tf files or terraform.backend_config; \
             list the file that sets them (e.g. backend.hcl) in terraform.backend_config, {way_out}",
            tf.dir.display()
        ))),
    }
}

/// The type of `backend "TYPE" {` in a module's HCL, outside comments.
fn backend_type(text: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let rest = line.trim().strip_prefix("backend")?.trim_start().strip_prefix('"')?;
        Some(rest[..rest.find('"')?].to_owned())
    })
}

/// `NAME = "value"` in HCL, outside comments.
fn setting(text: &str, name: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let line = line.trim();
        let rest = line.strip_prefix(name)?.trim_start().strip_prefix('=')?.trim();
        let value = rest.strip_prefix('"')?;
        Some(value[..value.find('"')?].to_owned())
    })
}

/// Every action of the policy, and which of them are optional.
pub fn actions(config: &Config, purpose: Purpose) -> Result<(BTreeSet<&'static str>, BTreeSet<&'static str>)> {
    let mut required = BTreeSet::new();
    let mut optional = BTreeSet::new();
    for s in statements(config, purpose, State::FromBackend)? {
        if s.optional {
            optional.extend(s.actions);
        } else {
            required.extend(s.actions);
        }
    }
    optional.retain(|a| !required.contains(a));
    Ok((required, optional))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn repository_config() -> Config {
        Config::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("sundown.yaml")).unwrap()
    }

    /// EKS calls cannot run under moto's IAM enforcement (its signature check fails them), so the
    /// EKS actions are pinned here against the calls `k8s.rs`, `schedule.rs` and `checks/eks.rs` make.
    #[test]
    fn the_eks_actions_are_the_calls_sundown_makes() {
        let config = repository_config();
        let eks = |purpose| {
            let (required, _) = actions(&config, purpose).unwrap();
            required
                .into_iter()
                .filter(|a| a.starts_with("eks:"))
                .collect::<Vec<_>>()
        };
        // The closing sweep confirms a node group the Tagging API lists with DescribeNodegroup.
        assert_eq!(eks(Purpose::Teardown), ["eks:DescribeCluster", "eks:DescribeNodegroup"]);
        assert_eq!(
            eks(Purpose::Schedule),
            [
                "eks:DescribeNodegroup",
                "eks:DescribeUpdate",
                "eks:ListNodegroups",
                "eks:TagResource",
                "eks:UntagResource",
                "eks:UpdateNodegroupConfig"
            ]
        );
        assert_eq!(
            eks(Purpose::ReadOnly),
            ["eks:DescribeCluster", "eks:DescribeNodegroup", "eks:ListNodegroups"]
        );
    }

    #[test]
    fn resources_are_the_stacks_where_iam_allows() {
        let text = render(&repository_config(), Purpose::Teardown, State::FromBackend).unwrap();
        assert!(text.contains("arn:aws:sagemaker:us-east-1:123456789012:endpoint/retail-forecast-*"));
        assert!(text.contains("arn:aws:ecr:us-east-1:123456789012:repository/mlops/retail-api"));
        assert!(text.contains("arn:aws:eks:us-east-1:123456789012:cluster/retail-forecast-cluster"));
        assert!(text.contains("arn:aws:s3:::retail-forecast-tfstate-123456789012/envs/dev/terraform.tfstate.tflock"));
        assert!(text.contains("\"aws:ResourceTag/Environment\": \"dev\""));
    }

    /// The Load Balancer Controller's groups are deleted only where it tagged them for the stack's cluster.
    #[test]
    fn the_controllers_groups_are_deleted_only_under_the_clusters_tag() {
        let statements = statements(&repository_config(), Purpose::Teardown, State::FromBackend).unwrap();
        let groups = statements
            .iter()
            .find(|s| s.sid == "DeleteControllerGroups")
            .expect("a statement for the controller's groups");
        assert_eq!(
            groups.actions.iter().copied().collect::<Vec<_>>(),
            ["ec2:DeleteSecurityGroup", "elasticloadbalancing:DeleteTargetGroup"]
        );
        assert_eq!(
            groups.tags.get("elbv2.k8s.aws/cluster").map(String::as_str),
            Some("retail-forecast-cluster")
        );
        let json = groups.to_json().to_string();
        assert!(
            json.contains("\"aws:ResourceTag/elbv2.k8s.aws/cluster\":\"retail-forecast-cluster\""),
            "{json}"
        );
        // Deleting them anywhere else is not granted: no other statement names these actions.
        assert!(
            statements
                .iter()
                .filter(|s| s.sid != "DeleteControllerGroups")
                .all(|s| !s.actions.contains("ec2:DeleteSecurityGroup")
                    && !s.actions.contains("elasticloadbalancing:DeleteTargetGroup"))
        );
    }

    /// docs/iam.md shows the teardown policy for the repository's sundown.yaml.
    #[test]
    fn the_iam_doc_shows_the_policy_for_the_repositorys_config() {
        let doc_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/iam.md");
        let doc = std::fs::read_to_string(&doc_path).unwrap();
        let marker = "<!-- iam-policy: teardown -->\n```json\n";
        let start = doc.find(marker).expect("docs/iam.md has the iam-policy marker") + marker.len();
        let end = start + doc[start..].find("```\n").unwrap();
        let generated = render(&repository_config(), Purpose::Teardown, State::FromBackend).unwrap();
        if std::env::var_os("SUNDOWN_UPDATE_DOCS").is_some() {
            std::fs::write(&doc_path, format!("{}{generated}{}", &doc[..start], &doc[end..])).unwrap();
            return;
        }
        assert!(
            doc[start..end] == generated,
            "docs/iam.md's policy differs from `sundown iam-policy --for teardown`; run `SUNDOWN_UPDATE_DOCS=1 cargo test -p sundown iam::`"
        );
    }
}
