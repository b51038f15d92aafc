//! ECR discovery: each configured repository's images, described with
//! pagination (digest, tags and size: what the teardown deletes and `sundown
//! cost` prices), and whether the repository carries the protect tag. Reads only.

use std::collections::BTreeMap;

use anyhow::{Result, anyhow};
use aws_sdk_ecr::Client;
use aws_sdk_ecr::types::ImageIdentifier;
use futures_util::{StreamExt, TryStreamExt, stream};

use crate::aws::{CONCURRENCY, code, describe};
use crate::config::{self, Protect};
use crate::model::inventory::{Action, ImageCounts, Kind, Resource};

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
