//! Bounded polling with backoff, for every "wait until it is gone".
//!
//! Every wait has a deadline; none sleeps a fixed interval.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

const FIRST_DELAY: Duration = Duration::from_millis(200);
const MAX_DELAY: Duration = Duration::from_secs(10);

/// Polls `check` until it returns `Ok(true)` or `limit` passes; `Ok(false)`
/// means the deadline passed first. Delays grow 1.5× from 200 ms to 10 s.
pub async fn until<F, Fut>(limit: Duration, mut check: F) -> anyhow::Result<bool>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<bool>>,
{
    let deadline = Instant::now() + limit;
    let mut delay = FIRST_DELAY;
    loop {
        if check().await? {
            return Ok(true);
        }
        let now = Instant::now();
        if now >= deadline {
            return Ok(false);
        }
        tokio::time::sleep(delay.min(deadline - now)).await;
        delay = (delay * 3 / 2).min(MAX_DELAY);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn gives_up_at_the_deadline_and_backs_off() {
        let mut calls = 0;
        let done = until(Duration::from_secs(30), || {
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
        let done = until(Duration::from_secs(30), || {
            calls += 1;
            let n = calls;
            async move { Ok(n == 3) }
        })
        .await
        .unwrap();
        assert!(done);
        assert_eq!(calls, 3);
    }
}
