//! The order between a teardown's phases, as signals: a phase tells the next
//! one when it has issued its deletions (the next may issue its own while
//! this one waits) and when it is complete (the next may take its last look
//! for what this one's workloads made meanwhile). Channels only: it knows
//! nothing of phases, and a phase that ends or fails without saying so
//! releases the next one all the same.

use std::sync::Arc;

use tokio::sync::watch;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Step {
    Running,
    Issued,
    Complete,
}

/// The sending side, held by one phase (and the code that runs it). When the
/// last clone is dropped the phase counts as complete.
#[derive(Clone)]
pub struct Handoff(Arc<watch::Sender<Step>>);

/// What a phase waits on: the phase before it.
#[derive(Clone)]
pub struct Turn(watch::Receiver<Step>);

/// A phase's two ends: it keeps the `Handoff`, the next phase gets the `Turn`.
pub fn handoff() -> (Handoff, Turn) {
    let (tx, rx) = watch::channel(Step::Running);
    (Handoff(Arc::new(tx)), Turn(rx))
}

impl Handoff {
    /// Every deletion this phase can issue without waiting is issued.
    pub fn issued(&self) {
        self.0.send_if_modified(|step| {
            let later = *step < Step::Issued;
            if later {
                *step = Step::Issued;
            }
            later
        });
    }

    /// This phase is over, and so is every phase before it.
    pub fn complete(&self) {
        self.0.send_replace(Step::Complete);
    }
}

impl Turn {
    /// The turn of the first phase: nothing comes before it.
    pub fn first() -> Turn {
        let (tx, rx) = watch::channel(Step::Complete);
        drop(tx);
        Turn(rx)
    }

    /// Until the phase before has issued its deletions (or ended).
    pub async fn issued(&self) {
        let _ = self.0.clone().wait_for(|step| *step >= Step::Issued).await;
    }

    /// Until the phase before, and every one before it, is complete.
    pub async fn complete(&self) {
        let _ = self.0.clone().wait_for(|step| *step == Step::Complete).await;
    }

    /// Whether the phase before is complete now.
    pub fn is_complete(&self) -> bool {
        *self.0.borrow() == Step::Complete || self.0.has_changed().is_err()
    }
}

/// A phase's place in the order: the phase before it, and the handoff to the one after.
pub struct Place {
    pub before: Turn,
    pub next: Handoff,
}

impl Place {
    /// Every deletion this phase can issue without waiting is issued: the next may issue its own.
    pub fn issued(&self) {
        self.next.issued();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_turn_comes_when_the_phase_before_says_so_or_ends() {
        let (before, turn) = handoff();
        assert!(!turn.is_complete());
        before.issued();
        turn.issued().await;
        assert!(!turn.is_complete());
        before.complete();
        turn.complete().await;
        assert!(turn.is_complete());
        // Issued after complete does not go back.
        before.issued();
        assert!(turn.is_complete());

        // A phase that ends without a word releases the next one.
        let (before, turn) = handoff();
        drop(before);
        turn.issued().await;
        turn.complete().await;
        assert!(turn.is_complete());
        assert!(Turn::first().is_complete());
    }
}
