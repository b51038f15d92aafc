//! The GitHub Action face: the same binary, started with no arguments inside
//! Actions (`GITHUB_ACTIONS=true`), reads its `INPUT_*` variables, runs one
//! command, and reports through the job's outputs, summary, annotations, an
//! SNS message and a pull-request comment.
//!
//! Order, as in the CLI: inputs and config, the typed confirmation (before
//! any request), then the work; notifications last. A refusal writes its
//! outputs and annotation and sends nothing to AWS, SNS or GitHub.

pub mod workflow;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;

use crate::config::{Config, ConfigError, GithubComment};
use crate::exit::{self, refuse};
use crate::model::inventory::Phase;
use crate::model::report::{PhaseReport, RunResult};
use crate::notify::{self, github};
use crate::{confirm, teardown, verify};

/// How old a reviewed plan may be: an approval over a weekend still works.
const MAX_PLAN_AGE: std::time::Duration = std::time::Duration::from_secs(7 * 24 * 3600);

/// True when the binary runs as the Action's entrypoint: inside Actions and with no arguments.
pub fn detected() -> bool {
    std::env::var("GITHUB_ACTIONS").as_deref() == Ok("true") && std::env::args_os().len() == 1
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Teardown,
    Plan,
    Verify,
    ScheduleStop,
    ScheduleStart,
    Stacks,
    Rollup,
}

impl Command {
    fn parse(text: &str) -> Result<Command> {
        Ok(match text {
            "teardown" => Command::Teardown,
            "plan" => Command::Plan,
            "verify" => Command::Verify,
            "schedule-stop" => Command::ScheduleStop,
            "schedule-start" => Command::ScheduleStart,
            "stacks" => Command::Stacks,
            "rollup" => Command::Rollup,
            other => {
                return Err(refuse(format!(
                    "input command is {other:?}; use teardown, plan, verify, schedule-stop, schedule-start, stacks or rollup"
                )));
            }
        })
    }

    fn name(self) -> &'static str {
        match self {
            Command::Teardown => "teardown",
            Command::Plan => "plan",
            Command::Verify => "verify",
            Command::ScheduleStop => "schedule-stop",
            Command::ScheduleStart => "schedule-start",
            Command::Stacks => "stacks",
            Command::Rollup => "rollup",
        }
    }
}

/// The Action's inputs, read from `INPUT_<NAME>` (upper case, hyphens kept).
#[derive(Debug, Clone)]
pub struct Inputs {
    pub command: Command,
    pub confirmation: String,
    pub config: PathBuf,
    pub working_directory: PathBuf,
    pub github_token: Option<String>,
    pub pr_number: Option<u64>,
    /// `None`: not given, the config decides.
    pub comment: Option<Option<github::Mode>>,
    pub sns_topic_arn: Option<String>,
    /// `teardown`: a reviewed plan (written by the `plan` command), relative to the workspace.
    pub plan: Option<PathBuf>,
    /// `teardown` with confirmation `expired`: when the stack's reminder went out (Unix seconds).
    pub reminded_at: Option<u64>,
    /// `stacks`: where to look for configs, relative to working-directory.
    pub root: PathBuf,
    /// `stacks`: send the due reminders.
    pub remind: bool,
    /// `rollup`: the listing and the folder of the matrix jobs' reports.
    pub listing: PathBuf,
    pub reports: PathBuf,
}

fn input(name: &str) -> Option<String> {
    std::env::var(format!("INPUT_{}", name.to_uppercase()))
        .ok()
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

impl Inputs {
    pub fn from_env() -> Result<Inputs> {
        let comment = match input("comment").as_deref() {
            None => None,
            Some("update") => Some(Some(github::Mode::Update)),
            Some("new") => Some(Some(github::Mode::New)),
            Some("off") => Some(None),
            Some(other) => return Err(refuse(format!("input comment is {other:?}; use update, new or off"))),
        };
        let pr_number = match input("pr-number") {
            None => None,
            Some(n) => Some(n.parse().map_err(|_| {
                refuse(format!(
                    "input pr-number is {n:?}; give a pull-request number or leave it empty"
                ))
            })?),
        };
        Ok(Inputs {
            command: Command::parse(input("command").as_deref().unwrap_or("teardown"))?,
            confirmation: std::env::var("INPUT_CONFIRMATION").unwrap_or_default(),
            config: input("config")
                .unwrap_or_else(|| crate::config::DEFAULT_PATH.into())
                .into(),
            working_directory: input("working-directory").unwrap_or_else(|| ".".into()).into(),
            github_token: input("github-token"),
            pr_number,
            comment,
            sns_topic_arn: input("sns-topic-arn"),
            plan: input("plan").map(PathBuf::from),
            root: input("root").unwrap_or_else(|| ".".into()).into(),
            remind: input("remind").as_deref() == Some("true"),
            listing: input("listing").unwrap_or_else(|| "sundown-stacks.json".into()).into(),
            reports: input("reports").unwrap_or_else(|| ".".into()).into(),
            reminded_at: match input("reminded-at") {
                None => None,
                Some(at) => Some(crate::clock::parse_utc(&at).ok_or_else(|| {
                    refuse(format!(
                        "input reminded-at is {at:?}; give an RFC 3339 UTC time (2026-12-05T10:00:00Z)"
                    ))
                })?),
            },
        })
    }
}

/// What a finished command hands to the reporting steps.
struct Finished {
    stack: String,
    /// The `comment` input, else the config's `notify.github_comment`.
    comment: Option<github::Mode>,
    code: u8,
    /// The `status` output.
    status: RunResult,
    /// The JSON document written to the `report` output's file.
    json: String,
    markdown: String,
    destroyed: usize,
    /// The `plan-digest` output: the plan written, or the reviewed plan carried out.
    plan_digest: Option<String>,
}

impl Finished {
    /// A command about many stacks (`stacks`, `rollup`): no single stack, no pull-request comment.
    fn of_many(done: Done) -> Finished {
        Finished {
            stack: String::new(),
            comment: None,
            code: done.code,
            status: done.status,
            json: done.json,
            markdown: done.markdown,
            destroyed: 0,
            plan_digest: None,
        }
    }
}

/// Runs the Action; never returns an error, every outcome becomes outputs and an exit code.
pub async fn main() -> ExitCode {
    if let Ok(token) = std::env::var("INPUT_GITHUB-TOKEN") {
        workflow::mask(token.trim());
    }
    let workspace = env("GITHUB_WORKSPACE").map(PathBuf::from).unwrap_or_else(|| ".".into());
    let workspace = std::path::absolute(&workspace).unwrap_or(workspace);
    let result = match Inputs::from_env() {
        Ok(mut inputs) => {
            // The plan file is where the plan command wrote it: the workspace.
            inputs.plan = inputs.plan.take().map(|p| workspace.join(p));
            run(&inputs).await.map(|finished| (inputs, finished))
        }
        Err(e) => Err(e),
    };
    let (code, outputs) = match result {
        Ok((inputs, finished)) => {
            let name = format!("sundown-{}.json", inputs.command.name());
            let report = match std::fs::write(workspace.join(&name), &finished.json) {
                Ok(()) => name,
                Err(e) => {
                    workflow::annotate("warning", "sundown", &format!("cannot write the report {name}: {e}"));
                    String::new()
                }
            };
            summary(&finished.markdown);
            comment(&inputs, &finished).await;
            (
                finished.code,
                [
                    finished.status.status().to_string(),
                    report,
                    finished.destroyed.to_string(),
                    finished.plan_digest.clone().unwrap_or_default(),
                ],
            )
        }
        Err(err) => {
            let code = exit::code_u8(&err);
            annotate_error(&err);
            let status = match code == exit::REFUSED {
                true => RunResult::Refused,
                false => RunResult::Failed,
            }
            .status();
            summary(&format!("### ❌ sundown {status}\n\n{}\n", first_line(&err)));
            (
                code,
                [status.to_string(), String::new(), "0".to_string(), String::new()],
            )
        }
    };
    if let Some(file) = env("GITHUB_OUTPUT") {
        let [status, report, destroyed, plan_digest] = outputs;
        let written = workflow::write_outputs(
            Path::new(&file),
            &[
                ("status", status),
                ("report", report),
                ("destroyed", destroyed),
                ("plan-digest", plan_digest),
            ],
        );
        if let Err(e) = written {
            workflow::annotate("error", "sundown", &format!("{e:#}"));
        }
    }
    ExitCode::from(code)
}

fn first_line(err: &anyhow::Error) -> String {
    format!("{err:#}").lines().next().unwrap_or_default().to_string()
}

fn annotate_error(err: &anyhow::Error) {
    if let Some(c) = err.chain().find_map(|e| e.downcast_ref::<ConfigError>()) {
        workflow::annotate_file("error", &c.file, c.line, c.column, &c.to_string());
    } else {
        workflow::annotate("error", "sundown", &first_line(err));
    }
}

fn summary(markdown: &str) {
    if let Some(file) = env("GITHUB_STEP_SUMMARY")
        && let Err(e) = workflow::write_summary(Path::new(&file), markdown)
    {
        workflow::annotate("warning", "sundown", &format!("{e:#}"));
    }
}

async fn run(inputs: &Inputs) -> Result<Finished> {
    std::env::set_current_dir(&inputs.working_directory).map_err(|e| {
        refuse(format!(
            "input working-directory {}: {e}; give a directory inside the repository",
            inputs.working_directory.display()
        ))
    })?;
    if inputs.command == Command::Stacks {
        return run_stacks(inputs).await;
    }
    if inputs.command == Command::Rollup {
        return run_rollup(inputs).await;
    }
    let config = Config::load(&inputs.config)?;
    let expired = inputs.confirmation.trim() == EXPIRED;
    if inputs.command == Command::Teardown && expired && inputs.reminded_at.is_none() {
        return Err(refuse(
            "the confirmation input is \"expired\" without reminded-at; the expiry workflow passes the time of the stack's reminder",
        ));
    }
    if inputs.command == Command::Teardown && !expired && inputs.confirmation.trim() != confirm::PHRASE {
        let given = inputs.confirmation.trim();
        let what = if given.is_empty() {
            "is empty".to_string()
        } else {
            format!("is {given:?}, not {:?}", confirm::PHRASE)
        };
        return Err(refuse(format!(
            "the confirmation input {what}; nothing was touched. Run the workflow again and type {}",
            confirm::PHRASE
        )));
    }
    let done = match inputs.command {
        Command::Teardown => run_teardown(&config, inputs).await?,
        Command::Plan => run_plan(&config).await?,
        Command::Verify => run_verify(&config).await?,
        Command::ScheduleStop => run_schedule(&config, crate::schedule::Action::Stop).await?,
        Command::ScheduleStart => run_schedule(&config, crate::schedule::Action::Start).await?,
        Command::Stacks | Command::Rollup => unreachable!("run before the config is read"),
    };
    let comment = inputs.comment.unwrap_or(match config.notify.github_comment {
        GithubComment::Update => Some(github::Mode::Update),
        GithubComment::New => Some(github::Mode::New),
        GithubComment::Off => None,
    });
    Ok(Finished {
        stack: config.stack,
        comment,
        code: done.code,
        status: done.status,
        json: done.json,
        markdown: done.markdown,
        destroyed: done.destroyed,
        plan_digest: done.plan_digest,
    })
}

/// What a command hands back: its exit code, the `status` output, its JSON
/// report, markdown and count of deleted resources.
struct Done {
    code: u8,
    status: RunResult,
    json: String,
    markdown: String,
    destroyed: usize,
    plan_digest: Option<String>,
}

impl Done {
    fn new(code: u8, json: String, markdown: String) -> Done {
        Done {
            code,
            status: match code == exit::DONE {
                true => RunResult::Succeeded,
                false => RunResult::Failed,
            },
            json,
            markdown,
            destroyed: 0,
            plan_digest: None,
        }
    }
}

/// Wraps the phases' log lines in groups, one opened as each phase starts,
/// and annotates their errors. GitHub's groups cannot overlap: a phase that
/// starts while another still waits (`teardown.order: overlapped`) closes
/// the open group and opens its own, where the earlier phase's lines go on,
/// each prefixed with its phase; the last group closes when no phase runs.
#[derive(Default)]
struct Groups {
    running: std::sync::Mutex<Vec<Phase>>,
}

impl teardown::Progress for Groups {
    fn started(&self, phase: Phase) {
        let mut running = self.running.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if !running.is_empty() {
            workflow::end_group();
        }
        workflow::group(&format!("sundown: {}", phase.name()));
        if !running.is_empty() {
            let waiting: Vec<&str> = running.iter().map(|p| p.name()).collect();
            println!(
                "{}: started while {} waits (each line names its phase)",
                phase.name(),
                waiting.join(", ")
            );
        }
        running.push(phase);
    }

    fn finished(&self, report: &PhaseReport) {
        println!(
            "{}: {} (found {}, deleted {}, kept {}, failed {})",
            report.phase.name(),
            report.status.name(),
            report.found,
            report.deleted,
            report.kept,
            report.failed
        );
        let mut running = self.running.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        running.retain(|p| *p != report.phase);
        if running.is_empty() {
            workflow::end_group();
        }
        drop(running);
        if !report.ok() {
            let level = if report.status == crate::model::report::PhaseStatus::Skipped {
                "warning"
            } else {
                "error"
            };
            for e in &report.errors {
                workflow::annotate(level, &format!("sundown {}", report.phase.name()), e);
            }
        }
    }
}

/// The confirmation input of the expiry workflow: the stack's lifetime confirms it (`confirm::check_lifetime`).
const EXPIRED: &str = "expired";

async fn run_teardown(config: &Config, inputs: &Inputs) -> Result<Done> {
    let expired = (inputs.confirmation.trim() == EXPIRED)
        .then_some(inputs.reminded_at)
        .flatten()
        .map(|reminded_at| confirm::Expiry {
            config_path: inputs.config.clone(),
            reminded_at,
        });
    let request = teardown::Request {
        confirm: expired.is_none().then(|| confirm::PHRASE.to_string()),
        expired,
        interactive: false,
        progress: &Groups::default(),
        plan: inputs.plan.clone(),
        max_plan_age: MAX_PLAN_AGE,
    };
    let report = teardown::run(config, request).await?;
    print!("{}", report.render_human());
    match notify::sns_after_teardown(config, inputs.sns_topic_arn.as_deref(), &report).await {
        Ok(Some(id)) => println!("notify: SNS message {id}"),
        Ok(None) => {}
        Err(e) => workflow::annotate("warning", "sundown notify", &format!("{e:#}")),
    }
    let code = if report.succeeded() { exit::DONE } else { exit::FAILED };
    let mut done = Done::new(code, json(&report)?, report.render_markdown());
    done.destroyed = report.deleted();
    if report.result == RunResult::Interrupted {
        done.status = RunResult::Interrupted;
    }
    done.plan_digest = report.plan_digest.clone();
    Ok(done)
}

/// `stacks`: every stack under `root` (no single config), its reminders with
/// `remind`; the document (`sundown-stacks.json`) holds the expiry matrix.
async fn run_stacks(inputs: &Inputs) -> Result<Finished> {
    let topic = inputs.sns_topic_arn.as_deref().filter(|_| inputs.remind);
    let repo = match inputs.remind {
        true => Some(crate::notify::reminder::Repo::from_env(inputs.github_token.clone())?),
        false => None,
    };
    let stacks = crate::stacks::list(&inputs.root, false, repo, topic, crate::clock::now()).await?;
    print!("{}", stacks.render_human());
    for s in stacks.stacks.iter().filter(|s| s.error.is_some()) {
        workflow::annotate(
            "error",
            &format!("sundown stacks {}", s.config),
            s.error.as_deref().unwrap_or_default(),
        );
    }
    let code = if stacks.errors() == 0 { exit::DONE } else { exit::FAILED };
    Ok(Finished::of_many(Done::new(
        code,
        json(&stacks)?,
        stacks.render_markdown(),
    )))
}

/// `rollup`: one summary of an expiry run (job summary, SNS to `sns-topic-arn`).
async fn run_rollup(inputs: &Inputs) -> Result<Finished> {
    let rollup = crate::rollup::build(&inputs.listing, &inputs.reports)?;
    if let Some(topic) = &inputs.sns_topic_arn {
        match crate::rollup::publish(&rollup, topic).await {
            Ok(id) => println!("notify: SNS message {id}"),
            Err(e) => workflow::annotate("warning", "sundown rollup", &format!("{e:#}")),
        }
    }
    let markdown = rollup.render_markdown();
    print!("{markdown}");
    let code = if rollup.failed() == 0 { exit::DONE } else { exit::FAILED };
    Ok(Finished::of_many(Done::new(code, json(&rollup)?, markdown)))
}

async fn run_plan(config: &Config) -> Result<Done> {
    let plan = crate::plan::run(config).await?;
    print!("{}", plan.render_human());
    let code = if plan.has_errors() { exit::FAILED } else { exit::DONE };
    let mut done = Done::new(code, json(&plan)?, plan.render_markdown());
    done.plan_digest = Some(plan.digest.clone());
    Ok(done)
}

async fn run_verify(config: &Config) -> Result<Done> {
    let result = verify::run(config, &[], false).await?;
    print!("{}", result.render_human());
    for c in &result.checks {
        let level = match c.status {
            crate::checks::Status::Fail | crate::checks::Status::Error => "error",
            crate::checks::Status::Warn => "warning",
            _ => continue,
        };
        let mut message = c.evidence.join("; ");
        if let Some(fix) = &c.fix {
            message.push_str(&format!(". Fix: {fix}"));
        }
        workflow::annotate(level, &format!("sundown verify {}", c.id.id()), &message);
    }
    let code = if result.passed() { exit::DONE } else { exit::FAILED };
    Ok(Done::new(code, json(&result)?, result.render_markdown()))
}

async fn run_schedule(config: &Config, action: crate::schedule::Action) -> Result<Done> {
    let aws = crate::aws::Aws::load(&config.region).await;
    // A workflow run by its `schedule:` trigger is the schedule's rule; any other is a person's.
    let trigger = if env("GITHUB_EVENT_NAME").as_deref() == Some("schedule") {
        crate::schedule::Trigger::Rule
    } else {
        crate::schedule::Trigger::Hand
    };
    let outcome = crate::schedule::run(config, &aws, action, trigger).await?;
    print!("{}", outcome.render_human());
    if let Err(e) = crate::notify::sns_after_schedule(config, &aws, &outcome).await {
        workflow::annotate("warning", "sundown notify", &format!("{e:#}"));
    }
    for e in &outcome.errors {
        workflow::annotate("error", &format!("sundown schedule {}", action.name()), e);
    }
    let code = if outcome.succeeded() { exit::DONE } else { exit::FAILED };
    Ok(Done::new(code, json(&outcome)?, outcome.render_markdown()))
}

fn json(value: &impl serde::Serialize) -> Result<String> {
    Ok(serde_json::to_string_pretty(value)? + "\n")
}

/// The pull-request number: the input, else the event's `pull_request.number` or `issue.number`.
fn pr_number(inputs: &Inputs) -> Option<u64> {
    if inputs.pr_number.is_some() {
        return inputs.pr_number;
    }
    let text = std::fs::read_to_string(env("GITHUB_EVENT_PATH")?).ok()?;
    let event: serde_json::Value = serde_json::from_str(&text).ok()?;
    event
        .pointer("/pull_request/number")
        .or_else(|| event.pointer("/issue/number"))
        .and_then(serde_json::Value::as_u64)
}

async fn comment(inputs: &Inputs, finished: &Finished) {
    let Some(mode) = finished.comment else { return };
    let Some(number) = pr_number(inputs) else {
        workflow::annotate(
            "notice",
            "sundown",
            "no pull request in the event and no pr-number input; the comment is skipped",
        );
        return;
    };
    let target = (|| {
        Some(github::Target {
            api_url: env("GITHUB_API_URL").unwrap_or_else(|| "https://api.github.com".into()),
            repository: env("GITHUB_REPOSITORY")?,
            number,
            token: inputs.github_token.clone()?,
        })
    })();
    let Some(target) = target else {
        workflow::annotate(
            "warning",
            "sundown",
            "GITHUB_REPOSITORY or the github-token input is missing; the comment is skipped",
        );
        return;
    };
    match github::post(&target, &finished.stack, &finished.markdown, mode).await {
        Ok(github::Posted::Created(id)) => println!("comment: created {id} on #{number}"),
        Ok(github::Posted::Updated(id)) => println!("comment: updated {id} on #{number}"),
        Err(e) => workflow::annotate("warning", "sundown comment", &format!("{e:#}")),
    }
}
