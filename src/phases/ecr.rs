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
use crate::inventory::{Action, ImageCounts, Kind, Resource};

/// One configured repository as found.
#[derive(Debug, Clone)]
pub struct Repo {
    pub name: String,
    /// None when the repository does not exist.
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

    pub fn resource(&self) -> Resource {
        if !self.exists {
            return Resource::new(Kind::Repository, &self.name, Action::Absent).reason("repository not found");
        }
        let mut r = Resource::unless_protected(Kind::Repository, &self.name, self.kept.as_deref());
        r.images = Some(self.counts());
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
