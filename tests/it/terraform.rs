//! The Terraform phase as real Terraform and real signals meet it: a clean
//! stop on SIGTERM, SIGKILL and GitHub's SIGINT-then-SIGTERM cancel, with the
//! state intact (checked against marker files the destroy writes outside the
//! state); a refusal when there is no state or `init` fails; an S3 backend on
//! the emulator with its lock file; a state lock held by another run;
//! progress lines as each resource goes.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{Drill, World};

/// Resources of the interrupted-destroy drill; each takes 1.5 s to destroy.
const RESOURCES: usize = 12;

fn terraform_only_config(world: &World, extra: &str) -> std::path::PathBuf {
    world.config(&format!(
        "stack: retail-forecast\nregion: us-east-1\naccounts: [\"123456789012\"]\n\
         terraform:\n  dir: infra\n  binary: {}\n  lock_timeout: 5s\n{extra}",
        world.tools.terraform().display()
    ))
}

/// How sundown is stopped while `terraform destroy` runs.
#[derive(Debug, Clone, Copy)]
enum Interruption {
    /// One SIGTERM (a `kill`, a container stop).
    Term,
    /// SIGKILL: sundown cannot react; Terraform gets SIGTERM from PR_SET_PDEATHSIG.
    Kill,
    /// GitHub's cancel: SIGINT, then SIGTERM while sundown still waits for Terraform.
    IntThenTerm,
}

/// One trial: 12 slow resources, sundown interrupted mid-destroy, the state
/// checked against the markers, then a re-run that must finish the job.
fn interrupted_destroy(how: Interruption, after: Duration) -> Result<String, String> {
    let world = World::start();
    let markers = world.path("markers");
    std::fs::create_dir_all(&markers).unwrap();
    world.terraform(&[
        &format!("resources={RESOURCES}"),
        "slow_destroy_seconds=1.5",
        &format!("marker_dir={}", markers.display()),
    ]);
    let report = world.path("report.json");
    let config = terraform_only_config(&world, "");
    let running = world
        .sundown()
        .config(&config)
        .args(&["teardown", "--confirm", "destroy", "--report", report.to_str().unwrap()])
        .start();
    running.wait_for_line("terraform: destroying null_resource", Duration::from_secs(60));
    std::thread::sleep(after);
    let signalled = Instant::now();
    match how {
        Interruption::Term => running.signal(libc::SIGTERM),
        Interruption::Kill => running.signal(libc::SIGKILL),
        Interruption::IntThenTerm => {
            // Terraform takes a few hundred milliseconds to stop: the SIGTERM
            // arrives while sundown waits for it, and must not cut that wait short.
            running.signal(libc::SIGINT);
            std::thread::sleep(Duration::from_millis(50));
            running.signal(libc::SIGTERM);
        }
    }
    let (code, exited, lines) = running.finish(Duration::from_secs(30));
    let took = exited - signalled;
    match how {
        Interruption::Kill => world.wait_for_terraform_to_exit(),
        _ => {
            let still = crate::support::processes_under(&world.path("infra"));
            if still.iter().any(|(_, name)| name == "terraform") {
                return Err(format!("sundown exited before Terraform did: {still:?}"));
            }
            if code != 1 {
                return Err(format!("exit {code} after {how:?}, not 1: {lines:#?}"));
            }
            let report: Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
            let terraform = &report["phases"][3];
            if report["result"] != "interrupted" || terraform["status"] != "interrupted" {
                return Err(format!("the report does not say interrupted: {report:#}"));
            }
        }
    }
    // `terraform state list` must still work (the state file is whole), and agree with the markers.
    let (in_state, marked) = world.marker_invariant(RESOURCES)?;
    let rerun = world
        .sundown()
        .config(&config)
        .args(&["teardown", "--confirm", "destroy"])
        .run();
    if rerun.code != 0 {
        return Err(format!("the re-run exited {}: {rerun:#?}", rerun.code));
    }
    let (left, done) = world.marker_invariant(RESOURCES)?;
    if left != 0 || done != RESOURCES {
        return Err(format!("after the re-run: {left} in state, {done} markers"));
    }
    Ok(format!(
        "{how:?} {after:?} after the first destroy line: exited {took:.1?} later, {marked} destroyed and {in_state} kept in state, the re-run finished"
    ))
}

/// SIGTERM, SIGKILL and GitHub's SIGINT-then-SIGTERM in turn, `SUNDOWN_DRILL_TRIALS`
/// trials (3 here; `cargo xtask drill` runs 20), each at a moment drawn from the seed.
#[test]
fn an_interrupted_destroy_keeps_the_state_whole_and_the_rerun_finishes() {
    let Drill { trials, seed } = Drill::from_env(3);
    let ways = [Interruption::Term, Interruption::Kill, Interruption::IntThenTerm];
    let mut failures = Vec::new();
    for trial in 0..trials {
        let how = ways[(trial % 3) as usize];
        let after = std::time::Duration::from_millis(Drill::pick(seed.wrapping_add(trial), 2500));
        match interrupted_destroy(how, after) {
            Ok(line) => println!("drill: interrupted destroy {trial}: {line}"),
            Err(e) => failures.push(format!("trial {trial} ({how:?} after {after:?}): {e}")),
        }
    }
    println!(
        "drill: interrupted destroy: {trials} trials run, {} clean",
        trials as usize - failures.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_module_never_applied_here_is_refused_before_anything_is_deleted() {
    let world = World::start().with_namespaces(&["retail-forecast"]);
    world.seed(&["--endpoints", "1", "--repo", "retail-forecast:3"]);
    let infra = world.terraform_module();
    let config = world.stack_config("20s", "");
    world.moto.start_recording();
    let out = world
        .sundown()
        .config(&config)
        .args(&["teardown", "--confirm", "destroy"])
        .run();
    assert_eq!(out.code, 2, "{out:#?}");
    let line = out.stderr.trim_end();
    assert_eq!(line.lines().count(), 1, "{out:#?}");
    for needed in [
        "no Terraform state",
        &infra.display().to_string(),
        "backend local",
        "workspace default",
        "terraform.backend_config",
    ] {
        assert!(line.contains(needed), "{needed:?} missing: {line}");
    }
    let writes: Vec<_> = world.moto.recording().into_iter().filter(|r| !r.is_read()).collect();
    assert!(writes.is_empty(), "mutating requests before the refusal: {writes:#?}");
    assert!(
        !world.kube().requests().iter().any(|r| r.starts_with("DELETE")),
        "{:#?}",
        world.kube().requests()
    );

    // `plan` shows the same finding.
    let plan = world
        .sundown()
        .config(&config)
        .args(&["plan", "--output", "json"])
        .run();
    assert_eq!(plan.code, 1, "{plan:#?}");
    let terraform = &plan.json()["phases"][3];
    assert_eq!(terraform["status"], "error", "{terraform:#}");
    assert!(
        terraform["error"].as_str().unwrap().contains("no Terraform state"),
        "{terraform:#}"
    );

    // Applied, torn down, and torn down again: an emptied state is not "no state".
    world.terraform(&["resources=2"]);
    for run in ["first", "second"] {
        let out = world
            .sundown()
            .config(&config)
            .args(&["teardown", "--confirm", "destroy"])
            .run();
        assert_eq!(out.code, 0, "{run} teardown: {out:#?}");
    }
    assert!(world.state_list().is_empty());
}

#[test]
fn a_failing_terraform_init_is_refused_before_anything_is_deleted() {
    let world = World::start().with_namespaces(&["retail-forecast"]);
    world.seed(&["--endpoints", "1"]);
    let infra = world.terraform_module();
    std::fs::write(infra.join("backend.tf"), "terraform {\n  backend \"s3\" {}\n}\n").unwrap();
    std::fs::write(infra.join("bad.hcl"), "not_an_argument = \"x\"\n").unwrap();
    let config = world.stack_config("20s", "");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replace(
            "  lock_timeout: 5s\n",
            "  lock_timeout: 5s\n  backend_config: [bad.hcl]\n",
        ),
    )
    .unwrap();
    world.moto.start_recording();
    let out = world
        .sundown()
        .config(&config)
        .args(&["teardown", "--confirm", "destroy"])
        .run();
    assert_eq!(out.code, 2, "{out:#?}");
    assert_eq!(out.stderr.trim_end().lines().count(), 1, "{out:#?}");
    assert!(out.stderr.contains("terraform init"), "{out:#?}");
    assert!(world.moto.recording().iter().all(|r| r.is_read()));
    assert!(!world.kube().requests().iter().any(|r| r.starts_with("DELETE")));
    assert_eq!(world.kube().namespaces().len(), 1);
}

/// The Terraform version on the tools path, as (major, minor).
fn terraform_version(world: &World) -> (u64, u64) {
    let out = world.terraform_cmd(&["version", "-json"]);
    let v: Value = serde_json::from_str(&out).unwrap();
    let text = v["terraform_version"].as_str().unwrap().to_owned();
    let mut parts = text.split('.').map(|p| p.parse::<u64>().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}

#[tokio::test(flavor = "multi_thread")]
async fn the_state_in_an_s3_backend_on_the_emulator_is_destroyed_and_unlocked() {
    let world = World::start();
    let sdk = world.sdk().await;
    let s3 = aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&sdk).force_path_style(true).build());
    s3.create_bucket().bucket("tfstate").send().await.unwrap();
    let infra = world.terraform_module();
    std::fs::write(infra.join("backend.tf"), "terraform {\n  backend \"s3\" {}\n}\n").unwrap();
    let endpoint = world.moto.endpoint();
    let key = "envs/test/terraform.tfstate";
    // Terraform ≥ 1.10 locks with a lock file next to the state; older ones need DynamoDB.
    let native = terraform_version(&world) >= (1, 10);
    let backend = if native {
        format!(
            "bucket = \"tfstate\"\nkey = \"{key}\"\nregion = \"us-east-1\"\nendpoints = {{ s3 = \"{endpoint}\" }}\n\
             use_path_style = true\nskip_credentials_validation = true\nskip_requesting_account_id = true\n\
             skip_metadata_api_check = true\nskip_region_validation = true\nskip_s3_checksum = true\nuse_lockfile = true\n"
        )
    } else {
        let ddb = dynamodb_lock_table(&world);
        format!(
            "bucket = \"tfstate\"\nkey = \"{key}\"\nregion = \"us-east-1\"\nendpoint = \"{endpoint}\"\n\
             force_path_style = true\nskip_credentials_validation = true\nskip_metadata_api_check = true\n\
             skip_region_validation = true\ndynamodb_table = \"{ddb}\"\ndynamodb_endpoint = \"{endpoint}\"\n"
        )
    };
    std::fs::write(infra.join("backend.hcl"), backend).unwrap();
    world.terraform_apply(&["-backend-config=backend.hcl"], &["resources=3"]);
    assert!(
        !infra.join("terraform.tfstate").exists(),
        "the state must live in S3, not locally"
    );
    assert_eq!(world.state_list().len(), 3);

    let config = terraform_only_config(&world, "  backend_config: [backend.hcl]\n");
    world.moto.start_recording();
    let out = world
        .sundown()
        .config(&config)
        .args(&["teardown", "--confirm", "destroy", "--output", "json"])
        .run();
    let recording = world.moto.recording();
    assert_eq!(out.code, 0, "{out:#?}");
    assert_eq!(out.json()["phases"][3]["deleted"], 3);

    let state = s3.get_object().bucket("tfstate").key(key).send().await.unwrap();
    let state: Value = serde_json::from_slice(&state.body.collect().await.unwrap().into_bytes()).unwrap();
    assert!(state["lineage"].as_str().is_some_and(|l| !l.is_empty()), "{state:#}");
    assert_eq!(state["resources"].as_array().map(Vec::len), Some(0), "{state:#}");
    let keys: Vec<String> = s3
        .list_objects_v2()
        .bucket("tfstate")
        .send()
        .await
        .unwrap()
        .contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_owned))
        .collect();
    assert_eq!(keys, [key], "only the state is left, no lock");
    if native {
        let lock = format!("{key}.tflock");
        let touched = |method: &str| recording.iter().any(|r| r.method == method && r.url.contains(&lock));
        assert!(
            touched("PUT") && touched("DELETE"),
            "the destroy took and released the lock file: {recording:#?}"
        );
    }
}

/// Older Terraform (< 1.10) locks an S3 backend in DynamoDB: a lock table on the emulator.
fn dynamodb_lock_table(world: &World) -> String {
    let table = "tflock";
    let script = format!(
        "import boto3\nboto3.client('dynamodb').create_table(TableName='{table}', \
         KeySchema=[{{'AttributeName': 'LockID', 'KeyType': 'HASH'}}], \
         AttributeDefinitions=[{{'AttributeName': 'LockID', 'AttributeType': 'S'}}], BillingMode='PAY_PER_REQUEST')\n"
    );
    let python = world.tools.python();
    let status = world
        .sundown_command(python.to_str().unwrap())
        .args(["-c", &script])
        .status()
        .expect("run python");
    assert!(status.success(), "creating the DynamoDB lock table on the emulator");
    table.to_owned()
}

/// Each "destroyed" line arrives when its resource goes, not when Terraform
/// ends: with one resource at a time, each taking 2 s, the line for one
/// resource must come before the next resource is destroyed. Each resource's
/// destroy writes a marker file as its last act, so the moments compared are
/// the events themselves (the markers' times against the lines' arrivals),
/// not a window of seconds a loaded machine could miss.
#[test]
fn each_destroyed_resource_is_reported_when_it_goes() {
    let world = World::start();
    let markers = world.path("markers");
    std::fs::create_dir_all(&markers).unwrap();
    world.terraform(&[
        "resources=4",
        "slow_destroy_seconds=2",
        &format!("marker_dir={}", markers.display()),
    ]);
    let config = terraform_only_config(&world, "");
    let (instant, system) = (Instant::now(), std::time::SystemTime::now());
    let running = world
        .sundown()
        .config(&config)
        .env("TF_CLI_ARGS_destroy", "-parallelism=1")
        .args(&["teardown", "--confirm", "destroy"])
        .start();
    let (code, _, lines) = running.finish(Duration::from_secs(60));
    assert_eq!(code, 0, "{lines:#?}");
    // When each resource was destroyed: its marker's modification time, on the lines' clock.
    let destroyed_at = |index: &str| {
        let modified = std::fs::metadata(markers.join(format!("stack-{index}")))
            .and_then(|m| m.modified())
            .unwrap_or_else(|e| panic!("marker of stack[{index}]: {e}"));
        instant
            + modified
                .duration_since(system)
                .expect("destroyed after the run started")
    };
    let mut reported: Vec<(Instant, Instant, &str)> = lines
        .iter()
        .filter_map(|(line_at, l)| {
            let index = l
                .split("terraform: destroyed null_resource.stack[")
                .nth(1)?
                .split(']')
                .next()?;
            Some((destroyed_at(index), *line_at, l.as_str()))
        })
        .collect();
    assert_eq!(reported.len(), 4, "{lines:#?}");
    reported.sort_by_key(|(destroyed, _, _)| *destroyed);
    for pair in reported.windows(2) {
        let ((_, line_at, line), (next_destroyed, _, next)) = (pair[0], pair[1]);
        assert!(
            line_at < next_destroyed,
            "{line:?} came only after the next resource was destroyed ({next:?}): the lines are not streamed"
        );
    }
    for (destroyed, line_at, line) in &reported {
        // A line cannot precede its event (a few ms of slack for the two clocks' mapping).
        assert!(
            *line_at + Duration::from_millis(50) >= *destroyed,
            "{line:?} came before its resource was destroyed"
        );
    }
}

#[test]
fn a_destroy_past_terraform_timeout_is_stopped_cleanly_and_fails_with_code_timeout() {
    let world = World::start();
    let markers = world.path("markers");
    std::fs::create_dir_all(&markers).unwrap();
    world.terraform(&[
        "resources=4",
        "slow_destroy_seconds=30",
        &format!("marker_dir={}", markers.display()),
    ]);
    let config = terraform_only_config(&world, "  timeout: 2s\n");
    let started = Instant::now();
    let out = world
        .sundown()
        .config(&config)
        .args(&["teardown", "--confirm", "destroy", "--output", "json"])
        .run();
    assert_eq!(out.code, 1, "{out:#?}");
    assert!(started.elapsed() < Duration::from_secs(20), "{:?}", started.elapsed());
    let report = out.json();
    assert_eq!(report["result"], "failed");
    let terraform = &report["phases"][3];
    assert_eq!(terraform["status"], "failed", "{terraform:#}");
    assert_eq!(terraform["code"], "timeout", "{terraform:#}");
    assert_eq!(world.marker_invariant(4), Ok((4, 0)));
}

/// Another run holds the state lock (a `terraform apply` that replaces a
/// resource whose destroy takes a while): sundown's destroy waits
/// `terraform.lock_timeout`, then fails its phase with code `state-locked` and
/// Terraform's error ("Error acquiring the state lock", with the lock's ID),
/// and nothing in the state changes. Terraform holds a local state's lock with
/// a lock-info file beside it, which is how the test knows the lock is taken.
#[test]
fn a_state_lock_held_by_another_run_fails_the_phase_as_state_locked_and_changes_nothing() {
    let world = World::start();
    let markers = world.path("markers");
    std::fs::create_dir_all(&markers).unwrap();
    let vars = [
        "resources=2".to_owned(),
        "slow_destroy_seconds=30".to_owned(),
        format!("marker_dir={}", markers.display()),
    ];
    let vars: Vec<&str> = vars.iter().map(String::as_str).collect();
    world.terraform(&vars);
    let infra = world.path("infra");
    let terraform = world.tools.terraform();
    let mut holder = world
        .sundown_command(terraform.to_str().unwrap())
        .current_dir(&infra)
        .args([
            "apply",
            "-auto-approve",
            "-input=false",
            "-no-color",
            "-replace=null_resource.stack[0]",
        ])
        .args(vars.iter().map(|v| format!("-var={v}")))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start the other run");
    let lock_info = || {
        std::fs::read_dir(&infra)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .find(|p| p.to_string_lossy().ends_with(".lock.info"))
    };
    let asked = Instant::now();
    let info = loop {
        if let Some(path) = lock_info()
            && let Ok(text) = std::fs::read_to_string(&path)
            && let Ok(info) = serde_json::from_str::<Value>(&text)
        {
            break info;
        }
        assert!(
            asked.elapsed() < Duration::from_secs(60),
            "the other run never took the lock"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let lock_id = info["ID"].as_str().expect("the lock info names its ID").to_owned();

    let config = terraform_only_config(&world, "");
    let out = world
        .sundown()
        .config(&config)
        .args(&["teardown", "--confirm", "destroy", "--output", "json"])
        .run();
    let still_locked = lock_info().is_some();
    // Stop the other run as Terraform expects (SIGINT: finish, save, unlock) before asserting.
    // SAFETY: kill has no memory effects.
    unsafe { libc::kill(holder.id() as i32, libc::SIGINT) };
    let _ = holder.wait();
    assert!(
        still_locked,
        "the other run released the lock before sundown's destroy ended"
    );
    assert_eq!(out.code, 1, "{out:#?}");
    let report = out.json();
    let tf = &report["phases"][3];
    assert_eq!(tf["status"], "failed", "{tf:#}");
    assert_eq!(tf["code"], "state-locked", "{tf:#}");
    let errors = tf["errors"].to_string();
    assert!(errors.contains("Error acquiring the state lock"), "{errors}");
    assert!(
        errors.contains(&lock_id),
        "the error does not name the lock {lock_id}: {errors}"
    );
    // sundown destroyed nothing: no marker, both resources still in state.
    assert_eq!(std::fs::read_dir(&markers).unwrap().count(), 0);
    assert_eq!(world.state_list(), ["null_resource.stack[0]", "null_resource.stack[1]"]);
}

/// The plan and the report name the workspace and the state `terraform
/// destroy` uses (issue 30), by Terraform's own rule and with `TF_DATA_DIR`
/// honoured: a workspace selected under another data directory is the one
/// named and destroyed, and the default workspace's resources stay.
#[test]
fn the_plan_and_the_report_name_the_workspace_and_the_state_that_terraform_destroy_uses() {
    let world = World::start();
    world.terraform(&["resources=2"]);
    let infra = world.path("infra");
    let data_dir = |args: &[&str]| {
        let out = world
            .sundown_command(world.tools.terraform().to_str().unwrap())
            .current_dir(&infra)
            .env("TF_DATA_DIR", "tf-data")
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "terraform {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    data_dir(&["init", "-input=false", "-no-color"]);
    data_dir(&["workspace", "new", "-no-color", "staging"]);
    data_dir(&[
        "apply",
        "-auto-approve",
        "-input=false",
        "-no-color",
        "-var=resources=1",
    ]);
    let config = terraform_only_config(&world, "");
    let default_state = format!(
        "workspace default, state in the local file {}",
        infra.join("terraform.tfstate").display()
    );
    let staging_state = format!(
        "workspace staging, state in the local file {}",
        infra.join("terraform.tfstate.d/staging/terraform.tfstate").display()
    );

    let plan = world.sundown().config(&config).args(&["plan"]).run();
    assert_eq!(plan.code, 0, "{plan:#?}");
    assert!(plan.stdout.contains(&default_state), "{default_state} not in {plan:#?}");

    let plan = world
        .sundown()
        .config(&config)
        .env("TF_DATA_DIR", "tf-data")
        .args(&["plan"])
        .run();
    assert_eq!(plan.code, 0, "{plan:#?}");
    assert!(plan.stdout.contains(&staging_state), "{staging_state} not in {plan:#?}");
    let teardown = world
        .sundown()
        .config(&config)
        .env("TF_DATA_DIR", "tf-data")
        .args(&["teardown", "--confirm", "destroy", "--output", "json"])
        .run();
    assert_eq!(teardown.code, 0, "{teardown:#?}");
    let report = teardown.json();
    let terraform = crate::support::phase(&report, "terraform");
    assert!(
        terraform["source"].as_str().unwrap().ends_with(&staging_state),
        "{terraform:#}"
    );
    assert_eq!(terraform["deleted"], 1, "{terraform:#}");
    assert_eq!(
        world.state_list().len(),
        2,
        "the default workspace's resources were destroyed"
    );
}
