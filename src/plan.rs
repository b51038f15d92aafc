//! `sundown plan`: the read-only inventory of what a teardown would delete,
//! as the `sundown.plan/v1` document (`model::plan`). It only reads: every
//! request it makes is a List, Describe or Get (a test proves it with the
//! emulator's request recorder). The CLI and the Action both run [`run`].

use crate::aws::{Aws, Identity};
use crate::config::Config;
use crate::discover::{self, Stack};
use crate::model::plan::{PhasePlan, Plan, SCHEMA, digest, summarize};

/// The `plan` command: discovery, the document, and what a teardown would stop
/// in dollars a month. Fails only when AWS itself cannot be reached or the
/// credentials are refused; a phase that cannot be read is an `error` entry.
pub async fn run(config: &Config) -> anyhow::Result<Plan> {
    let aws = Aws::load(&config.region).await;
    let identity = aws.identity().await?;
    crate::scope::warn_if_by_name_only(config);
    let stack = discover::stack(config, &aws, discover::Preread::default()).await;
    let mut plan = document(config, &aws, &identity, &stack);
    plan.stops_usd_per_month = Some(crate::cost::stops(config, &aws, &identity, &stack).await);
    Ok(plan)
}

/// Whether teardown may run against `identity` under `config`.
pub fn account_allowed(config: &Config, identity: &Identity) -> bool {
    config.accounts.contains(&identity.account)
}

/// The plan document of the stack as discovery read it, stamped now.
pub fn document(config: &Config, aws: &Aws, identity: &Identity, stack: &Stack) -> Plan {
    let phases: Vec<PhasePlan> = stack
        .listed()
        .into_iter()
        .map(|listed| match listed.resources {
            None => PhasePlan::not_configured(listed.phase),
            Some(result) => PhasePlan::from_result(
                listed.phase,
                listed.source.map(str::to_owned),
                result.map_err(str::to_owned),
            ),
        })
        .collect();
    let summary = summarize(&phases);
    let created_at = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    let region = aws.region().to_owned();
    let resources: Vec<_> = phases.iter().flat_map(|p| &p.resources).collect();
    let digest = digest(&config.stack, &identity.account, &region, &created_at, &resources);
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
    }
}
