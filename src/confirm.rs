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
        let mut config = Config::parse("stack: s\nregion: r\n", std::path::Path::new("s.yaml")).unwrap();
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
