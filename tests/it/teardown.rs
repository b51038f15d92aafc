//! `sundown teardown` against the emulator, the Kubernetes fake and a real
//! Terraform: what is left afterwards, and what the recorder saw.

use std::io::{BufRead, BufReader};
use std::time::Duration;

use serde_json::Value;

use crate::support::{World, phase};

const REPOS: [&str; 2] = ["retail-forecast", "mlops/retail-api"];

/// The full stack of issue 3: a namespace, 3 endpoints (+1 protected), 270 images, 6 Terraform resources.
fn seeded_world() -> (World, Value) {
    let world = World::start().with_namespaces(&["retail-forecast"]);
    let seeded = world.seed(&[
        "--endpoints",
        "3",
        "--protected-endpoints",
        "1",
        "--repo",
        "retail-forecast:150",
        "--repo",
        "mlops/retail-api:120",
    ]);
    world.terraform(&["resources=6"]);
    (world, seeded)
}

#[tokio::test(flavor = "multi_thread")]
async fn teardown_deletes_everything_in_order_and_keeps_the_protected_endpoint() {
    let (world, seeded) = seeded_world();
    let config = world.stack_config("20s", "");
    let report_path = world.path("report.json");

    world.moto.start_recording();
    let out = world
        .sundown()
        .config(&config)
        .args(&[
            "teardown",
            "--confirm",
            "destroy",
            "--report",
            report_path.to_str().unwrap(),
        ])
        .run();
    let recording = world.moto.recording();
    assert_eq!(out.code, 0, "{out:#?}");

    // The world: only the protected endpoint, its config and its model remain.
    let left = world.leftovers(&REPOS).await;
    let keep = seeded["protected_endpoints"][0].as_str().unwrap();
    assert_eq!(left.endpoints, [keep]);
    assert_eq!(left.configs, [format!("{keep}-config")]);
    assert_eq!(left.models, [format!("{keep}-model")]);
    assert_eq!((left.images, left.namespaces, left.terraform), (0, 0, 0), "{left:#?}");

    // BatchDeleteImage: ⌈images/100⌉ calls per repository, never more than 100 ids each.
    let batches = recording.iter().filter(|r| r.operation == "BatchDeleteImage").count();
    assert_eq!(batches, 2 + 2, "150 and 120 images");
    // Order: every SageMaker deletion before the first image deletion.
    let position = |op: &str| recording.iter().position(|r| r.operation == op).unwrap();
    let last = |op: &str| recording.iter().rposition(|r| r.operation == op).unwrap();
    assert!(last("DeleteEndpoint") < position("DeleteEndpointConfig"));
    assert!(last("DeleteEndpointConfig") < position("DeleteModel"));
    assert!(last("DeleteModel") < position("BatchDeleteImage"));
    // Read once, before the first deletion: each endpoint, config and repository described
    // once, each tag set read once (the protected endpoint's config and model are kept
    // through it, unread), each repository listed once more to prove it empty.
    let count = |op: &str| recording.iter().filter(|r| r.operation == op).count();
    for (op, once) in [
        ("DescribeEndpoint", 4),
        ("DescribeEndpointConfig", 4),
        ("ListTags", 4 + 3 + 3),
        ("DescribeRepositories", 2),
        ("ListTagsForResource", 2),
        ("DescribeImages", 2),
        ("ListImages", 2),
    ] {
        assert_eq!(count(op), once, "{op}");
    }
    // The namespace went through the fake's API, deleted once and polled until gone.
    let kube = world.kube().requests();
    assert_eq!(
        kube.iter()
            .filter(|r| r.starts_with("DELETE /api/v1/namespaces/retail-forecast"))
            .count(),
        1
    );

    let report: Value = serde_json::from_str(&std::fs::read_to_string(&report_path).unwrap()).unwrap();
    assert_eq!(report["schema"], "sundown.report/v1");
    assert_eq!(report["result"], "succeeded");
    for name in ["kubernetes", "sagemaker", "ecr", "terraform"] {
        assert_eq!(phase(&report, name)["status"], "done", "{name}: {report:#}");
    }
    assert_eq!(phase(&report, "ecr")["deleted"], 270);
    assert_eq!(phase(&report, "sagemaker")["deleted"], 9);
    assert_eq!(phase(&report, "sagemaker")["kept"], 3);
    assert_eq!(phase(&report, "terraform")["deleted"], 6);
    assert!(out.stdout.contains("succeeded"), "{out:#?}");

    // A second run finds nothing to do and still succeeds.
    let again = world
        .sundown()
        .config(&config)
        .args(&["teardown", "--confirm", "destroy", "--output", "json"])
        .run();
    assert_eq!(again.code, 0, "{again:#?}");
    assert_eq!(again.json()["phases"][2]["deleted"], 0);
}

#[test]
fn wrong_or_missing_confirmation_sends_no_request() {
    let world = World::start();
    let config = world.stack_config("20s", "");
    world.moto.start_recording();
    let wrong = world
        .sundown()
        .config(&config)
        .args(&["teardown", "--confirm", "yes"])
        .run();
    assert_eq!(wrong.code, 2, "{wrong:#?}");
    assert!(wrong.stderr.contains("--confirm destroy"), "{wrong:#?}");
    // stdin is not a terminal here: no prompt, a refusal.
    let missing = world.sundown().config(&config).args(&["teardown"]).run();
    assert_eq!(missing.code, 2, "{missing:#?}");
    assert!(missing.stderr.contains("not a terminal"), "{missing:#?}");
    let recording = world.moto.recording();
    assert!(recording.is_empty(), "requests before the confirmation: {recording:#?}");
}

#[test]
fn an_account_outside_the_allowlist_is_refused_before_any_mutation() {
    let world = World::start();
    world.seed(&["--endpoints", "1", "--repo", "retail-forecast:3"]);
    let other = world.config(
        "stack: retail-forecast\nregion: us-east-1\naccounts: [\"111111111111\"]\n\
         sagemaker:\n  endpoint_prefix: retail-forecast\necr:\n  repositories: [retail-forecast]\n",
    );
    world.moto.start_recording();
    let out = world
        .sundown()
        .config(&other)
        .args(&["teardown", "--confirm", "destroy"])
        .run();
    assert_eq!(out.code, 2, "{out:#?}");
    assert!(
        out.stderr.contains("123456789012") && out.stderr.contains("not in accounts"),
        "{out:#?}"
    );
    let empty = world.config("stack: s\nregion: us-east-1\necr:\n  repositories: [retail-forecast]\n");
    let out = world
        .sundown()
        .config(&empty)
        .args(&["teardown", "--confirm", "destroy"])
        .run();
    assert_eq!(out.code, 2, "{out:#?}");
    assert!(out.stderr.contains("`accounts` is empty"), "{out:#?}");
    let recording = world.moto.recording();
    assert!(!recording.is_empty());
    let writes: Vec<_> = recording.iter().filter(|r| !r.is_read()).collect();
    assert!(
        writes.is_empty(),
        "mutating requests from a refused account: {writes:#?}"
    );
}

#[test]
fn a_missing_terraform_binary_is_refused_before_anything_is_deleted() {
    let world = World::start();
    world.seed(&["--endpoints", "1", "--repo", "retail-forecast:3"]);
    std::fs::create_dir_all(world.path("infra")).unwrap();
    let config = world.config(
        "stack: retail-forecast\nregion: us-east-1\naccounts: [\"123456789012\"]\n\
         sagemaker:\n  endpoint_prefix: retail-forecast\necr:\n  repositories: [retail-forecast]\n\
         terraform:\n  dir: infra\n  binary: /nonexistent/terraform\n",
    );
    world.moto.start_recording();
    let out = world
        .sundown()
        .config(&config)
        .args(&["teardown", "--confirm", "destroy"])
        .run();
    assert_eq!(out.code, 2, "{out:#?}");
    assert!(out.stderr.contains("terraform.binary"), "{out:#?}");
    assert_eq!(out.stderr.trim_end().lines().count(), 1, "{out:#?}");
    assert!(world.moto.recording().iter().all(|r| r.is_read()));
}

/// Starts a teardown, kills it (SIGKILL) once its progress shows `marker`, then re-runs it.
fn kill_when(world: &World, config: &std::path::Path, marker: &str, grace: Duration) {
    let mut child = world
        .sundown()
        .config(config)
        .args(&["teardown", "--confirm", "destroy"])
        .spawn();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let mut seen = Vec::new();
    for line in stderr.lines() {
        let line = line.unwrap();
        let hit = line.contains(marker);
        seen.push(line);
        if hit {
            break;
        }
    }
    assert!(
        seen.last().is_some_and(|l| l.contains(marker)),
        "never saw {marker:?}: {seen:#?}"
    );
    std::thread::sleep(grace);
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success(), "the teardown finished before it was killed");
    world.wait_for_terraform_to_exit();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_teardown_killed_during_ecr_finishes_on_the_next_run() {
    let world = World::start().with_namespaces(&["retail-forecast"]);
    world.seed(&[
        "--endpoints",
        "2",
        "--repo",
        "retail-forecast:600",
        "--repo",
        "mlops/retail-api:600",
    ]);
    world.terraform(&["resources=3"]);
    let config = world.stack_config("20s", "");
    kill_when(&world, &config, "ecr: ", Duration::ZERO);
    let mid = world.leftovers(&REPOS).await;
    assert!(
        mid.images > 0 && mid.terraform == 3,
        "not interrupted during ECR: {mid:#?}"
    );

    let out = world
        .sundown()
        .config(&config)
        .args(&["teardown", "--confirm", "destroy"])
        .run();
    assert_eq!(out.code, 0, "{out:#?}");
    let left = world.leftovers(&REPOS).await;
    assert!(left.is_empty(), "{left:#?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_teardown_killed_during_terraform_finishes_on_the_next_run() {
    let world = World::start();
    world.seed(&["--endpoints", "1", "--repo", "retail-forecast:5"]);
    let markers = world.path("markers");
    std::fs::create_dir_all(&markers).unwrap();
    world.terraform(&[
        "resources=8",
        "slow_destroy_seconds=3",
        &format!("marker_dir={}", markers.display()),
    ]);
    let config = world.stack_config("20s", "");
    kill_when(&world, &config, "terraform: destroying", Duration::from_millis(1500));
    let mid = world.leftovers(&REPOS).await;
    assert!(
        mid.images == 0 && mid.endpoints.is_empty(),
        "earlier phases were done: {mid:#?}"
    );
    // Terraform stopped gracefully on PR_SET_PDEATHSIG's SIGTERM: its state is whole and true.
    world.marker_invariant(8).unwrap();

    let out = world
        .sundown()
        .config(&config)
        .args(&["teardown", "--confirm", "destroy"])
        .run();
    assert_eq!(out.code, 0, "{out:#?}");
    let left = world.leftovers(&REPOS).await;
    assert!(left.is_empty(), "{left:#?}");
    assert_eq!(world.marker_invariant(8), Ok((0, 8)));
}

/// A run stopped after the configs went and before the models did (found by the kill-and-resume
/// drill): the re-run has no endpoint or config to start from and must still find the models.
#[tokio::test(flavor = "multi_thread")]
async fn models_left_by_a_stopped_run_are_found_without_their_configs() {
    let world = World::start();
    let sm = aws_sdk_sagemaker::Client::new(&world.sdk().await);
    for name in [
        "retail-forecast-ep-0-model",
        "retail-forecast-ep-1-model",
        "other-svc-model",
    ] {
        sm.create_model()
            .model_name(name)
            .execution_role_arn("arn:aws:iam::123456789012:role/sagemaker")
            .primary_container(
                aws_sdk_sagemaker::types::ContainerDefinition::builder()
                    .image("123456789012.dkr.ecr.us-east-1.amazonaws.com/retail-forecast:v1")
                    .build(),
            )
            .send()
            .await
            .unwrap();
    }
    world.terraform(&["resources=1"]);
    let config = world.stack_config("20s", "");
    let out = world
        .sundown()
        .config(&config)
        .args(&["teardown", "--confirm", "destroy"])
        .run();
    assert_eq!(out.code, 0, "{out:#?}");
    let left = world.leftovers(&REPOS).await;
    assert_eq!(left.models, ["other-svc-model"], "{left:#?}");
}

/// The teardown deletes from what it read before its first deletion, but
/// what appears while it waits for the namespace (held Terminating until the
/// arrivals are seeded) still goes: the SageMaker
/// listing differs, so that phase reads again; the re-list that proves a
/// repository empty finds the image pushed meanwhile, which goes too.
#[tokio::test(flavor = "multi_thread")]
async fn what_arrives_while_the_namespace_terminates_still_goes() {
    let (world, _) = seeded_world();
    // Terminating until the arrivals below are seeded, however long that takes.
    world.kube().hold_terminating("retail-forecast");
    let config = world.stack_config("60s", "");
    let report_path = world.path("report.json");
    let teardown = world
        .sundown()
        .config(&config)
        .args(&[
            "teardown",
            "--confirm",
            "destroy",
            "--report",
            report_path.to_str().unwrap(),
        ])
        .start();
    teardown.wait_for_line("kubernetes: deleting namespace", Duration::from_secs(60));
    world.seed(&[
        "--sagemaker",
        r#"[{"model": "retail-forecast-late-model", "config": "retail-forecast-late-config", "endpoint": "retail-forecast-late"}]"#,
        "--push-image",
        "retail-forecast:900",
    ]);
    assert!(world.kube().removed_at("retail-forecast").is_none());
    world.kube().release("retail-forecast");
    let (code, _, lines) = teardown.finish(Duration::from_secs(120));
    assert_eq!(code, 0, "{lines:#?}");
    assert!(
        lines.iter().any(|(_, l)| l.contains("changed since the inventory")),
        "{lines:#?}"
    );
    let left = world.leftovers(&REPOS).await;
    assert_eq!(left.endpoints.len(), 1, "only the protected endpoint: {left:#?}");
    assert!(!left.endpoints.iter().any(|e| e.contains("late")), "{left:#?}");
    assert_eq!((left.images, left.namespaces, left.terraform), (0, 0, 0), "{left:#?}");
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&report_path).unwrap()).unwrap();
    assert_eq!(phase(&report, "sagemaker")["deleted"], 9 + 3, "{report:#}");
    assert_eq!(phase(&report, "ecr")["deleted"], 270 + 1, "{report:#}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stuck_namespace_fails_its_phase_skips_terraform_and_the_rest_still_runs() {
    let (world, _) = seeded_world();
    world.kube().hold_terminating("retail-forecast");
    let config = world.stack_config("2s", "");
    let report_path = world.path("report.json");
    let out = world
        .sundown()
        .config(&config)
        .args(&[
            "teardown",
            "--confirm",
            "destroy",
            "--report",
            report_path.to_str().unwrap(),
        ])
        .run();
    assert_eq!(out.code, 1, "{out:#?}");
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&report_path).unwrap()).unwrap();
    assert_eq!(report["result"], "failed");
    let k = phase(&report, "kubernetes");
    assert_eq!(k["status"], "failed");
    assert!(
        k["errors"][0]
            .as_str()
            .unwrap()
            .contains("namespace retail-forecast still Terminating"),
        "{k:#}"
    );
    assert_eq!(phase(&report, "sagemaker")["status"], "done");
    assert_eq!(phase(&report, "ecr")["status"], "done");
    assert_eq!(phase(&report, "terraform")["status"], "skipped");
    assert!(out.stdout.contains("still Terminating"), "{out:#?}");
    let left = world.leftovers(&REPOS).await;
    assert_eq!((left.images, left.namespaces, left.terraform), (0, 1, 6), "{left:#?}");
}

#[test]
fn a_failing_terraform_destroy_reports_its_diagnostic() {
    let world = World::start();
    world.terraform(&["resources=2", "fail_destroy=true"]);
    let config = world.config(&format!(
        "stack: retail-forecast\nregion: us-east-1\naccounts: [\"123456789012\"]\n\
         terraform:\n  dir: infra\n  binary: {}\n",
        world.tools.terraform().display()
    ));
    let out = world
        .sundown()
        .config(&config)
        .args(&["teardown", "--confirm", "destroy", "--output", "json"])
        .run();
    assert_eq!(out.code, 1, "{out:#?}");
    let report = out.json();
    let t = phase(&report, "terraform");
    assert_eq!(t["status"], "failed");
    let errors = t["errors"].to_string();
    assert!(errors.contains("DependencyViolation"), "{t:#}");
}

/// Runs teardown without `--confirm` on a pseudo-terminal (util-linux `script`), typing `answer`.
fn at_a_terminal(world: &World, config: &std::path::Path, answer: &str) -> crate::support::Outcome {
    use std::io::Write;
    let command = format!(
        "{} --config {} teardown",
        env!("CARGO_BIN_EXE_sundown"),
        config.display()
    );
    let mut child = world
        .sundown_command("script")
        .args(["-qefc", &command, "/dev/null"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("util-linux `script` provides the pseudo-terminal");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{answer}\n").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    crate::support::Outcome {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn at_a_terminal_the_plan_is_shown_and_only_the_typed_phrase_deletes() {
    let world = World::start();
    world.seed(&["--endpoints", "1", "--repo", "retail-forecast:3"]);
    let config = world.config(
        "stack: retail-forecast\nregion: us-east-1\naccounts: [\"123456789012\"]\n\
         sagemaker:\n  endpoint_prefix: retail-forecast\necr:\n  repositories: [retail-forecast]\n",
    );
    world.moto.start_recording();
    let refused = at_a_terminal(&world, &config, "yes");
    assert_eq!(refused.code, 2, "{refused:#?}");
    assert!(
        refused.stdout.contains("Plan for stack retail-forecast"),
        "{refused:#?}"
    );
    assert!(refused.stdout.contains("Type \"destroy\""), "{refused:#?}");
    assert!(
        world.moto.recording().iter().all(|r| r.is_read()),
        "a wrong answer must not delete"
    );
    assert_eq!(world.leftovers(&["retail-forecast"]).await.images, 3);

    let confirmed = at_a_terminal(&world, &config, "destroy");
    assert_eq!(confirmed.code, 0, "{confirmed:#?}");
    let left = world.leftovers(&["retail-forecast"]).await;
    assert!(left.is_empty(), "{left:#?}");
}

/// EKS writes a cluster's control-plane logs to `/aws/eks/<cluster>/cluster`,
/// which outlives the cluster. While the cluster runs, the teardown leaves the
/// group alone; once the cluster is gone (as `terraform destroy` takes it),
/// the teardown deletes the group, proves it gone, and never asks about
/// another cluster's group.
#[test]
fn the_clusters_log_group_goes_once_the_cluster_is_gone_and_no_other() {
    let world = World::start();
    let ours = "/aws/eks/retail-forecast-cluster/cluster";
    let theirs = "/aws/eks/other-cluster/cluster";
    world.seed(&["--cluster", "--log-group", ours, "--log-group", theirs]);
    world.terraform(&["resources=1"]);
    let config = world.config(&format!(
        "stack: retail-forecast\nregion: us-east-1\naccounts: [\"123456789012\"]\n\
         kubernetes:\n  cluster: retail-forecast-cluster\n  namespaces: []\n\
         terraform:\n  dir: infra\n  binary: {}\n",
        world.tools.terraform().display()
    ));
    let teardown = || {
        let out = world
            .sundown()
            .config(&config)
            .args(&["teardown", "--confirm", "destroy", "--output", "json"])
            .run();
        assert_eq!(out.code, 0, "{out:#?}");
        out.json()
    };
    let groups = || world.seed(&["--list-log-groups", "/aws/eks/"])["log_groups"].clone();

    // The cluster still runs: its group is its own.
    let report = teardown();
    assert!(
        phase(&report, "terraform")["resources"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["kind"] != "log_group"),
        "{report:#}"
    );
    assert_eq!(groups(), serde_json::json!([theirs, ours]));

    // The cluster gone: its group goes with the teardown, the other cluster's stays.
    world.seed(&["--delete", "cluster:retail-forecast-cluster"]);
    world.moto.start_recording();
    let report = teardown();
    let logged: Vec<&Value> = phase(&report, "terraform")["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["kind"] == "log_group")
        .collect();
    assert_eq!(logged.len(), 1, "{report:#}");
    assert_eq!(logged[0]["name"], ours);
    assert_eq!(logged[0]["outcome"], "deleted");
    assert_eq!(groups(), serde_json::json!([theirs]));
    let recorded = world.moto.recording();
    assert!(
        !recorded.iter().any(|r| r.names("other-cluster")),
        "a request named the other cluster's group"
    );
}
