//! Bounded polling with backoff, for every "wait until it is gone".
//!
//! Every wait has a deadline; none sleeps a fixed interval, and every wait
//! ends early, with `Interrupted`, when the run is asked to stop.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

use crate::cancel::Stop;

/// A wait cut short because the run was asked to stop (a signal).
#[derive(Debug)]
pub struct Interrupted;

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("interrupted by a signal before the wait ended")
    }
}

impl std::error::Error for Interrupted {}

const FIRST_DELAY: Duration = Duration::from_millis(200);
const MAX_DELAY: Duration = Duration::from_secs(10);
/// Each pause is this share of the time waited so far: a thing that takes T
/// is seen gone by 1.25 T at the latest (plus one round trip), whatever T is.
const SHARE: u32 = 4;

/// The rounds of one wait: the first at once, each later one after a pause of
/// a quarter of the time waited so far (200 ms to 10 s), the last at the
/// deadline. For waits whose rounds do more than answer yes or no (delete
/// what became ready, record what failed).
pub struct Rounds<'a> {
    started: Instant,
    deadline: Instant,
    stop: &'a Stop,
    first: bool,
}

impl<'a> Rounds<'a> {
    pub fn new(limit: Duration, stop: &'a Stop) -> Rounds<'a> {
        let started = Instant::now();
        Rounds {
            started,
            deadline: started + limit,
            stop,
            first: true,
        }
    }

    /// Waits for the next round: `Ok(true)` to run it, `Ok(false)` when the
    /// deadline has passed, `Interrupted` when the run was asked to stop.
    pub async fn next(&mut self) -> anyhow::Result<bool> {
        if self.stop.requested() {
            return Err(Interrupted.into());
        }
        if std::mem::take(&mut self.first) {
            return Ok(true);
        }
        let now = Instant::now();
        if now >= self.deadline {
            return Ok(false);
        }
        let delay = ((now - self.started) / SHARE).clamp(FIRST_DELAY, MAX_DELAY);
        tokio::select! {
            () = tokio::time::sleep(delay.min(self.deadline - now)) => Ok(true),
            () = self.stop.stopping() => Err(Interrupted.into()),
        }
    }
}

/// Polls `check` until it returns `Ok(true)` or `limit` passes; `Ok(false)`
/// means the deadline passed first, an `Interrupted` error that `stop` was
/// raised. Each pause is a quarter of the time waited so far, from 200 ms
/// to at most 10 s.
pub async fn until<F, Fut>(limit: Duration, stop: &Stop, mut check: F) -> anyhow::Result<bool>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<bool>>,
{
    let mut rounds = Rounds::new(limit, stop);
    while rounds.next().await? {
        if check().await? {
            return Ok(true);
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn gives_up_at_the_deadline_and_backs_off() {
        let mut calls = 0;
        let done = until(Duration::from_secs(30), &Stop::new(), || {
            calls += 1;
            async { Ok(false) }
        })
        .await
        .unwrap();
        assert!(!done);
        // 0.2, 0.4, 0.6, 0.8, 1.0, 1.25, 1.56, … up to 30 s: far fewer polls than a fixed 200 ms sleep (150).
        assert!((10..30).contains(&calls), "{calls} polls");
    }

    #[tokio::test(start_paused = true)]
    async fn sees_a_thing_gone_within_a_quarter_of_its_time() {
        for gone_after in [1.0, 3.0, 7.5, 30.0] {
            let started = Instant::now();
            let gone = Duration::from_secs_f64(gone_after);
            assert!(
                until(Duration::from_secs(60), &Stop::new(), || async move {
                    Ok(started.elapsed() >= gone)
                })
                .await
                .unwrap()
            );
            let seen = started.elapsed().as_secs_f64();
            assert!(
                seen <= gone_after * 1.25 + 0.21,
                "gone at {gone_after}s, seen at {seen}s"
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn stops_as_soon_as_the_check_passes() {
        let mut calls = 0;
        let done = until(Duration::from_secs(30), &Stop::new(), || {
            calls += 1;
            let n = calls;
            async move { Ok(n == 3) }
        })
        .await
        .unwrap();
        assert!(done);
        assert_eq!(calls, 3);
    }

    #[tokio::test(start_paused = true)]
    async fn a_stop_ends_the_wait_with_interrupted() {
        let stop = Stop::new();
        let raiser = stop.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(5)).await;
            raiser.raise(crate::cancel::Level::Stopping);
        });
        let started = Instant::now();
        let err = until(Duration::from_secs(600), &stop, || async { Ok(false) })
            .await
            .unwrap_err();
        assert!(err.is::<Interrupted>(), "{err:#}");
        assert!(started.elapsed() < Duration::from_secs(6), "{:?}", started.elapsed());
    }
}
