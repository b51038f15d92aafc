//! `sundown rollup`: one account of an expiry run, from the listing
//! (`sundown-stacks.json`) and the teardown reports the matrix jobs kept:
//! what was torn down and what it stopped in $/month, what failed and why
//! (a matrix job that left no report failed before its teardown), what waits
//! for its reminder, and what expires next. Read from files; the SNS message
//! is its only request.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result};
use serde::Serialize;
use serde_json::Value;

pub const SCHEMA: &str = "sundown.rollup/v1";
/// How many of the next expiries it names.
const NEXT: usize = 10;

/// One stack the run acted on.
#[derive(Debug, Clone, Serialize)]
pub struct TornDown {
    pub stack: String,
    pub account: String,
    /// The report's result (`succeeded`, `failed`, `interrupted`), or `no report`.
    pub result: String,
    pub stopped_usd_per_month: f64,
    /// What went wrong, when it did.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
}

/// A stack still to go, and when.
#[derive(Debug, Clone, Serialize)]
pub struct Next {
    pub stack: String,
    pub account: String,
    pub status: String,
    pub expires_at: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Rollup {
    pub schema: &'static str,
    pub now: String,
    pub torn_down: Vec<TornDown>,
    pub stopped_usd_per_month: f64,
    /// Expired, not in this run's matrix: the reminder is not `remind_before` old yet.
    pub waiting: Vec<Next>,
    pub next: Vec<Next>,
    /// Configs that could not be used.
    pub invalid: Vec<String>,
}

impl Rollup {
    pub fn failed(&self) -> usize {
        self.torn_down.iter().filter(|t| t.result != "succeeded").count() + self.invalid.len()
    }

    pub fn render_markdown(&self) -> String {
        let mut out = String::new();
        let icon = if self.failed() == 0 { "✅" } else { "❌" };
        let _ = writeln!(
            out,
            "### {icon} sundown expiry, {}: {} torn down, {} failed, {} stopped\n",
            self.now,
            self.torn_down.len() - self.torn_down.iter().filter(|t| t.result != "succeeded").count(),
            self.failed(),
            crate::text::per_month(self.stopped_usd_per_month)
        );
        if !self.torn_down.is_empty() {
            let _ = writeln!(
                out,
                "| stack | account | result | stopped $/month |\n| --- | --- | --- | ---: |"
            );
            for t in &self.torn_down {
                let _ = writeln!(
                    out,
                    "| `{}` | {} | {} | {:.2} |",
                    t.stack, t.account, t.result, t.stopped_usd_per_month
                );
            }
            out.push('\n');
        }
        for t in self.torn_down.iter().filter(|t| !t.errors.is_empty()) {
            let _ = writeln!(
                out,
                "- **{}** ({}): {}",
                t.stack,
                t.account,
                t.errors.join("; ").replace('\n', " ")
            );
        }
        for why in &self.invalid {
            let _ = writeln!(out, "- **invalid config**: {}", why.replace('\n', " "));
        }
        for w in &self.waiting {
            let _ = writeln!(
                out,
                "- `{}` ({}) expired at {}; it goes once its reminder is old enough",
                w.stack, w.account, w.expires_at
            );
        }
        if !self.next.is_empty() {
            let _ = writeln!(out, "\nExpiring next:\n");
            for n in &self.next {
                let _ = writeln!(out, "- `{}` ({}): {} ({})", n.stack, n.account, n.expires_at, n.status);
            }
        }
        out
    }
}

/// Reads the listing and every `sundown-teardown.json` under `reports`.
pub fn build(listing: &Path, reports: &Path) -> Result<Rollup> {
    let text =
        std::fs::read_to_string(listing).with_context(|| format!("reading the listing {}", listing.display()))?;
    let listing: Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not sundown stacks JSON", listing.display()))?;
    let mut found = Vec::new();
    collect(reports, &mut found);
    let mut reports: Vec<Value> = found
        .iter()
        .filter_map(|p| serde_json::from_str(&std::fs::read_to_string(p).ok()?).ok())
        .collect();
    let s = |v: &Value, k: &str| v[k].as_str().unwrap_or_default().to_owned();
    let mut torn_down = Vec::new();
    for job in listing["matrix"]["include"].as_array().into_iter().flatten() {
        let (stack, account) = (s(job, "stack"), s(job, "account"));
        let at = reports
            .iter()
            .position(|r| s(r, "stack") == stack && s(r, "account") == account);
        torn_down.push(match at.map(|i| reports.remove(i)) {
            Some(r) => TornDown {
                result: s(&r, "result"),
                stopped_usd_per_month: r["stopped_usd_per_month"].as_f64().unwrap_or(0.0),
                errors: r["phases"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .flat_map(|p| p["errors"].as_array().cloned().unwrap_or_default())
                    .filter_map(|e| e.as_str().map(str::to_owned))
                    .collect(),
                stack,
                account,
            },
            None => TornDown {
                stack,
                account,
                result: "no report".to_owned(),
                stopped_usd_per_month: 0.0,
                errors: vec!["its job left no report: it failed before the teardown (see its log: the role for its account, the plan)".to_owned()],
            },
        });
    }
    let stacks: Vec<&Value> = listing["stacks"]
        .as_array()
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    let in_matrix = |v: &Value| {
        torn_down
            .iter()
            .any(|t| t.stack == s(v, "stack") && t.account == s(v, "account"))
    };
    let next_of = |v: &Value| Next {
        stack: s(v, "stack"),
        account: s(v, "account"),
        status: s(v, "status"),
        expires_at: s(v, "expires_at"),
    };
    let waiting = stacks
        .iter()
        .filter(|v| v["status"] == "expired" && v["error"].is_null() && !in_matrix(v))
        .map(|v| next_of(v))
        .collect();
    let mut next: Vec<Next> = stacks
        .iter()
        .filter(|v| v["status"] == "expiring" || v["status"] == "alive")
        .map(|v| next_of(v))
        .collect();
    next.sort_by(|a, b| a.expires_at.cmp(&b.expires_at));
    next.truncate(NEXT);
    let invalid = stacks
        .iter()
        .filter_map(|v| Some(format!("{}: {}", s(v, "config"), v["error"].as_str()?)))
        .collect();
    Ok(Rollup {
        schema: SCHEMA,
        now: s(&listing, "now"),
        stopped_usd_per_month: crate::cost::round(
            torn_down
                .iter()
                .filter(|t| t.result == "succeeded")
                .map(|t| t.stopped_usd_per_month)
                .sum(),
        ),
        torn_down,
        waiting,
        next,
        invalid,
    })
}

/// Every `sundown-teardown.json` under `dir`, at any depth (one artifact folder per job).
fn collect(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let path = e.path();
        if path.is_dir() {
            collect(&path, out);
        } else if e.file_name() == "sundown-teardown.json" {
            out.push(path);
        }
    }
}

/// Publishes the roll-up to `topic`: one message for the whole run.
pub async fn publish(rollup: &Rollup, topic: &str) -> Result<String> {
    let aws = crate::aws::Aws::load(crate::notify::sns::topic_region(topic)).await;
    let status = if rollup.failed() == 0 { "succeeded" } else { "failed" };
    let message = crate::notify::sns::Message::new("expiry", "rollup", status, rollup.render_markdown());
    crate::notify::sns::publish(&aws.sns(), topic, &message).await
}
