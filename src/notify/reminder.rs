//! The expiry reminder of one stack: a GitHub issue kept per stack (found by
//! its hidden marker among the open issues, created when missing) that gets
//! one comment per `expires_at` (found by its marker, so hourly runs post it
//! once), sent with an SNS message. The comment's time is when the reminder
//! was delivered: `teardown --expired` waits `remind_before` from it. The SNS
//! message goes first: a run that fails between the two sends it again next
//! hour, which is better than a reminder never sent.

use anyhow::{Context, Result, anyhow};
use serde::Deserialize;

use crate::clock::rfc3339;

/// The repository that keeps the stacks' issues, from the workflow's environment.
#[derive(Debug, Clone)]
pub struct Repo {
    pub api_url: String,
    /// `owner/name`.
    pub repository: String,
    pub token: String,
}

impl Repo {
    /// `GITHUB_API_URL` (default `https://api.github.com`), `GITHUB_REPOSITORY`, and `token`
    /// (the Action's github-token input), else `GITHUB_TOKEN`.
    pub fn from_env(token: Option<String>) -> Result<Repo> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let (Some(repository), Some(token)) = (var("GITHUB_REPOSITORY"), token.or_else(|| var("GITHUB_TOKEN"))) else {
            return Err(crate::exit::refuse(
                "--remind needs GITHUB_REPOSITORY and GITHUB_TOKEN (the workflow's token, with `issues: write`)",
            ));
        };
        Ok(Repo {
            api_url: var("GITHUB_API_URL").unwrap_or_else(|| "https://api.github.com".to_owned()),
            repository,
            token,
        })
    }
}

/// What a reminder says, for one stack.
#[derive(Debug, Clone)]
pub struct Due<'a> {
    pub stack: &'a str,
    pub account: &'a str,
    pub region: &'a str,
    /// The config's path, for the pull request that extends it.
    pub config: &'a str,
    pub expires_at: u64,
    pub remind_before: std::time::Duration,
    pub usd_per_day: Option<f64>,
}

/// A reminder that is out: on which issue, and since when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivered {
    pub issue: u64,
    /// When it was delivered (the comment's time), Unix seconds.
    pub reminded_at: u64,
    /// Posted by this run (else found from an earlier one).
    pub posted: bool,
}

#[derive(Debug, Deserialize)]
struct Issue {
    number: u64,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    pull_request: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
struct Comment {
    #[serde(default)]
    body: Option<String>,
    created_at: String,
}

/// The hidden marker of a stack's issue.
pub fn issue_marker(stack: &str, account: &str) -> String {
    format!("<!-- sundown:lifetime stack={stack} account={account} -->")
}

/// The hidden marker of the reminder for one `expires_at`.
fn reminder_marker(expires_at: u64) -> String {
    format!("<!-- sundown:reminder expires_at={} -->", rfc3339(expires_at))
}

/// Makes sure the reminder for `due` is out, once; returns when it was delivered.
pub async fn remind(
    repo: &Repo,
    sns: Option<(&aws_sdk_sns::Client, &str)>,
    due: &Due<'_>,
    now: u64,
) -> Result<Delivered> {
    let octo = super::github::client(&repo.api_url, &repo.token)?;
    let issue = stack_issue(&octo, repo, due).await?;
    let comments_route = format!("/repos/{}/issues/{issue}/comments", repo.repository);
    let marker = reminder_marker(due.expires_at);
    let comments: Vec<Comment> =
        super::github::every(&octo, &comments_route, "listing the stack issue's comments").await?;
    if let Some(c) = comments
        .iter()
        .find(|c| c.body.as_deref().is_some_and(|b| b.contains(&marker)))
    {
        let reminded_at = crate::clock::parse_utc(&c.created_at)
            .ok_or_else(|| anyhow!("GitHub's comment time {:?} is not a time", c.created_at))?;
        return Ok(Delivered {
            issue,
            reminded_at,
            posted: false,
        });
    }
    let text = message(due, now);
    if let Some((client, topic)) = sns {
        let message = super::sns::Message::new(due.stack, "lifetime", "expiring", text.clone());
        super::sns::publish(client, topic, &message).await?;
    }
    let payload = serde_json::json!({ "body": format!("{marker}\n{text}") });
    let created: Comment = octo
        .post(&comments_route, Some(&payload))
        .await
        .map_err(|e| anyhow!("commenting on issue #{issue}: {e}; the token needs `issues: write`"))?;
    let reminded_at = crate::clock::parse_utc(&created.created_at).unwrap_or(now);
    tracing::info!("stacks: reminded {} on issue #{issue}", due.stack);
    Ok(Delivered {
        issue,
        reminded_at,
        posted: true,
    })
}

/// The stack's open issue, by its marker; created when there is none.
async fn stack_issue(octo: &octocrab::Octocrab, repo: &Repo, due: &Due<'_>) -> Result<u64> {
    let marker = issue_marker(due.stack, due.account);
    let route = format!("/repos/{}/issues?state=open", repo.repository);
    let open: Vec<Issue> = super::github::every(octo, &route, "listing the open issues").await?;
    if let Some(issue) = open
        .iter()
        .find(|i| i.pull_request.is_none() && i.body.as_deref().is_some_and(|b| b.contains(&marker)))
    {
        return Ok(issue.number);
    }
    let payload = serde_json::json!({
        "title": format!("sundown: stack {} in account {} has a lifetime", due.stack, due.account),
        "body": format!(
            "{marker}\nStack `{}` in account {} ({}) is torn down by the expiry workflow once `lifetime.expires_at` in `{}` has passed. \
             Reminders and the teardown's result are posted here.",
            due.stack, due.account, due.region, due.config
        ),
    });
    let created: Issue = octo
        .post(format!("/repos/{}/issues", repo.repository), Some(&payload))
        .await
        .map_err(|e| anyhow!("creating the stack's issue: {e}; the token needs `issues: write`"))
        .context("the expiry reminder")?;
    Ok(created.number)
}

/// The reminder's text: when the stack goes, what it costs, how to keep it.
pub fn message(due: &Due<'_>, now: u64) -> String {
    let per_day = due
        .usd_per_day
        .map_or("an unpriced amount".to_owned(), |u| format!("${u:.2}"));
    let when = if due.expires_at > now {
        format!(
            "is torn down at {} (in {})",
            rfc3339(due.expires_at),
            crate::text::short_duration(std::time::Duration::from_secs(due.expires_at - now))
        )
    } else {
        format!(
            "expired at {}; it is torn down from {} on, {} after this reminder",
            rfc3339(due.expires_at),
            rfc3339(now + due.remind_before.as_secs()),
            crate::text::short_duration(due.remind_before)
        )
    };
    format!(
        "Stack `{}` in account {} ({}) {when}, by the hourly expiry workflow. It runs {per_day} a day.\n\n\
         To keep it, open a pull request that changes `lifetime.expires_at` in `{}`; to let it go, do nothing.",
        due.stack, due.account, due.region, due.config
    )
}
