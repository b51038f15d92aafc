//! `ecr.lifecycle`: each repository has a policy that expires untagged images and caps the count.

use anyhow::{Result, anyhow};
use serde_json::Value;

use super::{Context, Finding};
use crate::aws::{code, describe};

/// What a lifecycle policy text lacks, if anything.
pub fn policy_gaps(text: &str) -> Vec<&'static str> {
    let rules: Vec<Value> = serde_json::from_str::<Value>(text)
        .ok()
        .and_then(|v| v["rules"].as_array().cloned())
        .unwrap_or_default();
    let expires = |r: &Value| r["action"]["type"] == "expire";
    let mut gaps = Vec::new();
    if !rules
        .iter()
        .any(|r| expires(r) && r["selection"]["tagStatus"] == "untagged")
    {
        gaps.push("no rule expiring untagged images");
    }
    if !rules.iter().any(|r| {
        expires(r) && r["selection"]["tagStatus"] == "any" && r["selection"]["countType"] == "imageCountMoreThan"
    }) {
        gaps.push("no rule capping the image count (tagStatus any, imageCountMoreThan)");
    }
    gaps
}

pub async fn lifecycle(cx: &Context<'_>) -> Result<Finding> {
    let Some(cfg) = &cx.config.ecr else {
        return Ok(Finding::warn(
            "no ECR repositories configured",
            "set ecr.repositories in sundown.yaml",
        ));
    };
    let ecr = cx.aws.ecr();
    let (mut ok, mut bad) = (Vec::new(), Vec::new());
    for repo in &cfg.repositories {
        match ecr.get_lifecycle_policy().repository_name(repo).send().await {
            Ok(out) => {
                let gaps = policy_gaps(out.lifecycle_policy_text().unwrap_or_default());
                if gaps.is_empty() {
                    ok.push(format!("repository {repo}: expires untagged images and caps the count"));
                } else {
                    bad.push(format!("repository {repo}: {}", gaps.join("; ")));
                }
            }
            Err(e) if code(&e) == Some("LifecyclePolicyNotFoundException") => {
                bad.push(format!("repository {repo}: no lifecycle policy"))
            }
            Err(e) if code(&e) == Some("RepositoryNotFoundException") => {
                bad.push(format!("repository {repo}: not found"))
            }
            Err(e) => return Err(anyhow!("ecr GetLifecyclePolicy {repo}: {}", describe(&e))),
        }
    }
    Ok(Finding::from_lines(
        ok,
        bad,
        "attach the lifecycle policy of infra/modules/ecr to the repository",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_policy_needs_both_rules() {
        let both = r#"{"rules":[
            {"rulePriority":1,"selection":{"tagStatus":"untagged","countType":"imageCountMoreThan","countNumber":3},"action":{"type":"expire"}},
            {"rulePriority":3,"selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":10},"action":{"type":"expire"}}]}"#;
        assert!(policy_gaps(both).is_empty());
        let only_untagged = r#"{"rules":[{"selection":{"tagStatus":"untagged","countType":"sinceImagePushed","countNumber":1},"action":{"type":"expire"}}]}"#;
        assert_eq!(policy_gaps(only_untagged).len(), 1);
        assert_eq!(policy_gaps("not json").len(), 2);
    }
}
