//! `sundown schedule keep-on`: marks the stack's node groups and endpoints
//! (or one of them) with a tag that `stop` honours until its time, so an
//! evening's work goes on without turning the schedule off. The mark is the
//! stack's own (`markers::keep_on_key`); `stop` removes an expired one.

use super::*;

use anyhow::{Result, anyhow, bail};

use crate::aws::describe;
use crate::clock::rfc3339;
use crate::discover::sagemaker::{endpoints, tags};
use crate::markers;
use crate::scope::{Verdict, name_matches};

/// Which of the stack's resources a keep-on marks: all, or one.
#[derive(Debug, Clone, Default)]
pub struct Only {
    pub endpoint: Option<String>,
    pub node_group: Option<String>,
}

/// Reads `--until`: an RFC 3339 time (`2026-12-05T18:00:00Z`), a duration
/// from `now` (`3h`, `90m`), or a UTC time of day (`18:00`: the next one).
pub fn parse_until(text: &str, now: u64) -> Result<u64> {
    let text = text.trim();
    if let Ok(at) = humantime::parse_rfc3339_weak(text) {
        let at = at.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        if at <= now {
            bail!("--until {text} is in the past; give a later time");
        }
        return Ok(at);
    }
    if let Ok(d) = humantime::parse_duration(text) {
        return Ok(now + d.as_secs());
    }
    if let Some((h, m)) = text.split_once(':')
        && let (Ok(h), Ok(m)) = (h.parse::<u64>(), m.parse::<u64>())
        && h < 24
        && m < 60
    {
        let today = now - now % 86_400 + h * 3600 + m * 60;
        return Ok(if today > now { today } else { today + 86_400 });
    }
    bail!("--until {text:?} is neither a time (2026-12-05T18:00:00Z, 18:00 UTC) nor a duration (3h)")
}

/// Marks what `only` names (everything of the stack's schedule when it names
/// nothing) to be kept on until `until`. Checks the account first.
pub async fn keep_on(config: &Config, aws: &Aws, until: u64, only: &Only) -> Result<Outcome> {
    let mut out = Outcome::guarded(config, aws, Action::KeepOn).await?;
    let owner = Owner::new(config);
    let key = markers::keep_on_key(&config.stack);
    let value = rfc3339(until);
    let detail = format!("kept on until {value}: `schedule stop` leaves it running until then");
    let change = |kind: Target, name: String, verdict: Verdict| Change {
        kind,
        name,
        changed: verdict == Verdict::Ours,
        detail: match verdict {
            Verdict::Ours => detail.clone(),
            Verdict::Kept(why) => format!("not marked: not the stack's ({why})"),
        },
        usd_per_hour: None,
        running: None,
    };
    let cluster = config.kubernetes.as_ref().and_then(|k| k.cluster.as_deref());
    if let Some(cluster) = cluster.filter(|_| only.endpoint.is_none()) {
        let eks = aws.eks();
        let names: Vec<String> = crate::aws::node_group_names(&eks, cluster)
            .await?
            .into_iter()
            .filter(|n| only.node_group.as_ref().is_none_or(|o| o == n))
            .collect();
        if let Some(name) = only.node_group.as_ref().filter(|_| names.is_empty()) {
            out.errors
                .push(format!("node group {name}: not found in cluster {cluster}"));
        }
        for name in names {
            let Some(group) = crate::aws::describe_node_group(&eks, cluster, &name).await? else {
                continue;
            };
            let tags = group.tags().cloned().unwrap_or_default();
            let verdict = owner.judge(tags.iter().map(|(k, v)| (k.as_str(), v.as_str())));
            if verdict == Verdict::Ours {
                eks.tag_resource()
                    .resource_arn(group.nodegroup_arn().unwrap_or_default())
                    .tags(&key, &value)
                    .send()
                    .await
                    .map_err(|e| anyhow!("eks TagResource {cluster}/{name}: {}", describe(&e)))?;
            }
            out.changes
                .push(change(Target::NodeGroup, format!("{cluster}/{name}"), verdict));
        }
    }
    if let Some(sm) = config.sagemaker.as_ref().filter(|_| only.node_group.is_none()) {
        let client = aws.sagemaker();
        let listed: Vec<_> = endpoints(&client, Some(&sm.endpoint_prefix))
            .await?
            .into_iter()
            .filter(|e| {
                let name = e.endpoint_name().unwrap_or_default();
                name_matches(&sm.endpoint_prefix, name) && only.endpoint.as_ref().is_none_or(|o| o == name)
            })
            .collect();
        if let Some(name) = only.endpoint.as_ref().filter(|_| listed.is_empty()) {
            out.errors.push(format!(
                "endpoint {name}: not running under sagemaker.endpoint_prefix {} (a stopped endpoint needs `sundown schedule start` first)",
                sm.endpoint_prefix
            ));
        }
        for e in listed {
            let (name, arn) = (
                e.endpoint_name().unwrap_or_default(),
                e.endpoint_arn().unwrap_or_default(),
            );
            let verdict = owner.judge(pairs(&tags(&client, arn).await?));
            if verdict == Verdict::Ours {
                client
                    .add_tags()
                    .resource_arn(arn)
                    .tags(endpoints::sm_tag(&key, &value))
                    .send()
                    .await
                    .map_err(|e| anyhow!("sagemaker AddTags {name}: {}", describe(&e)))?;
            }
            out.changes.push(change(Target::Endpoint, name.to_owned(), verdict));
        }
    }
    if only.endpoint.is_some() && config.sagemaker.is_none() {
        out.errors
            .push("--endpoint needs a sagemaker section in sundown.yaml".to_owned());
    }
    if only.node_group.is_some() && cluster.is_none() {
        out.errors
            .push("--node-group needs kubernetes.cluster in sundown.yaml".to_owned());
    }
    Ok(out)
}

/// What `stop` makes of a keep-on mark: `Some(until)` while it holds.
pub(super) fn holds<'t>(stack: &str, tags: impl IntoIterator<Item = (&'t str, &'t str)>, now: u64) -> Option<String> {
    match markers::keep_on(stack, tags)? {
        Ok(until) if until > now => Some(rfc3339(until)),
        Ok(_) => None,
        Err(value) => {
            tracing::warn!("schedule: keep-on mark {value:?} is not a time; it is ignored");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn until_reads_times_durations_and_times_of_day() {
        let now = 1_796_652_000; // 2026-12-07 14:00:00 UTC
        assert_eq!(rfc3339(now), "2026-12-07T14:00:00Z");
        assert_eq!(parse_until("2026-12-07T18:00:00Z", now).unwrap(), now + 4 * 3600);
        assert_eq!(parse_until("3h", now).unwrap(), now + 3 * 3600);
        assert_eq!(parse_until("18:00", now).unwrap(), now + 4 * 3600);
        assert_eq!(parse_until("09:30", now).unwrap(), now + 19 * 3600 + 1800, "tomorrow's");
        assert!(
            parse_until("2026-12-07T13:00:00Z", now)
                .unwrap_err()
                .to_string()
                .contains("in the past")
        );
        assert!(parse_until("soon", now).is_err());
    }
}
