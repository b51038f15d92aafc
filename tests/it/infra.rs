//! `infra/` and `sundown verify` must not drift: the lifecycle days and
//! storage classes, the tiering, the log retention, the budget thresholds,
//! the schedule and the spot settings Terraform writes are the ones verify
//! expects. Values are read from the Terraform files themselves (parsed by
//! checkov's HCL parser, `tests/fixtures/hcl.py`): the dev var file, the
//! root module's defaults and each module's defaults must all agree with
//! verify's defaults. Also: the cluster-autoscaler discovers the node groups
//! by the tags the node-group module writes, and the PDB selects the API pods.

use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};

use crate::support::tools;

const FILES: [&str; 11] = [
    "infra/envs/dev/dev.tfvars",
    "infra/envs/dev/variables.tf",
    "infra/envs/dev/main.tf",
    "infra/modules/s3_data/main.tf",
    "infra/modules/s3_data/variables.tf",
    "infra/modules/logs/variables.tf",
    "infra/modules/budget/variables.tf",
    "infra/modules/scheduler/variables.tf",
    "infra/modules/scheduler/main.tf",
    "infra/modules/eks_nodegroup/main.tf",
    "infra/k8s/main.tf",
];

/// Every file of `FILES` (plus infra/k8s/variables.tf), parsed, by path.
fn parse() -> Value {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(tools().python())
        .current_dir(root)
        .arg("tests/fixtures/hcl.py")
        .args(FILES)
        .arg("infra/k8s/variables.tf")
        .output()
        .expect("run tests/fixtures/hcl.py");
    assert!(
        out.status.success(),
        "hcl.py failed (bc-python-hcl2 is installed by `cargo xtask test`): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("hcl.py prints JSON")
}

/// bc-python-hcl2 wraps attribute values in one-item lists; unwrap them.
fn one(v: &Value) -> &Value {
    match v.as_array() {
        Some(items) if items.len() == 1 => &items[0],
        _ => v,
    }
}

fn tfvar<'a>(files: &'a Value, name: &str) -> &'a Value {
    one(&files["infra/envs/dev/dev.tfvars"][name])
}

fn default<'a>(files: &'a Value, file: &str, name: &str) -> &'a Value {
    files[file]["variable"]
        .as_array()
        .unwrap_or_else(|| panic!("{file} has no variables"))
        .iter()
        .find_map(|v| v.get(name))
        .map(|v| one(&v["default"]))
        .unwrap_or_else(|| panic!("{file} has no variable {name}"))
}

fn local<'a>(files: &'a Value, file: &str, name: &str) -> &'a Value {
    files[file]["locals"]
        .as_array()
        .unwrap_or_else(|| panic!("{file} has no locals"))
        .iter()
        .find_map(|block| block.get(name))
        .map(one)
        .unwrap_or_else(|| panic!("{file} has no local {name}"))
}

/// The first resource of `kind` in `file` (its body).
fn resource<'a>(files: &'a Value, file: &str, kind: &str) -> &'a Value {
    files[file]["resource"]
        .as_array()
        .unwrap_or_else(|| panic!("{file} has no resources"))
        .iter()
        .find_map(|r| r.get(kind))
        .and_then(|r| r.as_object())
        .and_then(|o| o.values().next())
        .unwrap_or_else(|| panic!("{file} has no {kind}"))
}

/// One value of infra/, where it was read, and the verify setting it must equal.
struct Pair {
    what: &'static str,
    source: String,
    infra: Value,
}

/// The values infra/ builds the cost controls from, normalised to verify's shapes.
fn infra_values(files: &Value) -> Vec<Pair> {
    let mut pairs = Vec::new();
    let mut add = |what, source: &str, infra: Value| {
        pairs.push(Pair {
            what,
            source: source.to_string(),
            infra,
        })
    };
    let rules: Vec<Value> = local(files, "infra/modules/s3_data/main.tf", "lifecycle_rules")
        .as_array()
        .expect("lifecycle_rules is a list")
        .iter()
        .map(|r| {
            let tag = match &r["tag"] {
                Value::Null => Value::Null,
                t => json!([t["key"], t["value"]]),
            };
            let transitions: Vec<Value> = r["transitions"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| json!([t["storage_class"], t["days"]]))
                .collect();
            json!({"prefix": r["prefix"], "tag": tag, "transitions": transitions, "expire_days": r["expiration_days"]})
        })
        .collect();
    add(
        "s3.lifecycle",
        "infra/modules/s3_data/main.tf locals.lifecycle_rules",
        Value::from(rules),
    );
    let tiers: Vec<Value> = local(files, "infra/modules/s3_data/main.tf", "tiering_archive")
        .as_array()
        .unwrap()
        .iter()
        .map(|t| json!([t["access_tier"], t["days"]]))
        .collect();
    add(
        "s3.tiering",
        "infra/modules/s3_data/main.tf locals.tiering_archive",
        Value::from(tiers),
    );

    for (what, tfvar_name, defaults) in [
        (
            "s3.tiering_prefix",
            "tiering_prefix",
            &[
                ("infra/envs/dev/variables.tf", "tiering_prefix"),
                ("infra/modules/s3_data/variables.tf", "tiering_prefix"),
            ][..],
        ),
        (
            "logs.retention",
            "log_retention_days",
            &[
                ("infra/envs/dev/variables.tf", "log_retention_days"),
                ("infra/modules/logs/variables.tf", "retention_in_days"),
                ("infra/modules/scheduler/variables.tf", "retention_in_days"),
            ][..],
        ),
        (
            "budget.thresholds",
            "budget_thresholds",
            &[
                ("infra/envs/dev/variables.tf", "budget_thresholds"),
                ("infra/modules/budget/variables.tf", "thresholds"),
            ][..],
        ),
        (
            "schedule.stop",
            "stop_schedule",
            &[
                ("infra/envs/dev/variables.tf", "stop_schedule"),
                ("infra/modules/scheduler/variables.tf", "stop_schedule"),
            ][..],
        ),
        (
            "schedule.start",
            "start_schedule",
            &[
                ("infra/envs/dev/variables.tf", "start_schedule"),
                ("infra/modules/scheduler/variables.tf", "start_schedule"),
            ][..],
        ),
    ] {
        add(
            what,
            &format!("dev.tfvars {tfvar_name}"),
            tfvar(files, tfvar_name).clone(),
        );
        for (file, name) in defaults {
            add(
                what,
                &format!("{file} default of {name}"),
                default(files, file, name).clone(),
            );
        }
    }
    add(
        "schedule.scheduler",
        "infra/modules/scheduler/variables.tf default of name",
        default(files, "infra/modules/scheduler/variables.tf", "name").clone(),
    );

    let node_group = resource(files, "infra/modules/eks_nodegroup/main.tf", "aws_eks_node_group");
    let capacity = one(&node_group["capacity_type"]).clone();
    add("eks.capacity_type", "infra/modules/eks_nodegroup/main.tf", capacity);
    let fewest_types = one(&files["infra/envs/dev/dev.tfvars"]["node_groups"])
        .as_object()
        .expect("node_groups is a map")
        .values()
        .map(|g| g["instance_types"].as_array().map_or(0, Vec::len))
        .min()
        .unwrap_or(0);
    add(
        "eks.min_spot_instance_types",
        "dev.tfvars node_groups",
        json!(fewest_types),
    );
    add("tags.project", "dev.tfvars project", tfvar(files, "project").clone());
    pairs
}

/// What verify expects, in the same shapes, keyed like `infra_values`.
fn verify_values() -> Vec<(&'static str, Value)> {
    let v = sundown::config::Verify::default();
    let s = sundown::config::Schedule::default();
    let rules: Vec<Value> = sundown::checks::s3::LIFECYCLE
        .iter()
        .map(|r| {
            json!({
                "prefix": r.prefix,
                "tag": r.tag.map(|(k, v)| json!([k, v])),
                "transitions": r.transitions.iter().map(|(c, d)| json!([c, d])).collect::<Vec<_>>(),
                "expire_days": r.expire_days,
            })
        })
        .collect();
    let repo_config = sundown::config::Config::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("sundown.yaml"))
        .expect("the repository's sundown.yaml loads");
    vec![
        ("s3.lifecycle", Value::from(rules)),
        (
            "s3.tiering",
            Value::from(
                sundown::checks::s3::TIERING
                    .iter()
                    .map(|(t, d)| json!([t, d]))
                    .collect::<Vec<_>>(),
            ),
        ),
        ("s3.tiering_prefix", json!(v.tiering_prefix)),
        ("logs.retention", json!(v.max_log_retention_days)),
        ("budget.thresholds", json!(v.budget_thresholds)),
        ("schedule.stop", json!(s.stop)),
        ("schedule.start", json!(s.start.rule())),
        ("schedule.scheduler", json!(repo_config.schedule.scheduler)),
        ("eks.capacity_type", json!("SPOT")),
        ("eks.min_spot_instance_types", json!(v.min_spot_instance_types)),
        ("tags.project", json!(repo_config.project_tag().value)),
    ]
}

/// Numbers compare by value (80 and 80.0 are the same threshold).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, a)| y.get(k).is_some_and(|b| same(a, b)))
        }
        _ => a == b,
    }
}

/// Every disagreement, one line each.
fn compare(infra: &[Pair], verify: &[(&'static str, Value)]) -> Vec<String> {
    let mut problems = Vec::new();
    for (what, expected) in verify {
        let found: Vec<&Pair> = infra.iter().filter(|p| p.what == *what).collect();
        if found.is_empty() {
            problems.push(format!("{what}: infra/ has no value for it"));
        }
        for p in found {
            let ok = if *what == "eks.min_spot_instance_types" {
                p.infra.as_u64() >= expected.as_u64()
            } else {
                same(&p.infra, expected)
            };
            if !ok {
                problems.push(format!(
                    "{what}: {} is {}, verify expects {expected}",
                    p.source, p.infra
                ));
            }
        }
    }
    problems
}

#[test]
fn infra_and_verify_agree() {
    let files = parse();
    let problems = compare(&infra_values(&files), &verify_values());
    assert!(
        problems.is_empty(),
        "infra/ and verify disagree:\n{}",
        problems.join("\n")
    );
}

#[test]
fn a_change_on_either_side_is_caught() {
    let files = parse();
    let verify = verify_values();

    // infra/: a transition 15 days later.
    let mut infra = infra_values(&files);
    let lifecycle = infra.iter_mut().find(|p| p.what == "s3.lifecycle").unwrap();
    lifecycle.infra[2]["transitions"][0][1] = json!(105);
    let problems = compare(&infra, &verify);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].starts_with("s3.lifecycle: infra/modules/s3_data/main.tf"),
        "{problems:?}"
    );

    // infra/: the dev var file keeps logs longer.
    let mut infra = infra_values(&files);
    infra
        .iter_mut()
        .find(|p| p.source == "dev.tfvars log_retention_days")
        .unwrap()
        .infra = json!(90);
    let problems = compare(&infra, &verify);
    assert_eq!(
        problems,
        ["logs.retention: dev.tfvars log_retention_days is 90, verify expects 30"]
    );

    // verify: a different stop time fails against every place infra/ sets it.
    let infra = infra_values(&files);
    let mut verify = verify_values();
    verify.iter_mut().find(|(w, _)| *w == "schedule.stop").unwrap().1 = json!("cron(0 20 * * ? *)");
    let problems = compare(&infra, &verify);
    assert_eq!(problems.len(), 3, "{problems:?}");
    assert!(problems.iter().all(|p| p.starts_with("schedule.stop")), "{problems:?}");

    // verify: a third budget threshold.
    let mut verify = verify_values();
    verify.iter_mut().find(|(w, _)| *w == "budget.thresholds").unwrap().1 = json!([50.0, 80.0, 100.0]);
    assert_eq!(compare(&infra, &verify).len(), 3);
}

#[test]
fn the_autoscaler_finds_the_node_groups_and_the_pdb_selects_the_api_pods() {
    let files = parse();
    let node_tags = local(&files, "infra/modules/eks_nodegroup/main.tf", "autoscaler_tags");
    let mut tag_keys: Vec<&str> = node_tags.as_object().unwrap().keys().map(String::as_str).collect();
    tag_keys.sort();
    let values = local(&files, "infra/k8s/main.tf", "autoscaler_values");
    let mut discovered: Vec<&str> = values["autoDiscovery"]["tags"]
        .as_array()
        .expect("autoDiscovery.tags")
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    discovered.sort();
    assert_eq!(
        discovered, tag_keys,
        "cluster-autoscaler auto-discovery tags vs node-group tags"
    );
    assert_eq!(values["extraArgs"]["expander"], "least-waste");
    assert_eq!(values["extraArgs"]["balance-similar-node-groups"], true);
    assert_eq!(node_tags["k8s.io/cluster-autoscaler/enabled"], "true");

    let labels = default(&files, "infra/k8s/variables.tf", "api_pod_labels");
    assert_eq!(labels, &json!({"app": "retail-forecast-api"}));
    let pdb = resource(&files, "infra/k8s/main.tf", "kubernetes_pod_disruption_budget_v1");
    let spec = one(&pdb["spec"]);
    assert_eq!(one(&one(&spec["selector"])["match_labels"]), "${var.api_pod_labels}");
    assert_eq!(one(&spec["min_available"]), 1);
}

/// The shipped teardown workflow outlasts sundown's own bounds: the job's
/// `timeout-minutes` and the AWS session's `role-duration-seconds` are both
/// longer than the sum of the phase bounds in the repository's `sundown.yaml`,
/// so GitHub never cancels (and AWS never logs out) a teardown that sundown
/// itself would still let run.
#[test]
fn the_teardown_workflow_outlasts_the_sum_of_the_phase_bounds() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = sundown::config::Config::load(&root.join("sundown.yaml")).unwrap();
    let k = config.kubernetes.as_ref().map_or(0, |k| k.wait.as_secs());
    let s = config.sagemaker.as_ref().map_or(0, |s| s.wait.as_secs());
    let t = config.terraform.as_ref().unwrap();
    let bounds = k + s + t.lock_timeout.as_secs() + t.timeout.as_secs();

    let text = std::fs::read_to_string(root.join(".github/workflows/teardown.yml")).unwrap();
    let workflow: serde_json::Value = serde_norway::from_str(&text).unwrap();
    let jobs = workflow["jobs"].as_object().unwrap();
    let job = jobs
        .values()
        .find(|j| {
            j["steps"]
                .as_array()
                .is_some_and(|steps| steps.iter().any(|s| s["with"]["command"] == "teardown"))
        })
        .expect("a job that runs `command: teardown`");
    let job_seconds = job["timeout-minutes"].as_u64().expect("timeout-minutes") * 60;
    let session = job["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| {
            s["uses"]
                .as_str()
                .is_some_and(|u| u.contains("configure-aws-credentials"))
        })
        .and_then(|s| s["with"]["role-duration-seconds"].as_u64())
        .expect("role-duration-seconds on configure-aws-credentials");
    assert!(
        job_seconds > bounds,
        "timeout-minutes ({job_seconds} s) must exceed the phase bounds ({bounds} s)"
    );
    assert!(
        session > bounds,
        "role-duration-seconds ({session}) must exceed the phase bounds ({bounds} s)"
    );
}

/// The docs show the shipped workflows verbatim: every `<!-- include: PATH -->`
/// is followed by a fenced block equal to that file.
#[test]
fn the_docs_show_the_workflows_as_they_are() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut checked = 0;
    for entry in std::fs::read_dir(root.join("docs")).unwrap() {
        let doc = entry.unwrap().path();
        let text = std::fs::read_to_string(&doc).unwrap();
        for (at, _) in text.match_indices("<!-- include: ") {
            let rest = &text[at + "<!-- include: ".len()..];
            let (path, rest) = rest.split_once(" -->\n").unwrap();
            let body = rest.split_once("\n").unwrap().1;
            let shown = &body[..body.find("```\n").unwrap()];
            let file = std::fs::read_to_string(root.join(path)).unwrap();
            assert!(
                shown == file,
                "{}: the block after `include: {path}` differs from the file; copy the file into it",
                doc.display()
            );
            checked += 1;
        }
    }
    assert!(checked >= 2, "docs/action.md shows teardown.yml and schedule.yml");
}

/// The scheduler Lambda's role (infra/modules/scheduler) allows every action
/// that `sundown iam-policy --for schedule` requires for the repository's
/// config, alert included: a role that lacks one fails at 07:00 with
/// AccessDenied, on AWS only (moto enforces no resource policies here).
#[test]
fn the_scheduler_lambdas_role_allows_what_the_schedule_needs() {
    let files = parse();
    let permissions = files["infra/modules/scheduler/main.tf"]["data"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|d| d["aws_iam_policy_document"].get("permissions"))
        .expect("the scheduler module's permissions policy document");
    let granted: std::collections::BTreeSet<String> = permissions["statement"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| one(&s["actions"]).as_array().unwrap().clone())
        .map(|a| a.as_str().unwrap().to_owned())
        .collect();
    let mut config = sundown::config::Config::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("sundown.yaml"))
        .expect("the repository's sundown.yaml loads");
    config.notify.sns_topic_arn = Some("arn:aws:sns:us-east-1:123456789012:retail-forecast-alerts".into());
    let policy: Value = serde_json::from_str(
        &sundown::iam::render(
            &config,
            sundown::iam::Purpose::Schedule,
            sundown::iam::State::FromBackend,
        )
        .unwrap(),
    )
    .unwrap();
    let missing: Vec<String> = policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| !s["Sid"].as_str().unwrap().starts_with("Optional"))
        .flat_map(|s| s["Action"].as_array().unwrap().clone())
        .map(|a| a.as_str().unwrap().to_owned())
        .filter(|a| !granted.contains(a))
        .collect();
    assert!(
        missing.is_empty(),
        "infra/modules/scheduler/main.tf's permissions lack {missing:?}, which `sundown iam-policy --for schedule` requires"
    );
}
