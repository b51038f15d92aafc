//! The Kubernetes phase's last step: once the cluster's load balancers are
//! gone, the security groups and target groups the AWS Load Balancer
//! Controller made for them (`discover::controller`), which would block
//! `terraform destroy` of the VPC. A security group can stay referenced by
//! other groups' rules or by network interfaces for a while after its load
//! balancer has gone (DependencyViolation): it is tried again each round
//! until the phase's deadline. Each deletion is proven by listing again.

use std::collections::BTreeMap;

use tokio::time::Instant;

use crate::aws::{Aws, code, describe};
use crate::cancel::Stop;
use crate::discover::controller::{Made, made};
use crate::model::inventory::Kind;
use crate::model::report::{Outcome, PhaseReport};
use crate::model::reviewed::{DRIFT, Reviewed};
use crate::scope::Owner;
use crate::wait;

/// Deletes what the controller made for `cluster` and the stack, and waits
/// until none of it is listed any more, until `deadline`.
pub async fn delete_leftovers(
    aws: &Aws,
    (cluster, namespaces): (&str, &[String]),
    owner: &Owner<'_>,
    reviewed: Option<&Reviewed>,
    (deadline, stop): (Instant, &Stop),
    report: &mut PhaseReport,
) {
    let found = match made(aws, cluster, owner, namespaces).await {
        Ok(found) => found,
        Err(e) => {
            report.fail(format!(
                "the load balancer controller's security and target groups: {e:#}"
            ));
            return;
        }
    };
    // name → (what, its deletion: not sent yet, accepted, or refused with AWS's answer)
    let mut doomed: BTreeMap<String, (Made, Option<Result<(), String>>)> = BTreeMap::new();
    for m in found {
        if let Some(why) = &m.kept {
            report.record(m.kind, &m.name, Outcome::Kept, Some(why.clone()));
        } else if reviewed.is_some_and(|r| !r.allows(m.kind, &m.name, Some(&m.id))) {
            report.record(m.kind, &m.name, Outcome::Drift, Some(DRIFT.to_owned()));
        } else {
            doomed.insert(m.name.clone(), (m, None));
        }
    }
    if doomed.is_empty() {
        return;
    }
    let mut rounds = wait::Rounds::new(deadline.saturating_duration_since(Instant::now()), stop);
    loop {
        match rounds.next().await {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                report.fail(format!("{e:#}"));
                break;
            }
        }
        // Target groups first: nothing they hold refers to a security group. A deletion AWS
        // accepted is not sent again; one it refused (DependencyViolation) is.
        for kind in [Kind::TargetGroup, Kind::SecurityGroup] {
            for (m, sent) in doomed
                .values_mut()
                .filter(|(m, sent)| m.kind == kind && !matches!(sent, Some(Ok(()))))
            {
                *sent = Some(delete(aws, m).await);
            }
        }
        let listed = match made(aws, cluster, owner, namespaces).await {
            Ok(listed) => listed,
            Err(e) => {
                report.fail(format!("checking the controller's groups are gone: {e:#}"));
                break;
            }
        };
        doomed.retain(|name, (m, _)| {
            let still = listed.iter().any(|l| l.kind == m.kind && &l.name == name);
            if !still {
                report.record(m.kind, name, Outcome::Deleted, None);
            }
            still
        });
        if doomed.is_empty() {
            return;
        }
    }
    for (name, (m, sent)) in doomed {
        let why = format!(
            "{} {name} still exists: {}",
            m.kind.name().replace('_', " "),
            match sent {
                Some(Err(refused)) => refused,
                Some(Ok(())) => "deleted, but still listed".to_owned(),
                None => "not asked to go before the deadline".to_owned(),
            }
        );
        report.record(m.kind, &name, Outcome::Failed, Some(why.clone()));
        report.fail(format!("{why} (it blocks terraform destroy of the VPC)"));
    }
}

/// One deletion: `Ok` when it was accepted or the group is gone, else AWS's answer.
async fn delete(aws: &Aws, m: &Made) -> Result<(), String> {
    tracing::info!("kubernetes: deleting {} {}", m.kind.name().replace('_', " "), m.name);
    let answer = match m.kind {
        Kind::TargetGroup => aws
            .elbv2()
            .delete_target_group()
            .target_group_arn(&m.id)
            .send()
            .await
            .map(drop)
            .map_err(|e| (code(&e).map(str::to_owned), describe(&e))),
        _ => aws
            .ec2()
            .delete_security_group()
            .group_id(&m.name)
            .send()
            .await
            .map(drop)
            .map_err(|e| (code(&e).map(str::to_owned), describe(&e))),
    };
    match answer {
        Ok(()) => Ok(()),
        Err((Some(c), _)) if c == "InvalidGroup.NotFound" || c == "TargetGroupNotFound" => Ok(()),
        Err((_, message)) => Err(message),
    }
}
