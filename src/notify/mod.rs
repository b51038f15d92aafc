//! Notifications after a run: an SNS message and a pull-request comment.
//! Both take the finished report; a failed notification is a warning and
//! never changes the result of the work it reports on.

pub mod github;
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
