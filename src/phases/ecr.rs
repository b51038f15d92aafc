//! Phase 3: every image in the configured ECR repositories.
//!
//! Discovery lists each repository's image ids with pagination. The
//! repositories themselves are left for `terraform destroy`. A repository
//! carrying the protect tag keeps its images.

use std::collections::BTreeMap;

use anyhow::{Result, anyhow};
use aws_sdk_ecr::Client;
use aws_sdk_ecr::types::ImageIdentifier;
use futures_util::{StreamExt, TryStreamExt, stream};

use super::CONCURRENCY;
use crate::aws::{code, describe};
use crate::config::{self, Protect};
use crate::inventory::{Action, ImageCounts, Kind, Phase, Resource};
use crate::report::{Outcome, PhaseReport, ResourceOutcome};
use crate::reviewed::{DRIFT, Reviewed};

/// One configured repository as found.
#[derive(Debug, Clone)]
pub struct Repo {
    pub name: String,
    /// False when the repository does not exist.
    pub exists: bool,
    pub kept: Option<String>,
    /// Every image id entry ListImages returned (one per tag, one per untagged digest).
    pub image_ids: Vec<ImageIdentifier>,
}

impl Repo {
    pub fn counts(&self) -> ImageCounts {
        let mut by_digest: BTreeMap<&str, usize> = BTreeMap::new();
        for id in &self.image_ids {
            let tags = by_digest.entry(id.image_digest().unwrap_or_default()).or_default();
            if id.image_tag().is_some() {
                *tags += 1;
            }
        }
        let tagged = by_digest.values().filter(|t| **t > 0).count();
        ImageCounts {
            images: by_digest.len(),
            tagged,
            untagged: by_digest.len() - tagged,
            tags: by_digest.values().sum(),
        }
    }

    /// The distinct image digests, sorted.
    pub fn digests(&self) -> Vec<String> {
        let mut digests: Vec<String> = self
            .image_ids
            .iter()
            .filter_map(|id| id.image_digest().map(str::to_owned))
            .collect();
        digests.sort_unstable();
        digests.dedup();
        digests
    }

    pub fn resource(&self) -> Resource {
        if !self.exists {
            return Resource::new(Kind::Repository, &self.name, Action::Absent).reason("repository not found");
        }
        let counts = self.counts();
        let mut r = match self.kept.as_deref() {
            None if counts.images == 0 => {
                Resource::new(Kind::Repository, &self.name, Action::Absent).reason("no images")
            }
            kept => Resource::unless_protected(Kind::Repository, &self.name, kept),
        };
        r.images = Some(counts);
        if r.action == Action::Delete {
            r.digests = self.digests();
        }
        r
    }
}

/// Lists every image id of a repository, following pagination.
pub async fn list_image_ids(ecr: &Client, repository: &str) -> Result<Option<Vec<ImageIdentifier>>> {
    let listed: Result<Vec<ImageIdentifier>, _> = ecr
        .list_images()
        .repository_name(repository)
        .max_results(1000)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await;
    match listed {
        Ok(ids) => Ok(Some(ids)),
        Err(e) if code(&e) == Some("RepositoryNotFoundException") => Ok(None),
        Err(e) => Err(anyhow!("ecr ListImages {repository}: {}", describe(&e))),
    }
}

async fn discover_one(ecr: &Client, name: &str, protect: &Protect) -> Result<Repo> {
    let described = match ecr.describe_repositories().repository_names(name).send().await {
        Ok(d) => d,
        Err(e) if code(&e) == Some("RepositoryNotFoundException") => {
            return Ok(Repo {
                name: name.to_owned(),
                exists: false,
                kept: None,
                image_ids: Vec::new(),
            });
        }
        Err(e) => return Err(anyhow!("ecr DescribeRepositories {name}: {}", describe(&e))),
    };
    let arn = described
        .repositories()
        .first()
        .and_then(|r| r.repository_arn())
        .unwrap_or_default();
    let tags = ecr
        .list_tags_for_resource()
        .resource_arn(arn)
        .send()
        .await
        .map_err(|e| anyhow!("ecr ListTagsForResource {name}: {}", describe(&e)))?;
    let kept = protect
        .matches(tags.tags().iter().map(|t| (t.key(), t.value())))
        .then(|| format!("tagged {}={}", protect.tag, protect.value));
    let image_ids = list_image_ids(ecr, name).await?.unwrap_or_default();
    Ok(Repo {
        name: name.to_owned(),
        exists: true,
        kept,
        image_ids,
    })
}

/// Read-only discovery of the configured repositories, in config order.
pub async fn discover(ecr: &Client, cfg: &config::Ecr, protect: &Protect) -> Result<Vec<Repo>> {
    stream::iter(&cfg.repositories)
        .map(|name| discover_one(ecr, name, protect))
        .buffered(CONCURRENCY)
        .try_collect()
        .await
}

/// AWS's limit on image ids per BatchDeleteImage call (the emulator does not enforce it).
pub const BATCH_LIMIT: usize = 100;

/// Deletes every image of each configured repository, in batches of at most
/// 100 digests, then re-lists to prove the repository is empty. With a
/// reviewed plan, only the digests it lists: an image pushed since is drift,
/// left in place and reported.
pub async fn teardown(ecr: &Client, cfg: &config::Ecr, protect: &Protect, reviewed: Option<&Reviewed>) -> PhaseReport {
    let mut report = PhaseReport::new(Phase::Ecr);
    let repos = match discover(ecr, cfg, protect).await {
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
            let result = empty_repository(ecr, &repo, reviewed).await;
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
}

async fn empty_repository(ecr: &Client, repo: &Repo, reviewed: Option<&Reviewed>) -> Result<Emptied> {
    // Deleting a digest deletes every tag pointing at it, so one id per digest.
    let planned = |digest: &str| reviewed.is_none_or(|r| r.allows_image(&repo.name, digest));
    let digests: Vec<String> = repo.digests().into_iter().filter(|d| planned(d)).collect();
    let mut done = Emptied::default();
    let total = digests.len();
    for chunk in digests.chunks(BATCH_LIMIT) {
        let ids: Vec<ImageIdentifier> = chunk
            .iter()
            .map(|d| ImageIdentifier::builder().image_digest(d).build())
            .collect();
        let out = ecr
            .batch_delete_image()
            .repository_name(&repo.name)
            .set_image_ids(Some(ids))
            .send()
            .await
            .map_err(|e| anyhow!("ecr BatchDeleteImage {}: {}", repo.name, describe(&e)))?;
        // Count by what failed: moto's answer omits untagged images it deleted.
        let mut refused = 0;
        for failure in out.failures() {
            let code = failure.failure_code().map(|c| c.as_str()).unwrap_or("Unknown");
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
    let left = list_image_ids(ecr, &repo.name).await?.unwrap_or_default();
    let (expected, remaining): (Vec<_>, Vec<_>) = left
        .iter()
        .partition(|id| !planned(id.image_digest().unwrap_or_default()));
    done.remaining = remaining.len();
    let mut unplanned: Vec<&str> = expected.iter().filter_map(|id| id.image_digest()).collect();
    unplanned.sort_unstable();
    unplanned.dedup();
    done.drift = unplanned.len();
    Ok(done)
}
