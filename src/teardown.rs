//! `sundown teardown`: the gate, then the phases in order, then the report.
//!
//! Order of checks: the typed confirmation (before any AWS request), the STS
//! pre-flight and account guard (before any mutating request), Terraform and
//! kubeconfig pre-flight (before anything is deleted: `terraform init` and the
//! state, which must exist). The deletions go out in teardown order:
//! namespaces, jobs, endpoints, images. Under `teardown.order: overlapped`
//! (the default) each phase issues its own as soon as the one before has
//! issued its, and their waits run together (`order`); under `strict` each
//! phase starts once the one before is complete. SageMaker and ECR run even
//! when the namespace phase failed, but `terraform destroy` runs only when
//! every earlier phase is complete and done. From the first deletion on,
//! SIGINT and SIGTERM stop the run cleanly (`cancel`): every wait ends, no
//! new phase starts and the report says `interrupted`.

use std::future::Future;
use std::path::Path;
use std::time::{Instant, SystemTime};

use anyhow::{Context, Result};

use crate::aws::Aws;
use crate::cancel::Stop;
use crate::config::{Config, Order};
use crate::confirm::{self, Confirmation};
use crate::exit::refuse;
use crate::k8s::Connection;
use crate::model::inventory::{Kind, Phase};
use crate::model::report::{self, PhaseCode, PhaseReport, PhaseStatus, Report, RunResult};
use crate::model::reviewed::Reviewed;
use crate::order::{self, Place};
use crate::phases;
use crate::scope::Owner;
use crate::terraform::{State, Terraform};

/// What the caller asked for.
pub struct Request<'a> {
    pub confirm: Option<String>,
    pub interactive: bool,
    /// Told when each phase starts and ends (the Action wraps each in a log group).
    pub progress: &'a dyn Progress,
    /// A reviewed plan (`plan --out`): delete exactly what it lists.
    pub plan: Option<std::path::PathBuf>,
    /// A plan older than this is refused.
    pub max_plan_age: std::time::Duration,
    /// `--expired`: confirmed by the stack's lifetime instead of the phrase.
    pub expired: Option<confirm::Expiry>,
}

/// Hooks around each phase, called in teardown order, also for phases that are skipped.
pub trait Progress: Sync {
    fn started(&self, _phase: Phase) {}
    fn finished(&self, _report: &PhaseReport) {}
}

/// No hooks: the CLI's progress is its log lines.
pub struct Quiet;

impl Progress for Quiet {}

/// Runs the gate and every phase; returns the report. Refusals are errors.
pub async fn run(config: &Config, request: Request<'_>) -> Result<Report> {
    let Passed {
        aws,
        identity,
        reviewed,
        preflight: Preflight { kube, terraform },
        confirmation,
        confirmed_by,
    } = gate(config, &request).await?;
    // After the refusals, so that a refusal stays one line.
    crate::scope::warn_if_by_name_only(config);
    // Before any mutating request: the stack must still be what the reviewer saw,
    // and what it costs is priced while it still runs.
    let preread = crate::discover::Preread {
        kube: config
            .kubernetes
            .as_ref()
            .filter(|k| !k.namespaces.is_empty())
            .map(|_| kube.as_ref()),
        state: terraform.as_ref().map(|(_, state)| state.clone()),
    };
    let stack = crate::discover::stack(config, &aws, preread).await;
    let mut now = crate::plan::document(config, &aws, &identity, &stack);
    if let Some(plan) = &reviewed {
        plan.check_drift(&now)?;
        tracing::info!("teardown: carrying out the reviewed plan {}", plan.digest);
    }
    let stopped_usd_per_month = Some(crate::cost::stops(config, &aws, &identity, &stack).await);
    if confirmation == Confirmation::Ask {
        now.stops_usd_per_month = stopped_usd_per_month;
        eprint!("{}", now.render_human());
        confirm::ask(&config.stack, &identity.account)?;
    }
    // The phases delete from what was read here, re-reading only what changed since;
    // after a prompt, which may wait for a long time, they read everything again.
    let reuse = confirmation != Confirmation::Ask;
    let (sagemaker, ecr) = (stack.sagemaker.into_value(), stack.ecr.into_value());

    // Past the gate: from here on a signal stops the run cleanly instead of killing it.
    let stop = Stop::new();
    stop.listen(request.interactive)
        .context("installing the SIGINT/SIGTERM handlers")?;
    let started_at = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
    let started = Instant::now();
    // Before the first deletion: `schedule start` must not recreate what this teardown deletes.
    mark_stopped_configs(config, &aws, sagemaker.as_ref(), &started_at).await?;
    let inventory = Inventory {
        sagemaker: sagemaker.filter(|_| reuse),
        ecr: ecr.filter(|_| reuse),
    };
    let run = Run {
        config,
        aws: &aws,
        progress: request.progress,
        stop: &stop,
        started,
        reviewed: reviewed.as_ref(),
    };
    let mut phases = run.phases(kube.as_ref(), inventory, terraform).await;
    if let Some(plan) = &reviewed {
        reconcile(plan, &mut phases);
    }
    let interrupted = phases.iter().any(|p| p.status == PhaseStatus::Interrupted);
    // After the last phase: what of the stack is still there, and what it bills.
    let sweep = match interrupted {
        true => None,
        false => {
            let kept: Vec<crate::sweep::Kept> = phases
                .iter()
                .flat_map(|p| &p.resources)
                .filter(|r| r.outcome == crate::model::report::Outcome::Kept)
                .map(|r| {
                    (
                        r.kind,
                        r.name.clone(),
                        r.detail.clone().unwrap_or_else(|| "kept by the teardown".into()),
                    )
                })
                .collect();
            Some(crate::sweep::run(config, &aws, &kept).await)
        }
    };
    if let Some(s) = &sweep {
        tracing::info!("teardown: closing sweep: {}", s.headline());
    }
    let result = if interrupted {
        RunResult::Interrupted
    } else if phases.iter().all(PhaseReport::ok) && sweep.as_ref().is_none_or(crate::model::sweep::Sweep::ok) {
        RunResult::Succeeded
    } else {
        RunResult::Failed
    };
    Ok(Report {
        schema: report::SCHEMA,
        stack: config.stack.clone(),
        region: config.region.clone(),
        account: identity.account,
        result,
        started_at,
        duration_seconds: started.elapsed().as_secs_f64(),
        stopped_usd_per_month,
        plan_digest: reviewed.map(|r| r.digest),
        confirmed_by,
        phases,
        sweep,
    })
}

/// What passing the gate established.
struct Passed {
    aws: Aws,
    identity: crate::aws::Identity,
    reviewed: Option<Reviewed>,
    preflight: Preflight,
    confirmation: Confirmation,
    /// `--expired`: what confirmed it (the lifetime, its commit, the reminder).
    confirmed_by: Option<String>,
}

/// The gate, in order: the typed confirmation and the reviewed plan file before
/// any AWS request; the credentials, the account guard and the pre-flight before
/// any mutating one. Every failure is a refusal.
async fn gate(config: &Config, request: &Request<'_>) -> Result<Passed> {
    let (confirmation, confirmed_by) = match &request.expired {
        Some(expiry) => {
            let says = confirm::check_lifetime(config, expiry, crate::clock::now())?;
            tracing::info!("teardown: {says}");
            (Confirmation::Expired, Some(says))
        }
        None => (
            confirm::check_phrase(request.confirm.as_deref(), request.interactive)?,
            None,
        ),
    };
    // The plan file is checked before any request: a changed, old or foreign plan touches nothing.
    let reviewed = match &request.plan {
        Some(path) => Some(Reviewed::load(
            path,
            request.max_plan_age,
            &config.stack,
            &config.region,
        )?),
        None => None,
    };
    let aws = Aws::load(&config.region).await;
    let identity = aws.identity().await?;
    confirm::check_account(config, &identity)?;
    if let Some(plan) = &reviewed {
        plan.check_account(&identity.account)?;
    }
    let preflight = preflight(config, &aws).await?;
    Ok(Passed {
        aws,
        identity,
        reviewed,
        preflight,
        confirmation,
        confirmed_by,
    })
}

/// What the phases delete from, as discovery read it (`None`: read it again).
struct Inventory {
    sagemaker: Option<crate::discover::sagemaker::Inventory>,
    ecr: Option<Vec<crate::discover::ecr::Repo>>,
}

/// Marks the endpoint configs that remember stopped endpoints against
/// `schedule start` (`phases::sagemaker::mark_teardown`); without the mark a
/// start could bring endpoints back, so a failure is a refusal (nothing is deleted yet).
async fn mark_stopped_configs(
    config: &Config,
    aws: &Aws,
    sagemaker_inventory: Option<&crate::discover::sagemaker::Inventory>,
    started_at: &str,
) -> Result<()> {
    if config.sagemaker.is_some() {
        let sm = aws.sagemaker();
        let marked =
            phases::sagemaker::mark_teardown(&sm, &aws.tagging(), &config.stack, sagemaker_inventory, started_at).await;
        match marked {
            Ok(marked) if !marked.is_empty() => tracing::info!(
                "teardown: marked {} endpoint configs against `schedule start`: {}",
                marked.len(),
                marked.join(", ")
            ),
            Ok(_) => {}
            // Nothing is deleted yet: without the mark a `schedule start` could bring endpoints back.
            Err(e) => {
                return Err(refuse(format!(
                    "cannot mark the stopped endpoint configs against `schedule start` ({e:#}); \
                     grant what `sundown iam-policy --for teardown` prints (tag:GetResources, sagemaker:AddTags)"
                )));
            }
        }
    }

    Ok(())
}

/// One teardown past the gate: what every phase needs.
struct Run<'a> {
    config: &'a Config,
    aws: &'a Aws,
    progress: &'a dyn Progress,
    stop: &'a Stop,
    started: Instant,
    reviewed: Option<&'a Reviewed>,
}

impl Run<'_> {
    /// The phases in teardown order, overlapped or one after another
    /// (`teardown.order`); `terraform destroy` only when every earlier one is done.
    async fn phases(
        &self,
        kube: Option<&Connection>,
        inventory: Inventory,
        terraform: Option<(Terraform, State)>,
    ) -> Vec<PhaseReport> {
        let Run {
            config,
            aws,
            stop,
            reviewed,
            ..
        } = *self;
        let owner = Owner::new(config);
        // Each phase hands the next its turn once its deletions are issued (`order`).
        let (after_kubernetes, after_sagemaker) = (order::handoff(), order::handoff());
        let kubernetes_place = Place {
            before: order::Turn::first(),
            next: after_kubernetes.0,
        };
        let sagemaker_place = Place {
            before: after_kubernetes.1,
            next: after_sagemaker.0,
        };
        let ecr_place = Place {
            before: after_sagemaker.1,
            next: order::handoff().0,
        };
        let kubernetes = self.step(Phase::Kubernetes, &kubernetes_place, async {
            match &config.kubernetes {
                Some(k) => {
                    let place = &kubernetes_place;
                    phases::kubernetes::teardown(aws, k, &owner, kube, reviewed, (stop, place)).await
                }
                None => PhaseReport::not_configured(Phase::Kubernetes),
            }
        });
        let sagemaker = self.step(Phase::Sagemaker, &sagemaker_place, async {
            match &config.sagemaker {
                Some(s) => {
                    let (sm, logs) = (aws.sagemaker(), aws.logs());
                    phases::sagemaker::teardown(
                        crate::discover::sagemaker::Clients { sm: &sm, logs: &logs },
                        s,
                        &owner,
                        reviewed,
                        inventory.sagemaker,
                        (stop, &sagemaker_place),
                    )
                    .await
                }
                None => PhaseReport::not_configured(Phase::Sagemaker),
            }
        });
        let ecr = self.step(Phase::Ecr, &ecr_place, async {
            match &config.ecr {
                Some(e) => {
                    let before = &ecr_place.before;
                    phases::ecr::teardown(&aws.ecr(), e, &config.protect, reviewed, inventory.ecr, before).await
                }
                None => PhaseReport::not_configured(Phase::Ecr),
            }
        });
        let (kubernetes, sagemaker, ecr) = match config.teardown.order {
            Order::Overlapped => tokio::join!(kubernetes, sagemaker, ecr),
            Order::Strict => (kubernetes.await, sagemaker.await, ecr.await),
        };
        let mut phases = vec![kubernetes, sagemaker, ecr];
        let terraform = self.terraform(&phases, terraform).await;
        phases.push(terraform);
        phases
    }

    /// `terraform destroy`, only when every earlier phase is done; then the
    /// cluster's control-plane log group, which outlives the cluster.
    async fn terraform(&self, earlier: &[PhaseReport], terraform: Option<(Terraform, State)>) -> PhaseReport {
        let Run {
            config,
            aws,
            progress,
            stop,
            started,
            reviewed,
        } = *self;
        let blockers: Vec<&str> = earlier.iter().filter(|p| !p.ok()).map(|p| p.phase.name()).collect();
        // Images pushed after the review stay in their repository; destroying it would delete them.
        let unplanned_images: Vec<String> = earlier
            .iter()
            .flat_map(|p| &p.resources)
            .filter(|r| r.kind == Kind::Repository && r.outcome == crate::model::report::Outcome::Drift)
            .map(|r| r.name.clone())
            .collect();
        // What `terraform destroy` destroys: the module, the workspace and where its state lives.
        let target = terraform.as_ref().map(|(tf, _)| tf.target());
        let terraform_stop = stop.clone();
        let terraform_plan = reviewed.cloned();
        timed(progress, stop, started, Phase::Terraform, async move {
            let mut report = match terraform {
                None => PhaseReport::not_configured(Phase::Terraform),
                Some(_) if !blockers.is_empty() => PhaseReport::skipped(
                    Phase::Terraform,
                    format!(
                        "skipped: terraform destroy runs only after every earlier phase is done ({} failed)",
                        blockers.join(", ")
                    ),
                ),
                Some(_) if !unplanned_images.is_empty() => {
                    let mut r = PhaseReport::new(Phase::Terraform);
                    r.code = Some(PhaseCode::Drift);
                    r.fail(format!(
                        "terraform destroy refused: repositories {} still hold images the reviewed plan does not list",
                        unplanned_images.join(", ")
                    ));
                    r
                }
                Some((tf, state)) => tokio::task::spawn_blocking(move || {
                    phases::terraform::teardown(&tf, &state, terraform_plan.as_ref(), &terraform_stop)
                })
                .await
                .unwrap_or_else(|e| {
                    let mut r = PhaseReport::new(Phase::Terraform);
                    r.fail(format!("terraform phase panicked: {e}"));
                    r
                }),
            };
            report.source = target;
            // The cluster's control-plane log group outlives the cluster that `terraform destroy` took.
            if report.status == PhaseStatus::Done
                && !stop.requested()
                && let Some(k) = &config.kubernetes
            {
                phases::kubernetes::delete_cluster_log_group(aws, k, &config.protect, reviewed, &mut report).await;
            }
            report
        })
        .await
    }
}

impl Run<'_> {
    /// One phase in its place: it starts once the phase before has issued its
    /// deletions, hands its turn on once it has issued its own (at the latest
    /// when it ends), and is complete only once the phase before is.
    async fn step(&self, phase: Phase, place: &Place, work: impl Future<Output = PhaseReport>) -> PhaseReport {
        place.before.issued().await;
        let report = timed(self.progress, self.stop, self.started, phase, work).await;
        place.issued();
        place.before.complete().await;
        place.next.complete();
        report
    }
}

/// What the reviewed plan listed and is gone now is absent: fine, and said so.
fn reconcile(plan: &Reviewed, phases: &mut [PhaseReport]) {
    for (kind, name) in plan.planned() {
        let phase = match kind {
            Kind::Namespace | Kind::SecurityGroup | Kind::TargetGroup | Kind::PersistentVolume => Phase::Kubernetes,
            Kind::Endpoint
            | Kind::EndpointConfig
            | Kind::Model
            | Kind::LogGroup
            | Kind::TrainingJob
            | Kind::ProcessingJob
            | Kind::TransformJob
            | Kind::TuningJob => Phase::Sagemaker,
            Kind::Repository => Phase::Ecr,
            Kind::TerraformResource => Phase::Terraform,
        };
        if let Some(p) = phases.iter_mut().find(|p| p.phase == phase)
            && p.status == PhaseStatus::Done
            && !p.resources.iter().any(|r| r.kind == kind && r.name == name)
        {
            p.record(
                kind,
                name,
                crate::model::report::Outcome::Absent,
                Some("gone since the plan".into()),
            );
        }
    }
}

/// Runs one phase between the progress hooks, or skips it when the run was
/// asked to stop before it began. A phase that a stop cut short is `interrupted`.
async fn timed(
    progress: &dyn Progress,
    stop: &Stop,
    run_started: Instant,
    phase: Phase,
    work: impl std::future::Future<Output = PhaseReport>,
) -> PhaseReport {
    progress.started(phase);
    let start = Instant::now();
    if stop.requested() {
        let mut report = PhaseReport::skipped(
            phase,
            "skipped: the teardown was interrupted before this phase started".into(),
        );
        report.start_seconds = (start - run_started).as_secs_f64();
        progress.finished(&report);
        return report;
    }
    let mut report = work.await;
    report.start_seconds = (start - run_started).as_secs_f64();
    report.duration_seconds = start.elapsed().as_secs_f64();
    if stop.requested() && report.status == PhaseStatus::Failed && report.code != Some(PhaseCode::Timeout) {
        report.status = PhaseStatus::Interrupted;
    }
    if !report.ok() {
        tracing::warn!("{}: {}", report.phase.name(), report.errors.join("; "));
    }
    progress.finished(&report);
    report
}

/// What the pre-flight found and the phases use.
struct Preflight {
    /// The API server of the stack's namespaces; `None` when there is nothing
    /// to connect to (no namespaces configured, or the cluster is gone).
    kube: Option<Connection>,
    /// The Terraform module with the state it holds.
    terraform: Option<(Terraform, State)>,
}

/// Checks that need no deletion but would stop a phase later, or delete the
/// wrong thing: better to refuse now. Every failure here is a refusal.
async fn preflight(config: &Config, aws: &Aws) -> Result<Preflight> {
    let kube = match &config.kubernetes {
        Some(k) if !k.namespaces.is_empty() => {
            if let Some(path) = &k.kubeconfig
                && !path.is_file()
            {
                return Err(refuse(format!(
                    "kubernetes.kubeconfig {} does not exist; fix the path in sundown.yaml",
                    path.display()
                )));
            }
            crate::k8s::connect(k, aws)
                .await
                .map_err(|e| match e.is::<crate::exit::Refusal>() {
                    true => e,
                    false => refuse(format!("kubernetes pre-flight: {e:#}")),
                })?
        }
        _ => None,
    };
    let terraform = match &config.terraform {
        Some(t) => {
            let tf = Terraform::new(t);
            let protect = config.protect.clone();
            let checked = tokio::task::spawn_blocking(move || {
                crate::discover::terraform::preflight(&tf, &protect).map(|state| (tf, state))
            })
            .await
            .context("the Terraform pre-flight panicked")??;
            Some(checked)
        }
        None => None,
    };
    Ok(Preflight { kube, terraform })
}

/// Writes the JSON report to `path`.
pub fn write_report(report: &Report, path: &Path) -> Result<()> {
    let text = serde_json::to_string_pretty(report)?;
    // After a teardown, a missing folder must not lose the report.
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {} for the report", dir.display()))?;
    }
    std::fs::write(path, text + "\n").with_context(|| format!("writing the report to {}", path.display()))
}
