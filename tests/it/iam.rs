//! `sundown iam-policy` proven on moto with IAM enforced (`/moto-api/reset-auth`):
//! a user holding exactly a policy's actions runs the command to the end;
//! without any one required action that the run calls, it fails; without an
//! optional one, its exit code does not change.
//!
//! moto checks actions but not resource ARNs, so the policies run here with
//! their resources widened to `*`; the ARNs are pinned by `iam::tests`. moto's
//! signature check fails EKS calls under enforcement (a moto bug), so these
//! configs have no cluster and `iam::tests` pins the EKS actions too. moto
//! names a few actions by their API operation rather than IAM's name:
//! [`moto_names`] translates, and nothing else.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::fault_proxy::{FaultProxy, Faults};
use crate::support::{Outcome, World};

/// IAM's action name → the names moto checks for the same calls.
fn moto_names(action: &str) -> Vec<String> {
    match action {
        // DescribeBudgets and DescribeNotificationsForBudget are authorized by budgets:ViewBudget.
        "budgets:ViewBudget" => vec![
            "budgets:DescribeBudgets".into(),
            "budgets:DescribeNotificationsForBudget".into(),
        ],
        // The Resource Groups Tagging API signs as `tagging`; its IAM prefix is `tag`.
        "tag:GetResources" => vec!["tagging:GetResources".into()],
        // moto maps ListBucketIntelligentTieringConfigurations to ListBucket.
        "s3:GetIntelligentTieringConfiguration" => vec!["s3:ListBucket".into()],
        // moto authorizes HeadBucket as `s3:HeadBucket`, which IAM does not have: AWS checks s3:ListBucket.
        "s3:ListBucket" => vec!["s3:ListBucket".into(), "s3:HeadBucket".into()],
        other => vec![other.into()],
    }
}

struct Case {
    purpose: &'static str,
    commands: &'static [&'static [&'static str]],
    schedule_first: bool,
    /// With `scope.tags` and one protected resource of each kind the closing sweep asks its service about.
    sweep: bool,
    /// With one running job of each kind, run through the fault proxy's job model (moto ends jobs at once).
    jobs: bool,
    /// The policy's actions this fixture cannot make sundown call, each with why:
    /// the test fails when any other action goes uncalled (and so unproven).
    not_called: &'static [(&'static str, &'static str)],
}

/// moto allows GetCallerIdentity whatever the policy says, so dropping it proves nothing.
const STS: (&str, &str) = ("sts:GetCallerIdentity", "moto allows it whatever the policy says");
/// moto has no Price List API (its recorder does not list the request); the run prices from the built-in table.
const PRICING: (&str, &str) = ("pricing:GetProducts", "moto has no Price List API");
/// The fixtures have no EKS cluster: moto's signature check fails EKS calls under enforcement.
const SPOT: (&str, &str) = (
    "ec2:DescribeSpotPriceHistory",
    "prices spot node groups; no cluster here (moto fails EKS calls under enforcement)",
);

const CLUSTER_VERSIONS: (&str, &str) = (
    "eks:DescribeClusterVersions",
    "prices a cluster's support tier; no cluster here",
);
const DESCRIBE_MODEL: (&str, &str) = (
    "sagemaker:DescribeModel",
    "reads a model a config names but the name rule does not list; every model here is named by the rule",
);
const METRICS: (&str, &str) = (
    "cloudwatch:GetMetricStatistics",
    "the SDK speaks CloudWatch's RPC v2 CBOR protocol, which moto 5.2.5 does not route: the request fails before its recorder lists it",
);
const TEARDOWN: Case = Case {
    purpose: "teardown",
    commands: &[&["teardown", "--confirm", "destroy"]],
    schedule_first: false,
    sweep: false,
    jobs: true,
    not_called: &[STS, PRICING, SPOT, CLUSTER_VERSIONS, DESCRIBE_MODEL, METRICS],
};
const READ_ONLY: Case = Case {
    purpose: "read-only",
    commands: &[&["plan"], &["verify"], &["verify", "--after-teardown"], &["cost"]],
    schedule_first: false,
    sweep: false,
    jobs: false,
    not_called: &[STS, PRICING, SPOT, CLUSTER_VERSIONS, DESCRIBE_MODEL, METRICS],
};
/// The teardown with its closing sweep: each kind's read is proven on a protected resource of that kind.
const SWEEP: Case = Case {
    purpose: "teardown",
    commands: &[&["teardown", "--confirm", "destroy"]],
    schedule_first: false,
    sweep: true,
    jobs: false,
    not_called: &[
        STS,
        PRICING,
        SPOT,
        CLUSTER_VERSIONS,
        DESCRIBE_MODEL,
        METRICS,
        (
            "eks:DescribeCluster",
            "moto's Tagging API does not list EKS (and no cluster here)",
        ),
        (
            "eks:DescribeNodegroup",
            "moto's Tagging API does not list EKS (and no cluster here)",
        ),
        ("events:DescribeRule", "moto's Tagging API does not list EventBridge"),
        ("ec2:DescribeAddresses", "moto's Tagging API does not list Elastic IPs"),
        (
            "sagemaker:AddTags",
            "marks configs that `schedule stop` remembered; none here (the teardown case stops first and proves it)",
        ),
        STOP_JOBS[0],
        STOP_JOBS[1],
        STOP_JOBS[2],
        STOP_JOBS[3],
    ],
};
/// moto ends jobs at once: only the fault proxy's job model (the teardown case) has jobs to stop.
const RUNS_NO_JOB: &str =
    "stops a running job; moto ends jobs at once (the teardown case runs the job model and proves it)";
const STOP_JOBS: [(&str, &str); 4] = [
    ("sagemaker:StopTrainingJob", RUNS_NO_JOB),
    ("sagemaker:StopProcessingJob", RUNS_NO_JOB),
    ("sagemaker:StopTransformJob", RUNS_NO_JOB),
    ("sagemaker:StopHyperParameterTuningJob", RUNS_NO_JOB),
];
const SCHEDULE: Case = Case {
    purpose: "schedule",
    commands: &[&["schedule", "stop"], &["schedule", "start"]],
    schedule_first: false,
    sweep: false,
    jobs: false,
    not_called: &[
        STS,
        PRICING,
        SPOT,
        (
            "sns:Publish",
            "the alert goes out only when a stop or start fails; both succeed here (it/schedule_checks.rs sends it)",
        ),
    ],
};

/// A stack without a cluster: two endpoints with their log groups (one stopped by the schedule for
/// the teardown case, so that it marks a config), a repository, a Terraform
/// module with local state, an SNS topic.
fn world(case: &Case) -> (World, PathBuf) {
    let world = World::start();
    let seeded = world.seed(&[
        "--endpoints",
        "2",
        "--endpoint-logs",
        "--repo",
        "retail-forecast:3",
        "--inbox",
        "--extras",
    ]);
    if case.sweep {
        world.seed(&["--sweep-kinds"]);
    }
    if case.jobs {
        world.seed(&[
            "--job",
            "training:retail-forecast-train-1",
            "--job",
            "processing:retail-forecast-prep-1",
            "--job",
            "transform:retail-forecast-batch-1",
            "--job",
            "tuning:retail-forecast-hpo-1",
        ]);
    }
    world.terraform(&["resources=1"]);
    let topic = seeded["inbox"]["topic_arn"].as_str().unwrap().to_owned();
    let config = world.config(&format!(
        "stack: retail-forecast\nregion: us-east-1\naccounts: [\"123456789012\"]\n\
         sagemaker:\n  endpoint_prefix: retail-forecast\n  wait: 1m\n\
         ecr:\n  repositories: [retail-forecast]\n\
         terraform:\n  dir: infra\n  binary: {}\n\
         notify:\n  sns_topic_arn: {topic}\n\
         verify:\n  log_group_prefixes: [/aws/retail-forecast]\n  buckets: [retail-forecast-data]\n{}",
        world.tools.terraform().display(),
        if case.sweep {
            "scope:\n  tags: { Project: retail-forecast }\n"
        } else {
            ""
        }
    ));
    if case.schedule_first {
        // Stopped endpoints, whose configs the teardown marks, and one that still runs.
        let stop = world.sundown().config(&config).args(&["schedule", "stop"]).run();
        assert_eq!(stop.code, 0, "{stop:#?}");
        world.seed(&[
            "--sagemaker",
            r#"[{"endpoint": "retail-forecast-live", "config": "retail-forecast-live-config", "model": "retail-forecast-live-model"}]"#,
        ]);
    }
    (world, config)
}

/// The policy `sundown iam-policy` prints for `config`: (required, optional) actions.
fn printed_policy(world: &World, config: &Path, purpose: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let out = world
        .sundown()
        .config(config)
        .args(&["iam-policy", "--for", purpose])
        .run();
    assert_eq!(out.code, 0, "{out:#?}");
    let policy: Value = serde_json::from_str(&out.stdout).unwrap();
    let (mut required, mut optional) = (BTreeSet::new(), BTreeSet::new());
    for statement in policy["Statement"].as_array().unwrap() {
        let target = if statement["Sid"].as_str().unwrap().starts_with("Optional") {
            &mut optional
        } else {
            &mut required
        };
        for action in statement["Action"].as_array().unwrap() {
            target.insert(action.as_str().unwrap().to_owned());
        }
    }
    optional.retain(|a| !required.contains(a));
    (required, optional)
}

/// Runs the case's commands as a user holding exactly `actions` (resources `*`), IAM enforced.
/// Returns the outcomes and the IAM actions of the requests moto saw.
fn run_as(world: &World, config: &Path, case: &Case, actions: &BTreeSet<String>) -> (Vec<Outcome>, BTreeSet<String>) {
    let moto_actions: Vec<String> = actions.iter().flat_map(|a| moto_names(a)).collect();
    let policy = json!({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": moto_actions, "Resource": "*"}],
    });
    let file = world.path("policy.json");
    std::fs::write(&file, policy.to_string()).unwrap();
    let keys = world.seed(&["--iam-user", "sundown", file.to_str().unwrap()]);
    // The job model reads moto's jobs before IAM is enforced; every request it serves goes on to moto signed.
    let proxy = case.jobs.then(|| {
        FaultProxy::start(
            world.moto.port,
            Faults {
                job_stop: Some(std::time::Duration::from_millis(200)),
                ..Faults::default()
            },
        )
    });
    let (status, body) = world.moto.request("POST", "/moto-api/reset-auth", "0").unwrap();
    assert_eq!(status, 200, "{body}");
    world.moto.start_recording();
    let outcomes = case
        .commands
        .iter()
        .map(|command| {
            world
                .sundown()
                .config(config)
                .env("AWS_ACCESS_KEY_ID", keys["access_key_id"].as_str().unwrap())
                .env("AWS_SECRET_ACCESS_KEY", keys["secret_access_key"].as_str().unwrap())
                .env(
                    "AWS_ENDPOINT_URL",
                    &proxy.as_ref().map_or(world.moto.endpoint(), FaultProxy::endpoint),
                )
                .args(command)
                .args(&["--output", "json"])
                .run()
        })
        .collect();
    let actions = world.moto.recording().iter().filter_map(|r| r.action()).collect();
    // Enforcement off again, for the world's own checks.
    let (status, body) = world.moto.request("POST", "/moto-api/reset-auth", "inf").unwrap();
    assert_eq!(status, 200, "{body}");
    (outcomes, actions)
}

/// What a run came to, beyond its exit code: each phase's and each check's
/// status and what it says went wrong (a denied call fails its phase or check
/// even where the exit code was 1 anyway, as for `verify` with the checks moto
/// cannot answer, and turns one error into another).
fn signature(outcomes: &[Outcome]) -> Vec<String> {
    outcomes
        .iter()
        .map(|o| {
            let mut parts = vec![o.code.to_string()];
            if let Ok(json) = serde_json::from_str::<Value>(&o.stdout) {
                for (list, name, says) in [("phases", "phase", "errors"), ("checks", "id", "evidence")] {
                    for item in json[list].as_array().into_iter().flatten() {
                        parts.push(format!(
                            "{}={} {}",
                            item[name].as_str().unwrap_or("?"),
                            item["status"],
                            item[says]
                        ));
                    }
                }
            }
            if let Ok(json) = serde_json::from_str::<Value>(&o.stdout)
                && let Some(sweep) = json.get("sweep")
            {
                parts.push(format!(
                    "sweep error={} left={} kept={}",
                    sweep["error"],
                    sweep["left_behind"].as_array().map_or(0, Vec::len),
                    sweep["kept"].as_array().map_or(0, Vec::len)
                ));
            }
            parts.join("; ")
        })
        .collect()
}

fn denied(outcomes: &[Outcome]) -> Option<String> {
    outcomes.iter().find_map(|o| {
        let text = format!("{}\n{}", o.stdout, o.stderr);
        let lower = text.to_lowercase();
        (lower.contains("accessdenied") || lower.contains("not authorized") || o.code == 2).then_some(text)
    })
}

fn prove(case: &Case) {
    let (world, config) = world(case);
    let (required, optional) = printed_policy(&world, &config, case.purpose);
    let all: BTreeSet<String> = required.union(&optional).cloned().collect();
    let (full, called) = run_as(&world, &config, case, &all);
    assert!(
        denied(&full).is_none(),
        "{}: denied with the full policy: {full:#?}",
        case.purpose
    );
    let codes: Vec<i32> = full.iter().map(|o| o.code).collect();
    let full_signature = signature(&full);
    drop(world);

    let mut unexercised = Vec::new();
    for action in required.iter().chain(&optional) {
        // moto allows GetCallerIdentity whatever the policy says.
        let was_called = called.contains(action) || moto_names(action).iter().any(|m| called.contains(m));
        if !was_called || action == "sts:GetCallerIdentity" {
            unexercised.push(action.clone());
            continue;
        }
        let (world, config) = self::world(case);
        let mut fewer = all.clone();
        fewer.remove(action);
        let (outcomes, _) = run_as(&world, &config, case, &fewer);
        let without: Vec<i32> = outcomes.iter().map(|o| o.code).collect();
        if required.contains(action) {
            // moto's denial of a JSON-protocol call reaches the SDK as an unparsed error, so the
            // failed phase or check (its status, its exit code) is what shows it, as well as any denial text.
            assert!(
                signature(&outcomes) != full_signature || denied(&outcomes).is_some(),
                "{}: the run did not fail without the required {action}: {outcomes:#?}",
                case.purpose
            );
        } else {
            assert_eq!(
                without, codes,
                "{}: dropping the optional {action} changed an exit code: {outcomes:#?}",
                case.purpose
            );
        }
    }
    println!(
        "iam: {}: {} required and {} optional actions; not called on this fixture (so not dropped): {unexercised:?}",
        case.purpose,
        required.len(),
        optional.len()
    );
    let mut expected: Vec<String> = case.not_called.iter().map(|(a, _)| (*a).to_owned()).collect();
    expected.sort();
    unexercised.sort();
    assert_eq!(
        unexercised, expected,
        "{}: the actions the fixture never calls are not the ones it is known not to reach",
        case.purpose
    );
}

#[test]
fn the_teardown_policy_is_enough_and_each_action_it_calls_is_needed() {
    prove(&Case {
        schedule_first: true,
        ..TEARDOWN
    });
}

#[test]
fn the_teardown_policy_covers_the_closing_sweep_of_each_kind() {
    prove(&SWEEP);
}

#[test]
fn the_read_only_policy_is_enough_and_each_action_it_calls_is_needed() {
    prove(&READ_ONLY);
}

#[test]
fn the_schedule_policy_is_enough_and_each_action_it_calls_is_needed() {
    prove(&SCHEDULE);
}

/// `iam-policy` never narrows in silence (issue 30): a `terraform.backend_config`
/// file it cannot read is a one-line refusal naming the file and the way out;
/// `--without-state` prints the policy without the state statements and says
/// so in a Sid; with the file, the state statements name its bucket and key.
#[test]
fn the_policy_names_the_state_or_refuses_and_never_leaves_it_out_in_silence() {
    let world = World::start();
    let infra = world.path("infra");
    std::fs::create_dir_all(&infra).unwrap();
    std::fs::write(infra.join("backend.tf"), "terraform {\n  backend \"s3\" {}\n}\n").unwrap();
    let config = world.config(
        "stack: retail-forecast\nregion: us-east-1\naccounts: [\"123456789012\"]\n\
         terraform:\n  dir: infra\n  backend_config: [backend.hcl]\n",
    );
    let policy = |args: &[&str]| {
        world
            .sundown()
            .config(&config)
            .args(&["iam-policy", "--for", "teardown"])
            .args(args)
            .run()
    };

    let refused = policy(&[]);
    assert_eq!(refused.code, 2, "{refused:#?}");
    assert!(refused.stdout.is_empty(), "{refused:#?}");
    let line = refused.stderr.trim();
    assert_eq!(line.lines().count(), 1, "{line}");
    assert!(line.contains("infra/backend.hcl cannot be read"), "{line}");
    assert!(line.contains("--without-state"), "{line}");

    let without = policy(&["--without-state"]);
    assert_eq!(without.code, 0, "{without:#?}");
    let json: Value = serde_json::from_str(&without.stdout).unwrap();
    let sids: Vec<&str> = json["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["Sid"].as_str().unwrap())
        .collect();
    assert_eq!(sids[0], sundown::iam::WITHOUT_STATE_SID);
    assert!(!without.stdout.contains("s3:PutObject"), "{}", without.stdout);

    std::fs::write(
        infra.join("backend.hcl"),
        "bucket = \"retail-forecast-tfstate\"\nkey    = \"envs/dev/terraform.tfstate\"\n",
    )
    .unwrap();
    let granted = policy(&[]);
    assert_eq!(granted.code, 0, "{granted:#?}");
    assert!(
        granted
            .stdout
            .contains("arn:aws:s3:::retail-forecast-tfstate/envs/dev/terraform.tfstate.tflock"),
        "{}",
        granted.stdout
    );
    assert!(!granted.stdout.contains(sundown::iam::WITHOUT_STATE_SID));

    // The policy is JSON whatever the format: json prints it, markdown is refused in one line.
    let json = world
        .sundown()
        .config(&config)
        .args(&["--output", "json", "iam-policy", "--for", "teardown"])
        .run();
    assert_eq!((json.code, &json.stdout), (0, &granted.stdout), "{json:#?}");
    let markdown = world
        .sundown()
        .config(&config)
        .args(&["--output", "markdown", "iam-policy", "--for", "teardown"])
        .run();
    assert_eq!(markdown.code, 2, "{markdown:#?}");
    assert!(markdown.stdout.is_empty(), "{markdown:#?}");
    assert!(
        markdown.stderr.contains("--output markdown does not apply"),
        "{markdown:#?}"
    );
}
