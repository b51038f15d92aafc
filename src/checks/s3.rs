//! `s3.lifecycle` and `s3.tiering`: the data buckets move cold data to cheaper
//! storage classes and expire temporary objects.

use anyhow::{Result, anyhow};
use aws_sdk_s3::types::LifecycleRule;

use super::{Context, Finding};
use crate::aws::{code, describe};

/// One lifecycle rule a data bucket must have.
#[derive(Debug, Clone, Copy)]
pub struct ExpectedRule {
    pub prefix: &'static str,
    /// A tag the rule's filter must also require.
    pub tag: Option<(&'static str, &'static str)>,
    /// (storage class, at most this many days).
    pub transitions: &'static [(&'static str, i32)],
    /// Expire objects within this many days.
    pub expire_days: Option<i32>,
}

/// The lifecycle rules `infra/modules/s3_data` writes and `verify` expects.
pub const LIFECYCLE: [ExpectedRule; 5] = [
    ExpectedRule {
        prefix: "raw/",
        tag: None,
        transitions: &[("INTELLIGENT_TIERING", 30)],
        expire_days: None,
    },
    ExpectedRule {
        prefix: "silver/",
        tag: None,
        transitions: &[("INTELLIGENT_TIERING", 30)],
        expire_days: None,
    },
    ExpectedRule {
        prefix: "artifacts/",
        tag: None,
        transitions: &[("GLACIER_IR", 90), ("DEEP_ARCHIVE", 180)],
        expire_days: None,
    },
    ExpectedRule {
        prefix: "logs/",
        tag: None,
        transitions: &[("GLACIER_IR", 90), ("DEEP_ARCHIVE", 180)],
        expire_days: None,
    },
    ExpectedRule {
        prefix: "tmp/",
        tag: Some(("temporary", "true")),
        transitions: &[],
        expire_days: Some(7),
    },
];

/// The Intelligent-Tiering archive tiers expected on `verify.tiering_prefix`: (tier, at most days).
pub const TIERING: [(&str, i32); 2] = [("ARCHIVE_ACCESS", 90), ("DEEP_ARCHIVE_ACCESS", 180)];

fn rule_prefix(rule: &LifecycleRule) -> Option<&str> {
    let filter = rule.filter();
    filter
        .and_then(|f| f.prefix())
        .or_else(|| filter.and_then(|f| f.and()).and_then(|a| a.prefix()))
        .or_else(|| {
            #[allow(deprecated)]
            rule.prefix()
        })
}

fn rule_has_tag(rule: &LifecycleRule, (key, value): (&str, &str)) -> bool {
    let Some(filter) = rule.filter() else { return false };
    let single = filter.tag().is_some_and(|t| t.key() == key && t.value() == value);
    let within_and = filter
        .and()
        .is_some_and(|a| a.tags().iter().any(|t| t.key() == key && t.value() == value));
    single || within_and
}

/// Why `rules` do not satisfy `expected`, if they do not.
fn unmet(rules: &[LifecycleRule], expected: &ExpectedRule) -> Option<String> {
    let candidates: Vec<&LifecycleRule> = rules
        .iter()
        .filter(|r| r.status().as_str() == "Enabled" && rule_prefix(r) == Some(expected.prefix))
        .filter(|r| expected.tag.is_none_or(|t| rule_has_tag(r, t)))
        .collect();
    if candidates.is_empty() {
        let tag = expected
            .tag
            .map(|(k, v)| format!(" with tag {k}={v}"))
            .unwrap_or_default();
        return Some(format!("no enabled rule for {}{tag}", expected.prefix));
    }
    let satisfied = |r: &&LifecycleRule| {
        let transitions_ok = expected.transitions.iter().all(|(class, days)| {
            r.transitions().iter().any(|t| {
                t.storage_class().is_some_and(|c| c.as_str() == *class) && t.days().is_some_and(|d| d <= *days)
            })
        });
        let expiry_ok = expected
            .expire_days
            .is_none_or(|max| r.expiration().and_then(|e| e.days()).is_some_and(|d| d <= max));
        transitions_ok && expiry_ok
    };
    if candidates.iter().any(satisfied) {
        return None;
    }
    let wanted: Vec<String> = expected
        .transitions
        .iter()
        .map(|(c, d)| format!("{c} within {d} days"))
        .chain(expected.expire_days.map(|d| format!("expiry within {d} days")))
        .collect();
    Some(format!("rule for {} lacks {}", expected.prefix, wanted.join(" and ")))
}

pub async fn lifecycle(cx: &Context<'_>) -> Result<Finding> {
    let buckets = &cx.config.verify.buckets;
    if buckets.is_empty() {
        return Ok(Finding::warn(
            "no data buckets configured",
            "set verify.buckets in sundown.yaml",
        ));
    }
    let s3 = cx.aws.s3();
    let (mut ok, mut bad) = (Vec::new(), Vec::new());
    for bucket in buckets {
        let rules = match s3.get_bucket_lifecycle_configuration().bucket(bucket).send().await {
            Ok(out) => out.rules().to_vec(),
            Err(e) if code(&e) == Some("NoSuchLifecycleConfiguration") => Vec::new(),
            Err(e) => return Err(anyhow!("s3 GetBucketLifecycleConfiguration {bucket}: {}", describe(&e))),
        };
        let problems: Vec<String> = LIFECYCLE.iter().filter_map(|x| unmet(&rules, x)).collect();
        if problems.is_empty() {
            ok.push(format!(
                "bucket {bucket}: all {} lifecycle rules present",
                LIFECYCLE.len()
            ));
        } else {
            bad.push(format!("bucket {bucket}: {}", problems.join("; ")));
        }
    }
    Ok(Finding::from_lines(
        ok,
        bad,
        "apply the lifecycle rules of infra/modules/s3_data to the bucket",
    ))
}

pub async fn tiering(cx: &Context<'_>) -> Result<Finding> {
    let verify = &cx.config.verify;
    if verify.buckets.is_empty() {
        return Ok(Finding::warn(
            "no data buckets configured",
            "set verify.buckets in sundown.yaml",
        ));
    }
    let s3 = cx.aws.s3();
    let (mut ok, mut bad) = (Vec::new(), Vec::new());
    for bucket in &verify.buckets {
        let out = s3
            .list_bucket_intelligent_tiering_configurations()
            .bucket(bucket)
            .send()
            .await
            .map_err(|e| {
                anyhow!(
                    "s3 ListBucketIntelligentTieringConfigurations {bucket}: {}",
                    describe(&e)
                )
            })?;
        let good = out.intelligent_tiering_configuration_list().iter().find(|c| {
            c.status().as_str() == "Enabled"
                && c.filter().and_then(|f| f.prefix()) == Some(verify.tiering_prefix.as_str())
                && TIERING.iter().all(|(tier, days)| {
                    c.tierings()
                        .iter()
                        .any(|t| t.access_tier().as_str() == *tier && t.days() <= *days)
                })
        });
        match good {
            Some(c) => ok.push(format!("bucket {bucket}: configuration {} on {}", c.id(), verify.tiering_prefix)),
            None => bad.push(format!(
                "bucket {bucket}: no enabled Intelligent-Tiering configuration on {} with ARCHIVE_ACCESS <= 90 and DEEP_ARCHIVE_ACCESS <= 180 days",
                verify.tiering_prefix
            )),
        }
    }
    Ok(Finding::from_lines(
        ok,
        bad,
        "add the aws_s3_bucket_intelligent_tiering_configuration of infra/modules/s3_data",
    ))
}
