//! Stopping a teardown cleanly on a signal.
//!
//! SIGINT or SIGTERM asks the run to stop at its next safe point: no new phase
//! starts, waits end early, and Terraform, if it runs, gets one SIGINT and is
//! waited for while it saves its state and releases its lock. Owns the signal
//! handlers and the `Stop` handle the phases look at; it deletes nothing.
//!
//! GitHub cancels a step with SIGINT, then SIGTERM 7.5 s later, then a kill
//! 2.5 s after that. A later signal of the same cancel must not cut the wait
//! for Terraform short, so only a second Ctrl-C at a terminal escalates.

use std::sync::Arc;

use tokio::sync::watch;

/// How far a stop has gone; it only ever rises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Nobody asked to stop.
    Running,
    /// Stop at the next safe point; Terraform gets one SIGINT and is waited for.
    Stopping,
    /// A second Ctrl-C at a terminal: Terraform gets a second SIGINT and stops at once.
    Now,
}

/// A shared "please stop" flag, raised by a signal (or by a test).
#[derive(Debug, Clone)]
pub struct Stop {
    level: Arc<watch::Sender<Level>>,
}

impl Default for Stop {
    fn default() -> Self {
        Stop::new()
    }
}

impl Stop {
    pub fn new() -> Stop {
        Stop {
            level: Arc::new(watch::Sender::new(Level::Running)),
        }
    }

    pub fn level(&self) -> Level {
        *self.level.borrow()
    }

    /// True once a stop was asked for.
    pub fn requested(&self) -> bool {
        self.level() >= Level::Stopping
    }

    /// Raises the level; a lower level than the current one changes nothing.
    pub fn raise(&self, level: Level) {
        self.level.send_if_modified(|current| {
            if level > *current {
                *current = level;
                true
            } else {
                false
            }
        });
    }

    /// Resolves once a stop was asked for (at once if it already was).
    pub async fn stopping(&self) {
        let mut rx = self.level.subscribe();
        // The sender lives as long as `self`, so this cannot fail while we wait.
        let _ = rx.wait_for(|level| *level >= Level::Stopping).await;
    }

    /// Installs the handlers: from now on SIGINT and SIGTERM raise this stop
    /// instead of ending the process. `interactive`: a person at a terminal,
    /// whose second Ctrl-C means "stop Terraform now".
    pub fn listen(&self, interactive: bool) -> std::io::Result<()> {
        let stop = self.clone();
        listen(move |signal| stop.on_signal(signal, interactive))
    }

    fn on_signal(&self, signal: Signal, interactive: bool) {
        match (self.level(), signal) {
            (Level::Running, _) => {
                tracing::warn!(
                    "{}: stopping after what is in flight; no new phase starts, and Terraform, if it runs, saves its state first",
                    signal.name()
                );
                self.raise(Level::Stopping);
            }
            (Level::Stopping, Signal::Interrupt) if interactive => {
                tracing::warn!("second Ctrl-C: stopping Terraform now; it may not record what it destroyed");
                self.raise(Level::Now);
            }
            (_, signal) => tracing::warn!(
                "{}: already stopping; waiting for Terraform to save its state and release its lock",
                signal.name()
            ),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Signal {
    Interrupt,
    Terminate,
}

impl Signal {
    fn name(self) -> &'static str {
        match self {
            Signal::Interrupt => "SIGINT",
            Signal::Terminate => "SIGTERM",
        }
    }
}

#[cfg(unix)]
fn listen(on: impl Fn(Signal) + Send + 'static) -> std::io::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    tokio::spawn(async move {
        loop {
            let received = tokio::select! {
                Some(()) = interrupt.recv() => Signal::Interrupt,
                Some(()) = terminate.recv() => Signal::Terminate,
                else => return,
            };
            on(received);
        }
    });
    Ok(())
}

#[cfg(not(unix))]
fn listen(on: impl Fn(Signal) + Send + 'static) -> std::io::Result<()> {
    tokio::spawn(async move {
        while tokio::signal::ctrl_c().await.is_ok() {
            on(Signal::Interrupt);
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_signals_of_one_cancel_do_not_escalate_unless_typed_at_a_terminal() {
        let stop = Stop::new();
        stop.on_signal(Signal::Interrupt, false);
        assert_eq!(stop.level(), Level::Stopping);
        // GitHub's SIGTERM 7.5 s after its SIGINT, and a repeated SIGINT from a non-terminal.
        stop.on_signal(Signal::Terminate, false);
        stop.on_signal(Signal::Interrupt, false);
        assert_eq!(stop.level(), Level::Stopping);

        let at_terminal = Stop::new();
        at_terminal.on_signal(Signal::Terminate, true);
        at_terminal.on_signal(Signal::Terminate, true);
        assert_eq!(at_terminal.level(), Level::Stopping);
        at_terminal.on_signal(Signal::Interrupt, true);
        assert_eq!(at_terminal.level(), Level::Now);
    }

    #[tokio::test]
    async fn stopping_resolves_once_raised_and_never_lowers() {
        let stop = Stop::new();
        let waiter = tokio::spawn({
            let stop = stop.clone();
            async move { stop.stopping().await }
        });
        stop.raise(Level::Now);
        stop.raise(Level::Stopping);
        assert_eq!(stop.level(), Level::Now);
        waiter.await.unwrap();
        stop.stopping().await;
    }
}
