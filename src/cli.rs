//! Command-line arguments (clap derive); the doc comments are the help text.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

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
    },
    /// Off-hours: scale node groups to 0 and delete endpoints (stop), or restore them (start)
    Schedule {
        #[arg(value_enum)]
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ScheduleAction {
    /// Remember each node group's scaling and scale it to 0; remember each endpoint's config and delete the endpoint
    Stop,
    /// Restore the remembered scaling and recreate the endpoints from their configs
    Start,
}
