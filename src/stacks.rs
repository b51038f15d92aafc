//! `sundown stacks`: every stack under a root directory, from its
//! `sundown.yaml` alone: whether the config is valid, its lifetime status
//! (expired, expiring, alive, no lifetime), account and region, and the
//! GitHub Actions matrix of the expired ones for the expiry workflow. It
//! reads files only and makes no AWS request unless asked for prices
//! (`price`) or reminders (`remind`). A broken config is reported for its
//! stack without hiding the others.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::clock::rfc3339;
use crate::config::Config;

pub const SCHEMA: &str = "sundown.stacks/v1";

/// The file name a stack's config has.
const FILE_NAME: &str = "sundown.yaml";
/// Directories never searched: build output, VCS data, dependencies.
const SKIPPED: [&str; 4] = [".git", "target", "node_modules", ".terraform"];

/// Where a stack stands against its lifetime; the serde name is what users read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Its config cannot be used (malformed, or another config claims its stack and account).
    Invalid,
    /// `expires_at` has passed.
    Expired,
    /// Within `remind_before` of `expires_at`.
    Expiring,
    Alive,
    NoLifetime,
}

impl Status {
    pub fn name(self) -> &'static str {
        match self {
            Status::Invalid => "invalid",
            Status::Expired => "expired",
            Status::Expiring => "expiring",
            Status::Alive => "alive",
            Status::NoLifetime => "no lifetime",
        }
    }
}

/// One stack, as its config says.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    /// The config's path, relative to the root.
    pub config: String,
    pub stack: Option<String>,
    pub account: Option<String>,
    pub region: Option<String>,
    pub status: Status,
    pub expires_at: Option<String>,
    /// When its reminder is due: `expires_at` less `remind_before`.
    pub remind_at: Option<String>,
    /// When its reminder was delivered (`--remind`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reminded_at: Option<String>,
    /// The GitHub issue kept for it (`--remind`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issue: Option<u64>,
    /// What it runs per day (`--prices`); `None`: not priced.
    pub usd_per_day: Option<f64>,
    /// Why it was not priced, when `--prices` asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_priced: Option<String>,
    /// The config as read (`None`: it could not be), for the reminders and the prices.
    #[serde(skip)]
    pub loaded: Option<Config>,
    /// Why the config cannot be used, or what is missing for the expiry run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Entry {
    /// Its `lifetime` (`expires_at`, `remind_before`), when it has one.
    fn lifetime(&self) -> Option<(u64, std::time::Duration)> {
        let l = self.loaded.as_ref()?.lifetime.as_ref()?;
        Some((l.expires_at, l.remind_before))
    }

    /// Its row as both renderings show it: status, stack, account, region, expires, $/day, config.
    fn cells(&self) -> [String; 7] {
        let or_dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".to_owned());
        [
            self.status.name().to_owned(),
            or_dash(&self.stack),
            or_dash(&self.account),
            or_dash(&self.region),
            or_dash(&self.expires_at),
            self.usd_per_day.map_or("not priced".to_owned(), |u| format!("{u:.2}")),
            self.config.clone(),
        ]
    }
}

/// One job of the expiry workflow's matrix.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Include {
    pub config: String,
    pub stack: String,
    pub account: String,
    pub region: String,
    /// With `--remind`: when its reminder went out, for `teardown --expired --reminded-at`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reminded_at: Option<String>,
    /// With `--remind`: the stack's issue, which gets the teardown's result and is closed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issue: Option<u64>,
}

/// `strategy.matrix` for `fromJSON`: `include` lists each expired stack.
#[derive(Debug, Clone, Serialize)]
pub struct Matrix {
    pub include: Vec<Include>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Stacks {
    pub schema: &'static str,
    pub root: String,
    /// The time the statuses are as of.
    pub now: String,
    pub stacks: Vec<Entry>,
    pub matrix: Matrix,
}

impl Stacks {
    pub fn errors(&self) -> usize {
        self.stacks.iter().filter(|s| s.error.is_some()).count()
    }

    pub fn render_human(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:<12} {:<24} {:<13} {:<12} {:<21} {:>10}  config",
            "status", "stack", "account", "region", "expires", "$/day"
        );
        for s in &self.stacks {
            let [status, stack, account, region, expires, per_day, config] = s.cells();
            let _ = writeln!(
                out,
                "{status:<12} {stack:<24} {account:<13} {region:<12} {expires:<21} {per_day:>10}  {config}"
            );
        }
        for s in self.stacks.iter().filter(|s| s.error.is_some()) {
            let _ = writeln!(out, "error: {}: {}", s.config, s.error.as_deref().unwrap_or_default());
        }
        let _ = writeln!(
            out,
            "\n{} stacks under {} as of {}: {} expired, {} expiring, {} with errors.",
            self.stacks.len(),
            self.root,
            self.now,
            self.count(Status::Expired),
            self.count(Status::Expiring),
            self.errors()
        );
        out
    }

    pub fn render_markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "### sundown stacks under `{}`, as of {}\n", self.root, self.now);
        let _ = writeln!(
            out,
            "| status | stack | account | region | expires | $/day | config |\n| --- | --- | --- | --- | --- | ---: | --- |"
        );
        for s in &self.stacks {
            let [status, stack, account, region, expires, per_day, config] = s.cells();
            let _ = writeln!(
                out,
                "| {status} | `{stack}` | {account} | {region} | {expires} | {per_day} | `{config}` |"
            );
        }
        for s in self.stacks.iter().filter(|s| s.error.is_some()) {
            let _ = writeln!(
                out,
                "\n- **error** `{}`: {}",
                s.config,
                s.error.as_deref().unwrap_or_default().replace('\n', " ")
            );
        }
        out
    }

    fn count(&self, status: Status) -> usize {
        self.stacks.iter().filter(|s| s.status == status).count()
    }
}

/// Every `sundown.yaml` under `root`, sorted; build output and VCS data skipped.
pub fn find(root: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            let path = entry.path();
            let kind = entry.file_type()?;
            if kind.is_dir() {
                if !SKIPPED.iter().any(|s| entry.file_name() == *s) {
                    dirs.push(path);
                }
            } else if entry.file_name() == FILE_NAME {
                found.push(path);
            }
        }
    }
    found.sort();
    Ok(found)
}

/// Reads every config under `root` and judges each stack as of `now` (Unix seconds).
pub fn run(root: &Path, now: u64) -> anyhow::Result<Stacks> {
    let paths = find(root).map_err(|e| anyhow::anyhow!("reading {}: {e}", root.display()))?;
    let mut stacks: Vec<Entry> = paths.iter().map(|p| entry(root, p, now)).collect();
    refuse_duplicates(&mut stacks);
    let include = matrix(&stacks, None);
    Ok(Stacks {
        schema: SCHEMA,
        root: root.display().to_string(),
        now: rfc3339(now),
        stacks,
        matrix: Matrix { include },
    })
}

/// The expired, valid stacks; after the reminders (`reminded`: now), only those whose
/// reminder went out at least `remind_before` ago, with its time.
fn matrix(stacks: &[Entry], reminded: Option<u64>) -> Vec<Include> {
    stacks
        .iter()
        .filter(|s| s.status == Status::Expired && s.error.is_none())
        .filter(|s| {
            reminded.is_none_or(|now| {
                let at = s.reminded_at.as_deref().and_then(crate::clock::parse_utc);
                at.zip(s.lifetime())
                    .is_some_and(|(at, (_, before))| at + before.as_secs() <= now)
            })
        })
        .filter_map(|s| {
            Some(Include {
                config: s.config.clone(),
                stack: s.stack.clone()?,
                account: s.account.clone()?,
                region: s.region.clone()?,
                reminded_at: s.reminded_at.clone(),
                issue: s.issue,
            })
        })
        .collect()
}

/// `sundown stacks`, as the CLI and the Action run it: every stack under
/// `root` as of `now`, priced with `prices`; with `remind` (the repository of the stacks' issues),
/// each due reminder sent, also to SNS `topic` when given, and the matrix narrowed.
pub async fn list(
    root: &Path,
    prices: bool,
    remind: Option<crate::notify::reminder::Repo>,
    topic: Option<&str>,
    now: u64,
) -> anyhow::Result<Stacks> {
    let mut stacks = run(root, now)?;
    if prices {
        price(&mut stacks).await;
    }
    if let Some(repo) = remind {
        let sns = match topic {
            Some(t) => Some(crate::aws::Aws::load(crate::notify::sns::topic_region(t)).await.sns()),
            None => None,
        };
        self::remind(&mut stacks, &repo, sns.as_ref().zip(topic), now).await;
    }
    Ok(stacks)
}

/// Prices each valid stack of the credentials' account as `sundown cost`
/// does (its discovery, then the Price List or the built-in table), as its
/// running $/day; a stack of another account is left unpriced, saying why.
pub async fn price(stacks: &mut Stacks) {
    let mut identities: BTreeMap<String, Option<(crate::aws::Aws, crate::aws::Identity)>> = BTreeMap::new();
    for s in stacks.stacks.iter_mut().filter(|s| s.error.is_none()) {
        let Some(config) = &s.loaded else { continue };
        if !identities.contains_key(&config.region) {
            let aws = crate::aws::Aws::load(&config.region).await;
            let found = aws.identity().await.ok().map(|id| (aws, id));
            identities.insert(config.region.clone(), found);
        }
        let Some((aws, identity)) = identities.get(&config.region).and_then(Option::as_ref) else {
            s.not_priced = Some("the credentials cannot be used (sts GetCallerIdentity failed)".to_owned());
            continue;
        };
        if s.account.as_deref() != Some(identity.account.as_str()) {
            s.not_priced = Some(format!(
                "in account {}, not the credentials' ({}); the expiry job of that account prices it",
                s.account.as_deref().unwrap_or("-"),
                identity.account
            ));
            continue;
        }
        let stack = crate::discover::stack(config, aws, crate::discover::Preread::default()).await;
        let options = crate::cost::Options {
            offline: false,
            full: false,
        };
        let cost = crate::cost::build(config, aws, identity, &stack, options).await;
        s.usd_per_day = Some(crate::cost::round(
            cost.totals.running_usd_per_month * 24.0 / crate::cost::window::HOURS_PER_MONTH,
        ));
    }
}

/// Sends the reminder of every expiring or expired stack that has none out
/// for its `expires_at` (`notify::reminder`), records when each went out,
/// and narrows the matrix to the stacks reminded `remind_before` ago or more.
/// A stack whose reminder fails gets the error; the others go on.
pub async fn remind(
    stacks: &mut Stacks,
    repo: &crate::notify::reminder::Repo,
    sns: Option<(&aws_sdk_sns::Client, &str)>,
    now: u64,
) {
    for s in stacks
        .stacks
        .iter_mut()
        .filter(|s| matches!(s.status, Status::Expired | Status::Expiring) && s.error.is_none())
    {
        let (Some(stack), Some(account), Some(region), Some((expires_at, remind_before))) =
            (&s.stack, &s.account, &s.region, s.lifetime())
        else {
            continue;
        };
        let due = crate::notify::reminder::Due {
            stack,
            account,
            region,
            config: &s.config,
            expires_at,
            remind_before,
            usd_per_day: s.usd_per_day,
        };
        match crate::notify::reminder::remind(repo, sns, &due, now).await {
            Ok(delivered) => {
                s.reminded_at = Some(rfc3339(delivered.reminded_at));
                s.issue = Some(delivered.issue);
            }
            Err(e) => s.error = Some(format!("reminder: {e:#}")),
        }
    }
    stacks.matrix.include = matrix(&stacks.stacks, Some(now));
}

fn entry(root: &Path, path: &Path, now: u64) -> Entry {
    let config = path.strip_prefix(root).unwrap_or(path).display().to_string();
    match Config::load(path) {
        Err(e) => Entry {
            config,
            stack: None,
            account: None,
            region: None,
            status: Status::Invalid,
            expires_at: None,
            remind_at: None,
            reminded_at: None,
            issue: None,
            usd_per_day: None,
            not_priced: None,
            loaded: None,
            error: Some(e.to_string()),
        },
        Ok(c) => {
            let status = match &c.lifetime {
                None => Status::NoLifetime,
                Some(l) if l.expires_at <= now => Status::Expired,
                Some(l) if l.expires_at.saturating_sub(l.remind_before.as_secs()) <= now => Status::Expiring,
                Some(_) => Status::Alive,
            };
            // The expiry run assumes a role per account; a stack that names none cannot be reached.
            let error = (c.accounts.is_empty() && c.lifetime.is_some()).then(|| {
                "`accounts` is empty: the expiry run cannot choose the account's role, and a teardown refuses; \
                 list the stack's account"
                    .to_owned()
            });
            Entry {
                config,
                stack: Some(c.stack.clone()),
                account: c.accounts.first().cloned(),
                region: Some(c.region.clone()),
                status,
                expires_at: c.lifetime.as_ref().map(|l| rfc3339(l.expires_at)),
                remind_at: c
                    .lifetime
                    .as_ref()
                    .map(|l| rfc3339(l.expires_at.saturating_sub(l.remind_before.as_secs()))),
                reminded_at: None,
                issue: None,
                usd_per_day: None,
                not_priced: None,
                loaded: Some(c.clone()),
                error,
            }
        }
    }
}

/// Two configs for one stack in one account would tear down each other's
/// resources: both are refused, each naming the other.
fn refuse_duplicates(stacks: &mut [Entry]) {
    let mut by_key: BTreeMap<(String, String), Vec<usize>> = BTreeMap::new();
    for (i, s) in stacks.iter().enumerate() {
        if let (Some(stack), Some(account)) = (&s.stack, &s.account) {
            by_key.entry((stack.clone(), account.clone())).or_default().push(i);
        }
    }
    for ((stack, account), at) in by_key.into_iter().filter(|(_, at)| at.len() > 1) {
        let paths: Vec<String> = at.iter().map(|i| stacks[*i].config.clone()).collect();
        for i in at {
            let others: Vec<&str> = paths
                .iter()
                .filter(|p| **p != stacks[i].config)
                .map(String::as_str)
                .collect();
            stacks[i].status = Status::Invalid;
            stacks[i].error = Some(format!(
                "stack {stack} in account {account} is also configured by {}; one config per stack and account",
                others.join(", ")
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, dir: &str, text: &str) {
        std::fs::create_dir_all(root.join(dir)).unwrap();
        std::fs::write(root.join(dir).join(FILE_NAME), text).unwrap();
    }

    #[test]
    fn each_stack_gets_its_status_and_the_matrix_lists_the_expired() {
        let root = std::env::temp_dir().join(format!("sundown-stacks-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let now = 1_796_652_000; // 2026-12-07T14:00:00Z
        let stack = |name: &str, account: &str, lifetime: &str| {
            format!("stack: {name}\nregion: us-east-1\naccounts: [\"{account}\"]\n{lifetime}")
        };
        write(
            &root,
            "gone",
            &stack(
                "gone",
                "111111111111",
                "lifetime:\n  expires_at: 2026-12-07T13:00:00Z\n",
            ),
        );
        write(
            &root,
            "soon",
            &stack(
                "soon",
                "222222222222",
                "lifetime:\n  expires_at: 2026-12-08T10:00:00Z\n",
            ),
        );
        write(
            &root,
            "later",
            &stack(
                "later",
                "222222222222",
                "lifetime:\n  expires_at: 2027-01-31T18:00:00Z\n",
            ),
        );
        write(&root, "forever", &stack("forever", "111111111111", ""));
        write(
            &root,
            "broken",
            "stack: broken\nregion: us-east-1\nlifetime:\n  expires_at: tomorrow\n",
        );
        write(&root, "a/twin", &stack("twin", "111111111111", ""));
        write(&root, "b/twin", &stack("twin", "111111111111", ""));
        write(&root, "target/ignored", &stack("ignored", "111111111111", ""));

        let stacks = run(&root, now).unwrap();
        let status: Vec<(&str, Status)> = stacks.stacks.iter().map(|s| (s.config.as_str(), s.status)).collect();
        assert_eq!(
            status,
            [
                ("a/twin/sundown.yaml", Status::Invalid),
                ("b/twin/sundown.yaml", Status::Invalid),
                ("broken/sundown.yaml", Status::Invalid),
                ("forever/sundown.yaml", Status::NoLifetime),
                ("gone/sundown.yaml", Status::Expired),
                ("later/sundown.yaml", Status::Alive),
                ("soon/sundown.yaml", Status::Expiring),
            ]
        );
        assert_eq!(
            stacks.matrix.include,
            [Include {
                config: "gone/sundown.yaml".into(),
                stack: "gone".into(),
                account: "111111111111".into(),
                region: "us-east-1".into(),
                reminded_at: None,
                issue: None,
            }]
        );
        assert_eq!(stacks.errors(), 3);
        let broken = stacks.stacks[2].error.as_deref().unwrap();
        assert!(
            broken.contains(":4:") && broken.contains("lifetime.expires_at") && broken.contains("is not a time"),
            "{broken}"
        );
        assert!(
            stacks.stacks[0]
                .error
                .as_deref()
                .unwrap()
                .contains("also configured by b/twin/sundown.yaml")
        );
        assert_eq!(stacks.stacks[6].remind_at.as_deref(), Some("2026-12-07T10:00:00Z"));
        let _ = std::fs::remove_dir_all(&root);
    }
}
