//! `schedule`: EventBridge rules stop the stack off-hours and start it again,
//! each targeting the scheduler.

use anyhow::{Result, anyhow};

use super::{Context, Finding};
use crate::aws::describe;

pub async fn schedule(cx: &Context<'_>) -> Result<Finding> {
    let events = cx.aws.events();
    let mut rules = Vec::new();
    let mut token = None;
    loop {
        let out = events
            .list_rules()
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| anyhow!("events ListRules: {}", describe(&e)))?;
        rules.extend(out.rules().iter().cloned());
        token = out.next_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    let schedule = &cx.config.schedule;
    let (mut ok, mut bad) = (Vec::new(), Vec::new());
    let start = match schedule.start.rule() {
        Some(cron) => Some(cron),
        None => {
            ok.push("schedule.start is manual: no start rule is needed".to_owned());
            None
        }
    };
    let crons = std::iter::once(("stop", schedule.stop.as_str())).chain(start.map(|c| ("start", c)));
    for (what, cron) in crons {
        let candidates: Vec<_> = rules
            .iter()
            .filter(|r| r.schedule_expression() == Some(cron))
            .filter(|r| r.state().is_none_or(|s| s.as_str() == "ENABLED"))
            .collect();
        if candidates.is_empty() {
            bad.push(format!("no enabled rule with schedule {cron} ({what})"));
            continue;
        }
        let mut found = None;
        for rule in candidates {
            let name = rule.name().unwrap_or_default();
            let targets = events
                .list_targets_by_rule()
                .rule(name)
                .send()
                .await
                .map_err(|e| anyhow!("events ListTargetsByRule {name}: {}", describe(&e)))?;
            let hit = targets
                .targets()
                .iter()
                .find(|t| schedule.scheduler.as_deref().is_none_or(|s| t.arn().contains(s)))
                .map(|t| t.arn().to_owned());
            if let Some(arn) = hit {
                found = Some(format!("rule {name} ({what}, {cron}) targets {arn}"));
                break;
            }
            bad.push(format!("rule {name} ({what}, {cron}) does not target the scheduler"));
        }
        if let Some(line) = found {
            bad.retain(|l| !l.contains(&format!("({what}, ")));
            ok.push(line);
        }
    }
    Ok(Finding::from_lines(
        ok,
        bad,
        "create the stop and start rules of infra/modules/scheduler, targeting the scheduler Lambda",
    ))
}
