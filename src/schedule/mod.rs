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

mod endpoints;
mod keep_on;
mod node_groups;

use std::fmt::Write as _;

use anyhow::Result;
use serde::Serialize;
use tokio::time::Instant;

use crate::aws::Aws;
use crate::cancel::Stop;
use crate::config::{Config, Protect};
use crate::scope::Owner;
use crate::wait::Rounds;

use endpoints::{start_endpoints, stop_endpoints};
pub use keep_on::{Only, keep_on, parse_until};
use node_groups::node_groups;

pub const SCHEMA: &str = "sundown.schedule/v1";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Stop,
    Start,
    KeepOn,
}

/// Who asked for a run: the schedule's rule (the Lambda, or `--scheduled`),
/// which honours `schedule.holidays` and `schedule.start: manual`, or a
/// person, whose `start` always acts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    Rule,
    Hand,
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
            Action::KeepOn => "keep-on",
        }
    }
}

/// What the schedule stops and starts; the serde name is the `kind` users read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    NodeGroup,
    Endpoint,
}

impl Target {
    /// As a sentence says it: `node group`, `endpoint`.
    pub fn words(self) -> &'static str {
        match self {
            Target::NodeGroup => "node group",
            Target::Endpoint => "endpoint",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Target::NodeGroup => "node_group",
            Target::Endpoint => "endpoint",
        }
    }
}

/// What happened to one node group or endpoint.
#[derive(Debug, Clone, Serialize)]
pub struct Change {
    pub kind: Target,
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
    /// `stop`: what this stop saves until the next start, in dollars.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub night_saves_usd: Option<f64>,
    /// `stop`: the hours from this stop to the next start.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub night_hours: Option<f64>,
    /// Why the run changed nothing on purpose (a holiday, manual starts).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
}

impl Outcome {
    /// An empty outcome for `action`, once the account guard has passed: every
    /// command of the schedule checks the account before its first change.
    async fn guarded(config: &Config, aws: &Aws, action: Action) -> Result<Outcome> {
        let identity = aws.identity().await?;
        crate::confirm::check_account(config, &identity)?;
        Ok(Outcome {
            schema: SCHEMA,
            stack: config.stack.clone(),
            account: identity.account,
            action,
            changes: Vec::new(),
            errors: Vec::new(),
            night_saves_usd: None,
            night_hours: None,
            skipped: None,
        })
    }

    /// What the resources this run stopped cost per hour while they ran.
    fn stopped_per_hour(&self) -> f64 {
        self.changes
            .iter()
            .filter(|c| c.changed)
            .filter_map(|c| c.usd_per_hour)
            .sum()
    }

    fn night_line(&self) -> Option<String> {
        let usd = self.night_saves_usd?;
        let per_hour = self.stopped_per_hour();
        let hours = self.night_hours.unwrap_or_default();
        Some(format!(
            "This night, {hours:.1} h until the next start, saves ≈ ${usd:.2} (${per_hour:.4}/hour while stopped)."
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
        if let Some(why) = &self.skipped {
            let _ = writeln!(out, "{why}");
        }
        for c in &self.changes {
            let _ = writeln!(out, "{:<11} {:<40} {}", c.kind.words(), c.name, c.detail);
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
        if let Some(why) = &self.skipped {
            let _ = writeln!(out, "{why}\n");
        }
        let _ = writeln!(out, "| kind | name | changed | detail |\n| --- | --- | --- | --- |");
        for c in &self.changes {
            let _ = writeln!(
                out,
                "| {} | `{}` | {} | {} |",
                c.kind.name(),
                c.name,
                c.changed,
                c.detail
            );
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

/// Why a `start` the rule asked for does nothing today, if it does not.
fn start_skipped(config: &Config, trigger: Trigger, action: Action) -> Option<String> {
    if action != Action::Start || trigger != Trigger::Rule {
        return None;
    }
    if config.schedule.start == crate::config::Start::Manual {
        return Some(
            "schedule.start is manual: the start rule does nothing; the stack stays stopped until \
             `sundown schedule start` is run by hand"
                .to_owned(),
        );
    }
    let now = crate::clock::now();
    config.schedule.is_holiday(now).then(|| {
        format!(
            "{} is a holiday (schedule.holidays): the start rule does nothing; the stack stays stopped",
            crate::clock::utc_date(now)
        )
    })
}

/// Runs `stop` or `start`. Checks the account before the first change.
pub async fn run(config: &Config, aws: &Aws, action: Action, trigger: Trigger) -> Result<Outcome> {
    let mut outcome = Outcome::guarded(config, aws, action).await?;
    outcome.skipped = start_skipped(config, trigger, action);
    if let Some(why) = &outcome.skipped {
        tracing::info!("schedule: {why}");
        return Ok(outcome);
    }
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
            Action::KeepOn => Ok(()),
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

/// What this stop saves: what the stopped node groups and endpoints cost per
/// hour, times the hours from now to the next `schedule.start` not on a holiday. Best
/// effort: prices that cannot be had leave it out.
async fn price_the_night(config: &Config, aws: &Aws, outcome: &mut Outcome) {
    if outcome.changed() == 0 {
        return;
    }
    let Some(hours) = night_hours(&config.schedule, crate::clock::now()) else {
        return;
    };
    let mut prices = crate::cost::prices::Prices::new(aws, &config.region, false);
    for change in outcome.changes.iter_mut().filter(|c| c.changed) {
        if let Some(running) = &change.running {
            change.usd_per_hour = crate::cost::per_hour(aws, &mut prices, running).await;
        }
    }
    prices.save();
    outcome.night(hours);
}

/// This night's hours: from `now` to the next start that is not on a holiday
/// (a Friday's lasts the weekend), not the week's average. `None` with manual
/// starts (it lasts until someone starts the stack) or a start it cannot read.
fn night_hours(schedule: &crate::config::Schedule, now: u64) -> Option<f64> {
    let start = schedule.start.rule()?;
    let holiday = |day: u64| schedule.is_holiday(day * 86_400);
    crate::cost::window::hours_until_start(start, now, &holiday)
        .ok()
        .flatten()
}

impl Outcome {
    /// Sets what this night saves: the stopped resources' prices per hour, times its hours.
    fn night(&mut self, hours: f64) {
        let per_hour = self.stopped_per_hour();
        self.night_saves_usd = Some((per_hour * hours * 100.0).round() / 100.0);
        self.night_hours = Some(hours);
    }
}

/// What happened to one node group or endpoint: (changed, detail, what ran, for pricing).
type Done = (bool, String, Option<crate::cost::Running>);

fn unchanged(detail: impl Into<String>) -> Done {
    (false, detail.into(), None)
}

type Tags = Vec<(String, String)>;

fn tag<'a>(tags: &'a Tags, key: &str) -> Option<&'a str> {
    tags.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

fn pairs(tags: &Tags) -> impl Iterator<Item = (&str, &str)> + Clone {
    tags.iter().map(|(k, v)| (k.as_str(), v.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stopped(name: &str, usd_per_hour: f64) -> Change {
        Change {
            kind: Target::Endpoint,
            name: name.into(),
            changed: true,
            detail: "deleted".into(),
            usd_per_hour: Some(usd_per_hour),
            running: None,
        }
    }

    #[test]
    fn a_monday_night_saves_12_hours_and_a_friday_night_60_of_the_stopped_prices() {
        let schedule = crate::config::Schedule {
            stop: "cron(0 19 ? * MON-FRI *)".into(),
            start: crate::config::Start::Rule("cron(0 7 ? * MON-FRI *)".into()),
            ..crate::config::Schedule::default()
        };
        // 2026-12-07 19:00 UTC is a Monday; 2026-12-11 19:00 a Friday.
        let (monday, friday) = (1_796_670_000, 1_797_015_600);
        let mut outcome = Outcome {
            schema: SCHEMA,
            stack: "s".into(),
            account: "123456789012".into(),
            action: Action::Stop,
            // An ml.m5.xlarge endpoint and two spot m5.large nodes, and one kept (not counted).
            changes: vec![stopped("endpoint", 0.23), stopped("nodes", 2.0 * 0.0416)],
            errors: Vec::new(),
            night_saves_usd: None,
            night_hours: None,
            skipped: None,
        };
        outcome.changes.push(Change {
            changed: false,
            ..stopped("kept", 5.0)
        });
        let per_hour = 0.23 + 2.0 * 0.0416;
        outcome.night(night_hours(&schedule, monday).unwrap());
        assert_eq!(outcome.night_hours, Some(12.0));
        assert_eq!(
            outcome.night_saves_usd,
            Some((per_hour * 12.0 * 100.0_f64).round() / 100.0)
        );
        outcome.night(night_hours(&schedule, friday).unwrap());
        assert_eq!(outcome.night_hours, Some(60.0));
        assert_eq!(
            outcome.night_saves_usd,
            Some((per_hour * 60.0 * 100.0_f64).round() / 100.0)
        );
        assert!(
            outcome
                .render_human()
                .contains("This night, 60.0 h until the next start, saves ≈ $18.79")
        );
        // Manual starts: no end to price.
        let manual = crate::config::Schedule {
            start: crate::config::Start::Manual,
            ..schedule
        };
        assert_eq!(night_hours(&manual, friday), None);
    }
}
