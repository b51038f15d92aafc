//! Fault drills: a teardown through a proxy that fails 10% of requests, and
//! teardowns killed (SIGKILL) at random moments and run again. Every trial
//! must end with nothing left and exit 0. `cargo xtask drill` runs the
//! kill-and-resume drill with more trials (`SUNDOWN_DRILL_TRIALS`).

use std::os::unix::process::ExitStatusExt;
use std::sync::atomic::Ordering;
use std::time::Duration;

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

/// Each trial kills (SIGKILL) a teardown just after one of the progress lines a
/// whole teardown of this stack prints (a reference run counts them), a
/// different one per trial: so every kill lands mid-run, in whichever phase,
/// however fast or loaded the machine. A kill timed by the clock could land
/// after the run had finished, and a trial that was never killed proves
/// nothing: the drill counts the kills and fails unless every trial was one.
#[tokio::test(flavor = "multi_thread")]
async fn kill_and_resume_drill() {
    let Drill { trials, seed } = Drill::from_env(5);
    let lines = {
        let (world, config) = seeded("80");
        let whole = world
            .sundown()
            .config(&config)
            .args(&["teardown", "--confirm", "destroy"])
            .run();
        assert_eq!(whole.code, 0, "the reference teardown: {whole:#?}");
        whole.stderr.lines().count()
    };
    assert!(lines >= 10, "a whole teardown printed only {lines} progress lines");
    let (mut clean, mut killed) = (0, 0);
    let mut failures = Vec::new();
    for trial in 0..trials {
        let (world, config) = seeded("80");
        // After 0 to lines-3 lines: the last ones are printed as the run ends.
        let after = Drill::pick(seed.wrapping_add(trial), lines as u64 - 2) as usize;
        let mut running = world
            .sundown()
            .config(&config)
            .args(&["teardown", "--confirm", "destroy"])
            .start();
        while running.lines().len() < after && running.child.try_wait().unwrap().is_none() {
            std::thread::sleep(Duration::from_millis(2));
        }
        let _ = running.child.kill();
        // Killed mid-run when it died of the SIGKILL: a run that ended by itself, even
        // between the last look and the kill, exits with a code instead.
        let status = running.child.wait().unwrap();
        let mid_run = status.signal() == Some(libc::SIGKILL);
        let seen = running.lines();
        let what = match (mid_run, seen.last()) {
            (true, Some(line)) => format!("killed after line {after} of {lines}, {:?}", line.trim()),
            (true, None) => format!("killed before its first line (after {after} of {lines})"),
            (false, _) => format!("not killed mid-run ({status}), meant after line {after} of {lines}"),
        };
        killed += usize::from(mid_run);
        world.wait_for_terraform_to_exit();
        // The state must be whole and agree with what the destroy did (markers), before and after the re-run.
        // A kill that lands while a provisioner's command is exiting may leave its resource in
        // state with its marker written: Terraform's stop cancels the command's context, and Go's
        // os/exec reports a command that exits after the cancel as failed even when it succeeded
        // (`Cmd.Cancel`: "If the command exits with a success status after Cancel is called …
        // Wait … will return a non-nil error"). That destroy is recorded failed and the re-run
        // repeats it, which is safe; a resource gone from state without its marker is not.
        let killed_state = world.marker_invariant(3).or_else(|e| {
            if e.contains("without its marker") {
                Err(e)
            } else {
                Ok((0, 0))
            }
        });
        let rerun = world
            .sundown()
            .config(&config)
            .args(&["teardown", "--confirm", "destroy"])
            .run();
        let left = world.leftovers(&REPOS).await;
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
    println!("drill: {trials} trials run, {killed} killed mid-run, {clean} clean");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(
        killed, trials as usize,
        "a trial that was not killed mid-run proves nothing"
    );
}
