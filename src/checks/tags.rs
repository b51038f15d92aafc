//! `tags`: every resource the Tagging API returns for the stack (its ARN names
//! the stack) carries the project tag with the right value.

use anyhow::{Result, anyhow};

use super::{Context, Finding};
use crate::aws::describe;

pub async fn tags(cx: &Context<'_>) -> Result<Finding> {
    let tag = cx.config.project_tag();
    let tagging = cx.aws.tagging();
    let mut mappings = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let out = tagging
            .get_resources()
            .set_pagination_token(token.clone())
            .send()
            .await
            .map_err(|e| anyhow!("tagging GetResources: {}", describe(&e)))?;
        mappings.extend(out.resource_tag_mapping_list().iter().cloned());
        token = out.pagination_token().filter(|t| !t.is_empty()).map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    let stack = cx.config.stack.as_str();
    let (mut ok, mut bad) = (0usize, Vec::new());
    for m in mappings
        .iter()
        .filter(|m| m.resource_arn().is_some_and(|a| a.contains(stack)))
    {
        let arn = m.resource_arn().unwrap_or_default();
        let value = m.tags().iter().find(|t| t.key() == tag.key).map(|t| t.value());
        match value {
            Some(v) if v == tag.value => ok += 1,
            Some(v) => bad.push(format!("{arn}: {}={v}, expected {}", tag.key, tag.value)),
            None => bad.push(format!("{arn}: no {} tag", tag.key)),
        }
    }
    if ok == 0 && bad.is_empty() {
        return Ok(Finding::warn(
            format!("the Tagging API returns no resources whose ARN names {stack}"),
            "tag the stack's resources through the provider's default_tags",
        ));
    }
    Ok(Finding::from_lines(
        vec![format!("{ok} resources tagged {}={}", tag.key, tag.value)],
        bad,
        &format!(
            "tag every resource {}={} (the provider's default_tags in infra/)",
            tag.key, tag.value
        ),
    ))
}
