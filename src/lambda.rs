//! The off-hours scheduler as an AWS Lambda function (custom runtime): the
//! same binary, built with the `lambda` feature and named `bootstrap`,
//! answers EventBridge's `{"action": "stop"}` / `{"action": "start"}`.
//!
//! `handle` is plain async Rust so tests call it in-process; only `serve`,
//! the runtime loop, needs the `lambda_runtime` crate.

use anyhow::Result;
use serde_json::Value;

use crate::aws::Aws;
use crate::config::Config;
use crate::exit::refuse;
use crate::schedule::{self, Action};

/// Handles one event as the schedule's rule (holidays and `start: manual`
/// honoured); returns the `sundown.schedule/v1` outcome. A failed or
/// timed-out change sends the SNS alert and is an error, so the invocation
/// fails (a CloudWatch alarm on the function's Errors sees it) and
/// EventBridge retries it.
pub async fn handle(config: &Config, aws: &Aws, event: Value) -> Result<Value> {
    let action = event
        .get("action")
        .and_then(Value::as_str)
        .and_then(Action::parse)
        .ok_or_else(|| refuse(format!("event {event} has no \"action\": \"stop\" or \"start\"")))?;
    let outcome = schedule::run(config, aws, action, schedule::Trigger::Rule).await?;
    tracing::info!("{}", outcome.render_human());
    if let Err(e) = crate::notify::sns_after_schedule(config, aws, &outcome).await {
        tracing::warn!("{e:#}");
    }
    if !outcome.succeeded() {
        anyhow::bail!("schedule {}: {}", action.name(), outcome.errors.join("; "));
    }
    Ok(serde_json::to_value(&outcome)?)
}

/// The config with `schedule.wait` cut to what the invocation has left, less
/// 30 s to report in: what is still in progress then is reported pending, and
/// the next run checks it, rather than the function being killed mid-wait.
pub fn within(config: &Config, left: std::time::Duration) -> Config {
    let mut config = config.clone();
    let room = left.saturating_sub(std::time::Duration::from_secs(30));
    if room < config.schedule.wait {
        tracing::warn!(
            "schedule.wait ({}) is longer than the invocation has left; waiting {} at most",
            crate::text::short_duration(config.schedule.wait),
            crate::text::short_duration(room)
        );
        config.schedule.wait = room;
    }
    config
}

/// True inside Lambda (the runtime API is only set there).
pub fn detected() -> bool {
    std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some()
}

/// The runtime loop: config from `SUNDOWN_CONFIG` (packaged next to `bootstrap`), one AWS handle.
#[cfg(feature = "lambda")]
pub async fn serve() -> Result<(), lambda_runtime::Error> {
    let config = Config::load(&crate::config::resolve_path(None))?;
    let aws = Aws::load(&config.region).await;
    let (config, aws) = (&config, &aws);
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<Value>| async move {
            let deadline = std::time::UNIX_EPOCH + std::time::Duration::from_millis(event.context.deadline);
            let left = deadline
                .duration_since(std::time::SystemTime::now())
                .unwrap_or_default();
            handle(&within(config, left), aws, event.payload)
                .await
                .map_err(|e| lambda_runtime::Error::from(format!("{e:#}")))
        },
    ))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_wait_fits_what_the_invocation_has_left() {
        let config = Config::parse(
            "stack: s\nregion: us-east-1\nschedule:\n  wait: 10m\n",
            "sundown.yaml".as_ref(),
        )
        .unwrap();
        // 15 minutes left: the 10-minute wait fits.
        assert_eq!(
            within(&config, Duration::from_secs(900)).schedule.wait,
            Duration::from_secs(600)
        );
        // 5 minutes left: 4½ minutes of waiting, then 30 s to report what is pending.
        assert_eq!(
            within(&config, Duration::from_secs(300)).schedule.wait,
            Duration::from_secs(270)
        );
        assert_eq!(within(&config, Duration::from_secs(10)).schedule.wait, Duration::ZERO);
    }
}
