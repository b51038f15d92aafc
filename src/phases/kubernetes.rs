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
use futures_util::{StreamExt, TryStreamExt, stream};
use k8s_openapi::api::core::v1::Namespace;
use kube::Api;
use kube::api::DeleteParams;
use tokio::time::Instant;

use super::CONCURRENCY;
use crate::aws::{Aws, describe};
use crate::cancel::Stop;
use crate::config::{self, NAMESPACE_PROTECT_LABEL};
use crate::inventory::{Action, Kind, Phase, Resource};
use crate::k8s::Connection;
use crate::report::{Outcome, PhaseReport};
use crate::wait;

/// The configured namespaces as they are now.
pub async fn discover(client: &kube::Client, cfg: &config::Kubernetes) -> Result<Vec<Resource>> {
    discover_with(&Api::all(client.clone()), cfg).await
}

/// The namespaces when their EKS cluster no longer exists: all absent.
pub fn cluster_gone(cfg: &config::Kubernetes) -> Vec<Resource> {
    cfg.namespaces
        .iter()
        .map(|n| Resource::new(Kind::Namespace, n, Action::Absent).reason("cluster not found"))
        .collect()
}

fn classify(name: &str, ns: Option<&Namespace>) -> Resource {
    let Some(ns) = ns else {
        return Resource::new(Kind::Namespace, name, Action::Absent).reason("not found");
    };
    let phase = ns
        .status
        .as_ref()
        .and_then(|s| s.phase.clone())
        .unwrap_or_else(|| "Active".into());
    let protected = ns
        .metadata
        .labels
        .as_ref()
        .and_then(|labels| labels.get(NAMESPACE_PROTECT_LABEL))
        .is_some_and(|v| v == "true");
    let resource = if protected {
        Resource::new(Kind::Namespace, name, Action::Keep).reason(format!("labelled {NAMESPACE_PROTECT_LABEL}=true"))
    } else {
        Resource::new(Kind::Namespace, name, Action::Delete)
    };
    resource.state(phase)
}

/// Deletes the namespaces on `api` (`None`: the cluster is gone), waits until
/// each is gone, then waits for the cluster's load balancers to go.
/// Everything is bounded by `kubernetes.wait`.
pub async fn teardown(aws: &Aws, cfg: &config::Kubernetes, api: Option<&Connection>, stop: &Stop) -> PhaseReport {
    let mut report = PhaseReport::new(Phase::Kubernetes);
    let deadline = Instant::now() + cfg.wait;
    if !cfg.namespaces.is_empty() {
        match api {
            Some(api) => {
                report.source = Some(api.source());
                if let Err(e) = delete_namespaces(&api.client, cfg, stop, &mut report).await {
                    report.fail(format!("{e:#}"));
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
    if let Some(cluster) = &cfg.cluster {
        let left = deadline.saturating_duration_since(Instant::now());
        match wait_for_load_balancers(aws, cluster, left, stop).await {
            Ok(remaining) if remaining.is_empty() => {}
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

async fn delete_namespaces(
    client: &kube::Client,
    cfg: &config::Kubernetes,
    stop: &Stop,
    report: &mut PhaseReport,
) -> Result<()> {
    let api: Api<Namespace> = Api::all(client.clone());
    let found = discover_with(&api, cfg).await?;
    let results: Vec<(Resource, Result<bool>)> = stream::iter(found)
        .map(|r| {
            let api = api.clone();
            async move {
                if r.action != Action::Delete {
                    return (r, Ok(false));
                }
                tracing::info!("kubernetes: deleting namespace {}", r.name);
                let result = delete_and_wait(&api, &r.name, cfg.wait, stop).await;
                (r, result)
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    for (r, result) in results {
        match (r.action, result) {
            (Action::Keep, _) => report.record(Kind::Namespace, r.name, Outcome::Kept, r.reason),
            (Action::Absent, _) => report.record(Kind::Namespace, r.name, Outcome::Absent, r.reason),
            (Action::Delete, Ok(true)) => report.record(Kind::Namespace, r.name, Outcome::Deleted, None),
            (Action::Delete, Ok(false)) => {
                let why = format!(
                    "namespace {} still Terminating after {}",
                    r.name,
                    humantime::format_duration(cfg.wait)
                );
                report.record(Kind::Namespace, &r.name, Outcome::Failed, Some(why.clone()));
                report.fail(why);
            }
            (Action::Delete, Err(e)) => {
                report.record(Kind::Namespace, &r.name, Outcome::Failed, Some(format!("{e:#}")));
                report.fail(format!("namespace {}: {e:#}", r.name));
            }
        }
    }
    Ok(())
}

async fn discover_with(api: &Api<Namespace>, cfg: &config::Kubernetes) -> Result<Vec<Resource>> {
    stream::iter(&cfg.namespaces)
        .map(|name| async move {
            let ns = api
                .get_opt(name)
                .await
                .with_context(|| format!("reading namespace {name}"))?;
            Ok::<_, anyhow::Error>(classify(name, ns.as_ref()))
        })
        .buffered(CONCURRENCY)
        .try_collect()
        .await
}

/// Deletes one namespace (absent is success) and waits until reading it says 404.
async fn delete_and_wait(api: &Api<Namespace>, name: &str, limit: Duration, stop: &Stop) -> Result<bool> {
    match api.delete(name, &DeleteParams::default()).await {
        Ok(_) => {}
        Err(kube::Error::Api(status)) if status.is_not_found() => return Ok(true),
        Err(e) => return Err(anyhow!(e).context(format!("deleting namespace {name}"))),
    }
    wait::until(limit, stop, || async move {
        Ok(api
            .get_opt(name)
            .await
            .with_context(|| format!("reading namespace {name}"))?
            .is_none())
    })
    .await
}

/// Waits until no load balancer tagged for `cluster` remains; returns those left.
async fn wait_for_load_balancers(aws: &Aws, cluster: &str, limit: Duration, stop: &Stop) -> Result<Vec<String>> {
    let remaining = std::sync::Mutex::new(Vec::new());
    let gone = wait::until(limit, stop, || async {
        let now = cluster_load_balancers(aws, cluster).await?;
        let empty = now.is_empty();
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

/// The cluster's load balancers, named with their kind: ELBv2 tagged
/// `elbv2.k8s.aws/cluster=<cluster>` or `kubernetes.io/cluster/<cluster>`, and
/// Classic ELBs tagged `kubernetes.io/cluster/<cluster>`.
pub async fn cluster_load_balancers(aws: &Aws, cluster: &str) -> Result<Vec<String>> {
    let (v2, classic) = tokio::try_join!(elbv2_load_balancers(aws, cluster), classic_load_balancers(aws, cluster))?;
    Ok(v2
        .into_iter()
        .map(|n| format!("load balancer {n}"))
        .chain(classic.into_iter().map(|n| format!("classic load balancer {n}")))
        .collect())
}

async fn elbv2_load_balancers(aws: &Aws, cluster: &str) -> Result<Vec<String>> {
    let elb = aws.elbv2();
    let lbs: Vec<_> = elb
        .describe_load_balancers()
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| anyhow!("elbv2 DescribeLoadBalancers: {}", describe(&e)))?;
    let legacy_key = format!("kubernetes.io/cluster/{cluster}");
    let mut names = Vec::new();
    // DescribeTags takes at most 20 ARNs a call.
    for chunk in lbs.chunks(20) {
        let arns: Vec<String> = chunk
            .iter()
            .filter_map(|lb| lb.load_balancer_arn().map(str::to_owned))
            .collect();
        let tags = elb
            .describe_tags()
            .set_resource_arns(Some(arns))
            .send()
            .await
            .map_err(|e| anyhow!("elbv2 DescribeTags: {}", describe(&e)))?;
        for description in tags.tag_descriptions() {
            let owned = description.tags().iter().any(|t| {
                (t.key() == Some("elbv2.k8s.aws/cluster") && t.value() == Some(cluster)) || t.key() == Some(&legacy_key)
            });
            if owned {
                let arn = description.resource_arn().unwrap_or_default();
                let name = chunk
                    .iter()
                    .find(|lb| lb.load_balancer_arn() == Some(arn))
                    .and_then(|lb| lb.load_balancer_name())
                    .unwrap_or(arn);
                names.push(name.to_owned());
            }
        }
    }
    Ok(names)
}

async fn classic_load_balancers(aws: &Aws, cluster: &str) -> Result<Vec<String>> {
    let elb = aws.elb();
    let lbs: Vec<_> = elb
        .describe_load_balancers()
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| anyhow!("elb DescribeLoadBalancers: {}", describe(&e)))?;
    let key = format!("kubernetes.io/cluster/{cluster}");
    let mut names = Vec::new();
    // Classic DescribeTags takes at most 20 names a call.
    for chunk in lbs.chunks(20) {
        let batch: Vec<String> = chunk
            .iter()
            .filter_map(|lb| lb.load_balancer_name().map(str::to_owned))
            .collect();
        let tags = elb
            .describe_tags()
            .set_load_balancer_names(Some(batch))
            .send()
            .await
            .map_err(|e| anyhow!("elb DescribeTags: {}", describe(&e)))?;
        for description in tags.tag_descriptions() {
            if description.tags().iter().any(|t| t.key() == key.as_str()) {
                names.push(description.load_balancer_name().unwrap_or_default().to_owned());
            }
        }
    }
    Ok(names)
}
