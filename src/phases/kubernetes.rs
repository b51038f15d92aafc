//! Phase 1: the stack's Kubernetes namespaces.
//!
//! Discovery reads each configured namespace; a namespace labelled
//! `sundown.io/protect=true` is kept.

use anyhow::{Context, Result};
use k8s_openapi::api::core::v1::Namespace;
use kube::Api;

use crate::config::{self, NAMESPACE_PROTECT_LABEL};
use crate::inventory::{Action, Kind, Resource};

/// The configured namespaces as they are now.
pub async fn discover(client: &kube::Client, cfg: &config::Kubernetes) -> Result<Vec<Resource>> {
    let api: Api<Namespace> = Api::all(client.clone());
    let mut found = Vec::with_capacity(cfg.namespaces.len());
    for name in &cfg.namespaces {
        let ns = api
            .get_opt(name)
            .await
            .with_context(|| format!("reading namespace {name}"))?;
        found.push(classify(name, ns.as_ref()));
    }
    Ok(found)
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
