//! The tags sundown leaves on AWS resources to remember across runs: the
//! schedule's memory of what `stop` changed, and the teardown's mark.
//!
//! Memory is per stack: `stop` writes it under a key that names its stack
//! (`sundown:scaling:<stack>` on a node group, `sundown:stopped-endpoints:<stack>`
//! on an endpoint config), and `start` reads only its own stack's key, so two
//! stacks that share an account, a cluster or even a config never act on each
//! other's memory. sundown before 0.2 wrote the keys without the stack; those
//! are read as the stack's only where the name rule and `scope.tags` already
//! say the resource is the stack's. This module reads and writes nothing itself.

use std::collections::BTreeMap;

/// On an endpoint config: a teardown of the stack started at this time, so
/// `schedule start` must recreate nothing from it.
pub const TEARDOWN: &str = "sundown:teardown";

/// On a node group or an endpoint: `schedule stop` leaves it running until
/// the time this tag holds (RFC 3339, UTC), written by `sundown schedule keep-on`.
pub fn keep_on_key(stack: &str) -> String {
    format!("sundown:keep-on:{stack}")
}

/// `stack`'s keep-on mark among `tags`: until when (Unix seconds), or
/// `Err(value)` when the value is not a time.
pub fn keep_on<'t>(stack: &str, tags: impl IntoIterator<Item = (&'t str, &'t str)>) -> Option<Result<u64, &'t str>> {
    let key = keep_on_key(stack);
    let (_, value) = tags.into_iter().find(|(k, _)| *k == key)?;
    Some(
        humantime::parse_rfc3339(value)
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_secs())
            .ok_or(value),
    )
}

/// What `schedule stop` remembers, and where.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Memory {
    /// On a node group: its scaling before `stop`, as `min=1 desired=2 max=5`.
    Scaling,
    /// On an endpoint config: the endpoints `stop` deleted, space-separated.
    StoppedEndpoints,
}

/// A stack's memory found on one resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remembered<'t> {
    pub value: &'t str,
    /// Written by sundown before 0.2, under the key without the stack.
    pub legacy: bool,
}

impl Memory {
    /// The key without the stack, as sundown before 0.2 wrote it.
    pub fn legacy_key(self) -> &'static str {
        match self {
            Memory::Scaling => "sundown:scaling",
            Memory::StoppedEndpoints => "sundown:stopped-endpoints",
        }
    }

    /// The key `stack`'s memory lives under.
    pub fn key(self, stack: &str) -> String {
        format!("{}:{stack}", self.legacy_key())
    }

    /// True for this memory's key of any stack, or its legacy key: a tag that
    /// must not be copied onto a recreated resource.
    pub fn is_key(self, key: &str) -> bool {
        key.strip_prefix(self.legacy_key())
            .is_some_and(|rest| rest.is_empty() || rest.starts_with(':'))
    }

    /// `stack`'s memory among `tags`: its own key, else the legacy one.
    pub fn read<'t>(self, stack: &str, tags: impl IntoIterator<Item = (&'t str, &'t str)>) -> Option<Remembered<'t>> {
        let own = self.key(stack);
        let mut legacy = None;
        for (key, value) in tags {
            if key == own {
                return Some(Remembered { value, legacy: false });
            }
            if key == self.legacy_key() {
                legacy = Some(Remembered { value, legacy: true });
            }
        }
        legacy
    }
}

/// The endpoint names of a `StoppedEndpoints` value.
pub fn endpoints(value: &str) -> Vec<&str> {
    value.split_whitespace().collect()
}

/// A `StoppedEndpoints` value for `names`.
pub fn endpoints_value<'a>(names: impl IntoIterator<Item = &'a str>) -> String {
    names.into_iter().collect::<Vec<_>>().join(" ")
}

/// Node-group scaling, as remembered under `Memory::Scaling`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scaling {
    pub min: i32,
    pub desired: i32,
    pub max: i32,
}

impl Scaling {
    pub fn to_tag(self) -> String {
        format!("min={} desired={} max={}", self.min, self.desired, self.max)
    }

    pub fn from_tag(text: &str) -> Option<Scaling> {
        let mut fields = BTreeMap::new();
        for part in text.split_whitespace() {
            let (k, v) = part.split_once('=')?;
            fields.insert(k, v.parse::<i32>().ok()?);
        }
        Some(Scaling {
            min: *fields.get("min")?,
            desired: *fields.get("desired")?,
            max: *fields.get("max")?,
        })
    }
}

/// Why `stack` cannot name a memory key, if it cannot: SageMaker and EKS
/// allow letters, digits, spaces and `_ . : / = + - @` in a tag key of at
/// most 128 characters.
pub fn unfit_stack_name(stack: &str) -> Option<String> {
    let longest = 128 - Memory::StoppedEndpoints.key("").len();
    if stack.chars().count() > longest {
        return Some(format!(
            "is longer than {longest} characters (it names the tags `schedule stop` remembers in)"
        ));
    }
    let bad: String = stack
        .chars()
        .filter(|c| !(c.is_alphanumeric() || *c == ' ' || "_.:/=+-@".contains(*c)))
        .collect();
    (!bad.is_empty()).then(|| {
        format!(
            "may hold only letters, digits, spaces and _ . : / = + - @, not {bad:?} (it names the tags `schedule stop` remembers in)"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaling_round_trips_through_its_tag() {
        let s = Scaling {
            min: 1,
            desired: 2,
            max: 5,
        };
        assert_eq!(s.to_tag(), "min=1 desired=2 max=5");
        assert_eq!(Scaling::from_tag(&s.to_tag()), Some(s));
        assert_eq!(Scaling::from_tag("min=1 desired=2"), None);
        assert_eq!(Scaling::from_tag("min=x desired=2 max=3"), None);
    }

    #[test]
    fn a_stack_reads_its_own_memory_first_and_never_another_stacks() {
        let m = Memory::StoppedEndpoints;
        assert_eq!(m.key("acme"), "sundown:stopped-endpoints:acme");
        let tags = [
            ("sundown:stopped-endpoints:acme-churn", "acme-churn-e0"),
            ("sundown:stopped-endpoints", "acme-e9"),
            ("sundown:stopped-endpoints:acme", "acme-e0 acme-e1"),
        ];
        assert_eq!(
            m.read("acme", tags),
            Some(Remembered {
                value: "acme-e0 acme-e1",
                legacy: false
            })
        );
        assert_eq!(
            m.read("acme-churn", tags),
            Some(Remembered {
                value: "acme-churn-e0",
                legacy: false
            })
        );
        // Only the legacy key: read as anyone's (the caller checks ownership by name and tags).
        assert_eq!(
            m.read("other", tags),
            Some(Remembered {
                value: "acme-e9",
                legacy: true
            })
        );
        assert_eq!(m.read("acme", [("sundown:stopped-endpoints:acme-churn", "x")]), None);
        assert!(m.is_key("sundown:stopped-endpoints:acme"));
        assert!(m.is_key("sundown:stopped-endpoints"));
        assert!(!m.is_key("sundown:stopped-endpointsx"));
        assert!(!Memory::Scaling.is_key("sundown:stopped-endpoints:acme"));
        assert_eq!(endpoints(" a  b "), ["a", "b"]);
        assert_eq!(endpoints_value(["a", "b"]), "a b");
    }

    #[test]
    fn a_stack_name_must_fit_in_a_tag_key() {
        assert_eq!(unfit_stack_name("retail-forecast"), None);
        assert_eq!(unfit_stack_name("Retail forecast/dev@eu_1.2"), None);
        assert!(unfit_stack_name("retail#forecast").unwrap().contains("not \"#\""));
        assert!(unfit_stack_name(&"a".repeat(103)).unwrap().contains("longer than 102"));
        assert_eq!(unfit_stack_name(&"a".repeat(102)), None);
    }
}
