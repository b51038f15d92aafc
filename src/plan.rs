//! `sundown plan`: the read-only inventory of what a teardown would delete.
//!
//! Owns the `sundown.plan/v1` document and its renderers. It only reads:
//! every request it makes is a List, Describe or Get (a test proves it with
//! the emulator's request recorder).

use std::fmt::Write as _;

use anyhow::Result;
use serde::Serialize;

use crate::aws::{Aws, Identity};
use crate::config::Config;
use crate::inventory::{Action, Phase, Resource};
use crate::phases;
use crate::terraform::Terraform;

pub const SCHEMA: &str = "sundown.plan/v1";

#[derive(Debug, Serialize)]
pub struct Plan {
    pub schema: &'static str,
    pub stack: String,
    pub region: String,
    pub account: String,
    pub created_at: String,
    /// sha256 over what the teardown would delete (with identities), stack,
    /// account, region and `created_at`: what `teardown --plan` checks.
    pub digest: String,
    /// Whether `accounts` lists this account; teardown refuses when false.
    pub account_allowed: bool,
    pub phases: Vec<PhasePlan>,
    pub summary: Summary,
    /// What the teardown stops, in dollars a month (`sundown cost`'s figure), when it could be priced.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stops_usd_per_month: Option<f64>,
    /// The Terraform state the plan read, for pricing what `terraform destroy` destroys.
    #[serde(skip)]
    pub terraform_state: Option<crate::terraform::State>,
    /// What SageMaker discovery read (ARNs, tags, variants): the teardown
    /// deletes from it and `sundown cost` prices from it without reading again.
    #[serde(skip)]
    pub sagemaker: Option<phases::sagemaker::Inventory>,
    /// What ECR discovery read (images with their sizes), for the same reasons.
    #[serde(skip)]
    pub ecr: Option<Vec<phases::ecr::Repo>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PlanStatus {
    Ready,
    NotConfigured,
    Error,
}

#[derive(Debug, Serialize)]
pub struct PhasePlan {
    pub phase: Phase,
    pub status: PlanStatus,
    /// Where the phase looks: a kubeconfig, an EKS cluster, a Terraform directory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub resources: Vec<Resource>,
}

#[derive(Debug, Default, Serialize)]
pub struct Summary {
    pub delete: usize,
    pub keep: usize,
    pub absent: usize,
    /// ECR images that would be deleted.
    pub images: usize,
    /// Phases whose discovery failed.
    pub errors: usize,
}

impl PhasePlan {
    fn not_configured(phase: Phase) -> PhasePlan {
        PhasePlan {
            phase,
            status: PlanStatus::NotConfigured,
            source: None,
            error: None,
            resources: Vec::new(),
        }
    }

    fn from_result(phase: Phase, source: Option<String>, result: Result<Vec<Resource>>) -> PhasePlan {
        match result {
            Ok(resources) => PhasePlan {
                phase,
                status: PlanStatus::Ready,
                source,
                error: None,
                resources,
            },
            Err(e) => PhasePlan {
                phase,
                status: PlanStatus::Error,
                source,
                error: Some(format!("{e:#}")),
                resources: Vec::new(),
            },
        }
    }
}

/// Whether teardown may run against `identity` under `config`.
pub fn account_allowed(config: &Config, identity: &Identity) -> bool {
    config.accounts.contains(&identity.account)
}

/// Discovers every phase concurrently. Fails only when AWS itself cannot be
/// reached or the credentials are refused; a phase that cannot be read is an
/// `error` entry and the others still appear.
pub async fn build(config: &Config, aws: &Aws, identity: &Identity) -> Plan {
    build_with(config, aws, identity, None).await
}

/// `build`, with the Terraform state already read (the teardown's pre-flight
/// read it moments ago): `terraform init` and `state pull` are not run again.
pub async fn build_with(
    config: &Config,
    aws: &Aws,
    identity: &Identity,
    state: Option<crate::terraform::State>,
) -> Plan {
    let kubernetes = async {
        let Some(k) = &config.kubernetes else {
            return PhasePlan::not_configured(Phase::Kubernetes);
        };
        if k.namespaces.is_empty() {
            let source = k
                .cluster
                .as_ref()
                .map(|c| format!("EKS cluster {c}: no namespaces configured"));
            return PhasePlan::from_result(Phase::Kubernetes, source, Ok(Vec::new()));
        }
        match crate::k8s::connect(k, aws).await {
            Ok(Some(api)) => {
                let result = match api.client().await {
                    Ok(client) => phases::kubernetes::discover(&client, k).await,
                    Err(e) => Err(e),
                };
                PhasePlan::from_result(Phase::Kubernetes, Some(api.source()), result)
            }
            Ok(None) => PhasePlan::from_result(
                Phase::Kubernetes,
                k.cluster.as_ref().map(|c| format!("EKS cluster {c} (not found)")),
                Ok(phases::kubernetes::cluster_gone(k)),
            ),
            Err(e) => PhasePlan::from_result(Phase::Kubernetes, None, Err(e)),
        }
    };
    let sagemaker = async {
        let Some(s) = &config.sagemaker else {
            return (PhasePlan::not_configured(Phase::Sagemaker), None);
        };
        let result = phases::sagemaker::discover(&aws.sagemaker(), s, &crate::scope::Owner::new(config), None).await;
        let resources = result
            .as_ref()
            .map(|i| i.resources())
            .map_err(|e| anyhow::anyhow!("{e:#}"));
        let plan = PhasePlan::from_result(
            Phase::Sagemaker,
            Some(format!(
                "endpoints named {0} or {0}-…{1}",
                s.endpoint_prefix,
                scope_note(config)
            )),
            resources,
        );
        (plan, result.ok())
    };
    let ecr = async {
        let Some(e) = &config.ecr else {
            return (PhasePlan::not_configured(Phase::Ecr), None);
        };
        let result = phases::ecr::discover(&aws.ecr(), e, &config.protect).await;
        let resources = result
            .as_ref()
            .map(|repos| repos.iter().map(|r| r.resource()).collect())
            .map_err(|e| anyhow::anyhow!("{e:#}"));
        (PhasePlan::from_result(Phase::Ecr, None, resources), result.ok())
    };
    let terraform = async {
        let Some(t) = &config.terraform else {
            return (PhasePlan::not_configured(Phase::Terraform), None);
        };
        let tf = Terraform::new(t);
        let source = Some(tf.dir().display().to_string());
        let protect = config.protect.clone();
        let result = match state {
            Some(state) => Ok(state),
            None => tokio::task::spawn_blocking(move || phases::terraform::preflight(&tf, &protect))
                .await
                .unwrap_or_else(|e| Err(anyhow::anyhow!("terraform discovery panicked: {e}"))),
        };
        let state = result.as_ref().ok().cloned();
        let plan = PhasePlan::from_result(
            Phase::Terraform,
            source,
            result.map(|s| phases::terraform::resources(&s)),
        );
        (plan, state)
    };
    let (k, (s, sagemaker), (e, ecr), (t, terraform_state)) = tokio::join!(kubernetes, sagemaker, ecr, terraform);
    let phases = vec![k, s, e, t];
    let summary = summarize(&phases);
    let created_at = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    let region = aws.region().to_owned();
    let resources: Vec<&Resource> = phases.iter().flat_map(|p| &p.resources).collect();
    let digest = crate::reviewed::digest(&config.stack, &identity.account, &region, &created_at, &resources);
    Plan {
        schema: SCHEMA,
        stack: config.stack.clone(),
        region,
        account: identity.account.clone(),
        created_at,
        digest,
        account_allowed: account_allowed(config, identity),
        phases,
        summary,
        stops_usd_per_month: None,
        terraform_state,
        sagemaker,
        ecr,
    }
}

/// `, tagged Environment=dev, Project=p` when `scope.tags` narrows the name match.
fn scope_note(config: &Config) -> String {
    if config.scope.tags.is_empty() {
        return String::new();
    }
    let tags: Vec<String> = config.scope.tags.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!(", tagged {}", tags.join(", "))
}

fn summarize(phases: &[PhasePlan]) -> Summary {
    let mut s = Summary::default();
    for p in phases {
        if p.status == PlanStatus::Error {
            s.errors += 1;
        }
        for r in &p.resources {
            match r.action {
                Action::Delete => {
                    s.delete += 1;
                    s.images += r.images.map_or(0, |c| c.images);
                }
                Action::Keep => s.keep += 1,
                Action::Absent => s.absent += 1,
            }
        }
    }
    s
}

impl Plan {
    pub fn has_errors(&self) -> bool {
        self.summary.errors > 0
    }

    /// Writes the plan document (as `--output json` prints it) for `teardown --plan`.
    pub fn write(&self, path: &std::path::Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self)? + "\n";
        std::fs::write(path, text).map_err(|e| anyhow::anyhow!("writing the plan to {}: {e}", path.display()))
    }

    /// The terminal rendering: one block per phase in teardown order.
    pub fn render_human(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "Plan for stack {} in account {} ({})",
            self.stack, self.account, self.region
        );
        let _ = writeln!(out, "Digest {} (created {})", self.digest, self.created_at);
        if !self.account_allowed {
            let _ = writeln!(
                out,
                "  note: account {} is not in `accounts`; teardown would refuse",
                self.account
            );
        }
        for (i, p) in self.phases.iter().enumerate() {
            let source = p.source.as_deref().map(|s| format!("  ({s})")).unwrap_or_default();
            let _ = writeln!(out, "\n{}. {}{}", i + 1, p.phase.name(), source);
            match p.status {
                PlanStatus::NotConfigured => {
                    let _ = writeln!(out, "   not configured");
                }
                PlanStatus::Error => {
                    let _ = writeln!(out, "   error: {}", p.error.as_deref().unwrap_or("unknown"));
                }
                PlanStatus::Ready if p.resources.is_empty() => {
                    let _ = writeln!(out, "   nothing to delete");
                }
                PlanStatus::Ready => {
                    for r in &p.resources {
                        let _ = writeln!(out, "   {}", resource_line(r));
                    }
                }
            }
        }
        let s = &self.summary;
        if let Some(usd) = self.stops_usd_per_month {
            let _ = writeln!(
                out,
                "\nThe teardown stops ≈ {} (sundown cost shows the figures).",
                crate::cost::per_month(usd)
            );
        }
        let _ = writeln!(
            out,
            "\nSummary: {} to delete ({} images), {} kept, {} absent{}.",
            s.delete,
            s.images,
            s.keep,
            s.absent,
            if s.errors > 0 {
                format!(", {} phases could not be read", s.errors)
            } else {
                String::new()
            }
        );
        out
    }
}

impl Plan {
    /// Markdown for a job summary or a pull-request comment: the digest a
    /// reviewer approves, and what the teardown will delete, phase by phase.
    pub fn render_markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "### sundown plan of `{}`\n", self.stack);
        let _ = writeln!(
            out,
            "Account `{}`, region `{}`. Plan digest `{}` (created {}).\n",
            self.account, self.region, self.digest, self.created_at
        );
        let s = &self.summary;
        let _ = writeln!(
            out,
            "A teardown with this plan deletes **{} resources ({} images)** and nothing else; {} kept, {} absent.\n",
            s.delete, s.images, s.keep, s.absent
        );
        if let Some(usd) = self.stops_usd_per_month {
            let _ = writeln!(out, "It stops ≈ **{}**.\n", crate::cost::per_month(usd));
        }
        for (i, p) in self.phases.iter().enumerate() {
            let source = p.source.as_deref().map(|s| format!(" on `{s}`")).unwrap_or_default();
            let _ = writeln!(out, "**{}. {}**{source}\n", i + 1, p.phase.name());
            match p.status {
                PlanStatus::NotConfigured => out.push_str("not configured\n\n"),
                PlanStatus::Error => {
                    let _ = writeln!(out, "error: {}\n", p.error.as_deref().unwrap_or("unknown"));
                }
                PlanStatus::Ready if p.resources.is_empty() => out.push_str("nothing to delete\n\n"),
                PlanStatus::Ready => {
                    out.push_str("| action | kind | name | detail |\n| --- | --- | --- | --- |\n");
                    for r in &p.resources {
                        let _ = writeln!(
                            out,
                            "| {} | {} | `{}` | {} |",
                            r.action.name(),
                            r.kind.name(),
                            r.name,
                            detail_of(r).replace('|', "\\|")
                        );
                    }
                    out.push('\n');
                }
            }
        }
        out
    }
}

/// The last column of a plan line: image counts, the reason, or the state.
fn detail_of(r: &Resource) -> String {
    match (&r.images, &r.reason, &r.state) {
        (Some(c), _, _) if r.action == Action::Delete => {
            format!("{} images ({} tagged, {} untagged)", c.images, c.tagged, c.untagged)
        }
        (_, Some(reason), _) => reason.clone(),
        (_, None, Some(state)) => state.clone(),
        _ => String::new(),
    }
}

/// `delete  endpoint         retail-forecast-a   InService`
pub fn resource_line(r: &Resource) -> String {
    let detail = detail_of(r);
    format!("{:<7} {:<18} {:<40} {}", r.action.name(), r.kind.name(), r.name, detail)
        .trim_end()
        .to_owned()
}
