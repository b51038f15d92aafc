//! `logs.retention`: every log group under the configured prefixes expires within the maximum.

use anyhow::Result;

use super::{Context, Finding};

pub async fn retention(cx: &Context<'_>) -> Result<Finding> {
    let verify = &cx.config.verify;
    if verify.log_group_prefixes.is_empty() {
        return Ok(Finding::warn(
            "no log group prefixes configured",
            "set verify.log_group_prefixes in sundown.yaml",
        ));
    }
    let logs = cx.aws.logs();
    let max = verify.max_log_retention_days;
    let (mut ok, mut bad) = (Vec::new(), Vec::new());
    for prefix in &verify.log_group_prefixes {
        let groups = crate::aws::log_groups(&logs, prefix).await?;
        if groups.is_empty() {
            ok.push(format!("no log groups under {prefix}"));
        }
        for g in groups {
            let name = g.log_group_name().unwrap_or_default();
            match g.retention_in_days() {
                None => bad.push(format!("log group {name}: never expires")),
                Some(days) if i64::from(days) > max => bad.push(format!("log group {name}: {days} days (max {max})")),
                Some(days) => ok.push(format!("log group {name}: {days} days")),
            }
        }
    }
    Ok(Finding::from_lines(
        ok,
        bad,
        &format!("set retention_in_days <= {max} (infra/modules/logs, or `aws logs put-retention-policy`)"),
    ))
}
