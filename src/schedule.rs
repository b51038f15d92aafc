//! `sundown schedule stop|start`: the off-hours schedule.
//!
//! `stop` remembers, then scales: each node group's scaling goes into a tag
//! on the node group before EKS UpdateNodegroupConfig scales it to 0 (never
//! the Auto Scaling group behind EKS's back); each endpoint's name goes into
//! a tag on its endpoint config before the endpoint is deleted (the config
//! and its model stay). `start` restores what the tags say, then removes
//! from them what it has brought back. Tag first and untag last, so an
//! interrupted run is resumed by the next one; a node group already at 0
//! with its tag, or a config without a tag, is left alone, which makes both
//! commands idempotent.
//!
//! The memory is the stack's own (`markers::Memory`, keyed by the stack's
//! name): a `start` reads only its own stack's, and only on node groups of
//! its cluster and endpoint configs that are the stack's (named by the rule,
//! or found by the tagging API under its key), so one stack's morning start
//! never brings back another's endpoints. What is still changing when a run
//! meets it (an endpoint still Deleting, a node group mid-update) is waited
//! for, within `schedule.wait`; past that it is left remembered for the next
//! run, and the run fails.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use anyhow::{Result, anyhow};
use aws_sdk_eks::types::{Nodegroup, NodegroupScalingConfig, NodegroupStatus};
use serde::Serialize;
use tokio::time::Instant;

use crate::aws::{Aws, describe};
use crate::cancel::Stop;
use crate::config::{Config, Protect};
use crate::discover::sagemaker::{configs_remembering, is_not_found, list_endpoints, tags, unless_gone};
use crate::markers::{self, Memory, Scaling};
use crate::model::inventory::Kind;
use crate::scope::{Owner, Verdict, name_matches};
use crate::wait::Rounds;

pub const SCHEMA: &str = "sundown.schedule/v1";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Stop,
    Start,
}

impl Action {
    pub fn parse(text: &str) -> Option<Action> {
        match text {
            "stop" => Some(Action::Stop),
            "start" => Some(Action::Start),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Action::Stop => "stop",
            Action::Start => "start",
        }
    }
}

/// What happened to one node group or endpoint.
#[derive(Debug, Clone, Serialize)]
pub struct Change {
    /// `node_group` or `endpoint`.
    pub kind: &'static str,
    pub name: String,
    pub changed: bool,
    pub detail: String,
    /// What it cost per hour while it ran (`stop` only, when it could be priced).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usd_per_hour: Option<f64>,
    /// What it was, for pricing.
    #[serde(skip)]
    pub running: Option<crate::cost::Running>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub schema: &'static str,
    pub stack: String,
    pub account: String,
    pub action: Action,
    pub changes: Vec<Change>,
    pub errors: Vec<String>,
    /// `stop`: what one stop (a night, on average) saves, in dollars.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub night_saves_usd: Option<f64>,
}

impl Outcome {
    fn night_line(&self) -> Option<String> {
        let usd = self.night_saves_usd?;
        let per_hour: f64 = self
            .changes
            .iter()
            .filter(|c| c.changed)
            .filter_map(|c| c.usd_per_hour)
            .sum();
        Some(format!(
            "A night stopped saves ≈ ${usd:.2} (${per_hour:.4}/hour while stopped)."
        ))
    }

    pub fn succeeded(&self) -> bool {
        self.errors.is_empty()
    }

    pub fn changed(&self) -> usize {
        self.changes.iter().filter(|c| c.changed).count()
    }

    pub fn render_human(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "Schedule {} of {} in account {}: {} changed, {} unchanged\n",
            self.action.name(),
            self.stack,
            self.account,
            self.changed(),
            self.changes.len() - self.changed()
        );
        for c in &self.changes {
            let kind = if c.kind == "node_group" {
                "node group"
            } else {
                "endpoint"
            };
            let _ = writeln!(out, "{kind:<11} {:<40} {}", c.name, c.detail);
        }
        for e in &self.errors {
            let _ = writeln!(out, "error: {e}");
        }
        if let Some(line) = self.night_line() {
            let _ = writeln!(out, "\n{line}");
        }
        out
    }

    pub fn render_markdown(&self) -> String {
        let mut out = String::new();
        let icon = if self.succeeded() { "✅" } else { "❌" };
        let _ = writeln!(
            out,
            "### {icon} sundown schedule {} of `{}`: {} changed\n",
            self.action.name(),
            self.stack,
            self.changed()
        );
        let _ = writeln!(out, "| kind | name | changed | detail |\n| --- | --- | --- | --- |");
        for c in &self.changes {
            let _ = writeln!(out, "| {} | `{}` | {} | {} |", c.kind, c.name, c.changed, c.detail);
        }
        for e in &self.errors {
            let _ = writeln!(out, "\n- **error**: {}", e.replace('\n', " "));
        }
        if let Some(line) = self.night_line() {
            let _ = writeln!(out, "\n{line}");
        }
        out
    }
}

/// One run of the schedule: whose memory it reads and writes, and until when it may wait.
struct Run<'a> {
    stack: &'a str,
    owner: Owner<'a>,
    protect: &'a Protect,
    wait: std::time::Duration,
    deadline: Instant,
    stop: Stop,
}

impl Run<'_> {
    /// The rounds of a wait that ends at the run's deadline.
    fn rounds(&self) -> Rounds<'_> {
        Rounds::new(self.deadline.saturating_duration_since(Instant::now()), &self.stop)
    }

    /// Said of what was still changing when the run's wait ran out.
    fn still(&self, status: &str) -> String {
        format!(
            "still {status} after schedule.wait ({})",
            crate::text::short_duration(self.wait)
        )
    }
}

/// Runs `stop` or `start`. Checks the account before the first change.
pub async fn run(config: &Config, aws: &Aws, action: Action) -> Result<Outcome> {
    let identity = aws.identity().await?;
    crate::confirm::check_account(config, &identity)?;
    let mut outcome = Outcome {
        schema: SCHEMA,
        stack: config.stack.clone(),
        account: identity.account,
        action,
        changes: Vec::new(),
        errors: Vec::new(),
        night_saves_usd: None,
    };
    let run = Run {
        stack: &config.stack,
        owner: Owner::new(config),
        protect: &config.protect,
        wait: config.schedule.wait,
        deadline: Instant::now() + config.schedule.wait,
        stop: Stop::new(),
    };
    if let Some(cluster) = config.kubernetes.as_ref().and_then(|k| k.cluster.as_deref()) {
        node_groups(&aws.eks(), cluster, &run, action, &mut outcome).await;
    }
    if let Some(sm) = &config.sagemaker {
        let client = aws.sagemaker();
        let prefix = &sm.endpoint_prefix;
        let result = match action {
            Action::Stop => stop_endpoints(&client, prefix, &run, &mut outcome).await,
            Action::Start => start_endpoints(&client, &aws.tagging(), prefix, &run, &mut outcome).await,
        };
        if let Err(e) = result {
            outcome.errors.push(format!("{e:#}"));
        }
    }
    if action == Action::Stop {
        price_the_night(config, aws, &mut outcome).await;
    }
    Ok(outcome)
}

/// What one stop saves: what the stopped node groups and endpoints cost per
/// hour, times the hours a stop lasts on average (`verify.stop_schedule` to
/// `verify.start_schedule`). Best effort: prices that cannot be had leave it out.
async fn price_the_night(config: &Config, aws: &Aws, outcome: &mut Outcome) {
    if outcome.changed() == 0 {
        return;
    }
    let Ok(window) = crate::cost::window::window(&config.verify.stop_schedule, &config.verify.start_schedule) else {
        return;
    };
    let mut prices = crate::cost::prices::Prices::new(aws, &config.region, false);
    let mut per_hour = 0.0;
    for change in outcome.changes.iter_mut().filter(|c| c.changed) {
        if let Some(running) = &change.running {
            change.usd_per_hour = crate::cost::per_hour(aws, &mut prices, running).await;
            per_hour += change.usd_per_hour.unwrap_or(0.0);
        }
    }
    prices.save();
    outcome.night_saves_usd = Some((per_hour * window.hours_per_stop() * 100.0).round() / 100.0);
}

/// What happened to one node group or endpoint: (changed, detail, what ran, for pricing).
type Done = (bool, String, Option<crate::cost::Running>);

fn unchanged(detail: impl Into<String>) -> Done {
    (false, detail.into(), None)
}

async fn node_groups(eks: &aws_sdk_eks::Client, cluster: &str, run: &Run<'_>, action: Action, out: &mut Outcome) {
    let names = match crate::aws::node_group_names(eks, cluster).await {
        Ok(names) => names,
        Err(e) => {
            out.errors.push(format!("{e:#}"));
            return;
        }
    };
    for name in names {
        let label = format!("{cluster}/{name}");
        match node_group(eks, cluster, &name, run, action).await {
            Ok((changed, detail, running)) => out.changes.push(Change {
                usd_per_hour: None,
                running,
                kind: "node_group",
                name: label,
                changed,
                detail,
            }),
            Err(e) => out.errors.push(format!("node group {label}: {e:#}")),
        }
    }
}

/// One DescribeNodegroup; `None` when the node group is gone.
async fn describe_node_group(eks: &aws_sdk_eks::Client, cluster: &str, name: &str) -> Result<Option<Nodegroup>> {
    match eks
        .describe_nodegroup()
        .cluster_name(cluster)
        .nodegroup_name(name)
        .send()
        .await
    {
        Ok(described) => described
            .nodegroup()
            .cloned()
            .map(Some)
            .ok_or_else(|| anyhow!("DescribeNodegroup returned nothing")),
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) =>
        {
            Ok(None)
        }
        Err(e) => Err(anyhow!("eks DescribeNodegroup: {}", describe(&e))),
    }
}

/// The node group once no update of its own is under way: EKS refuses an
/// update while one runs (ResourceInUseException), and the sizes to remember
/// are those it ends with. Waits within the run's deadline; `None` when the
/// node group is gone meanwhile.
async fn settled(
    eks: &aws_sdk_eks::Client,
    cluster: &str,
    run: &Run<'_>,
    group: Nodegroup,
) -> Result<Option<Nodegroup>> {
    let busy = |g: &Nodegroup| matches!(g.status(), Some(NodegroupStatus::Creating | NodegroupStatus::Updating));
    if !busy(&group) {
        return Ok(Some(group));
    }
    let name = group.nodegroup_name().unwrap_or_default().to_owned();
    tracing::info!(
        "schedule: node group {cluster}/{name} is {}; waiting for its update to end",
        group.status().map(|s| s.as_str()).unwrap_or_default()
    );
    let mut last = group;
    let mut rounds = run.rounds();
    rounds.next().await?; // the first round is the Describe already made
    while rounds.next().await? {
        match describe_node_group(eks, cluster, &name).await? {
            None => return Ok(None),
            Some(g) if !busy(&g) => return Ok(Some(g)),
            Some(g) => last = g,
        }
    }
    Err(anyhow!(
        "{}; left as it is, with what it remembers, for the next run",
        run.still(last.status().map(|s| s.as_str()).unwrap_or_default())
    ))
}

fn scaling_of(group: &Nodegroup) -> Scaling {
    let sc = group.scaling_config();
    Scaling {
        min: sc.and_then(|s| s.min_size()).unwrap_or(0),
        desired: sc.and_then(|s| s.desired_size()).unwrap_or(0),
        max: sc.and_then(|s| s.max_size()).unwrap_or(1),
    }
}

/// Stops or starts one node group.
async fn node_group(
    eks: &aws_sdk_eks::Client,
    cluster: &str,
    name: &str,
    run: &Run<'_>,
    action: Action,
) -> Result<Done> {
    const GONE: &str = "unchanged: deleted since it was listed";
    let Some(group) = describe_node_group(eks, cluster, name).await? else {
        return Ok(unchanged(GONE));
    };
    let tags = group.tags().cloned().unwrap_or_default();
    let pairs = || tags.iter().map(|(k, v)| (k.as_str(), v.as_str()));
    if let Verdict::Kept(why) = run.owner.judge(pairs()) {
        return Ok(unchanged(format!("kept ({why})")));
    }
    if group.status() == Some(&NodegroupStatus::Deleting) {
        return Ok(unchanged("unchanged: being deleted"));
    }
    let arn = group.nodegroup_arn().unwrap_or_default().to_owned();
    match action {
        Action::Stop => {
            let at_zero = |s: Scaling| s.min == 0 && s.desired == 0;
            if at_zero(scaling_of(&group)) {
                return Ok(unchanged("unchanged: already at 0"));
            }
            let Some(group) = settled(eks, cluster, run, group).await? else {
                return Ok(unchanged(GONE));
            };
            let now = scaling_of(&group);
            if at_zero(now) {
                return Ok(unchanged("unchanged: already at 0"));
            }
            eks.tag_resource()
                .resource_arn(&arn)
                .tags(Memory::Scaling.key(run.stack), now.to_tag())
                .send()
                .await
                .map_err(|e| anyhow!("eks TagResource: {}", describe(&e)))?;
            scale(
                eks,
                cluster,
                name,
                Scaling {
                    min: 0,
                    desired: 0,
                    max: now.max.max(1),
                },
            )
            .await?;
            let running = crate::cost::Running::NodeGroup {
                types: group.instance_types().to_vec(),
                count: now.desired,
                spot: group.capacity_type().is_some_and(|c| c.as_str() == "SPOT"),
            };
            Ok((true, format!("scaled to 0 (was {})", now.to_tag()), Some(running)))
        }
        Action::Start => {
            let remembered = Memory::Scaling.read(run.stack, pairs());
            let Some((target, legacy)) = remembered.and_then(|m| Some((Scaling::from_tag(m.value)?, m.legacy))) else {
                return Ok(unchanged("unchanged: not stopped by this stack's schedule"));
            };
            let Some(group) = settled(eks, cluster, run, group).await? else {
                return Ok(unchanged(GONE));
            };
            if scaling_of(&group) != target {
                scale(eks, cluster, name, target).await?;
            }
            let mut keys = vec![Memory::Scaling.key(run.stack)];
            keys.extend(legacy.then(|| Memory::Scaling.legacy_key().to_owned()));
            eks.untag_resource()
                .resource_arn(&arn)
                .set_tag_keys(Some(keys))
                .send()
                .await
                .map_err(|e| anyhow!("eks UntagResource: {}", describe(&e)))?;
            Ok((true, format!("restored {}", target.to_tag()), None))
        }
    }
}

async fn scale(eks: &aws_sdk_eks::Client, cluster: &str, name: &str, to: Scaling) -> Result<()> {
    tracing::info!("schedule: node group {cluster}/{name} → {}", to.to_tag());
    eks.update_nodegroup_config()
        .cluster_name(cluster)
        .nodegroup_name(name)
        .scaling_config(
            NodegroupScalingConfig::builder()
                .min_size(to.min)
                .desired_size(to.desired)
                .max_size(to.max)
                .build(),
        )
        .send()
        .await
        .map_err(|e| anyhow!("eks UpdateNodegroupConfig: {}", describe(&e)))?;
    Ok(())
}

type Tags = Vec<(String, String)>;

fn tag<'a>(tags: &'a Tags, key: &str) -> Option<&'a str> {
    tags.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

fn pairs(tags: &Tags) -> impl Iterator<Item = (&str, &str)> + Clone {
    tags.iter().map(|(k, v)| (k.as_str(), v.as_str()))
}

fn sm_tag(key: &str, value: &str) -> aws_sdk_sagemaker::types::Tag {
    aws_sdk_sagemaker::types::Tag::builder().key(key).value(value).build()
}

fn endpoint_change(name: &str, (changed, detail, running): Done) -> Change {
    Change {
        usd_per_hour: None,
        running,
        kind: "endpoint",
        name: name.to_owned(),
        changed,
        detail,
    }
}

async fn stop_endpoints(sm: &aws_sdk_sagemaker::Client, prefix: &str, run: &Run<'_>, out: &mut Outcome) -> Result<()> {
    let summaries: Vec<_> = sm
        .list_endpoints()
        .name_contains(prefix)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| anyhow!("sagemaker ListEndpoints: {}", describe(&e)))?;
    for s in summaries
        .iter()
        .filter(|s| name_matches(prefix, s.endpoint_name().unwrap_or_default()))
    {
        let name = s.endpoint_name().unwrap_or_default();
        let status = s.endpoint_status().map(|st| st.as_str()).unwrap_or_default();
        let result = async {
            if status == "Deleting" {
                return Ok(unchanged("unchanged: already being deleted"));
            }
            let endpoint_tags = tags(sm, s.endpoint_arn().unwrap_or_default()).await?;
            if let Verdict::Kept(why) = run.owner.judge(pairs(&endpoint_tags)) {
                return Ok(unchanged(format!("kept ({why})")));
            }
            stop_endpoint(sm, name, run.stack)
                .await
                .map(|(detail, running)| (true, detail, Some(running)))
        }
        .await;
        match result {
            Ok(done) => out.changes.push(endpoint_change(name, done)),
            Err(e) => match unless_gone(sm, Kind::Endpoint, name, e).await {
                Ok(()) => out.changes.push(endpoint_change(
                    name,
                    unchanged("unchanged: deleted since it was listed"),
                )),
                Err(e) => out.errors.push(format!("endpoint {name}: {e:#}")),
            },
        }
    }
    Ok(())
}

/// Remembers the endpoint on its config, under the stack's key, then deletes the endpoint.
async fn stop_endpoint(
    sm: &aws_sdk_sagemaker::Client,
    name: &str,
    stack: &str,
) -> Result<(String, crate::cost::Running)> {
    let endpoint = sm
        .describe_endpoint()
        .endpoint_name(name)
        .send()
        .await
        .map_err(|e| anyhow!("sagemaker DescribeEndpoint: {}", describe(&e)))?;
    let config_name = endpoint.endpoint_config_name().unwrap_or_default().to_owned();
    let config = sm
        .describe_endpoint_config()
        .endpoint_config_name(&config_name)
        .send()
        .await
        .map_err(|e| anyhow!("sagemaker DescribeEndpointConfig {config_name}: {}", describe(&e)))?;
    let config_arn = config.endpoint_config_arn().unwrap_or_default();
    let config_tags = tags(sm, config_arn).await?;
    let key = Memory::StoppedEndpoints.key(stack);
    let mut stopped = tag(&config_tags, &key).map(markers::endpoints).unwrap_or_default();
    if !stopped.contains(&name) {
        stopped.push(name);
    }
    sm.add_tags()
        .resource_arn(config_arn)
        .tags(sm_tag(&key, &markers::endpoints_value(stopped)))
        .send()
        .await
        .map_err(|e| anyhow!("sagemaker AddTags {config_name}: {}", describe(&e)))?;
    tracing::info!("schedule: deleting endpoint {name} (config {config_name} kept)");
    match sm.delete_endpoint().endpoint_name(name).send().await {
        Ok(_) => {}
        Err(e) if is_not_found(&describe(&e)) => {}
        Err(e) => return Err(anyhow!("sagemaker DeleteEndpoint: {}", describe(&e))),
    }
    let variants = config
        .production_variants()
        .iter()
        .filter_map(|v| {
            Some((
                v.instance_type()?.as_str().to_owned(),
                v.initial_instance_count().unwrap_or(1),
            ))
        })
        .collect();
    Ok((
        format!("deleted (config {config_name} kept)"),
        crate::cost::Running::Endpoint(variants),
    ))
}

/// An endpoint config that holds the stack's memory of stopped endpoints.
struct Remembering {
    config: String,
    arn: String,
    tags: Tags,
    /// The endpoints it remembers, as written.
    names: Vec<String>,
    /// Remembered under the key without the stack (sundown before 0.2).
    legacy: bool,
}

/// The endpoint configs that are the stack's and remember its endpoints:
/// those named by the rule (listed, then their tags read) and those named
/// otherwise that the tagging API finds under the stack's key. A config
/// named otherwise and remembering only another stack's endpoints is never
/// read; one remembering under the legacy key counts only when its name and
/// `scope.tags` make it the stack's.
async fn remembering(
    sm: &aws_sdk_sagemaker::Client,
    tagging: &aws_sdk_resourcegroupstagging::Client,
    prefix: &str,
    run: &Run<'_>,
    out: &mut Outcome,
) -> Result<Vec<Remembering>> {
    let listed: Vec<_> = sm
        .list_endpoint_configs()
        .max_results(100)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| anyhow!("sagemaker ListEndpointConfigs: {}", describe(&e)))?;
    // name → ARN
    let mut candidates: BTreeMap<String, String> = listed
        .iter()
        .filter_map(|c| {
            let name = c.endpoint_config_name()?;
            name_matches(prefix, name)
                .then(|| (name.to_owned(), c.endpoint_config_arn().unwrap_or_default().to_owned()))
        })
        .collect();
    for (name, arn) in configs_remembering(tagging, run.stack).await? {
        candidates.entry(name).or_insert(arn);
    }
    let mut configs = Vec::new();
    for (config, arn) in candidates {
        let config_tags = match tags(sm, &arn).await {
            Ok(t) => t,
            Err(e) => {
                // One deleted since the listing remembers nothing; the tagging API lists
                // deleted resources for a while too.
                if let Err(e) = unless_gone(sm, Kind::EndpointConfig, &config, e).await {
                    out.errors.push(format!("endpoint config {config}: {e:#}"));
                }
                continue;
            }
        };
        let Some(memory) = Memory::StoppedEndpoints.read(run.stack, pairs(&config_tags)) else {
            continue;
        };
        if memory.legacy && !(name_matches(prefix, &config) && run.owner.judge(pairs(&config_tags)) == Verdict::Ours) {
            continue;
        }
        let (names, legacy) = (
            markers::endpoints(memory.value)
                .into_iter()
                .map(str::to_owned)
                .collect(),
            memory.legacy,
        );
        configs.push(Remembering {
            config,
            arn,
            tags: config_tags,
            names,
            legacy,
        });
    }
    Ok(configs)
}

/// The stack's endpoints and their status, once none that `wanted` names is
/// still Deleting (it cannot be recreated before it is gone), or at the run's
/// deadline: one paginated ListEndpoints per round.
async fn endpoint_status(
    sm: &aws_sdk_sagemaker::Client,
    prefix: &str,
    wanted: &BTreeSet<&str>,
    run: &Run<'_>,
) -> Result<BTreeMap<String, String>> {
    let mut status = BTreeMap::new();
    let mut said = Vec::new();
    let mut rounds = run.rounds();
    while rounds.next().await? {
        status = list_endpoints(sm, prefix).await?;
        let deleting: Vec<&str> = wanted
            .iter()
            .copied()
            .filter(|n| status.get(*n).is_some_and(|s| s == "Deleting"))
            .collect();
        if deleting.is_empty() {
            break;
        }
        // One line when the set changes, not one per round.
        if deleting != said {
            tracing::info!(
                "schedule: waiting for {} to finish deleting before recreating",
                deleting.join(", ")
            );
            said = deleting;
        }
    }
    Ok(status)
}

/// Recreates every endpoint of the stack its configs remember, then forgets
/// each one that is back (or there), and only those.
async fn start_endpoints(
    sm: &aws_sdk_sagemaker::Client,
    tagging: &aws_sdk_resourcegroupstagging::Client,
    prefix: &str,
    run: &Run<'_>,
    out: &mut Outcome,
) -> Result<()> {
    let configs = remembering(sm, tagging, prefix, run, out).await?;
    let wanted: BTreeSet<&str> = configs
        .iter()
        .filter(|c| tag(&c.tags, markers::TEARDOWN).is_none())
        .flat_map(|c| c.names.iter().map(String::as_str))
        .filter(|n| name_matches(prefix, n))
        .collect();
    let status = if wanted.is_empty() {
        BTreeMap::new()
    } else {
        endpoint_status(sm, prefix, &wanted, run).await?
    };
    for c in &configs {
        if let Some(since) = tag(&c.tags, markers::TEARDOWN) {
            for name in &c.names {
                out.changes.push(endpoint_change(
                    name,
                    unchanged(format!("not recreated: a teardown of the stack started at {since}")),
                ));
            }
            continue;
        }
        let mut back = BTreeSet::new();
        for name in &c.names {
            let kept = || format!("config {} still remembers it", c.config);
            if !name_matches(prefix, name) {
                out.changes.push(endpoint_change(
                    name,
                    unchanged(format!("not recreated: not named {prefix} or {prefix}-…; {}", kept())),
                ));
                continue;
            }
            match status.get(name.as_str()).map(String::as_str) {
                None => match start_endpoint(sm, name, c, run.protect).await {
                    Ok(Started::Created) => {
                        back.insert(name.as_str());
                        out.changes
                            .push(endpoint_change(name, (true, format!("recreated from config {}", c.config), None)));
                    }
                    Ok(Started::Exists) => {
                        back.insert(name.as_str());
                        out.changes.push(endpoint_change(name, unchanged("unchanged: exists")));
                    }
                    Ok(Started::Undone(why)) => out.changes.push(endpoint_change(
                        name,
                        unchanged(format!("not recreated: {why}; the endpoint created meanwhile was deleted")),
                    )),
                    Err(e) => out.errors.push(format!("endpoint {name}: {e:#}; {}", kept())),
                },
                Some("Deleting") => out.errors.push(format!(
                    "endpoint {name}: {}, so not recreated yet; {}, so the next start recreates it",
                    run.still("Deleting"),
                    kept()
                )),
                Some("Failed") => out.errors.push(format!(
                    "endpoint {name}: exists as Failed, so it cannot be recreated; delete it, then run `sundown schedule start` again ({})",
                    kept()
                )),
                Some(other) => {
                    back.insert(name.as_str());
                    out.changes
                        .push(endpoint_change(name, unchanged(format!("unchanged: exists ({other})"))));
                }
            }
        }
        if let Err(e) = forget(sm, c, &back, run.stack).await {
            out.errors.push(format!("{e:#}"));
        }
    }
    Ok(())
}

/// Removes from a config's memory the endpoints that are back; keeps the rest.
async fn forget(sm: &aws_sdk_sagemaker::Client, c: &Remembering, back: &BTreeSet<&str>, stack: &str) -> Result<()> {
    let left: Vec<&str> = c
        .names
        .iter()
        .map(String::as_str)
        .filter(|n| !back.contains(n))
        .collect();
    let key = Memory::StoppedEndpoints.key(stack);
    let mut remove = Vec::new();
    if c.legacy {
        remove.push(Memory::StoppedEndpoints.legacy_key().to_owned());
    }
    if left.is_empty() {
        if !c.legacy {
            remove.push(key);
        }
    } else if left.len() < c.names.len() || c.legacy {
        sm.add_tags()
            .resource_arn(&c.arn)
            .tags(sm_tag(&key, &markers::endpoints_value(left)))
            .send()
            .await
            .map_err(|e| anyhow!("sagemaker AddTags {}: {}", c.config, describe(&e)))?;
    }
    if !remove.is_empty() {
        sm.delete_tags()
            .resource_arn(&c.arn)
            .set_tag_keys(Some(remove))
            .send()
            .await
            .map_err(|e| anyhow!("sagemaker DeleteTags {}: {}", c.config, describe(&e)))?;
    }
    Ok(())
}

/// What one CreateEndpoint came to.
enum Started {
    Created,
    /// Created meanwhile by someone else.
    Exists,
    /// Created, then deleted again: a teardown started meanwhile (why).
    Undone(String),
}

async fn start_endpoint(
    sm: &aws_sdk_sagemaker::Client,
    name: &str,
    c: &Remembering,
    protect: &Protect,
) -> Result<Started> {
    // The endpoint gets its config's tags (minus sundown's and AWS's own); the
    // protect tag is not carried over: protection is a decision per resource.
    let carried: Vec<_> = c
        .tags
        .iter()
        .filter(|(k, _)| !Memory::StoppedEndpoints.is_key(k) && !k.starts_with("aws:") && *k != protect.tag)
        .map(|(k, v)| sm_tag(k, v))
        .collect();
    tracing::info!("schedule: creating endpoint {name} from config {}", c.config);
    let created = sm
        .create_endpoint()
        .endpoint_name(name)
        .endpoint_config_name(&c.config)
        .set_tags(Some(carried).filter(|t| !t.is_empty()))
        .send()
        .await;
    match created {
        Ok(_) => {}
        // SageMaker: "Cannot create already existing endpoint".
        Err(e) if describe(&e).contains("already existing") => return Ok(Started::Exists),
        Err(e) => return Err(anyhow!("sagemaker CreateEndpoint: {}", describe(&e))),
    }
    // A teardown that started meanwhile has marked the config before its first deletion (or
    // deleted it already): then this endpoint must not outlive it. Undo, failing closed.
    let teardown = match tags(sm, &c.arn).await {
        Ok(now) => tag(&now, markers::TEARDOWN).map(|since| format!("a teardown of the stack started at {since}")),
        Err(e) => Some(format!("the config's tags cannot be read back ({e:#})")),
    };
    if let Some(why) = teardown {
        tracing::warn!("schedule: deleting endpoint {name} again: {why}");
        sm.delete_endpoint().endpoint_name(name).send().await.map_err(|e| {
            anyhow!(
                "sagemaker DeleteEndpoint {name} (undoing the start: {why}): {}",
                describe(&e)
            )
        })?;
        return Ok(Started::Undone(why));
    }
    Ok(Started::Created)
}
