//! sundown: keeps an MLOps stack on AWS cheap while it runs and tears it down safely.
//!
//! The flow is one way: `config → plan → gate → phases → report → notify`.
//! `run` is the single entry point both faces (CLI and GitHub Action) call.

// The layers, lowest first; each imports only its own and those below
// (ARCHITECTURE.md draws them; `cargo xtask tidy` holds them).
// base
pub mod cancel;
pub mod config;
pub mod exit;
pub mod markers;
pub mod schema;
pub mod text;
pub mod wait;
// clients
pub mod aws;
pub mod k8s;
pub mod scope;
pub mod terraform;
// model
pub mod model;
// discover
pub mod discover;
// analyses
pub mod checks;
pub mod cost;
pub mod iam;
pub mod verify;
// gate
pub mod confirm;
// mutating
pub mod phases;
pub mod schedule;
// operations
pub mod notify;
pub mod plan;
pub mod teardown;
// faces
pub mod action;
pub mod cli;
pub mod lambda;

use std::process::ExitCode;

use anyhow::Result;

use cli::{Cli, Command, Output};
use config::Config;

/// Runs one command; the returned code follows `exit`'s contract.
pub async fn run(cli: Cli) -> Result<ExitCode> {
    let path = config::resolve_path(cli.config.clone());
    let config = Config::load(&path)?;
    match cli.command {
        Command::Plan { out } => run_plan(&config, out.as_deref(), cli.output).await,
        Command::Teardown {
            confirm,
            report,
            plan,
            max_plan_age,
        } => {
            let request = teardown::Request {
                confirm,
                interactive: confirm::stdin_is_terminal(),
                progress: &teardown::Quiet,
                plan,
                max_plan_age,
            };
            run_teardown(&config, request, report, cli.output).await
        }
        Command::Verify { check, after_teardown } => run_verify(&config, &check, after_teardown, cli.output).await,
        Command::Cost { offline } => run_cost(&config, offline, cli.output).await,
        Command::IamPolicy { purpose } => {
            let purpose = match purpose {
                cli::PolicyFor::Teardown => iam::Purpose::Teardown,
                cli::PolicyFor::ReadOnly => iam::Purpose::ReadOnly,
                cli::PolicyFor::Schedule => iam::Purpose::Schedule,
            };
            print!("{}", iam::render(&config, purpose));
            Ok(ExitCode::from(exit::DONE))
        }
        Command::Schedule { action } => {
            let action = match action {
                cli::ScheduleAction::Stop => schedule::Action::Stop,
                cli::ScheduleAction::Start => schedule::Action::Start,
            };
            run_schedule(&config, action, cli.output).await
        }
    }
}

async fn run_schedule(config: &Config, action: schedule::Action, output: Output) -> Result<ExitCode> {
    let aws = aws::Aws::load(&config.region).await;
    let outcome = schedule::run(config, &aws, action).await?;
    match output {
        Output::Human => print!("{}", outcome.render_human()),
        Output::Json => println!("{}", serde_json::to_string_pretty(&outcome)?),
        Output::Markdown => print!("{}", outcome.render_markdown()),
    }
    Ok(ExitCode::from(if outcome.succeeded() {
        exit::DONE
    } else {
        exit::FAILED
    }))
}

async fn run_cost(config: &Config, offline: bool, output: Output) -> Result<ExitCode> {
    let aws = aws::Aws::load(&config.region).await;
    let identity = aws.identity().await?;
    let stack = discover::stack(config, &aws, discover::Preread::default()).await;
    let cost = cost::build(config, &aws, &identity, &stack, cost::Options { offline, full: true }).await;
    match output {
        Output::Human => print!("{}", cost.render_human()),
        Output::Json => println!("{}", serde_json::to_string_pretty(&cost)?),
        Output::Markdown => print!("{}", cost.render_markdown()),
    }
    Ok(ExitCode::from(exit::DONE))
}

async fn run_verify(config: &Config, checks: &[String], after_teardown: bool, output: Output) -> Result<ExitCode> {
    let result = verify::run(config, checks, after_teardown).await?;
    match output {
        Output::Human => print!("{}", result.render_human()),
        Output::Json => println!("{}", serde_json::to_string_pretty(&result)?),
        Output::Markdown => print!("{}", result.render_markdown()),
    }
    Ok(ExitCode::from(if result.passed() { exit::DONE } else { exit::FAILED }))
}

async fn run_teardown(
    config: &Config,
    request: teardown::Request<'_>,
    report_path: Option<std::path::PathBuf>,
    output: Output,
) -> Result<ExitCode> {
    let report = teardown::run(config, request).await?;
    if let Some(path) = &report_path {
        teardown::write_report(&report, path)?;
    }
    if let Err(e) = notify::sns_after_teardown(config, None, &report).await {
        tracing::warn!("{e:#}");
    }
    match output {
        Output::Human => print!("{}", report.render_human()),
        Output::Json => println!("{}", serde_json::to_string_pretty(&report)?),
        Output::Markdown => print!("{}", report.render_markdown()),
    }
    Ok(ExitCode::from(if report.succeeded() {
        exit::DONE
    } else {
        exit::FAILED
    }))
}

async fn run_plan(config: &Config, out: Option<&std::path::Path>, output: Output) -> Result<ExitCode> {
    let plan = plan::run(config).await?;
    if let Some(path) = out {
        plan.write(path)?;
    }
    match output {
        Output::Human => print!("{}", plan.render_human()),
        Output::Markdown => print!("{}", plan.render_markdown()),
        Output::Json => println!("{}", serde_json::to_string_pretty(&plan)?),
    }
    Ok(ExitCode::from(if plan.has_errors() {
        exit::FAILED
    } else {
        exit::DONE
    }))
}
