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

/// Polls `check` until it returns `Ok(true)` or `limit` passes; `Ok(false)`
/// means the deadline passed first, an `Interrupted` error that `stop` was
/// raised. Delays grow 1.5× from 200 ms to 10 s.
pub async fn until<F, Fut>(limit: Duration, stop: &Stop, mut check: F) -> anyhow::Result<bool>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<bool>>,
{
    let deadline = Instant::now() + limit;
    let mut delay = FIRST_DELAY;
    loop {
        if stop.requested() {
            return Err(Interrupted.into());
        }
        if check().await? {
            return Ok(true);
        }
        let now = Instant::now();
        if now >= deadline {
            return Ok(false);
        }
        tokio::select! {
            () = tokio::time::sleep(delay.min(deadline - now)) => {}
            () = stop.stopping() => return Err(Interrupted.into()),
        }
        delay = (delay * 3 / 2).min(MAX_DELAY);
    }
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
        // 0.2, 0.3, 0.45, … up to 30 s: far fewer polls than a fixed 200 ms sleep (150).
        assert!((5..20).contains(&calls), "{calls} polls");
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
