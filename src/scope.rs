//! What is the stack's: the one matcher for names and tags.
//!
//! The teardown, `schedule` and the post-teardown sweep all decide ownership
//! here: a name belongs to the stack's prefix when it is the prefix itself or
//! the prefix and a `-` (SageMaker names allow only letters, digits and `-`,
//! so `acme-churnv2` is another service); a resource found by name is the
//! stack's when it carries every `scope.tags` tag, and it is kept whatever
//! its name when it carries the protect tag. It reads nothing from AWS.

use std::collections::BTreeMap;

use crate::config::{Config, Protect};

/// True when `name` is `prefix` or starts with `prefix-`.
pub fn name_matches(prefix: &str, name: &str) -> bool {
    name.strip_prefix(prefix)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('-'))
}

/// The rules a resource's tags are judged by.
#[derive(Debug, Clone, Copy)]
pub struct Owner<'a> {
    pub protect: &'a Protect,
    /// `scope.tags`: empty means ownership by name only.
    pub tags: &'a BTreeMap<String, String>,
}

/// What the tags say about one resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The stack's: it may be deleted.
    Ours,
    /// Kept, with the reason shown in the plan and the report.
    Kept(String),
}

impl Verdict {
    /// The reason it is kept, if it is.
    pub fn kept(self) -> Option<String> {
        match self {
            Verdict::Ours => None,
            Verdict::Kept(why) => Some(why),
        }
    }
}

impl<'a> Owner<'a> {
    pub fn new(config: &'a Config) -> Owner<'a> {
        Owner {
            protect: &config.protect,
            tags: &config.scope.tags,
        }
    }

    /// A resource found by name: kept when protected or when it lacks a scope tag.
    pub fn judge<'t>(&self, tags: impl IntoIterator<Item = (&'t str, &'t str)> + Clone) -> Verdict {
        if let Verdict::Kept(why) = self.judge_protect(tags.clone()) {
            return Verdict::Kept(why);
        }
        let have: BTreeMap<&str, &str> = tags.into_iter().collect();
        let misses: Vec<String> = self
            .tags
            .iter()
            .filter_map(|(key, want)| match have.get(key.as_str()) {
                Some(value) if value == want => None,
                Some(value) => Some(format!("{key}={value}, scope wants {want}")),
                None => Some(format!("no {key} tag, scope wants {want}")),
            })
            .collect();
        if misses.is_empty() {
            Verdict::Ours
        } else {
            Verdict::Kept(misses.join("; "))
        }
    }

    /// A resource that follows one of the stack's (an endpoint's config and
    /// models): it needs no scope tag of its own, only not to be protected.
    pub fn judge_protect<'t>(&self, tags: impl IntoIterator<Item = (&'t str, &'t str)>) -> Verdict {
        if self.protect.matches(tags.into_iter()) {
            Verdict::Kept(format!("tagged {}={}", self.protect.tag, self.protect.value))
        } else {
            Verdict::Ours
        }
    }
}

/// The one warning `plan` and `teardown` print when resources are found by name and nothing else.
/// Why a resource the AWS Load Balancer Controller made stays: it names, in
/// `service.k8s.aws/stack` (`namespace/name` of a Service) or
/// `ingress.k8s.aws/stack` (`namespace/name`, or an IngressGroup's name), a
/// namespace that is not one of the stack's. `None` when it was made for one
/// of them, or for the whole cluster (no such tag: the shared backend
/// security group).
pub fn made_for_another_namespace(namespaces: &[String], tags: &BTreeMap<String, String>) -> Option<String> {
    ["service.k8s.aws/stack", "ingress.k8s.aws/stack"]
        .iter()
        .find_map(|key| {
            let owner = tags.get(*key)?;
            (!namespaces.iter().any(|ns| owner.split('/').next() == Some(ns.as_str())))
                .then(|| format!("{key}={owner}: made for another namespace of the cluster, not one of the stack's"))
        })
}

pub fn warn_if_by_name_only(config: &Config) {
    if config.scope.tags.is_empty()
        && let Some(s) = &config.sagemaker
    {
        tracing::warn!(
            "no scope.tags: SageMaker resources named {0} or {0}-… are the stack's by name only; \
             add scope.tags (e.g. {{ Project: {1}, Environment: dev }}) so that a same-named resource of another environment is kept",
            s.endpoint_prefix,
            config.stack
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_matches_its_prefix_alone_or_followed_by_a_dash() {
        assert!(name_matches("acme-churn", "acme-churn"));
        assert!(name_matches("acme-churn", "acme-churn-e0"));
        assert!(name_matches("acme-churn", "acme-churn-shared-config"));
        assert!(!name_matches("acme-churn", "acme-churnv2"));
        assert!(!name_matches("acme-churn", "acme-chur"));
        assert!(!name_matches("acme-churn", "partner-acme-churn"));
    }

    #[test]
    fn tags_decide_protected_in_scope_and_out_of_scope() {
        let protect = Protect::default();
        let scope: BTreeMap<String, String> = [("Project", "acme-churn"), ("Environment", "dev")]
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .into();
        let owner = Owner {
            protect: &protect,
            tags: &scope,
        };
        let dev = [("Project", "acme-churn"), ("Environment", "dev")];
        assert_eq!(owner.judge(dev), Verdict::Ours);
        assert_eq!(
            owner.judge([("Project", "acme-churn"), ("Environment", "prod")]),
            Verdict::Kept("Environment=prod, scope wants dev".into())
        );
        assert_eq!(
            owner.judge([]),
            Verdict::Kept("no Environment tag, scope wants dev; no Project tag, scope wants acme-churn".into())
        );
        let protected = [
            ("Project", "acme-churn"),
            ("Environment", "dev"),
            ("sundown:protect", "true"),
        ];
        assert_eq!(
            owner.judge(protected),
            Verdict::Kept("tagged sundown:protect=true".into())
        );
        // A config that follows its endpoint needs no scope tag, only no protect tag.
        assert_eq!(owner.judge_protect([]), Verdict::Ours);

        let by_name = BTreeMap::new();
        let owner = Owner {
            protect: &protect,
            tags: &by_name,
        };
        assert_eq!(owner.judge([]), Verdict::Ours);
    }
}
