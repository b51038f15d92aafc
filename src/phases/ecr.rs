//! Phase 3: every image in the configured ECR repositories.
//!
//! Discovery describes each repository's images with pagination (digest,
//! tags and size: what the teardown deletes and `sundown cost` prices). The
//! repositories themselves are left for `terraform destroy`. A repository
//! carrying the protect tag keeps its images.

use std::collections::{BTreeMap, BTreeSet};

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
    /// Every image, by digest, as DescribeImages answered.
    pub images: BTreeMap<String, Image>,
}

/// One image of a repository.
#[derive(Debug, Clone, Default)]
pub struct Image {
    /// How many tags point at it.
    pub tags: usize,
    pub bytes: Option<i64>,
}

impl Repo {
    pub fn counts(&self) -> ImageCounts {
        let tagged = self.images.values().filter(|i| i.tags > 0).count();
        ImageCounts {
            images: self.images.len(),
            tagged,
            untagged: self.images.len() - tagged,
            tags: self.images.values().map(|i| i.tags).sum(),
        }
    }

    /// The distinct image digests, sorted.
    pub fn digests(&self) -> Vec<String> {
        self.images.keys().cloned().collect()
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

/// Describes every image of a repository (1000 a page), by digest; `None`
/// when the repository does not exist. Discovery and the pricing of ECR
/// storage both read images through it.
pub async fn describe_images(ecr: &Client, repository: &str) -> Result<Option<BTreeMap<String, Image>>> {
    let described = ecr
        .describe_images()
        .repository_name(repository)
        .max_results(1000)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await;
    let described = match described {
        Ok(described) => described,
        Err(e) if code(&e) == Some("RepositoryNotFoundException") => return Ok(None),
        Err(e) => return Err(anyhow!("ecr DescribeImages {repository}: {}", describe(&e))),
    };
    let mut images: BTreeMap<String, Image> = BTreeMap::new();
    for d in described {
        let image = images
            .entry(d.image_digest().unwrap_or_default().to_owned())
            .or_default();
        image.tags += d.image_tags().len();
        image.bytes = d.image_size_in_bytes().or(image.bytes);
    }
    Ok(Some(images))
}

async fn discover_one(ecr: &Client, name: &str, protect: &Protect) -> Result<Repo> {
    let absent = || Repo {
        name: name.to_owned(),
        exists: false,
        kept: None,
        images: BTreeMap::new(),
    };
    let described = match ecr.describe_repositories().repository_names(name).send().await {
        Ok(d) => d,
        Err(e) if code(&e) == Some("RepositoryNotFoundException") => return Ok(absent()),
        Err(e) => return Err(anyhow!("ecr DescribeRepositories {name}: {}", describe(&e))),
    };
    let arn = described
        .repositories()
        .first()
        .and_then(|r| r.repository_arn())
        .unwrap_or_default();
    let tags = match ecr.list_tags_for_resource().resource_arn(arn).send().await {
        Ok(tags) => tags,
        // Deleted since DescribeRepositories.
        Err(e) if code(&e) == Some("RepositoryNotFoundException") => return Ok(absent()),
        Err(e) => return Err(anyhow!("ecr ListTagsForResource {name}: {}", describe(&e))),
    };
    let kept = protect
        .matches(tags.tags().iter().map(|t| (t.key(), t.value())))
        .then(|| format!("tagged {}={}", protect.tag, protect.value));
    let Some(images) = describe_images(ecr, name).await? else {
        // Deleted since ListTagsForResource.
        return Ok(absent());
    };
    Ok(Repo {
        name: name.to_owned(),
        exists: true,
        kept,
        images,
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
/// 100 digests, then re-lists to prove the repository is empty; images pushed
/// since the inventory (`known`, read before the first deletion, else a new
/// discovery) show up there and go too. With a reviewed plan, only the
/// digests it lists: an image pushed since is drift, left in place and
/// reported.
pub async fn teardown(
    ecr: &Client,
    cfg: &config::Ecr,
    protect: &Protect,
    reviewed: Option<&Reviewed>,
    known: Option<Vec<Repo>>,
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

async fn empty_repository(ecr: &Client, repo: &Repo, reviewed: Option<&Reviewed>) -> Result<Emptied> {
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
        tried.extend(digests.drain(..));
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
