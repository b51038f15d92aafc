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

/// Handles one event; returns the `sundown.schedule/v1` outcome. A failed
/// change is an error, so the invocation fails and EventBridge retries it.
pub async fn handle(config: &Config, aws: &Aws, event: Value) -> Result<Value> {
    let action = event
        .get("action")
        .and_then(Value::as_str)
        .and_then(Action::parse)
        .ok_or_else(|| refuse(format!("event {event} has no \"action\": \"stop\" or \"start\"")))?;
    let outcome = schedule::run(config, aws, action).await?;
    tracing::info!("{}", outcome.render_human());
    if !outcome.succeeded() {
        anyhow::bail!("schedule {}: {}", action.name(), outcome.errors.join("; "));
    }
    Ok(serde_json::to_value(&outcome)?)
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
            handle(config, aws, event.payload)
                .await
                .map_err(|e| lambda_runtime::Error::from(format!("{e:#}")))
        },
    ))
    .await
}
