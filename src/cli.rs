//! The command-line face: the arguments (clap derive; the doc comments are the
//! help text) and `run`, which loads the config and runs one command.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;

use clap::{Parser, Subcommand, ValueEnum};

use crate::config::{self, Config};
use crate::{confirm, cost, discover, exit, iam, notify, plan, schedule, teardown, verify};

/// Keeps an MLOps stack on AWS cheap while it runs, and tears it down safely when it is done.
#[derive(Debug, Parser)]
#[command(name = "sundown", version, about, long_about = None)]
pub struct Cli {
    /// Config file [default: $SUNDOWN_CONFIG, else ./sundown.yaml]
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,

    /// Output format on stdout (progress and logs go to stderr)
    #[arg(long, global = true, value_enum, default_value_t = Output::Human)]
    pub output: Output,

    /// More detail on stderr (-v: debug, -vv: trace)
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Human,
    Json,
    /// Markdown, for job summaries and pull-request comments
    Markdown,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show what a teardown would delete, phase by phase (read-only)
    Plan {
        /// Also write the plan (`sundown.plan/v1`, with its digest) to this file, for `teardown --plan`
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Delete the stack in order: namespaces, SageMaker, ECR images, terraform destroy
    Teardown {
        /// The confirmation phrase, `destroy`. Without it, sundown asks at a terminal and refuses elsewhere.
        #[arg(long, value_name = "PHRASE")]
        confirm: Option<String>,
        /// Also write the report as JSON (`sundown.report/v1`) to this file
        #[arg(long, value_name = "FILE")]
        report: Option<PathBuf>,
        /// Delete exactly what this reviewed plan (`plan --out`) lists; refuse if the stack changed since
        #[arg(long, value_name = "FILE")]
        plan: Option<PathBuf>,
        /// Refuse a plan older than this
        #[arg(long, value_name = "DURATION", default_value = "7d", value_parser = humantime::parse_duration, requires = "plan")]
        max_plan_age: std::time::Duration,
        /// Confirmed by the stack's lifetime instead of the phrase: refused unless `lifetime.expires_at` has passed,
        /// is committed, and the reminder went out at least `remind_before` before (the expiry workflow)
        #[arg(long, conflicts_with = "confirm", requires = "reminded_at")]
        expired: bool,
        /// With --expired: when the stack's reminder was delivered (RFC 3339, UTC)
        #[arg(long, value_name = "TIME", requires = "expired")]
        reminded_at: Option<String>,
    },
    /// Run the cost checklist and show, per check, the evidence and the fix (read-only)
    Verify {
        /// Run only this check (repeatable), e.g. --check eks.spot
        #[arg(long, value_name = "ID")]
        check: Vec<String>,
        /// After a teardown: check only that nothing of the stack is left (teardown.nothing_left)
        #[arg(long)]
        after_teardown: bool,
    },
    /// What the stack costs, what a teardown stops and what the schedule saves, in dollars (read-only)
    Cost {
        /// Ask neither the AWS Price List API nor Cost Explorer: cached and built-in prices only
        #[arg(long)]
        offline: bool,
    },
    /// Print the least-privilege IAM policy (JSON) for this config and a command (reads no AWS)
    IamPolicy {
        /// The command the policy is for: teardown, read-only (plan, verify, cost) or schedule
        #[arg(long = "for", value_enum, value_name = "COMMAND")]
        purpose: PolicyFor,
        /// Leave out the Terraform state statements (a backend sundown cannot read, or state access granted elsewhere)
        #[arg(long)]
        without_state: bool,
    },
    /// Every stack under a directory: its lifetime status, account and region, and the expiry matrix (reads files only)
    Stacks {
        /// Where to look for sundown.yaml files, at any depth (target/, .git/ and node_modules/ skipped)
        #[arg(long, value_name = "DIR", default_value = ".")]
        root: PathBuf,
        /// Price each stack of the credentials' account, as `sundown cost` does (its discovery: AWS requests)
        #[arg(long, conflicts_with = "offline")]
        prices: bool,
        /// Price no stack and make no AWS request for prices (the default)
        #[arg(long)]
        offline: bool,
        /// Send each expiring or expired stack's reminder once (a comment on its GitHub issue, from
        /// GITHUB_REPOSITORY and GITHUB_TOKEN), and keep in the matrix only stacks reminded long enough ago
        #[arg(long)]
        remind: bool,
        /// With --remind: also publish each reminder to this SNS topic
        #[arg(long, value_name = "ARN", requires = "remind")]
        sns_topic: Option<String>,
    },
    /// One summary of an expiry run: what was torn down and stopped, what failed and why, what expires next
    Rollup {
        /// The listing the run started from (`sundown stacks --remind --output json`)
        #[arg(long, value_name = "FILE")]
        listing: PathBuf,
        /// Where the matrix jobs' reports (`sundown-teardown.json`) are, at any depth
        #[arg(long, value_name = "DIR")]
        reports: PathBuf,
        /// Also publish the summary to this SNS topic
        #[arg(long, value_name = "ARN")]
        sns_topic: Option<String>,
    },
    /// Off-hours: scale node groups to 0 and delete endpoints (stop), restore them (start), or keep them on for a while (keep-on)
    Schedule {
        #[command(subcommand)]
        action: ScheduleAction,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PolicyFor {
    /// `teardown`, with its plan discovery and notifications
    Teardown,
    /// `plan`, `verify` and `cost`: the plan job's role
    ReadOnly,
    /// `schedule stop|start` and the scheduler Lambda
    Schedule,
}

#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum ScheduleAction {
    /// Remember each node group's scaling and scale it to 0; remember each endpoint's config and delete the endpoint
    Stop,
    /// Restore the remembered scaling and recreate the endpoints from their configs
    Start {
        /// Run as the start rule does: on one of schedule.holidays, or with schedule.start: manual, do nothing
        #[arg(long)]
        scheduled: bool,
    },
    /// Mark the stack's node groups and endpoints (or one) so that `stop` leaves them running until a time
    KeepOn {
        /// Until when: 2026-12-05T18:00:00Z, 18:00 (UTC, the next one) or a duration such as 3h
        #[arg(long, value_name = "TIME")]
        until: String,
        /// Only this endpoint
        #[arg(long, value_name = "NAME", conflicts_with = "node_group")]
        endpoint: Option<String>,
        /// Only this node group
        #[arg(long, value_name = "NAME")]
        node_group: Option<String>,
    },
}

/// Runs one command; the returned code follows `exit`'s contract.
pub async fn run(cli: Cli) -> Result<ExitCode> {
    // The one command that reads many configs, not one.
    if let Command::Stacks {
        root,
        prices,
        offline: _,
        remind,
        sns_topic,
    } = &cli.command
    {
        return run_stacks(root, *prices, *remind, sns_topic.as_deref(), cli.output).await;
    }
    if let Command::Rollup {
        listing,
        reports,
        sns_topic,
    } = &cli.command
    {
        return run_rollup(listing, reports, sns_topic.as_deref(), cli.output).await;
    }
    let path = config::resolve_path(cli.config.clone());
    let config = Config::load(&path)?;
    match cli.command {
        Command::Plan { out } => run_plan(&config, out.as_deref(), cli.output).await,
        Command::Teardown {
            confirm,
            report,
            plan,
            max_plan_age,
            expired,
            reminded_at,
        } => {
            let expired = match reminded_at.filter(|_| expired) {
                None => None,
                Some(at) => Some(confirm::Expiry {
                    config_path: path.clone(),
                    reminded_at: crate::clock::parse_utc(&at).ok_or_else(|| {
                        exit::refuse(format!(
                            "--reminded-at {at:?} is not an RFC 3339 UTC time (2026-12-05T10:00:00Z)"
                        ))
                    })?,
                }),
            };
            let request = teardown::Request {
                expired,
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
        Command::IamPolicy { purpose, without_state } => {
            // A policy is JSON whatever the format asked: human and json print it, markdown is refused.
            if cli.output == Output::Markdown {
                return Err(exit::refuse(
                    "iam-policy prints the policy as JSON; --output markdown does not apply: drop it, or write --output json",
                ));
            }
            let purpose = match purpose {
                PolicyFor::Teardown => iam::Purpose::Teardown,
                PolicyFor::ReadOnly => iam::Purpose::ReadOnly,
                PolicyFor::Schedule => iam::Purpose::Schedule,
            };
            let state = match without_state {
                true => iam::State::LeftOut,
                false => iam::State::FromBackend,
            };
            print!("{}", iam::render(&config, purpose, state)?);
            Ok(ExitCode::from(exit::DONE))
        }
        Command::Stacks { .. } | Command::Rollup { .. } => unreachable!("dispatched before the config is read"),
        Command::Schedule { action } => {
            let (action, trigger) = match action {
                ScheduleAction::Stop => (schedule::Action::Stop, schedule::Trigger::Hand),
                ScheduleAction::Start { scheduled: false } => (schedule::Action::Start, schedule::Trigger::Hand),
                ScheduleAction::Start { scheduled: true } => (schedule::Action::Start, schedule::Trigger::Rule),
                ScheduleAction::KeepOn {
                    until,
                    endpoint,
                    node_group,
                } => {
                    let until = schedule::parse_until(&until, crate::clock::now())
                        .map_err(|e| exit::refuse(format!("{e:#}")))?;
                    let only = schedule::Only { endpoint, node_group };
                    let aws = crate::aws::Aws::load(&config.region).await;
                    let outcome = schedule::keep_on(&config, &aws, until, &only).await?;
                    return print_schedule(&outcome, cli.output);
                }
            };
            run_schedule(&config, action, trigger, cli.output).await
        }
    }
}

async fn run_schedule(
    config: &Config,
    action: schedule::Action,
    trigger: schedule::Trigger,
    output: Output,
) -> Result<ExitCode> {
    let aws = crate::aws::Aws::load(&config.region).await;
    let outcome = schedule::run(config, &aws, action, trigger).await?;
    if let Err(e) = notify::sns_after_schedule(config, &aws, &outcome).await {
        tracing::warn!("{e:#}");
    }
    print_schedule(&outcome, output)
}

fn print_schedule(outcome: &schedule::Outcome, output: Output) -> Result<ExitCode> {
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

async fn run_stacks(
    root: &std::path::Path,
    prices: bool,
    remind: bool,
    topic: Option<&str>,
    output: Output,
) -> Result<ExitCode> {
    let repo = match remind {
        true => Some(notify::reminder::Repo::from_env(None)?),
        false => None,
    };
    let stacks = crate::stacks::list(root, prices, repo, topic, crate::clock::now()).await?;
    match output {
        Output::Human => print!("{}", stacks.render_human()),
        Output::Json => println!("{}", serde_json::to_string_pretty(&stacks)?),
        Output::Markdown => print!("{}", stacks.render_markdown()),
    }
    Ok(ExitCode::from(if stacks.errors() == 0 {
        exit::DONE
    } else {
        exit::FAILED
    }))
}

async fn run_rollup(
    listing: &std::path::Path,
    reports: &std::path::Path,
    topic: Option<&str>,
    output: Output,
) -> Result<ExitCode> {
    let rollup = crate::rollup::build(listing, reports)?;
    if let Some(topic) = topic {
        match crate::rollup::publish(&rollup, topic).await {
            Ok(id) => tracing::info!("rollup: published to {topic} (message {id})"),
            Err(e) => tracing::warn!("{e:#}"),
        }
    }
    match output {
        Output::Json => println!("{}", serde_json::to_string_pretty(&rollup)?),
        Output::Human | Output::Markdown => print!("{}", rollup.render_markdown()),
    }
    Ok(ExitCode::from(if rollup.failed() == 0 {
        exit::DONE
    } else {
        exit::FAILED
    }))
}

async fn run_cost(config: &Config, offline: bool, output: Output) -> Result<ExitCode> {
    let aws = crate::aws::Aws::load(&config.region).await;
    // `--offline` is about prices: the stack itself is still read from AWS.
    let identity = aws.identity().await.map_err(|e| match offline {
        true => exit::refuse(format!(
            "{e:#} (cost --offline asks no price API, but still reads the stack from AWS)"
        )),
        false => e,
    })?;
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
