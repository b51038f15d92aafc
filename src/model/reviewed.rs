//! The plan as a contract. `plan --out` writes the plan with a digest over
//! what it would delete; `teardown --plan` recomputes the digest (a changed
//! file is refused), checks the plan's age, stack, account and region, then
//! compares a fresh discovery with it: anything the teardown would delete
//! that the plan did not list is drift, refused before any mutating request.
//! The phases then delete only what the plan lists (`Reviewed::allows`).
//! Reads a file and compares; it sends no request itself.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, SystemTime};

use anyhow::Result;
use serde::Deserialize;

use super::plan::{Plan, PlanStatus, digest};
use crate::exit::refuse;
use crate::model::inventory::{Action, Kind, Resource};

/// The reason recorded for something that appeared after the plan was reviewed.
pub const DRIFT: &str = "not in the reviewed plan (drift)";

/// A plan file as `plan --out` wrote it; unknown fields are ignored (they are not in the digest).
#[derive(Debug, Deserialize)]
struct PlanFile {
    schema: String,
    stack: String,
    region: String,
    account: String,
    created_at: String,
    digest: String,
    phases: Vec<PhaseFile>,
}

#[derive(Debug, Deserialize)]
struct PhaseFile {
    resources: Vec<Resource>,
}

/// What a reviewed plan lets the teardown delete.
#[derive(Debug, Clone)]
pub struct Reviewed {
    pub digest: String,
    pub created_at: String,
    stack: String,
    account: String,
    region: String,
    /// (kind, name, identity) of every resource to delete, repositories aside.
    items: BTreeSet<(Kind, String, String)>,
    /// Repository → the image digests to delete.
    images: BTreeMap<String, BTreeSet<String>>,
}

impl Reviewed {
    /// Reads and checks a plan file: a sundown plan, unchanged since it was
    /// written (its digest), for this stack and region, and younger than `max_age`.
    pub fn load(path: &Path, max_age: Duration, stack: &str, region: &str) -> Result<Reviewed> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            refuse(format!(
                "cannot read the plan {} ({e}); pass the file `sundown plan --out` wrote",
                path.display()
            ))
        })?;
        let not_a_plan = |why: String| {
            refuse(format!(
                "{} is not a sundown plan ({why}); pass the file `sundown plan --out FILE` wrote",
                path.display()
            ))
        };
        let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| not_a_plan(format!("not JSON: {e}")))?;
        if value["schema"] != super::plan::SCHEMA {
            return Err(not_a_plan(format!(
                "schema is {}, not {}",
                value["schema"],
                super::plan::SCHEMA
            )));
        }
        let file: PlanFile = serde_json::from_value(value).map_err(|e| not_a_plan(e.to_string()))?;
        let resources: Vec<&Resource> = file.phases.iter().flat_map(|p| &p.resources).collect();
        let recomputed = digest(&file.stack, &file.account, &file.region, &file.created_at, &resources);
        if recomputed != file.digest {
            return Err(refuse(format!(
                "the plan {} was changed after it was written (its digest is {}, its content hashes to {recomputed}); make a new plan with `sundown plan --out FILE`",
                path.display(),
                file.digest
            )));
        }
        let _ = file.schema;
        if file.stack != stack || file.region != region {
            return Err(refuse(format!(
                "the plan {} is for stack {} in {}, not {stack} in {region}; pass this stack's plan",
                path.display(),
                file.stack,
                file.region
            )));
        }
        let created = humantime::parse_rfc3339(&file.created_at).map_err(|e| not_a_plan(format!("created_at: {e}")))?;
        let age = SystemTime::now().duration_since(created).unwrap_or_default();
        if age > max_age {
            return Err(refuse(format!(
                "the plan {} is {} old, older than --max-plan-age {}; review a new plan with `sundown plan --out FILE`",
                path.display(),
                humantime::format_duration(Duration::from_secs(age.as_secs())),
                humantime::format_duration(max_age)
            )));
        }
        let mut items = BTreeSet::new();
        let mut images: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for r in resources.iter().filter(|r| r.action == Action::Delete) {
            if r.kind == Kind::Repository {
                images
                    .entry(r.name.clone())
                    .or_default()
                    .extend(r.digests.iter().cloned());
            } else {
                items.insert((r.kind, r.name.clone(), r.id.clone().unwrap_or_default()));
            }
        }
        Ok(Reviewed {
            digest: file.digest,
            created_at: file.created_at,
            stack: file.stack,
            account: file.account,
            region: file.region,
            items,
            images,
        })
    }

    /// What the plan lists for deletion, repositories aside, as (kind, name).
    pub fn planned(&self) -> impl Iterator<Item = (Kind, &str)> {
        self.items.iter().map(|(kind, name, _)| (*kind, name.as_str()))
    }

    /// Whether the plan lists this resource, with this identity, for deletion.
    pub fn allows(&self, kind: Kind, name: &str, id: Option<&str>) -> bool {
        self.items
            .contains(&(kind, name.to_owned(), id.unwrap_or_default().to_owned()))
    }

    /// Whether the plan lists this image for deletion.
    pub fn allows_image(&self, repository: &str, digest: &str) -> bool {
        self.images.get(repository).is_some_and(|d| d.contains(digest))
    }

    /// The account the plan was made in; teardown refuses any other.
    pub fn check_account(&self, account: &str) -> Result<()> {
        if self.account != account {
            return Err(refuse(format!(
                "the plan was made in account {}, the credentials are for {account}; use the plan's account or a plan made here",
                self.account
            )));
        }
        Ok(())
    }

    /// Compares a fresh discovery with the plan. Anything to delete now that the
    /// plan did not list (or lists with another identity) is drift: a refusal
    /// naming each item. What the plan listed and is gone now is fine.
    pub fn check_drift(&self, now: &Plan) -> Result<()> {
        if now.stack != self.stack || now.account != self.account || now.region != self.region {
            return Err(refuse(format!(
                "the plan is for stack {} in account {} ({}), this is {} in {} ({}); pass this stack's plan",
                self.stack, self.account, self.region, now.stack, now.account, now.region
            )));
        }
        if let Some(p) = now.phases.iter().find(|p| p.status == PlanStatus::Error) {
            return Err(refuse(format!(
                "cannot compare with the reviewed plan: the {} phase could not be read ({}); nothing was touched",
                p.phase.name(),
                p.error.as_deref().unwrap_or("unknown error")
            )));
        }
        let mut drift = Vec::new();
        for r in now
            .phases
            .iter()
            .flat_map(|p| &p.resources)
            .filter(|r| r.action == Action::Delete)
        {
            if r.kind == Kind::Repository {
                let new = r.digests.iter().filter(|d| !self.allows_image(&r.name, d)).count();
                if new > 0 {
                    drift.push(format!("added    {new} images in repository {}", r.name));
                }
                continue;
            }
            if self.allows(r.kind, &r.name, r.id.as_deref()) {
                continue;
            }
            let planned = self
                .items
                .iter()
                .find(|(kind, name, _)| *kind == r.kind && *name == r.name);
            drift.push(match planned {
                Some((_, _, was)) => format!(
                    "changed  {} {} ({}; the plan had {was})",
                    r.kind.name(),
                    r.name,
                    r.id.as_deref().unwrap_or("no identity")
                ),
                None => format!("added    {} {}", r.kind.name(), r.name),
            });
        }
        if drift.is_empty() {
            return Ok(());
        }
        eprintln!("drift since the reviewed plan {}:", self.digest);
        for line in &drift {
            eprintln!("  {line}");
        }
        Err(refuse(format!(
            "the stack changed since the plan was reviewed ({} added or changed: {}); nothing was touched. Review a new plan with `sundown plan --out FILE`",
            drift.len(),
            drift
                .iter()
                .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
                .collect::<Vec<_>>()
                .join("; ")
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_digest_covers_what_is_deleted_and_its_identity_not_what_is_kept() {
        let endpoint = Resource::new(Kind::Endpoint, "e", Action::Delete).id(Some("created 1".into()));
        let kept = Resource::new(Kind::Endpoint, "k", Action::Keep);
        let mut repo = Resource::new(Kind::Repository, "r", Action::Delete);
        repo.digests = vec!["sha256:1".into()];
        let base = digest("s", "1", "us-east-1", "t", &[&endpoint, &kept, &repo]);
        assert!(base.starts_with("sha256:") && base.len() == 71, "{base}");
        assert_eq!(base, digest("s", "1", "us-east-1", "t", &[&repo, &endpoint]));
        let recreated = Resource::new(Kind::Endpoint, "e", Action::Delete).id(Some("created 2".into()));
        assert_ne!(base, digest("s", "1", "us-east-1", "t", &[&recreated, &repo]));
        let mut pushed = repo.clone();
        pushed.digests.push("sha256:2".into());
        assert_ne!(base, digest("s", "1", "us-east-1", "t", &[&endpoint, &pushed]));
        assert_ne!(base, digest("s", "2", "us-east-1", "t", &[&endpoint, &repo]));
        assert_ne!(base, digest("s", "1", "us-east-1", "t2", &[&endpoint, &repo]));
    }
}
