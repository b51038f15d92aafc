//! Exit codes and the one error type that maps to "refused" (2).
//!
//! Owns the documented contract: 0 done, 1 a phase or check failed,
//! 2 refused, usage or config error. Nothing else decides an exit code.

use std::fmt;
use std::process::ExitCode;

use crate::config::ConfigError;

/// Everything finished as asked.
pub const DONE: u8 = 0;
/// Work began and a phase or check failed.
pub const FAILED: u8 = 1;
/// Refused before doing anything: bad input, missing confirmation, wrong account.
pub const REFUSED: u8 = 2;

/// An error the user fixes before anything runs; the message names the fix.
#[derive(Debug)]
pub struct Refusal(pub String);

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refusal {}

/// Shorthand for an `anyhow::Error` that exits with code 2.
pub fn refuse(message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Refusal(message.into()))
}

/// The exit code for an error that ended the run.
pub fn code_for(err: &anyhow::Error) -> ExitCode {
    ExitCode::from(code_u8(err))
}

/// `code_for` as a number, for callers that report it (the Action's `status`).
pub fn code_u8(err: &anyhow::Error) -> u8 {
    let refused = err.chain().any(|e| e.is::<Refusal>() || e.is::<ConfigError>());
    if refused { REFUSED } else { FAILED }
}
