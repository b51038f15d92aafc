//! The pull-request comment, through octocrab.
//!
//! Each comment carries a hidden marker per stack, so `update` finds the
//! comment an earlier run wrote (the newest one with the marker written by
//! the same account) and edits it. Each body also carries a marker unique to
//! this attempt: when creating a comment fails in a way that may have
//! reached GitHub (a 5xx, a timeout, a dropped connection), sundown lists
//! the comments again and finds its own before trying again, so a retried
//! request never leaves two comments.

use std::time::Duration;

use anyhow::{Context, Result};
use octocrab::Octocrab;
use serde::Deserialize;

/// GitHub rejects comment bodies longer than this many characters.
pub const BODY_LIMIT: usize = 65_536;
/// Login of the workflow's GITHUB_TOKEN, which may not read `GET /user`.
pub const ACTIONS_BOT: &str = "github-actions[bot]";
const ATTEMPTS: u32 = 4;
const PAGE: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Edit the newest comment of this stack written by the same account, else create one.
    Update,
    /// Always create a comment.
    New,
}

/// Where the comment goes.
#[derive(Debug, Clone)]
pub struct Target {
    /// `GITHUB_API_URL`, e.g. `https://api.github.com` or `https://ghe.example.com/api/v3`.
    pub api_url: String,
    /// `owner/name`.
    pub repository: String,
    pub number: u64,
    pub token: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Posted {
    Created(u64),
    Updated(u64),
}

#[derive(Debug, Deserialize)]
struct Comment {
    id: u64,
    #[serde(default)]
    body: Option<String>,
    user: Option<User>,
}

#[derive(Debug, Deserialize)]
struct User {
    login: String,
}

/// The hidden marker that identifies a stack's comment.
pub fn marker(stack: &str) -> String {
    format!("<!-- sundown:stack={stack} -->")
}

/// Creates or updates the stack's comment with `markdown`.
pub async fn post(target: &Target, stack: &str, markdown: &str, mode: Mode) -> Result<Posted> {
    let octo = client(&target.api_url, &target.token)?;
    let attempt = format!("<!-- sundown:attempt={} -->", crate::text::random_hex(8));
    let stack_marker = marker(stack);
    let body = compose(&stack_marker, &attempt, markdown);
    let comments = format!("/repos/{}/issues/{}/comments", target.repository, target.number);

    if mode == Mode::Update {
        let login = current_login(&octo).await;
        let existing = list(&octo, &comments)
            .await?
            .into_iter()
            .filter(|c| c.body.as_deref().is_some_and(|b| b.contains(&stack_marker)))
            .filter(|c| c.user.as_ref().is_some_and(|u| u.login == login))
            .max_by_key(|c| c.id);
        if let Some(comment) = existing {
            let route = format!("/repos/{}/issues/comments/{}", target.repository, comment.id);
            let payload = serde_json::json!({ "body": body });
            retry("updating the pull-request comment", || async {
                octo.patch::<Comment, _, _>(&route, Some(&payload)).await
            })
            .await?;
            return Ok(Posted::Updated(comment.id));
        }
    }
    create(&octo, &comments, &body, &attempt).await.map(Posted::Created)
}

/// A GitHub client for `api_url` with `token`, its waits bounded.
pub fn client(api_url: &str, token: &str) -> Result<Octocrab> {
    Octocrab::builder()
        .base_uri(api_url.trim_end_matches('/'))
        .with_context(|| format!("GITHUB_API_URL {api_url:?} is not a URL"))?
        .personal_token(token.to_owned())
        .set_connect_timeout(Some(Duration::from_secs(10)))
        .set_read_timeout(Some(Duration::from_secs(30)))
        .build()
        .context("building the GitHub client")
}

/// Every item of a paginated GitHub listing at `route` (which has no query yet), oldest first.
pub async fn every<T: serde::de::DeserializeOwned>(octo: &Octocrab, route: &str, what: &str) -> Result<Vec<T>> {
    let mut all = Vec::new();
    let join = if route.contains('?') { '&' } else { '?' };
    for page in 1.. {
        let url = format!("{route}{join}per_page={PAGE}&page={page}");
        let batch: Vec<T> = retry(what, || async { octo.get::<Vec<T>, _, ()>(&url, None).await }).await?;
        let done = batch.len() < PAGE;
        all.extend(batch);
        if done {
            break;
        }
    }
    Ok(all)
}

/// Creates the comment; after a failure that may have reached GitHub, looks
/// for this attempt's marker before sending again.
async fn create(octo: &Octocrab, route: &str, body: &str, attempt: &str) -> Result<u64> {
    let payload = serde_json::json!({ "body": body });
    let mut last = None;
    for n in 1..=ATTEMPTS {
        if n > 1 {
            tokio::time::sleep(backoff(n)).await;
            if let Some(c) = list(octo, route)
                .await?
                .into_iter()
                .find(|c| c.body.as_deref().is_some_and(|b| b.contains(attempt)))
            {
                tracing::debug!("the earlier attempt created comment {} after all", c.id);
                return Ok(c.id);
            }
        }
        match octo.post::<_, Comment>(route, Some(&payload)).await {
            Ok(c) => return Ok(c.id),
            Err(e) if !transient(&e) => return Err(github_error("creating the pull-request comment", &e)),
            Err(e) => {
                tracing::debug!("creating the comment, attempt {n}: {}", error_text(&e));
                last = Some(e);
            }
        }
    }
    Err(github_error(
        "creating the pull-request comment",
        &last.expect("at least one attempt failed"),
    ))
}

/// Every comment of the pull request, oldest first.
async fn list(octo: &Octocrab, route: &str) -> Result<Vec<Comment>> {
    every(octo, route, "listing the pull-request comments").await
}

/// The token's login; `GET /user` is refused to the workflow token, whose login is fixed.
async fn current_login(octo: &Octocrab) -> String {
    match octo.get::<User, _, ()>("/user", None).await {
        Ok(user) => user.login,
        Err(e) => {
            tracing::debug!("GET /user: {}; assuming {ACTIONS_BOT}", error_text(&e));
            ACTIONS_BOT.to_string()
        }
    }
}

/// Retries an idempotent request on transient errors.
pub async fn retry<T, F, Fut>(what: &str, mut call: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = octocrab::Result<T>>,
{
    let mut n = 1;
    loop {
        match call().await {
            Ok(v) => return Ok(v),
            Err(e) if transient(&e) && n < ATTEMPTS => {
                tracing::debug!("{what}, attempt {n}: {}", error_text(&e));
                n += 1;
                tokio::time::sleep(backoff(n)).await;
            }
            Err(e) => return Err(github_error(what, &e)),
        }
    }
}

fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(250 * 2u64.pow(attempt.saturating_sub(2)))
}

/// 5xx, 429 and transport errors may succeed later; other 4xx will not.
fn transient(e: &octocrab::Error) -> bool {
    match e {
        octocrab::Error::GitHub { source, .. } => {
            source.status_code.is_server_error() || source.status_code.as_u16() == 429
        }
        octocrab::Error::Hyper { .. } | octocrab::Error::Service { .. } => true,
        _ => false,
    }
}

fn error_text(e: &octocrab::Error) -> String {
    match e {
        octocrab::Error::GitHub { source, .. } => {
            let message: String = source.message.chars().take(200).collect();
            format!("HTTP {}: {}", source.status_code.as_u16(), message.trim())
        }
        other => other.to_string().lines().next().unwrap_or_default().to_string(),
    }
}

fn github_error(what: &str, e: &octocrab::Error) -> anyhow::Error {
    let hint = match e {
        octocrab::Error::GitHub { source, .. } if matches!(source.status_code.as_u16(), 401 | 403) => {
            "; the token needs `pull-requests: write` (set `permissions:` in the workflow)"
        }
        _ => "",
    };
    anyhow::anyhow!("{what}: {}{hint}", error_text(e))
}

/// The comment body: markers, then the markdown cut to GitHub's limit.
fn compose(stack_marker: &str, attempt: &str, markdown: &str) -> String {
    let head = format!("{stack_marker}\n{attempt}\n");
    let note = "\n\n_(report truncated: GitHub comments hold at most 65,536 characters; the full report is in the run's job summary)_\n";
    let room = BODY_LIMIT - head.chars().count();
    let body = if markdown.chars().count() <= room {
        markdown.to_string()
    } else {
        let keep = room - note.chars().count();
        markdown.chars().take(keep).collect::<String>() + note
    };
    head + &body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_over_the_limit_are_cut_with_a_note() {
        let body = compose(&marker("s"), "<!-- a -->", &"é".repeat(BODY_LIMIT));
        assert_eq!(body.chars().count(), BODY_LIMIT);
        assert!(body.starts_with("<!-- sundown:stack=s -->\n<!-- a -->\n"));
        assert!(body.contains("report truncated"));
        let body = compose(&marker("s"), "<!-- a -->", "short");
        assert!(body.ends_with("\nshort"));
    }
}
