//! `sundown verify`: runs the cost checks concurrently and reports each with
//! its evidence and fix. One failing or erroring check never hides another.
//! Read-only, like `plan`.

use std::fmt::Write as _;
use std::time::Instant;

use anyhow::Result;
use futures_util::future::join_all;
use serde::Serialize;

use crate::aws::Aws;
use crate::checks::{self, CheckId, Context, Status};
use crate::config::Config;
use crate::exit::refuse;

pub const SCHEMA: &str = "sundown.verify/v1";

#[derive(Debug, Serialize)]
pub struct CheckResult {
    pub id: CheckId,
    pub title: &'static str,
    pub status: Status,
    pub evidence: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
    pub duration_seconds: f64,
}

#[derive(Debug, Serialize)]
pub struct Verification {
    pub schema: &'static str,
    pub stack: String,
    pub region: String,
    pub account: String,
    pub duration_seconds: f64,
    pub checks: Vec<CheckResult>,
}

/// The ids to run: `selected` (validated); else, after a teardown, only the
/// sweep (the cost checks have nothing left to look at); else every cost check.
pub fn select(selected: &[String], after_teardown: bool) -> Result<Vec<CheckId>> {
    if selected.is_empty() {
        return Ok(CheckId::ALL
            .into_iter()
            .filter(|c| after_teardown == (*c == CheckId::TeardownNothingLeft))
            .collect());
    }
    selected
        .iter()
        .map(|want| {
            CheckId::from_id(want).ok_or_else(|| {
                let ids: Vec<&str> = CheckId::ALL.iter().map(|c| c.id()).collect();
                refuse(format!("unknown check {want:?}; choose from {}", ids.join(", ")))
            })
        })
        .collect()
}

pub async fn run(config: &Config, selected: &[String], after_teardown: bool) -> Result<Verification> {
    let chosen = select(selected, after_teardown)?;
    let aws = Aws::load(&config.region).await;
    let identity = aws.identity().await?;
    let cx = Context {
        config,
        aws: &aws,
        identity: &identity,
    };
    let started = Instant::now();
    let results = join_all(chosen.into_iter().map(|id| {
        let cx = &cx;
        async move {
            let start = Instant::now();
            let (status, evidence, fix) = match checks::run(id, cx).await {
                Ok(f) => (f.status, f.evidence, f.fix),
                Err(e) => {
                    let error = format!("{e:#}");
                    let fix = error_fix(&error);
                    (Status::Error, vec![error], Some(fix))
                }
            };
            CheckResult {
                id,
                title: id.title(),
                status,
                evidence,
                fix,
                duration_seconds: start.elapsed().as_secs_f64(),
            }
        }
    }))
    .await;
    Ok(Verification {
        schema: SCHEMA,
        stack: config.stack.clone(),
        region: config.region.clone(),
        account: identity.account,
        duration_seconds: started.elapsed().as_secs_f64(),
        checks: results,
    })
}

/// The fix shown for a check whose API call failed: which call, and for a
/// refusal the policy that allows it. The checks name their calls as
/// `service Operation [resource]: AWS's code: message` (`aws::describe`).
/// A 403 with a code is judged by its code (an expired or invalid key is a
/// 403 too, and no policy fixes it); one without a code, as S3 answers a
/// refused HEAD request, can only be a refusal.
fn error_fix(error: &str) -> String {
    let call = error.split(": ").next().filter(|call| {
        let mut words = call.split_whitespace();
        let service = words
            .next()
            .is_some_and(|w| w.starts_with(|c: char| c.is_ascii_lowercase()));
        service
            && words
                .next()
                .is_some_and(|w| w.starts_with(|c: char| c.is_ascii_uppercase()))
    });
    let refused = [
        "AccessDenied",
        "UnauthorizedOperation",
        "UnauthorizedAccess",
        "AuthorizationError",
        "not authorized",
        "HTTP 403",
    ]
    .iter()
    .any(|sign| error.contains(sign));
    let call = call.map_or_else(|| "an API call".to_owned(), |c| format!("`{c}`"));
    if refused {
        format!(
            "AWS refused {call}: give the role verify runs as the policy `sundown iam-policy --for read-only` prints"
        )
    } else {
        format!(
            "{call} failed with the error above; run verify again, and if it persists check the region and the credentials' account"
        )
    }
}

impl Verification {
    /// Passing means no check failed or errored; warnings are allowed.
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|c| c.status <= Status::Warn)
    }

    fn count(&self, status: Status) -> usize {
        self.checks.iter().filter(|c| c.status == status).count()
    }

    fn summary(&self) -> String {
        format!(
            "{} pass, {} warn, {} fail, {} error",
            self.count(Status::Pass),
            self.count(Status::Warn),
            self.count(Status::Fail),
            self.count(Status::Error)
        )
    }

    pub fn render_human(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "Verify {} in account {} ({})\n",
            self.stack, self.account, self.region
        );
        for c in &self.checks {
            let _ = writeln!(
                out,
                "{:<5} {:<24} {}",
                c.status.name().to_uppercase(),
                c.id.id(),
                c.title
            );
            for e in &c.evidence {
                let _ = writeln!(out, "      {e}");
            }
            if let Some(fix) = &c.fix {
                let _ = writeln!(out, "      fix: {fix}");
            }
        }
        let _ = writeln!(out, "\n{} in {:.1}s.", self.summary(), self.duration_seconds);
        out
    }

    pub fn render_markdown(&self) -> String {
        let mut out = String::new();
        let icon = if self.passed() { "✅" } else { "❌" };
        let _ = writeln!(
            out,
            "### {icon} sundown verify of `{}`: {}\n",
            self.stack,
            self.summary()
        );
        let _ = writeln!(out, "| check | status | evidence | fix |");
        let _ = writeln!(out, "| --- | --- | --- | --- |");
        for c in &self.checks {
            let cell = |s: &str| s.replace('|', "\\|").replace('\n', " ");
            let evidence: Vec<String> = c.evidence.iter().map(|e| cell(e)).collect();
            let _ = writeln!(
                out,
                "| `{}` {} | {} | {} | {} |",
                c.id.id(),
                cell(c.title),
                c.status.name(),
                evidence.join("<br>"),
                c.fix.as_deref().map(cell).unwrap_or_default()
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::error_fix;

    #[test]
    fn a_failed_call_is_named_and_a_refusal_points_at_the_policy() {
        let refused = error_fix("budgets DescribeBudgets: AccessDeniedException: User is not authorized");
        assert_eq!(
            refused,
            "AWS refused `budgets DescribeBudgets`: give the role verify runs as the policy `sundown iam-policy --for read-only` prints"
        );
        let failed = error_fix("s3 GetBucketLifecycleConfiguration retail-forecast-data: InternalError: boom");
        assert!(
            failed.starts_with("`s3 GetBucketLifecycleConfiguration retail-forecast-data` failed"),
            "{failed}"
        );
        assert!(!failed.contains("iam-policy"), "{failed}");
        assert!(!failed.contains("emulator"), "{failed}");
        assert!(error_fix("operation timed out").starts_with("an API call failed"));
        for refusal in [
            "AccessDenied: Access Denied",
            "AccessDeniedException: User: arn:aws:iam::123456789012:user/ci is not authorized to perform: budgets:ViewBudget",
            "UnauthorizedOperation: You are not authorized to perform this operation.",
            "HTTP 403 with no error code",
        ] {
            let fix = error_fix(&format!("s3 HeadBucket retail-forecast-data: {refusal}"));
            assert_eq!(
                fix,
                "AWS refused `s3 HeadBucket retail-forecast-data`: give the role verify runs as the policy `sundown iam-policy --for read-only` prints",
                "{refusal}"
            );
        }
        // A 403 for the credentials themselves is no policy's to fix.
        let expired = error_fix(
            "sagemaker ListTrainingJobs: ExpiredTokenException: The security token included in the request is expired",
        );
        assert!(!expired.contains("iam-policy"), "{expired}");
    }
}
