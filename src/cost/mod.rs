//! `sundown cost`: what the stack costs while it runs, what a teardown stops
//! and what the off-hours schedule saves, in dollars; and what Cost Explorer
//! says it actually cost. Read-only.
//!
//! It prices the stack as discovery read it (`discover::Stack`: which SageMaker
//! endpoints and images a teardown deletes or keeps, and the Terraform state
//! that `terraform destroy` empties) and reads only what prices need beyond
//! it: sizes, instance types and counts. Ownership is never decided here.
//! Prices come from `prices` (the Price List API, a disk cache, a built-in
//! table); no failure here changes the exit code of `plan`, `teardown` or
//! `schedule`.

mod actual;
pub mod leftovers;
pub mod prices;
mod regions;
mod render;
mod services;
pub mod window;

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use crate::aws::{Aws, Identity};
use crate::config::Config;
use crate::discover::Stack;
use crate::model::inventory::{Action, Kind, Resource};
use crate::scope::Owner;
use prices::Prices;
use window::HOURS_PER_MONTH;

use actual::{actual, not_priced, running_jobs, spot_training};
pub use services::{Running, per_hour};
use services::{ecr_storage, eks, endpoints, load_balancers, logs_storage, s3_storage};

pub const SCHEMA: &str = "sundown.cost/v1";
/// Bytes in the GB that prices are per (AWS bills storage in GiB-months as "GB").
const GB: f64 = 1024.0 * 1024.0 * 1024.0;
/// How long a Cost Explorer answer is reused (each request costs $0.01).
const ACTUAL_CACHE_LIFE: Duration = Duration::from_secs(12 * 3600);

/// What a teardown does with a priced resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OnTeardown {
    /// A sundown phase deletes it, or it is in the Terraform state.
    Deleted,
    /// Protected, or out of the stack's scope.
    Kept,
    /// Neither: sundown and Terraform leave it (e.g. a bucket outside the state).
    NotTouched,
}

/// What a row or an unpriced entry is; the serde name is the `kind` users read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CostKind {
    EksCluster,
    NodeGroup,
    LoadBalancer,
    Endpoint,
    EcrStorage,
    LogGroup,
    Bucket,
    NatGateway,
    EbsVolume,
    PublicIpv4,
    /// A running SageMaker training, processing, transform or tuning job.
    SagemakerJob,
}

impl CostKind {
    pub fn name(self) -> &'static str {
        match self {
            CostKind::EksCluster => "eks_cluster",
            CostKind::NodeGroup => "node_group",
            CostKind::LoadBalancer => "load_balancer",
            CostKind::Endpoint => "endpoint",
            CostKind::EcrStorage => "ecr_storage",
            CostKind::LogGroup => "log_group",
            CostKind::Bucket => "bucket",
            CostKind::NatGateway => "nat_gateway",
            CostKind::EbsVolume => "ebs_volume",
            CostKind::PublicIpv4 => "public_ipv4",
            CostKind::SagemakerJob => "sagemaker_job",
        }
    }
}

/// One priced resource.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub kind: CostKind,
    pub name: String,
    /// `1 × ml.t2.medium`, `4 × t3.medium SPOT`, `12.4 GB`.
    pub detail: String,
    pub usd_per_hour: f64,
    pub usd_per_month: f64,
    pub outcome_on_teardown: OnTeardown,
    pub stopped_by_schedule: bool,
    /// Where the price came from: `price_list`, `cache`, `built_in`, `spot`.
    pub price_from: prices::From,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Something found that costs money but is not priced.
#[derive(Debug, Clone, Serialize)]
pub struct Unpriced {
    pub kind: CostKind,
    pub name: String,
    pub why: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Totals {
    pub running_usd_per_month: f64,
    /// The sum of the `deleted` rows.
    pub teardown_stops_usd_per_month: f64,
    /// What `schedule stop` stops, over the off-hours window of a typical week.
    pub schedule_saves_usd_per_month: f64,
    /// What it stops in the next 30 days' windows, holidays included.
    pub schedule_saves_usd_next_30_days: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Schedule {
    pub stop: String,
    /// The start rule's expression, or `manual`.
    pub start: String,
    pub off_hours_per_week: f64,
    pub off_share: f64,
    /// Hours stopped in the 30 days from now: each night until the next start not on a holiday.
    pub off_hours_next_30_days: f64,
    /// `schedule.holidays` within those 30 days.
    pub holidays_next_30_days: Vec<String>,
}

/// Cost Explorer's figures for the last 30 days, filtered by the project tag.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Actual {
    pub start: String,
    pub end: String,
    pub tag: String,
    pub by_service: Vec<ServiceCost>,
    pub total_usd: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct ServiceCost {
    pub service: String,
    pub usd: f64,
}

/// What managed spot training saved one training job.
#[derive(Debug, Clone, Serialize)]
pub struct Training {
    pub job: String,
    pub spot: bool,
    pub training_seconds: i64,
    pub billable_seconds: i64,
    /// 1 - billable / training, in percent.
    pub saved_percent: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct PriceSource {
    /// How many prices came from each source: `price_list`, `cache`, `built_in`.
    pub used: BTreeMap<&'static str, usize>,
    /// Why the Price List API was not used, when it was not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub price_list_unavailable: Option<String>,
    pub built_in_date: &'static str,
    pub built_in_region: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache: Option<String>,
}

/// The `sundown.cost/v1` document.
#[derive(Debug, Clone, Serialize)]
pub struct Cost {
    pub schema: &'static str,
    pub stack: String,
    pub account: String,
    pub region: String,
    pub resources: Vec<Row>,
    pub unpriced: Vec<Unpriced>,
    pub totals: Totals,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedule: Option<Schedule>,
    /// Cost Explorer's figures; absent when there are none, with the reason in `actual_unavailable`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actual: Option<Actual>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actual_unavailable: Option<String>,
    pub spot_training: Vec<Training>,
    pub price_source: PriceSource,
}

/// Everything `build` needs to know that discovery found.
struct Known<'a> {
    stack: &'a Stack,
    /// Every resource of the stack, as the plan lists them.
    resources: Vec<Resource>,
}

impl Known<'_> {
    fn action(&self, kind: Kind, name: &str) -> Option<Action> {
        self.resources
            .iter()
            .find(|r| r.kind == kind && r.name == name)
            .map(|r| r.action)
    }

    /// Whether `terraform destroy` destroys it: an instance in the state with this ARN or id.
    fn in_state(&self, arn: Option<&str>, id: Option<&str>) -> bool {
        self.stack.terraform.value().is_some_and(|s| {
            s.managed()
                .any(|i| (arn.is_some() && i.arn.as_deref() == arn) || (id.is_some() && i.id.as_deref() == id))
        })
    }
}

/// How much `build` does.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// No Price List or Cost Explorer request: cached and built-in prices only.
    pub offline: bool,
    /// Also what is not priced, Cost Explorer's figures and training jobs (`sundown cost`);
    /// `plan` and `teardown` only need what the teardown stops.
    pub full: bool,
}

/// Prices the stack that `plan` found.
pub async fn build(config: &Config, aws: &Aws, identity: &Identity, stack: &Stack, options: Options) -> Cost {
    let offline = options.offline;
    let mut prices = Prices::new(aws, &config.region, offline);
    let known = Known {
        stack,
        resources: stack.resources(),
    };
    let owner = Owner::new(config);
    let mut rows = Vec::new();
    let mut unpriced = Vec::new();
    let mut problems = Vec::new();
    if let Some(cluster) = config.kubernetes.as_ref().and_then(|k| k.cluster.as_deref()) {
        if let Err(e) = eks(aws, cluster, &owner, &known, &mut prices, &mut rows, &mut unpriced).await {
            problems.push(format!("{e:#}"));
        }
        if let Err(e) = load_balancers(config, aws, cluster, &mut prices, &mut rows, &mut unpriced).await {
            problems.push(format!("{e:#}"));
        }
    }
    if config.sagemaker.is_some()
        && let Err(e) = endpoints(aws, &known, &mut prices, &mut rows, &mut unpriced).await
    {
        problems.push(format!("{e:#}"));
    }
    running_jobs(stack, &mut unpriced);
    if let Some(ecr) = &config.ecr
        && let Err(e) = ecr_storage(aws, &ecr.repositories, &known, &mut prices, &mut rows, &mut unpriced).await
    {
        problems.push(format!("{e:#}"));
    }
    if let Err(e) = logs_storage(
        aws,
        &config.verify.log_group_prefixes,
        &known,
        &mut prices,
        &mut rows,
        &mut unpriced,
    )
    .await
    {
        problems.push(format!("{e:#}"));
    }
    let bucket_outcome = |bucket: &str| {
        if known.in_state(Some(&format!("arn:aws:s3:::{bucket}")), Some(bucket)) {
            OnTeardown::Deleted
        } else {
            OnTeardown::NotTouched
        }
    };
    if let Err(e) = s3_storage(
        aws,
        &config.verify.buckets,
        bucket_outcome,
        &mut prices,
        &mut rows,
        &mut unpriced,
    )
    .await
    {
        problems.push(format!("{e:#}"));
    }
    if options.full
        && let Err(e) = not_priced(aws, config, &mut unpriced).await
    {
        problems.push(format!("{e:#}"));
    }
    for p in problems {
        tracing::warn!("cost: {p}");
    }
    prices.save();

    let (schedule, totals) = totals(config, &rows);
    let actual = actual_or_why(aws, config, options, &totals).await;
    let spot_training = if options.full {
        spot_training(aws, config.verify.training_days)
            .await
            .unwrap_or_else(|e| {
                tracing::warn!("cost: training jobs: {e:#}");
                Vec::new()
            })
    } else {
        Vec::new()
    };
    Cost {
        schema: SCHEMA,
        stack: config.stack.clone(),
        account: identity.account.clone(),
        region: config.region.clone(),
        resources: rows,
        unpriced,
        totals,
        schedule: schedule.map(|(_, s)| s),
        actual_unavailable: actual.as_ref().err().cloned(),
        actual: actual.ok(),
        spot_training,
        price_source: PriceSource {
            used: prices.used.clone(),
            price_list_unavailable: prices.api_problem.clone(),
            built_in_date: prices::BUILT_IN_DATE,
            built_in_region: prices::BUILT_IN_REGION,
            cache: prices::cache_dir().map(|d| d.join("prices.json").display().to_string()),
        },
    }
}

/// What Cost Explorer says the stack cost, or why it was not asked; with a
/// note when it reports $0 for a stack that runs (the tag is not activated).
async fn actual_or_why(aws: &Aws, config: &Config, options: Options, totals: &Totals) -> Result<Actual, String> {
    let offline = options.offline;
    let mut actual = if offline {
        Err("--offline: Cost Explorer was not asked".to_owned())
    } else if !options.full {
        Err("not asked (sundown cost asks)".to_owned())
    } else {
        actual(aws, config).await
    };
    if let Ok(a) = &mut actual
        && a.total_usd == 0.0
        && totals.running_usd_per_month > 0.0
    {
        a.note = Some(format!(
            "Cost Explorer reports $0 for {} while the stack runs: activate {} as a cost-allocation tag \
             (Billing and Cost Management → Cost allocation tags); it counts from then on",
            a.tag,
            config.project_tag().key
        ));
    }
    actual
}

/// What the stack costs a month, what a teardown stops and what the schedule
/// saves, with the schedule's window when its crons can be read.
fn totals(config: &Config, rows: &[Row]) -> (Option<(window::Window, Schedule)>, Totals) {
    let schedule = match schedule_window(&config.schedule) {
        Ok((w, s)) => Some((w, s)),
        Err(e) => {
            tracing::warn!("cost: the schedule's savings are not priced: {e:#}");
            None
        }
    };
    let off_hours = schedule.as_ref().map_or(0.0, |(w, _)| w.off_hours_per_month());
    let totals = Totals {
        running_usd_per_month: round(rows.iter().map(|r| r.usd_per_month).sum()),
        teardown_stops_usd_per_month: round(
            rows.iter()
                .filter(|r| r.outcome_on_teardown == OnTeardown::Deleted)
                .map(|r| r.usd_per_month)
                .sum(),
        ),
        schedule_saves_usd_per_month: round(
            rows.iter()
                .filter(|r| r.stopped_by_schedule)
                .map(|r| r.usd_per_hour * off_hours)
                .sum(),
        ),
        schedule_saves_usd_next_30_days: round(
            rows.iter()
                .filter(|r| r.stopped_by_schedule)
                .map(|r| r.usd_per_hour * schedule.as_ref().map_or(0.0, |(_, s)| s.off_hours_next_30_days))
                .sum(),
        ),
    };
    (schedule, totals)
}

/// The schedule's typical week, and its next 30 days from now: holidays in
/// them keep the stack stopped; with `start: manual` it stays stopped from
/// the first stop on (the most the schedule can save).
fn schedule_window(schedule: &crate::config::Schedule) -> anyhow::Result<(window::Window, Schedule)> {
    let start = schedule.start.rule();
    let week = match start {
        Some(start) => window::window(&schedule.stop, start)?,
        None => window::Window {
            off_hours_per_week: 7.0 * 24.0,
            stops_per_week: 1,
        },
    };
    let now = crate::clock::now();
    let holiday = |day: u64| schedule.is_holiday(day * 86_400);
    let ahead = window::off_hours_ahead(&schedule.stop, start, now, 30, &holiday)?;
    let last = now + 30 * 86_400;
    let holidays = schedule
        .holidays
        .iter()
        .filter(|h| (crate::clock::utc_date(now)..=crate::clock::utc_date(last)).contains(*h))
        .cloned()
        .collect();
    Ok((
        week,
        Schedule {
            stop: schedule.stop.clone(),
            start: start.unwrap_or("manual").to_owned(),
            off_hours_per_week: week.off_hours_per_week,
            off_share: week.off_share(),
            off_hours_next_30_days: (ahead * 100.0).round() / 100.0,
            holidays_next_30_days: holidays,
        },
    ))
}

/// To the cent; never -0.00 (a sum of nothing, or Cost Explorer's "-0.0000001", reads $0.00).
pub fn round(usd: f64) -> f64 {
    (usd * 100.0).round() / 100.0 + 0.0
}

#[allow(clippy::too_many_arguments)]
fn hourly_row(
    kind: CostKind,
    name: String,
    detail: String,
    usd_per_hour: f64,
    outcome: OnTeardown,
    stopped_by_schedule: bool,
    from: prices::From,
    note: Option<String>,
) -> Row {
    Row {
        kind,
        name,
        detail,
        usd_per_hour,
        usd_per_month: round(usd_per_hour * HOURS_PER_MONTH),
        outcome_on_teardown: outcome,
        stopped_by_schedule,
        price_from: from,
        note,
    }
}

fn storage(
    kind: CostKind,
    name: String,
    bytes: f64,
    usd_per_gb_month: f64,
    outcome: OnTeardown,
    from: prices::From,
) -> Row {
    let gb = bytes / GB;
    let month = gb * usd_per_gb_month;
    Row {
        kind,
        name,
        detail: format!("{gb:.2} GB"),
        usd_per_hour: month / HOURS_PER_MONTH,
        usd_per_month: round(month),
        outcome_on_teardown: outcome,
        stopped_by_schedule: false,
        price_from: from,
        note: None,
    }
}

/// What a teardown of `plan`'s stack stops, in dollars a month: the figure
/// `plan`, the terminal prompt and the teardown report show.
pub async fn stops(config: &Config, aws: &Aws, identity: &Identity, stack: &Stack) -> f64 {
    let options = Options {
        offline: false,
        full: false,
    };
    build(config, aws, identity, stack, options)
        .await
        .totals
        .teardown_stops_usd_per_month
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discover::Found;
    use crate::terraform::{Instance, State};

    fn row(kind: CostKind, usd_per_hour: f64, outcome: OnTeardown, scheduled: bool) -> Row {
        hourly_row(
            kind,
            format!("{kind:?}"),
            String::new(),
            usd_per_hour,
            outcome,
            scheduled,
            prices::From::BuiltIn,
            None,
        )
    }

    #[test]
    fn the_totals_are_sums_of_the_rows_and_the_schedule_saves_its_off_hours() {
        let config = Config::parse(
            "stack: s\nregion: us-east-1\naccounts: [\"123456789012\"]\n",
            std::path::Path::new("sundown.yaml"),
        )
        .unwrap();
        let rows = [
            row(CostKind::EksCluster, 0.10, OnTeardown::NotTouched, false),
            row(CostKind::Endpoint, 0.115, OnTeardown::Deleted, true),
            row(CostKind::Endpoint, 0.115, OnTeardown::Kept, false),
            row(CostKind::NodeGroup, 0.05, OnTeardown::Deleted, true),
        ];
        let (schedule, totals) = totals(&config, &rows);
        let (window, _) = schedule.expect("the default crons make a window");
        let month = |usd: f64| usd * HOURS_PER_MONTH;
        assert_eq!(
            totals.running_usd_per_month,
            round(rows.iter().map(|r| r.usd_per_month).sum())
        );
        assert_eq!(
            totals.teardown_stops_usd_per_month,
            round(month(0.115) + month(0.05)),
            "only what the teardown deletes"
        );
        assert_eq!(
            totals.schedule_saves_usd_per_month,
            round((0.115 + 0.05) * window.off_hours_per_month()),
            "only what the schedule stops, for its off hours"
        );
        assert_eq!(round(-0.0000001), 0.0);
        assert!(round(-0.0000001).is_sign_positive(), "never -0.00");
    }

    #[test]
    fn terraform_destroys_what_its_state_holds_by_arn_or_by_id() {
        let instance = |address: &str, managed: bool, arn: Option<&str>, id: Option<&str>| Instance {
            address: address.into(),
            managed,
            resource_type: "aws_eks_node_group".into(),
            id: id.map(str::to_owned),
            arn: arn.map(str::to_owned),
            tags: Default::default(),
        };
        let stack = Stack {
            kubernetes: Found::NotConfigured,
            sagemaker: Found::NotConfigured,
            ecr: Found::NotConfigured,
            terraform: Found::Read {
                source: None,
                result: Ok(State {
                    lineage: Some("l".into()),
                    serial: 1,
                    instances: vec![
                        instance("aws_eks_node_group.spot", true, Some("arn:ng/spot"), Some("c:spot")),
                        instance(
                            "data.aws_eks_node_group.read",
                            false,
                            Some("arn:ng/read"),
                            Some("c:read"),
                        ),
                    ],
                }),
            },
        };
        let known = Known {
            stack: &stack,
            resources: stack.resources(),
        };
        assert!(known.in_state(Some("arn:ng/spot"), None));
        assert!(known.in_state(None, Some("c:spot")));
        assert!(!known.in_state(Some("arn:ng/other"), Some("c:other")));
        assert!(
            !known.in_state(Some("arn:ng/read"), Some("c:read")),
            "a data source is not destroyed"
        );
        assert!(!known.in_state(None, None));
    }
}
