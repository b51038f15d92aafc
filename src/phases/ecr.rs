//! Phase 3: every image in the configured ECR repositories, deleted from
//! what `discover::ecr` read. The repositories themselves are left for
//! `terraform destroy`. A repository carrying the protect tag keeps its images.

use std::collections::BTreeSet;

use anyhow::{Result, anyhow};
use aws_sdk_ecr::Client;
use aws_sdk_ecr::types::ImageIdentifier;
use futures_util::{StreamExt, stream};

use crate::aws::CONCURRENCY;
use crate::aws::{code, describe};
use crate::config::{self, Protect};
use crate::discover::ecr::{Repo, discover, list_image_ids};
use crate::model::inventory::{Kind, Phase};
use crate::model::report::{Outcome, PhaseReport, ResourceOutcome};
use crate::model::reviewed::{DRIFT, Reviewed};
use crate::order::Turn;

/// AWS's limit on image ids per BatchDeleteImage call (the emulator does not enforce it).
pub const BATCH_LIMIT: usize = 100;

/// Deletes every image of each configured repository, in batches of at most
/// 100 digests, then, once the phases `before` it are complete (nothing of
/// the stack is left to push), re-lists to prove the repository is empty;
/// images pushed since the inventory (`known`, read before the first
/// deletion, else a new discovery) show up there and go too. With a reviewed plan, only the
/// digests it lists: an image pushed since is drift, left in place and
/// reported.
pub async fn teardown(
    ecr: &Client,
    cfg: &config::Ecr,
    protect: &Protect,
    reviewed: Option<&Reviewed>,
    known: Option<Vec<Repo>>,
    before: &Turn,
) -> PhaseReport {
    let mut report = PhaseReport::new(Phase::Ecr);
    let repos = match known {
        Some(repos) => Ok(repos),
        None => discover(ecr, cfg, protect).await,
    };
    let repos = match repos {
        Ok(repos) => repos,
        Err(e) => {
            report.fail(format!("{e:#}"));
            return report;
        }
    };
    let results: Vec<(Repo, Result<Emptied>)> = stream::iter(repos)
        .map(|repo| async move {
            if !repo.exists || repo.kept.is_some() {
                return (repo, Ok(Emptied::default()));
            }
            let result = empty_repository(ecr, &repo, reviewed, before).await;
            (repo, result)
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    for (repo, result) in results {
        let images = repo.counts().images;
        if !repo.exists {
            report.record(
                Kind::Repository,
                &repo.name,
                Outcome::Absent,
                Some("repository not found".into()),
            );
            continue;
        }
        if repo.kept.is_some() {
            report.found += images;
            report.kept += images;
            report.resources.push(ResourceOutcome {
                kind: Kind::Repository,
                name: repo.name.clone(),
                outcome: Outcome::Kept,
                detail: Some(format!("{images} images; {}", repo.kept.clone().unwrap_or_default())),
            });
            continue;
        }
        report.found += images;
        match result {
            Ok(done) => {
                report.found += done.found_later;
                report.deleted += done.deleted;
                report.failed += done.failures.len();
                let outcome = if done.failures.is_empty() && done.remaining == 0 {
                    Outcome::Deleted
                } else {
                    Outcome::Failed
                };
                let mut detail = format!("{} images deleted", done.deleted);
                for f in &done.failures {
                    report.fail(format!("{}: {f}", repo.name));
                }
                if done.drift > 0 {
                    report.resources.push(ResourceOutcome {
                        kind: Kind::Repository,
                        name: repo.name.clone(),
                        outcome: Outcome::Drift,
                        detail: Some(format!("{} images {DRIFT}", done.drift)),
                    });
                }
                if done.remaining > 0 {
                    detail.push_str(&format!(", {} remain", done.remaining));
                    report.fail(format!(
                        "{}: {} images remain after deletion",
                        repo.name, done.remaining
                    ));
                }
                report.resources.push(ResourceOutcome {
                    kind: Kind::Repository,
                    name: repo.name.clone(),
                    outcome,
                    detail: Some(detail),
                });
            }
            Err(e) => {
                report.failed += images;
                report.fail(format!("{}: {e:#}", repo.name));
                report.resources.push(ResourceOutcome {
                    kind: Kind::Repository,
                    name: repo.name.clone(),
                    outcome: Outcome::Failed,
                    detail: Some(format!("{e:#}")),
                });
            }
        }
    }
    report
}

#[derive(Debug, Default)]
struct Emptied {
    deleted: usize,
    /// One line per image AWS refused to delete.
    failures: Vec<String>,
    /// Images a re-list still found that should be gone.
    remaining: usize,
    /// Images a reviewed plan does not list, left in place.
    drift: usize,
    /// Images the inventory did not have (pushed since), deleted too.
    found_later: usize,
}

/// Rounds of delete-then-list per repository: images pushed during the
/// teardown are deleted in the next round, a push loop cannot hold it forever.
const ROUNDS: usize = 3;

async fn empty_repository(ecr: &Client, repo: &Repo, reviewed: Option<&Reviewed>, before: &Turn) -> Result<Emptied> {
    // Deleting a digest deletes every tag pointing at it, so one id per digest.
    let planned = |digest: &str| reviewed.is_none_or(|r| r.allows_image(&repo.name, digest));
    let mut digests: Vec<String> = repo.digests().into_iter().filter(|d| planned(d)).collect();
    let mut tried: BTreeSet<String> = BTreeSet::new();
    let mut done = Emptied::default();
    for round in 1..=ROUNDS {
        let total = tried.len() + digests.len();
        for chunk in digests.chunks(BATCH_LIMIT) {
            let ids: Vec<ImageIdentifier> = chunk
                .iter()
                .map(|d| ImageIdentifier::builder().image_digest(d).build())
                .collect();
            let out = match ecr
                .batch_delete_image()
                .repository_name(&repo.name)
                .set_image_ids(Some(ids))
                .send()
                .await
            {
                Ok(out) => out,
                // Deleted since it was read, images and all: nothing is left to delete.
                Err(e) if code(&e) == Some("RepositoryNotFoundException") => {
                    tracing::info!("ecr: {}: the repository was deleted meanwhile", repo.name);
                    return Ok(done);
                }
                Err(e) => return Err(anyhow!("ecr BatchDeleteImage {}: {}", repo.name, describe(&e))),
            };
            // Count by what failed: moto's answer omits untagged images it deleted.
            let mut refused = 0;
            for failure in out.failures() {
                let code = failure.failure_code().map(|c| c.as_str()).unwrap_or("no failure code");
                // Already gone (an interrupted run got to it first) is success.
                if code == "ImageNotFound" {
                    continue;
                }
                refused += 1;
                let digest = failure.image_id().and_then(|id| id.image_digest()).unwrap_or("?");
                done.failures
                    .push(format!("{digest}: {code}: {}", failure.failure_reason().unwrap_or("")));
            }
            done.deleted += chunk.len() - refused;
            tracing::info!("ecr: {}: deleted {}/{total} images", repo.name, done.deleted);
        }
        tried.extend(digests.drain(..));
        // What the namespace's workloads push while it terminates is found by this listing.
        before.complete().await;
        let left: BTreeSet<String> = list_image_ids(ecr, &repo.name)
            .await?
            .unwrap_or_default()
            .iter()
            .filter_map(|id| id.image_digest().map(str::to_owned))
            .collect();
        let (expected, owed): (Vec<_>, Vec<_>) = left.into_iter().partition(|d| !planned(d));
        done.drift = expected.len();
        let (retry, pushed): (Vec<_>, Vec<_>) = owed.into_iter().partition(|d| tried.contains(d));
        done.remaining = retry.len() + pushed.len();
        if pushed.is_empty() || round == ROUNDS {
            break;
        }
        tracing::info!(
            "ecr: {}: {} images pushed during the teardown; deleting them too",
            repo.name,
            pushed.len()
        );
        done.found_later += pushed.len();
        digests = pushed;
    }
    Ok(done)
}
