//! The schedule's node groups: each scaled to 0 by EKS UpdateNodegroupConfig
//! after its scaling is remembered in a tag on it, and back to exactly that;
//! a node group mid-update is waited for within `schedule.wait`. Every update
//! is checked by DescribeUpdate until it is Successful; one that fails, or is
//! still in progress at the deadline, is an error and keeps its memory.

use super::*;

use anyhow::{Result, anyhow};
use aws_sdk_eks::types::{Nodegroup, NodegroupScalingConfig, NodegroupStatus, UpdateStatus};

use crate::aws::describe;
use crate::markers::{Memory, Scaling};
use crate::scope::Verdict;

pub(super) async fn node_groups(
    eks: &aws_sdk_eks::Client,
    cluster: &str,
    run: &Run<'_>,
    action: Action,
    out: &mut Outcome,
) {
    let names = match crate::aws::node_group_names(eks, cluster).await {
        Ok(names) => names,
        Err(e) => {
            out.errors.push(format!("{e:#}"));
            return;
        }
    };
    let change = |name: &str, (changed, detail, running): Done| Change {
        usd_per_hour: None,
        running,
        kind: Target::NodeGroup,
        name: format!("{cluster}/{name}"),
        changed,
        detail,
    };
    // Every update is sent first, then all of them are checked together.
    let mut sent = Vec::new();
    for name in names {
        match node_group(eks, cluster, &name, run, action).await {
            Ok(Step::Done(done)) => out.changes.push(change(&name, done)),
            Ok(Step::Sent(update)) => sent.push(update),
            Err(e) => out.errors.push(format!("node group {cluster}/{name}: {e:#}")),
        }
    }
    let ends = updates_end(eks, cluster, run, &sent).await;
    for (update, end) in sent.into_iter().zip(ends) {
        let label = format!("{cluster}/{}", update.name);
        match end {
            End::Successful => match untag(eks, &update.arn, update.forget.clone()).await {
                Ok(()) => out
                    .changes
                    .push(change(&update.name, (true, update.detail, update.running))),
                Err(e) => out.errors.push(format!("node group {label}: {e:#}")),
            },
            End::Failed(why) => {
                out.changes
                    .push(change(&update.name, unchanged(format!("failed: {why}"))));
                out.errors.push(format!(
                    "node group {label}: update {} to {} failed: {why}; it keeps what it remembers, for the next run",
                    update.id,
                    update.to.to_tag()
                ));
            }
            End::Pending(status) => {
                out.changes
                    .push(change(&update.name, unchanged(format!("pending: update {status}"))));
                out.errors.push(format!(
                    "node group {label}: update {} to {} {}; it keeps what it remembers, and the next run checks it",
                    update.id,
                    update.to.to_tag(),
                    run.still(&status)
                ));
            }
        }
    }
}

/// What one node group came to before any check: done (or left), or an update sent.
pub(super) enum Step {
    Done(Done),
    Sent(Sent),
}

/// An UpdateNodegroupConfig EKS accepted, to be checked until it ends.
pub(super) struct Sent {
    name: String,
    arn: String,
    to: Scaling,
    id: String,
    /// Its status as UpdateNodegroupConfig answered.
    status: UpdateStatus,
    /// What is said once it is Successful.
    detail: String,
    running: Option<crate::cost::Running>,
    /// `start`: the memory keys removed once it is Successful (untag last).
    forget: Vec<String>,
}

/// How a node-group update ended, as DescribeUpdate tells it.
pub(super) enum End {
    Successful,
    /// Failed or Cancelled, with AWS's errors.
    Failed(String),
    /// Still this status at the run's deadline (or at a signal).
    Pending(String),
}

/// Checks each update until it ends: one DescribeUpdate per update still in
/// progress and round, within the run's deadline. An update EKS answered as
/// already ended is not asked about again.
async fn updates_end(eks: &aws_sdk_eks::Client, cluster: &str, run: &Run<'_>, sent: &[Sent]) -> Vec<End> {
    let mut status: Vec<(UpdateStatus, String)> = sent.iter().map(|u| (u.status.clone(), String::new())).collect();
    let open = |s: &[(UpdateStatus, String)]| s.iter().any(|(s, _)| *s == UpdateStatus::InProgress);
    let mut rounds = run.rounds();
    let mut said = false;
    while open(&status) {
        match rounds.next().await {
            Ok(true) => {}
            Ok(false) | Err(_) => break,
        }
        if !std::mem::replace(&mut said, true) {
            tracing::info!("schedule: waiting for the node-group updates to end");
        }
        for (update, (now, why)) in sent.iter().zip(status.iter_mut()) {
            if *now != UpdateStatus::InProgress {
                continue;
            }
            match describe_update(eks, cluster, update).await {
                Ok((s, errors)) => (*now, *why) = (s, errors),
                Err(e) => tracing::warn!("schedule: node group {cluster}/{}: {e:#}", update.name),
            }
        }
    }
    status
        .into_iter()
        .map(|(s, why)| match s {
            UpdateStatus::Successful => End::Successful,
            UpdateStatus::Failed | UpdateStatus::Cancelled => End::Failed(if why.is_empty() {
                format!("{} (AWS gave no reason)", s.as_str())
            } else {
                why
            }),
            other => End::Pending(other.as_str().to_owned()),
        })
        .collect()
}

/// One DescribeUpdate: the update's status and its errors, `code: message; …`.
async fn describe_update(eks: &aws_sdk_eks::Client, cluster: &str, update: &Sent) -> Result<(UpdateStatus, String)> {
    let out = eks
        .describe_update()
        .name(cluster)
        .nodegroup_name(&update.name)
        .update_id(&update.id)
        .send()
        .await
        .map_err(|e| anyhow!("eks DescribeUpdate {}: {}", update.id, describe(&e)))?;
    let u = out
        .update()
        .ok_or_else(|| anyhow!("eks DescribeUpdate {}: no update", update.id))?;
    let errors = u
        .errors()
        .iter()
        .map(|e| {
            format!(
                "{}: {}",
                e.error_code().map(|c| c.as_str()).unwrap_or("Error"),
                e.error_message().unwrap_or_default()
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    Ok((u.status().cloned().unwrap_or(UpdateStatus::InProgress), errors))
}

/// Removes memory keys from a node group (none: nothing is sent).
async fn untag(eks: &aws_sdk_eks::Client, arn: &str, keys: Vec<String>) -> Result<()> {
    if keys.is_empty() {
        return Ok(());
    }
    eks.untag_resource()
        .resource_arn(arn)
        .set_tag_keys(Some(keys))
        .send()
        .await
        .map_err(|e| anyhow!("eks UntagResource: {}", describe(&e)))?;
    Ok(())
}

/// The node group once no update of its own is under way: EKS refuses an
/// update while one runs (ResourceInUseException), and the sizes to remember
/// are those it ends with. Waits within the run's deadline; `None` when the
/// node group is gone meanwhile.
pub(super) async fn settled(
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
        match crate::aws::describe_node_group(eks, cluster, &name).await? {
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

pub(super) fn scaling_of(group: &Nodegroup) -> Scaling {
    let sc = group.scaling_config();
    Scaling {
        min: sc.and_then(|s| s.min_size()).unwrap_or(0),
        desired: sc.and_then(|s| s.desired_size()).unwrap_or(0),
        max: sc.and_then(|s| s.max_size()).unwrap_or(1),
    }
}

/// Stops or starts one node group: sends its update, or says why not.
pub(super) async fn node_group(
    eks: &aws_sdk_eks::Client,
    cluster: &str,
    name: &str,
    run: &Run<'_>,
    action: Action,
) -> Result<Step> {
    const GONE: &str = "unchanged: deleted since it was listed";
    let done = |d: Done| Ok(Step::Done(d));
    let Some(group) = crate::aws::describe_node_group(eks, cluster, name).await? else {
        return done(unchanged(GONE));
    };
    let tags = group.tags().cloned().unwrap_or_default();
    let pairs = || tags.iter().map(|(k, v)| (k.as_str(), v.as_str()));
    if let Verdict::Kept(why) = run.owner.judge(pairs()) {
        return done(unchanged(format!("kept ({why})")));
    }
    if let Some(status @ (NodegroupStatus::Deleting | NodegroupStatus::DeleteFailed)) = group.status() {
        return done(unchanged(format!("unchanged: {}", status.as_str())));
    }
    let arn = group.nodegroup_arn().unwrap_or_default().to_owned();
    match action {
        Action::Stop => {
            let kept_on = super::keep_on::holds(run.stack, pairs(), crate::clock::now());
            if let Some(until) = kept_on {
                return done(unchanged(format!("kept on until {until} (sundown schedule keep-on)")));
            }
            let key = crate::markers::keep_on_key(run.stack);
            if tags.contains_key(&key) {
                tracing::info!("schedule: node group {cluster}/{name}: its keep-on mark has expired; removing it");
                untag(eks, &arn, vec![key]).await?;
            }
            let at_zero = |s: Scaling| s.min == 0 && s.desired == 0;
            if at_zero(scaling_of(&group)) {
                return done(unchanged("unchanged: already at 0"));
            }
            let Some(group) = settled(eks, cluster, run, group).await? else {
                return done(unchanged(GONE));
            };
            let now = scaling_of(&group);
            if at_zero(now) {
                return done(unchanged("unchanged: already at 0"));
            }
            eks.tag_resource()
                .resource_arn(&arn)
                .tags(Memory::Scaling.key(run.stack), now.to_tag())
                .send()
                .await
                .map_err(|e| anyhow!("eks TagResource: {}", describe(&e)))?;
            let to = Scaling {
                min: 0,
                desired: 0,
                max: now.max.max(1),
            };
            let (id, status) = scale(eks, cluster, name, to).await?;
            Ok(Step::Sent(Sent {
                name: name.to_owned(),
                arn,
                to,
                id,
                status,
                detail: format!("scaled to 0 (was {})", now.to_tag()),
                running: Some(crate::cost::Running::NodeGroup {
                    types: group.instance_types().to_vec(),
                    count: now.desired,
                    spot: group.capacity_type().is_some_and(|c| c.as_str() == "SPOT"),
                }),
                forget: Vec::new(),
            }))
        }
        Action::KeepOn => done(unchanged("unchanged")),
        Action::Start => {
            let remembered = Memory::Scaling.read(run.stack, pairs());
            let Some((target, legacy)) = remembered.and_then(|m| Some((Scaling::from_tag(m.value)?, m.legacy))) else {
                return done(unchanged("unchanged: not stopped by this stack's schedule"));
            };
            let Some(group) = settled(eks, cluster, run, group).await? else {
                return done(unchanged(GONE));
            };
            let mut keys = vec![Memory::Scaling.key(run.stack)];
            keys.extend(legacy.then(|| Memory::Scaling.legacy_key().to_owned()));
            let detail = format!("restored {}", target.to_tag());
            if scaling_of(&group) == target {
                untag(eks, &arn, keys).await?;
                return done((true, detail, None));
            }
            let (id, status) = scale(eks, cluster, name, target).await?;
            Ok(Step::Sent(Sent {
                name: name.to_owned(),
                arn,
                to: target,
                id,
                status,
                detail,
                running: None,
                forget: keys,
            }))
        }
    }
}

/// Sends one UpdateNodegroupConfig; returns the update's id and status as EKS answered.
pub(super) async fn scale(
    eks: &aws_sdk_eks::Client,
    cluster: &str,
    name: &str,
    to: Scaling,
) -> Result<(String, UpdateStatus)> {
    tracing::info!("schedule: node group {cluster}/{name} → {}", to.to_tag());
    let out = eks
        .update_nodegroup_config()
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
    let update = out.update();
    Ok((
        update.and_then(|u| u.id()).unwrap_or_default().to_owned(),
        update
            .and_then(|u| u.status())
            .cloned()
            .unwrap_or(UpdateStatus::InProgress),
    ))
}
