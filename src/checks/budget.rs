//! `budget`: a monthly COST budget filtered on the project tag, with ACTUAL
//! notifications at the configured thresholds.

use anyhow::{Result, anyhow};

use super::{Context, Finding};
use crate::aws::describe;

pub async fn budget(cx: &Context<'_>) -> Result<Finding> {
    let tag = cx.config.project_tag();
    let filter = format!("user:{}${}", tag.key, tag.value);
    let budgets = cx.aws.budgets();
    let account = &cx.identity.account;
    let mut all = Vec::new();
    let mut token = None;
    loop {
        let out = budgets
            .describe_budgets()
            .account_id(account)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| anyhow!("budgets DescribeBudgets: {}", describe(&e)))?;
        all.extend(out.budgets().iter().cloned());
        token = out.next_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    let matching: Vec<_> = all
        .iter()
        .filter(|b| b.budget_type().as_str() == "COST" && b.time_unit().as_str() == "MONTHLY")
        .filter(|b| {
            #[allow(deprecated)]
            let filters = b.cost_filters();
            filters
                .and_then(|f| f.get("TagKeyValue"))
                .is_some_and(|v| v.contains(&filter))
        })
        .collect();
    let fix = format!(
        "create a monthly COST budget filtered on TagKeyValue {filter} with ACTUAL notifications at {:?}% (infra/modules/budget)",
        cx.config.verify.budget_thresholds
    );
    if matching.is_empty() {
        return Ok(Finding::from_lines(
            vec![],
            vec![format!("no monthly COST budget filtered on {filter}")],
            &fix,
        ));
    }
    let (mut ok, mut bad) = (Vec::new(), Vec::new());
    for b in matching {
        let name = b.budget_name();
        let out = budgets
            .describe_notifications_for_budget()
            .account_id(account)
            .budget_name(name)
            .send()
            .await
            .map_err(|e| anyhow!("budgets DescribeNotificationsForBudget {name}: {}", describe(&e)))?;
        let actual: Vec<f64> = out
            .notifications()
            .iter()
            .filter(|n| n.notification_type().as_str() == "ACTUAL")
            .filter(|n| n.threshold_type().is_none_or(|t| t.as_str() == "PERCENTAGE"))
            .map(|n| n.threshold())
            .collect();
        let missing: Vec<String> = cx
            .config
            .verify
            .budget_thresholds
            .iter()
            .filter(|t| !actual.iter().any(|a| (a - *t).abs() < 0.01))
            .map(|t| format!("{t}%"))
            .collect();
        if missing.is_empty() {
            ok.push(format!("budget {name}: ACTUAL notifications at {actual:?}%"));
        } else {
            bad.push(format!(
                "budget {name}: no ACTUAL notification at {}",
                missing.join(", ")
            ));
        }
    }
    // One good budget is enough; others missing thresholds are only noted.
    if !ok.is_empty() {
        let mut evidence = ok;
        evidence.extend(bad);
        return Ok(Finding {
            status: super::Status::Pass,
            evidence,
            fix: None,
        });
    }
    Ok(Finding::from_lines(ok, bad, &fix))
}
