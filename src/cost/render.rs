//! The renderings of the `sundown.cost/v1` document: terminal and markdown.

use super::*;
use std::collections::BTreeMap;
use std::fmt::Write as _;

impl Cost {
    /// The §8 table of the design notes from live figures: per component,
    /// now, after the teardown, with the schedule, and the savings.
    fn table(&self) -> Vec<(String, f64, f64, f64)> {
        let mut by: BTreeMap<&str, (f64, f64, f64)> = BTreeMap::new();
        let off_share = self.schedule.as_ref().map_or(0.0, |s| s.off_share);
        for r in &self.resources {
            let e = by.entry(component(r.kind)).or_default();
            e.0 += r.usd_per_month;
            if r.outcome_on_teardown != OnTeardown::Deleted {
                e.1 += r.usd_per_month;
            }
            e.2 += if r.stopped_by_schedule {
                r.usd_per_month * (1.0 - off_share)
            } else {
                r.usd_per_month
            };
        }
        by.into_iter().map(|(k, (a, b, c))| (k.to_owned(), a, b, c)).collect()
    }

    /// The schedule's next 30 days from now, holidays included.
    fn next_30_days(&self) -> Option<String> {
        let s = self.schedule.as_ref()?;
        let holidays = if s.holidays_next_30_days.is_empty() {
            String::new()
        } else {
            format!(", holidays {} included", s.holidays_next_30_days.join(", "))
        };
        Some(format!(
            "The next 30 days: stopped {:.1} h, saving ${:.2}{holidays}.",
            s.off_hours_next_30_days, self.totals.schedule_saves_usd_next_30_days
        ))
    }

    pub fn render_human(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "Cost of stack {} in account {} ({})\n",
            self.stack, self.account, self.region
        );
        let _ = writeln!(
            out,
            "{:<30} {:>12} {:>16} {:>16}",
            "component", "now $/month", "after teardown", "with schedule"
        );
        for (component, now, after, scheduled) in self.table() {
            let _ = writeln!(
                out,
                "{component:<30} {now:>12.2} {after:>9.2} ({:>3.0}%) {scheduled:>9.2} ({:>3.0}%)",
                saving(now, after),
                saving(now, scheduled)
            );
        }
        let t = &self.totals;
        let _ = writeln!(
            out,
            "\nRunning: ${:.2}/month. A teardown stops ${:.2}/month; the off-hours schedule saves ${:.2}/month.",
            t.running_usd_per_month, t.teardown_stops_usd_per_month, t.schedule_saves_usd_per_month
        );
        if let Some(line) = self.next_30_days() {
            let _ = writeln!(out, "{line}");
        }
        let _ = writeln!(
            out,
            "\n{:<14} {:<44} {:<28} {:>9} {:>10}  on teardown",
            "kind", "name", "detail", "$/hour", "$/month"
        );
        for r in &self.resources {
            let _ = writeln!(
                out,
                "{:<14} {:<44} {:<28} {:>9.4} {:>10.2}  {}{}",
                r.kind.name(),
                r.name,
                r.detail,
                r.usd_per_hour,
                r.usd_per_month,
                outcome_name(r.outcome_on_teardown),
                if r.stopped_by_schedule {
                    ", stopped by the schedule"
                } else {
                    ""
                }
            );
        }
        for u in &self.unpriced {
            let _ = writeln!(out, "{:<14} {:<44} {}", u.kind.name(), u.name, u.why);
        }
        match (&self.actual, &self.actual_unavailable) {
            (Some(a), _) => {
                let _ = writeln!(
                    out,
                    "\nCost Explorer, {} to {}, {}: {}",
                    a.start,
                    a.end,
                    a.tag,
                    crate::text::dollars(a.total_usd)
                );
                for s in &a.by_service {
                    let _ = writeln!(out, "  {:<50} {}", s.service, crate::text::dollars(s.usd));
                }
                if let Some(note) = &a.note {
                    let _ = writeln!(out, "  note: {note}");
                }
            }
            (None, why) => {
                let _ = writeln!(out, "\nCost Explorer: {}", why.as_deref().unwrap_or("no figures"));
            }
        }
        for t in &self.spot_training {
            let _ = writeln!(
                out,
                "training job {}: {} s billed of {} s trained, {:.1}% saved{}",
                t.job,
                t.billable_seconds,
                t.training_seconds,
                t.saved_percent,
                if t.spot { " by managed spot training" } else { "" }
            );
        }
        let _ = writeln!(out, "\nPrices: {}", self.price_source.describe());
        out
    }

    pub fn render_markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "### sundown cost of `{}`\n", self.stack);
        out.push_str(
            "| component | now $/month | after teardown | with the schedule |\n| --- | ---: | ---: | ---: |\n",
        );
        for (component, now, after, scheduled) in self.table() {
            let _ = writeln!(
                out,
                "| {component} | {now:.2} | {after:.2} ({:.0}% saved) | {scheduled:.2} ({:.0}% saved) |",
                saving(now, after),
                saving(now, scheduled)
            );
        }
        let t = &self.totals;
        let _ = writeln!(
            out,
            "\nRunning **${:.2}/month**; a teardown stops **${:.2}/month**; the off-hours schedule saves **${:.2}/month**.\n",
            t.running_usd_per_month, t.teardown_stops_usd_per_month, t.schedule_saves_usd_per_month
        );
        if let Some(line) = self.next_30_days() {
            let _ = writeln!(out, "{line}\n");
        }
        if let Some(a) = &self.actual {
            let _ = writeln!(
                out,
                "Cost Explorer, {} to {} ({}): {}.\n",
                a.start,
                a.end,
                a.tag,
                crate::text::dollars(a.total_usd)
            );
        }
        let _ = writeln!(out, "Prices: {}.", self.price_source.describe());
        out
    }
}

impl PriceSource {
    fn describe(&self) -> String {
        let used: Vec<String> = self
            .used
            .iter()
            .map(|(k, n)| {
                let from = match *k {
                    "price_list" => "the AWS Price List API".to_owned(),
                    "built_in" => "the built-in table".to_owned(),
                    "cache" => "the cache".to_owned(),
                    other => other.replace('_', " "),
                };
                format!("{n} from {from}")
            })
            .collect();
        let mut text = if used.is_empty() {
            "none".to_owned()
        } else {
            used.join(", ")
        };
        if self.used.contains_key("built_in") {
            let _ = write!(
                text,
                " (AWS's published {} prices on {})",
                self.built_in_region, self.built_in_date
            );
        }
        if let Some(why) = &self.price_list_unavailable {
            let _ = write!(text, "; the AWS Price List API was not used: {why}");
        }
        text
    }
}

pub(super) fn component(kind: CostKind) -> &'static str {
    match kind {
        CostKind::EksCluster => "EKS control plane",
        CostKind::NodeGroup => "EKS node groups",
        CostKind::Endpoint => "SageMaker endpoints",
        CostKind::LoadBalancer => "Load balancers",
        CostKind::EcrStorage => "ECR storage",
        CostKind::LogGroup => "CloudWatch Logs",
        CostKind::Bucket => "S3 storage",
        _ => "other",
    }
}

pub(super) fn outcome_name(o: OnTeardown) -> &'static str {
    match o {
        OnTeardown::Deleted => "deleted",
        OnTeardown::Kept => "kept",
        OnTeardown::NotTouched => "not touched",
    }
}

pub(super) fn saving(now: f64, then: f64) -> f64 {
    if now <= 0.0 { 0.0 } else { (now - then) / now * 100.0 }
}
