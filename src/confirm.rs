//! The gate between the plan and the phases: the typed confirmation and the
//! account guard. Nothing in here sends a request; callers place the checks
//! so that the phrase is checked before any AWS request and the account
//! before any mutating one.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::Result;

use crate::aws::Identity;
use crate::config::Config;
use crate::exit::refuse;

/// The phrase a teardown must be confirmed with.
pub const PHRASE: &str = "destroy";

/// How the confirmation is obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confirmation {
    /// `--confirm destroy` was given.
    Given,
    /// Nothing was given and stdin is a terminal: ask after showing the plan.
    Ask,
    /// `--expired`: the stack's `lifetime` has passed and its reminder went out in time
    /// (`check_lifetime`); the reviewed commit that set `expires_at` is the confirmation.
    Expired,
}

/// `teardown --expired`: what the expiry workflow passes for a stack it found expired.
#[derive(Debug, Clone)]
pub struct Expiry {
    /// The config file, whose history names the commit that set `expires_at`.
    pub config_path: std::path::PathBuf,
    /// When the stack's reminder was delivered (Unix seconds).
    pub reminded_at: u64,
}

/// Checks an expiry confirmation, before any AWS request: the config has a
/// `lifetime` that has passed (`now`, Unix seconds), its reminder went out at
/// least `remind_before` ago, and `expires_at` is committed, unchanged in the
/// work tree. Returns what the run says of it, naming the commit.
pub fn check_lifetime(config: &Config, expiry: &Expiry, now: u64) -> Result<String> {
    let path = expiry.config_path.display();
    let Some(lifetime) = &config.lifetime else {
        return Err(refuse(format!(
            "--expired: {path} has no lifetime; only a stack with `lifetime:` is torn down without --confirm {PHRASE}"
        )));
    };
    let (expires, reminded) = (
        crate::clock::rfc3339(lifetime.expires_at),
        crate::clock::rfc3339(expiry.reminded_at),
    );
    if lifetime.expires_at > now {
        return Err(refuse(format!(
            "--expired: stack {} expires at {expires}, not yet; nothing was touched",
            config.stack
        )));
    }
    let due = expiry.reminded_at.saturating_add(lifetime.remind_before.as_secs());
    if expiry.reminded_at > now || due > now {
        return Err(refuse(format!(
            "--expired: the reminder of stack {} went out at {reminded}, less than lifetime.remind_before ({}) ago; \
             it is torn down from {} on, nothing was touched",
            config.stack,
            crate::text::short_duration(lifetime.remind_before),
            crate::clock::rfc3339(due)
        )));
    }
    let commit = committed_lifetime(&expiry.config_path)?;
    Ok(format!(
        "confirmed by its lifetime: expired at {expires}, set by commit {commit}; reminded at {reminded}"
    ))
}

/// The last commit that changed `expires_at` in `path` (`SHA (author): subject`),
/// refusing when the file has changes that are not committed.
fn committed_lifetime(path: &std::path::Path) -> Result<String> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let file = path.file_name().map(std::path::Path::new).unwrap_or(path);
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .current_dir(dir)
            .args(args)
            .arg("--")
            .arg(file)
            .output()
            .map_err(|e| {
                refuse(format!(
                    "--expired: running git to find the commit that set expires_at: {e}; install git"
                ))
            })
    };
    let changed = git(&["diff", "--quiet", "HEAD"])?;
    if !changed.status.success() {
        return Err(refuse(format!(
            "--expired: {} has changes that are not committed (or is not in a git repository); \
             the reviewed commit that sets expires_at is the confirmation",
            path.display()
        )));
    }
    let log = git(&["log", "-n1", "--format=%h (%an): %s", "-G", "^[[:space:]]*expires_at:"])?;
    let line = String::from_utf8_lossy(&log.stdout).trim().to_owned();
    if !log.status.success() || line.is_empty() {
        return Err(refuse(format!(
            "--expired: no commit sets expires_at in {}; commit it through a reviewed pull request",
            path.display()
        )));
    }
    Ok(line)
}

/// Checks `--confirm` before anything else happens.
pub fn check_phrase(given: Option<&str>, interactive: bool) -> Result<Confirmation> {
    match given {
        Some(PHRASE) => Ok(Confirmation::Given),
        Some(other) => Err(refuse(format!(
            "confirmation {other:?} is not {PHRASE:?}; nothing was touched. Re-run with --confirm {PHRASE}"
        ))),
        None if interactive => Ok(Confirmation::Ask),
        None => Err(refuse(format!(
            "teardown needs a confirmation and stdin is not a terminal; pass --confirm {PHRASE}"
        ))),
    }
}

/// Whether stdin is a terminal a person can type into.
pub fn stdin_is_terminal() -> bool {
    std::io::stdin().is_terminal()
}

/// Asks for the phrase on the terminal (prompt on stderr); anything else refuses.
pub fn ask(stack: &str, account: &str) -> Result<()> {
    let mut stderr = std::io::stderr();
    write!(
        stderr,
        "\nType {PHRASE:?} to delete stack {stack} in account {account}: "
    )?;
    stderr.flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    if line.trim_end_matches(['\r', '\n']) == PHRASE {
        Ok(())
    } else {
        Err(refuse(format!("confirmation was not {PHRASE:?}; nothing was deleted")))
    }
}

/// The account guard: the credentials' account must be in `accounts`.
pub fn check_account(config: &Config, identity: &Identity) -> Result<()> {
    if config.accounts.is_empty() {
        return Err(refuse(format!(
            "`accounts` is empty, so teardown refuses every account; add \"{}\" to accounts in sundown.yaml if this is the stack's account",
            identity.account
        )));
    }
    if !config.accounts.contains(&identity.account) {
        return Err(refuse(format!(
            "account {} ({}) is not in accounts [{}]; switch credentials (AWS_PROFILE) or fix accounts in sundown.yaml",
            identity.account,
            identity.arn,
            config.accounts.join(", ")
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_phrase_passes() {
        assert_eq!(check_phrase(Some("destroy"), false).unwrap(), Confirmation::Given);
        for wrong in ["Destroy", "destroy ", "yes", ""] {
            let err = check_phrase(Some(wrong), true).unwrap_err();
            assert!(err.to_string().contains("--confirm destroy"), "{err}");
        }
        assert_eq!(check_phrase(None, true).unwrap(), Confirmation::Ask);
        assert!(
            check_phrase(None, false)
                .unwrap_err()
                .to_string()
                .contains("not a terminal")
        );
    }

    #[test]
    fn account_guard_needs_an_allowlist_that_names_the_account() {
        let identity = Identity {
            account: "123456789012".into(),
            arn: "arn:aws:iam::123456789012:user/x".into(),
        };
        let mut config = Config::parse("stack: s\nregion: us-east-1\n", std::path::Path::new("s.yaml")).unwrap();
        assert!(
            check_account(&config, &identity)
                .unwrap_err()
                .to_string()
                .contains("`accounts` is empty")
        );
        config.accounts = vec!["999999999999".into()];
        assert!(
            check_account(&config, &identity)
                .unwrap_err()
                .to_string()
                .contains("not in accounts")
        );
        config.accounts.push("123456789012".into());
        check_account(&config, &identity).unwrap();
    }
}
