//! The schedule's node groups: each scaled to 0 by EKS UpdateNodegroupConfig
//! after its scaling is remembered in a tag on it, and back to exactly that;
//! a node group mid-update is waited for within `schedule.wait`.

use super::*;

use anyhow::{Result, anyhow};
use aws_sdk_eks::types::{Nodegroup, NodegroupScalingConfig, NodegroupStatus};

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
    for name in names {
        let label = format!("{cluster}/{name}");
        match node_group(eks, cluster, &name, run, action).await {
            Ok((changed, detail, running)) => out.changes.push(Change {
                usd_per_hour: None,
                running,
                kind: Target::NodeGroup,
                name: label,
                changed,
                detail,
            }),
            Err(e) => out.errors.push(format!("node group {label}: {e:#}")),
        }
    }
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

/// Stops or starts one node group.
pub(super) async fn node_group(
    eks: &aws_sdk_eks::Client,
    cluster: &str,
    name: &str,
    run: &Run<'_>,
    action: Action,
) -> Result<Done> {
    const GONE: &str = "unchanged: deleted since it was listed";
    let Some(group) = crate::aws::describe_node_group(eks, cluster, name).await? else {
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

pub(super) async fn scale(eks: &aws_sdk_eks::Client, cluster: &str, name: &str, to: Scaling) -> Result<()> {
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
