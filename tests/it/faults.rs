//! Fault drills: a teardown through a proxy that fails 10% of requests, and
//! teardowns killed (SIGKILL) at random moments and run again. Every trial
//! must end with nothing left and exit 0. `cargo xtask drill` runs the
//! kill-and-resume drill with more trials (`SUNDOWN_DRILL_TRIALS`).

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::fault_proxy::{FaultProxy, Faults};
use crate::support::{Drill, World};

const REPOS: [&str; 2] = ["retail-forecast", "mlops/retail-api"];

fn seeded(images: &str) -> (World, std::path::PathBuf) {
    let world = World::start().with_namespaces(&["retail-forecast"]);
    world.seed(&[
        "--endpoints",
        "3",
        "--repo",
        &format!("retail-forecast:{images}"),
        "--repo",
        "mlops/retail-api:40",
    ]);
    let markers = world.path("markers");
    std::fs::create_dir_all(&markers).unwrap();
    world.terraform(&["resources=3", &format!("marker_dir={}", markers.display())]);
    let config = world.stack_config("20s", "");
    (world, config)
}

#[tokio::test(flavor = "multi_thread")]
async fn teardown_finishes_with_ten_percent_of_requests_failing() {
    let (world, config) = seeded("150");
    let proxy = FaultProxy::start(
        world.moto.port,
        Faults {
            rate: 0.10,
            seed: 2026,
            ..Faults::default()
        },
    );
    let out = world
        .sundown()
        .config(&config)
        .env("AWS_ENDPOINT_URL", &proxy.endpoint())
        .args(&["teardown", "--confirm", "destroy"])
        .run();
    let injected = proxy.injected.load(Ordering::Relaxed);
    let forwarded = proxy.forwarded.load(Ordering::Relaxed);
    assert_eq!(out.code, 0, "with {injected} faults in {forwarded} requests: {out:#?}");
    assert!(
        injected * 20 >= forwarded,
        "too few faults to mean anything: {injected} of {forwarded}"
    );
    let left = world.leftovers(&REPOS).await;
    assert!(left.is_empty(), "left after a faulty teardown: {left:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_and_resume_drill() {
    let Drill { trials, seed } = Drill::from_env(5);
    let mut clean = 0;
    let mut failures = Vec::new();
    for trial in 0..trials {
        let (world, config) = seeded("80");
        let at = Drill::moment(seed.wrapping_add(trial), 4000);
        let mut child = world
            .sundown()
            .config(&config)
            .args(&["teardown", "--confirm", "destroy"])
            .spawn();
        let started = Instant::now();
        while started.elapsed() < at && child.try_wait().unwrap().is_none() {
            std::thread::sleep(Duration::from_millis(10));
        }
        let killed = child.try_wait().unwrap().is_none();
        let _ = child.kill();
        let _ = child.wait();
        world.wait_for_terraform_to_exit();
        // The state must be whole and agree with what the destroy did (markers), before and after the re-run.
        let killed_state = world.marker_invariant(3);
        let rerun = world
            .sundown()
            .config(&config)
            .args(&["teardown", "--confirm", "destroy"])
            .run();
        let left = world.leftovers(&REPOS).await;
        let what = if killed {
            format!("killed after {at:?}")
        } else {
            "finished before the kill".into()
        };
        let after = world.marker_invariant(3);
        if let (Err(e), _) | (_, Err(e)) = (&killed_state, &after) {
            failures.push(format!(
                "trial {trial} ({what}): Terraform's state and the markers disagree: {e}"
            ));
        } else if rerun.code == 0 && left.is_empty() && after == Ok((0, 3)) {
            clean += 1;
            println!("drill: trial {trial}: {what}; the re-run exited 0 with nothing left");
        } else {
            failures.push(format!(
                "trial {trial} ({what}): re-run exit {}, left {left:?}, stderr {}",
                rerun.code, rerun.stderr
            ));
        }
    }
    println!("drill: {trials} trials run, {clean} clean");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
