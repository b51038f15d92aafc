//! The checks of single values in `sundown.yaml`: names, tags, account ids,
//! durations and regions, each with one message and one hint.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use serde::Deserialize;
use serde::de::{self, Deserializer};

/// A stack name that fits in the schedule's tag keys (`markers::unfit_stack_name`).
pub(super) fn stack_name<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let s = non_empty(d)?;
    match crate::markers::unfit_stack_name(&s) {
        Some(why) => Err(de::Error::custom(why)),
        None => Ok(s),
    }
}

pub(super) fn non_empty<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let s = String::deserialize(d)?;
    if s.trim().is_empty() {
        return Err(de::Error::custom("must not be empty"));
    }
    Ok(s)
}

/// A list of distinct, non-empty names; an empty list is almost always a mistake.
pub(super) fn unique_names<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let names = Vec::<String>::deserialize(d)?;
    if names.is_empty() {
        return Err(de::Error::custom(
            "must list at least one name (remove the section to skip this phase)",
        ));
    }
    check_distinct(names)
}

/// An optional string that, when given, is not empty.
pub(super) fn non_empty_option<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    non_empty(d).map(Some)
}

/// A list of distinct, non-empty names; empty is allowed.
pub(super) fn distinct_names<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    check_distinct(Vec::<String>::deserialize(d)?)
}

pub(super) fn check_distinct<E: de::Error>(names: Vec<String>) -> Result<Vec<String>, E> {
    let mut seen = HashSet::new();
    for name in &names {
        if name.trim().is_empty() {
            return Err(de::Error::custom("names must not be empty"));
        }
        if !seen.insert(name) {
            return Err(de::Error::custom(format!("{name:?} is listed twice")));
        }
    }
    Ok(names)
}

/// A map of tag keys to values, neither empty.
pub(super) fn tag_map<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    let tags = BTreeMap::<String, String>::deserialize(d)?;
    if tags.iter().any(|(k, v)| k.trim().is_empty() || v.trim().is_empty()) {
        return Err(de::Error::custom("tag keys and values must not be empty"));
    }
    Ok(tags)
}

pub(super) fn account_ids<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let ids = Vec::<String>::deserialize(d)?;
    for id in &ids {
        if id.len() != 12 || !id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(de::Error::custom(format!("{id:?} is not a 12-digit AWS account id")));
        }
    }
    Ok(ids)
}

/// A duration with its unit: one message and one hint whatever is wrong with it.
pub(super) fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    use humantime::DurationError as E;
    let text = String::deserialize(d)?;
    humantime::parse_duration(&text).map_err(|e| {
        let what = match e {
            E::UnknownUnit { unit, .. } if unit.is_empty() => "a number without its unit".to_owned(),
            E::UnknownUnit { unit, .. } => format!("{unit:?} is not a unit sundown reads"),
            E::Empty => "it is empty".to_owned(),
            E::NumberOverflow => "it is too large".to_owned(),
            E::InvalidCharacter(_) | E::NumberExpected(_) => "not a number followed by a unit".to_owned(),
        };
        de::Error::custom(format!(
            "invalid duration {text:?}: {what}; write e.g. 90s, 10m or 1h30m"
        ))
    })
}

/// An AWS region code as AWS writes it (`us-east-1`, `us-gov-west-1`, `cn-north-1`):
/// anything else would make every ARN and endpoint wrong.
pub(super) fn region<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let s = non_empty(d)?;
    let parts: Vec<&str> = s.split('-').collect();
    let fits = parts.len() >= 3
        && (2..=4).contains(&parts[0].len())
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
        && parts[parts.len() - 1].bytes().all(|b| b.is_ascii_digit())
        && !parts[parts.len() - 1].is_empty();
    match fits {
        true => Ok(s),
        false => Err(de::Error::custom(format!(
            "{s:?} is not an AWS region code; write it as AWS does, e.g. us-east-1"
        ))),
    }
}
