//! The closing sweep's findings (`sweep::run` makes them): what of the stack
//! the Resource Groups Tagging API still lists after a teardown, each
//! confirmed by its own service, priced, and classified kept or left behind.
//! The teardown report carries them (`sweep`, an additive field of
//! `sundown.report/v1`) and `verify --after-teardown` shows them.

use std::fmt::Write as _;

use serde::Serialize;

/// How the sweep looked for the stack's resources.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SweptBy {
    /// The Tagging API, with `scope.tags`.
    Tags,
    /// No `scope.tags`: only what the stack names (its SageMaker prefix, its
    /// repositories) and, with a cluster, the cluster's ownership tags.
    NameOnly,
}

/// One resource the sweep found still there.
#[derive(Debug, Clone, Serialize)]
pub struct Leftover {
    pub arn: String,
    /// `service:type` as the ARN says it, e.g. `ec2:volume`.
    pub kind: String,
    pub name: String,
    /// What it is, as its service describes it (`100 GiB gp3`).
    pub detail: String,
    /// What it bills a month; absent when it cannot be priced (`unpriced` says why).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usd_per_month: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unpriced: Option<String>,
    /// Kept: why. Left behind: the command or setting that removes it.
    pub why: String,
}

/// What the sweep found.
#[derive(Debug, Clone, Serialize)]
pub struct Sweep {
    pub by: SweptBy,
    /// The Tagging API's queries, one per tag set, e.g. `Project=retail-forecast`.
    pub queries: Vec<String>,
    /// Without `scope.tags`: what was checked by name instead.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub checked_by_name: Vec<String>,
    /// Listed by the Tagging API but gone at their own service (it lists
    /// deleted resources for a while).
    pub gone: usize,
    pub kept: Vec<Leftover>,
    pub left_behind: Vec<Leftover>,
    /// The priced left-behind resources, in dollars a month.
    pub still_billing_usd_per_month: f64,
    /// Why the sweep could not finish: then nothing is shown gone, and the run fails.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Sweep {
    /// Nothing left behind, and the sweep finished.
    pub fn ok(&self) -> bool {
        self.error.is_none() && self.left_behind.is_empty()
    }

    /// One sentence: "nothing of the stack still bills", or what still does.
    pub fn headline(&self) -> String {
        if let Some(e) = &self.error {
            return format!("the closing sweep could not finish, so nothing is shown gone: {e}");
        }
        let unpriced = self.left_behind.iter().filter(|l| l.usd_per_month.is_none()).count();
        match (self.left_behind.len(), unpriced) {
            (0, _) => "nothing of the stack still bills".to_owned(),
            (n, 0) => format!(
                "still billing {}: {n} resource{} of the stack left behind",
                crate::text::per_month(self.still_billing_usd_per_month),
                if n == 1 { "" } else { "s" }
            ),
            (n, u) => format!(
                "still billing at least {} ({u} of {n} left behind not priced)",
                crate::text::per_month(self.still_billing_usd_per_month)
            ),
        }
    }

    /// What was looked at, for the reader to judge the headline.
    pub fn scope_line(&self) -> String {
        let mut parts = Vec::new();
        if !self.queries.is_empty() {
            parts.push(format!("tagged {}", self.queries.join(" or ")));
        }
        if self.by == SweptBy::NameOnly {
            parts.push(format!(
                "no scope.tags, so by name only: {}",
                if self.checked_by_name.is_empty() {
                    "nothing the config names".to_owned()
                } else {
                    self.checked_by_name.join(", ")
                }
            ));
        }
        format!("swept {}", parts.join("; "))
    }

    /// Lines for the terminal and for SNS.
    pub fn render_human(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "\nClosing sweep: {}", self.headline());
        let _ = writeln!(out, "  {}", self.scope_line());
        for l in &self.left_behind {
            let _ = writeln!(
                out,
                "  left behind: {} {} ({}) {}\n    {}\n    remove: {}",
                l.kind,
                l.name,
                l.detail,
                l.money(),
                l.arn,
                l.why
            );
        }
        for l in &self.kept {
            let _ = writeln!(out, "  kept: {} {} {} ({})", l.kind, l.name, l.money(), l.why);
        }
        out
    }

    /// Markdown for the job summary and the pull-request comment.
    pub fn render_markdown(&self) -> String {
        let mut out = String::new();
        let icon = if self.ok() { "✅" } else { "❌" };
        let _ = writeln!(out, "\n{icon} **Closing sweep:** {}.\n", self.headline());
        let _ = writeln!(out, "{}.\n", self.scope_line());
        if !self.left_behind.is_empty() || !self.kept.is_empty() {
            let _ = writeln!(out, "| | kind | name | $/month | why |");
            let _ = writeln!(out, "| --- | --- | --- | ---: | --- |");
            for (what, list) in [("left behind", &self.left_behind), ("kept", &self.kept)] {
                for l in list {
                    let _ = writeln!(
                        out,
                        "| {what} | `{}` | `{}` | {} | {} |",
                        l.kind,
                        l.name,
                        l.money(),
                        l.why.replace('|', "\\|")
                    );
                }
            }
        }
        out
    }
}

impl Leftover {
    /// `$8.00/month`, or `unpriced (why)`.
    pub fn money(&self) -> String {
        match (self.usd_per_month, &self.unpriced) {
            (Some(usd), _) => crate::text::per_month(usd),
            (None, Some(why)) => format!("unpriced ({why})"),
            (None, None) => "unpriced".to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leftover(usd: Option<f64>) -> Leftover {
        Leftover {
            arn: "arn:aws:ec2:us-east-1:123456789012:volume/vol-1".into(),
            kind: "ec2:volume".into(),
            name: "vol-1".into(),
            detail: "100 GiB gp3".into(),
            usd_per_month: usd,
            unpriced: usd.is_none().then(|| "no price".into()),
            why: "aws ec2 delete-volume --volume-id vol-1".into(),
        }
    }

    #[test]
    fn the_headline_says_what_still_bills_or_that_nothing_does() {
        let mut sweep = Sweep {
            by: SweptBy::Tags,
            queries: vec!["Project=p".into()],
            checked_by_name: Vec::new(),
            gone: 0,
            kept: Vec::new(),
            left_behind: Vec::new(),
            still_billing_usd_per_month: 0.0,
            error: None,
        };
        assert!(sweep.ok());
        assert_eq!(sweep.headline(), "nothing of the stack still bills");
        sweep.left_behind.push(leftover(Some(8.0)));
        sweep.still_billing_usd_per_month = 8.0;
        assert!(!sweep.ok());
        assert_eq!(
            sweep.headline(),
            "still billing $8.00/month: 1 resource of the stack left behind"
        );
        sweep.left_behind.push(leftover(None));
        assert_eq!(
            sweep.headline(),
            "still billing at least $8.00/month (1 of 2 left behind not priced)"
        );
        sweep.by = SweptBy::NameOnly;
        sweep.queries.clear();
        sweep.checked_by_name.push("SageMaker resources named p or p-…".into());
        assert_eq!(
            sweep.scope_line(),
            "swept no scope.tags, so by name only: SageMaker resources named p or p-…"
        );
    }
}
