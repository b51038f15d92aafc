//! Phase 1: the stack's Kubernetes namespaces, then the load balancers the
//! cluster's controllers made (they block `terraform destroy` of the VPC).
//!
//! The namespaces live on the API server the pre-flight bound to the stack's
//! cluster (`k8s::connect`); when the cluster is gone they are recorded
//! absent without contacting anything. A namespace labelled
//! `sundown.io/protect=true` is kept. Load balancers are ELBv2 (the AWS Load
//! Balancer Controller) and Classic ELBs (the in-tree cloud provider's default
//! for `type: LoadBalancer` Services), found by the cluster's tags.

use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use futures_util::{StreamExt, stream};
use k8s_openapi::api::core::v1::Namespace;
use kube::Api;
use kube::api::DeleteParams;
use tokio::time::Instant;

use crate::aws::Aws;
use crate::aws::CONCURRENCY;
use crate::cancel::Stop;
use crate::config::{self};
use crate::discover::kubernetes::{cluster_gone, cluster_load_balancers, discover};
use crate::k8s::Connection;
use crate::model::inventory::{Action, Kind, Phase, Resource};
use crate::model::report::{Outcome, PhaseReport};
use crate::model::reviewed::{DRIFT, Reviewed};
use crate::order::Place;
use crate::scope::Owner;
use crate::wait;

pub async fn teardown(
    aws: &Aws,
    cfg: &config::Kubernetes,
    owner: &Owner<'_>,
    api: Option<&Connection>,
    reviewed: Option<&Reviewed>,
    (stop, place): (&Stop, &Place),
) -> PhaseReport {
    let mut report = PhaseReport::new(Phase::Kubernetes);
    let deadline = Instant::now() + cfg.wait;
    if !cfg.namespaces.is_empty() {
        match api {
            Some(api) => {
                report.source = Some(api.source());
                let deleted = delete_namespaces(api, cfg, reviewed, (stop, place), deadline, &mut report).await;
                // Failed or not, the next phase's deletions need not wait for this one's.
                place.issued();
                if let Err(e) = deleted {
                    report.fail(format!("{e:#}"));
                } else if report.ok() {
                    // The namespaces are gone; their volumes go after them, while the cluster still runs.
                    let scope = (deadline, stop);
                    super::volumes::await_volumes(aws, api, &cfg.namespaces, scope, &mut report).await;
                }
            }
            None => {
                report.source = cfg.cluster.as_ref().map(|c| format!("EKS cluster {c} (not found)"));
                for r in cluster_gone(cfg) {
                    report.record(Kind::Namespace, r.name, Outcome::Absent, r.reason);
                }
            }
        }
    }
    // The load balancers are the controllers' to delete: only a wait is left here.
    place.issued();
    if let Some(cluster) = &cfg.cluster {
        let left = deadline.saturating_duration_since(Instant::now());
        match wait_for_load_balancers(aws, cluster, left, stop).await {
            Ok(remaining) if remaining.is_empty() => {
                let scope = (cluster.as_str(), cfg.namespaces.as_slice());
                super::controller::delete_leftovers(aws, scope, owner, reviewed, (deadline, stop), &mut report).await;
            }
            Ok(remaining) => report.fail(format!(
                "load balancers of cluster {cluster} still exist after {}: {} (they block terraform destroy of the VPC)",
                humantime::format_duration(cfg.wait),
                remaining.join(", ")
            )),
            Err(e) => report.fail(format!("waiting for the load balancers of cluster {cluster}: {e:#}")),
        }
    }
    report
}

/// Deletes every namespace to delete, hands the next phase its turn, then
/// waits for all of them at once with one namespace list per round, until `deadline`. A namespace already
/// Terminating (a re-run after a timeout or a kill) gets the API server's 409
/// Conflict to its DELETE and is awaited, not failed. One still there at the
/// deadline is reported with its `status.conditions`, which name the
/// resources and finalizers holding it.
async fn delete_namespaces(
    api: &Connection,
    cfg: &config::Kubernetes,
    reviewed: Option<&Reviewed>,
    (stop, place): (&Stop, &Place),
    deadline: Instant,
    report: &mut PhaseReport,
) -> Result<()> {
    let mut found = discover(&api.client().await?, cfg).await?;
    // A namespace the reviewed plan does not list (recreated since: a new uid) is not deleted.
    for r in &mut found {
        if r.action == Action::Delete
            && let Some(plan) = reviewed
            && !plan.allows(Kind::Namespace, &r.name, r.id.as_deref())
        {
            r.action = Action::Keep;
            r.reason = Some(DRIFT.to_owned());
        }
    }
    let namespaces: Api<Namespace> = Api::all(api.client().await?);
    let sends: Vec<(Resource, Result<bool>)> = stream::iter(found)
        .map(|r| {
            let namespaces = namespaces.clone();
            async move {
                if r.action != Action::Delete {
                    return (r, Ok(true));
                }
                tracing::info!("kubernetes: deleting namespace {}", r.name);
                let sent = match namespaces.delete(&r.name, &DeleteParams::default()).await {
                    Ok(_) => Ok(true),
                    Err(kube::Error::Api(status)) if status.is_not_found() => Ok(false),
                    // Already Terminating: its finalizers still run. Wait for it like the others.
                    Err(kube::Error::Api(status)) if status.code == 409 => {
                        tracing::info!("kubernetes: namespace {} is already terminating", r.name);
                        Ok(true)
                    }
                    Err(e) => Err(anyhow!(e).context(format!("deleting namespace {}", r.name))),
                };
                (r, sent)
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    let mut awaiting = std::collections::BTreeSet::new();
    for (r, sent) in sends {
        match (r.action, sent) {
            (Action::Keep, _) if r.reason.as_deref() == Some(DRIFT) => {
                report.record(Kind::Namespace, r.name, Outcome::Drift, r.reason)
            }
            (Action::Keep, _) => report.record(Kind::Namespace, r.name, Outcome::Kept, r.reason),
            (Action::Absent | Action::Stop, _) | (Action::Delete, Ok(false)) => {
                report.record(Kind::Namespace, r.name, Outcome::Absent, r.reason)
            }
            (Action::Delete, Ok(true)) => {
                awaiting.insert(r.name);
            }
            (Action::Delete, Err(e)) => {
                report.record(Kind::Namespace, &r.name, Outcome::Failed, Some(format!("{e:#}")));
                report.fail(format!("namespace {}: {e:#}", r.name));
            }
        }
    }
    place.issued();
    let mut last_seen: std::collections::BTreeMap<String, Namespace> = Default::default();
    let mut rounds = wait::Rounds::new(deadline.saturating_duration_since(Instant::now()), stop);
    while !awaiting.is_empty() && rounds.next().await? {
        // The client of this round: a long wait gets a fresh EKS token here.
        let listed = Api::<Namespace>::all(api.client().await?)
            .list(&Default::default())
            .await
            .context("listing namespaces")?;
        last_seen = listed
            .items
            .into_iter()
            .filter_map(|ns| Some((ns.metadata.name.clone()?, ns)))
            .filter(|(name, _)| awaiting.contains(name))
            .collect();
        for name in awaiting.clone() {
            if !last_seen.contains_key(&name) {
                awaiting.remove(&name);
                report.record(Kind::Namespace, name, Outcome::Deleted, None);
            }
        }
    }
    for name in awaiting {
        let held_by = last_seen.get(&name).map(conditions).unwrap_or_default();
        let why = format!(
            "namespace {name} still Terminating after {}{held_by}",
            humantime::format_duration(cfg.wait)
        );
        report.record(Kind::Namespace, &name, Outcome::Failed, Some(why.clone()));
        report.fail(why);
    }
    Ok(())
}

/// `: NamespaceContentRemaining: Some resources are remaining: …; …`: what
/// the namespace controller says is holding a Terminating namespace.
fn conditions(ns: &Namespace) -> String {
    let held: Vec<String> = ns
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .into_iter()
        .flatten()
        .filter(|c| c.status == "True")
        .map(|c| format!("{}: {}", c.type_, c.message.as_deref().unwrap_or("")))
        .collect();
    if held.is_empty() {
        String::new()
    } else {
        format!(": {}", held.join("; "))
    }
}

/// Waits until no load balancer tagged for `cluster` remains; returns those left.
async fn wait_for_load_balancers(aws: &Aws, cluster: &str, limit: Duration, stop: &Stop) -> Result<Vec<String>> {
    let remaining = std::sync::Mutex::new(Vec::new());
    let said = std::sync::atomic::AtomicBool::new(false);
    let gone = wait::until(limit, stop, || async {
        let now: Vec<String> = cluster_load_balancers(aws, cluster)
            .await?
            .iter()
            .map(ToString::to_string)
            .collect();
        let empty = now.is_empty();
        if !empty && !said.swap(true, std::sync::atomic::Ordering::Relaxed) {
            tracing::info!(
                "kubernetes: waiting for the cluster's controllers to delete {}",
                now.join(", ")
            );
        }
        *remaining.lock().unwrap() = now;
        Ok(empty)
    })
    .await?;
    let remaining = remaining.into_inner().unwrap();
    if !gone {
        tracing::warn!("kubernetes: load balancers remain: {}", remaining.join(", "));
    }
    Ok(remaining)
}

/// The log group EKS makes for a cluster's control-plane logs (when logging
/// is on); it outlives the cluster.
pub fn cluster_log_group(cluster: &str) -> String {
    format!("/aws/eks/{cluster}/cluster")
}

/// Once the stack's cluster is gone, deletes `/aws/eks/<cluster>/cluster` and
/// proves it gone with one more listing. It stays, listed as kept, when the
/// cluster still runs (it is the cluster's own), under `kubernetes.logs: keep`,
/// with the protect tag, or outside a reviewed plan. Called after a done
/// `terraform destroy`; recorded in `report`.
pub async fn delete_cluster_log_group(
    aws: &Aws,
    cfg: &config::Kubernetes,
    protect: &config::Protect,
    reviewed: Option<&Reviewed>,
    report: &mut PhaseReport,
) {
    let Some(cluster) = cfg.cluster.as_deref() else { return };
    let name = cluster_log_group(cluster);
    match cluster_log_group_step(aws, cluster, &name, cfg.logs, protect, reviewed).await {
        Ok(None) => {}
        Ok(Some((outcome, detail))) => {
            if outcome == Outcome::Failed {
                report
                    .errors
                    .push(format!("log_group {name}: {}", detail.as_deref().unwrap_or("failed")));
            }
            report.record(Kind::LogGroup, &name, outcome, detail);
        }
        Err(e) => {
            report.record(Kind::LogGroup, &name, Outcome::Failed, Some(format!("{e:#}")));
            report.fail(format!("log_group {name}: {e:#}"));
        }
    }
}

/// What became of the cluster's log group: `None` when there is none, or the cluster still runs.
async fn cluster_log_group_step(
    aws: &Aws,
    cluster: &str,
    name: &str,
    keep: config::EndpointLogs,
    protect: &config::Protect,
    reviewed: Option<&Reviewed>,
) -> Result<Option<(Outcome, Option<String>)>> {
    match aws.eks().describe_cluster().name(cluster).send().await {
        Ok(_) => return Ok(None),
        Err(e) if crate::aws::code(&e) == Some("ResourceNotFoundException") => {}
        Err(e) => return Err(anyhow!("eks DescribeCluster {cluster}: {}", crate::aws::describe(&e))),
    }
    let logs = aws.logs();
    let listed = crate::aws::log_groups(&logs, name).await?;
    let Some(group) = listed.iter().find(|g| g.log_group_name() == Some(name)) else {
        return Ok(None);
    };
    if keep == config::EndpointLogs::Keep {
        return Ok(Some((Outcome::Kept, Some("kubernetes.logs: keep".into()))));
    }
    let arn = group.arn().unwrap_or_default().trim_end_matches(":*").to_owned();
    let tags = logs
        .list_tags_for_resource()
        .resource_arn(&arn)
        .send()
        .await
        .map_err(|e| anyhow!("logs ListTagsForResource {name}: {}", crate::aws::describe(&e)))?;
    let tags = tags.tags().cloned().unwrap_or_default();
    if protect.matches(tags.iter().map(|(k, v)| (k.as_str(), v.as_str()))) {
        return Ok(Some((
            Outcome::Kept,
            Some(format!("tagged {}={}", protect.tag, protect.value)),
        )));
    }
    if let Some(r) = reviewed
        && !r.allows(Kind::LogGroup, name, None)
    {
        return Ok(Some((
            Outcome::Kept,
            Some("not in the reviewed plan (plans do not list it): delete it by hand".to_owned()),
        )));
    }
    tracing::info!("terraform: the cluster {cluster} is gone; deleting its log group {name}");
    match logs.delete_log_group().log_group_name(name).send().await {
        Ok(_) => {}
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) =>
        {
            return Ok(Some((Outcome::Absent, None)));
        }
        Err(e) => return Err(anyhow!("logs DeleteLogGroup {name}: {}", crate::aws::describe(&e))),
    }
    // DeleteLogGroup's OK is a promise: the group must be gone from the listing.
    let still = crate::aws::log_groups(&logs, name).await?;
    if still.iter().any(|g| g.log_group_name() == Some(name)) {
        return Ok(Some((
            Outcome::Failed,
            Some("is still listed after DeleteLogGroup".to_owned()),
        )));
    }
    Ok(Some((Outcome::Deleted, Some(format!("the cluster {cluster} is gone")))))
}
