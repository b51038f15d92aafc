//! Notifications after a run: an SNS message and a pull-request comment after
//! a teardown, an SNS alert after a failed schedule run. Each takes the finished report; a failed notification is a warning and
//! never changes the result of the work it reports on.

pub mod github;
pub mod reminder;
pub mod sns;

/// The URL of the current Actions run, when running in one.
pub fn run_url() -> Option<String> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    Some(format!(
        "{}/{}/actions/runs/{}",
        var("GITHUB_SERVER_URL")?.trim_end_matches('/'),
        var("GITHUB_REPOSITORY")?,
        var("GITHUB_RUN_ID")?
    ))
}

/// Publishes the teardown report to the SNS topic (`topic` overrides the
/// config's `notify.sns_topic_arn`). Returns the message id, or `None` when
/// no topic is configured. The caller turns an error into a warning.
pub async fn sns_after_teardown(
    config: &crate::config::Config,
    topic: Option<&str>,
    report: &crate::model::report::Report,
) -> anyhow::Result<Option<String>> {
    let Some(topic) = topic.or(config.notify.sns_topic_arn.as_deref()) else {
        return Ok(None);
    };
    let aws = crate::aws::Aws::load(&config.region).await;
    let message = sns::Message::for_teardown(report, run_url().as_deref());
    let id = sns::publish(&aws.sns(), topic, &message).await?;
    tracing::info!("notify: published the report to {topic} (message {id})");
    Ok(Some(id))
}

/// Alerts `notify.sns_topic_arn` when a schedule run failed or timed out:
/// one message naming each failure and AWS's reason. Returns the message id,
/// or `None` when the run succeeded or no topic is configured. The caller
/// turns an error into a warning.
pub async fn sns_after_schedule(
    config: &crate::config::Config,
    aws: &crate::aws::Aws,
    outcome: &crate::schedule::Outcome,
) -> anyhow::Result<Option<String>> {
    let Some(topic) = config.notify.sns_topic_arn.as_deref().filter(|_| !outcome.succeeded()) else {
        return Ok(None);
    };
    let message = sns::Message::for_schedule(outcome, run_url().as_deref());
    let id = sns::publish(&aws.sns(), topic, &message).await?;
    tracing::info!(
        "notify: alerted {topic} that schedule {} failed (message {id})",
        outcome.action.name()
    );
    Ok(Some(id))
}
