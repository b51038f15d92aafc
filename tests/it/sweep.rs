//! The closing sweep (`src/sweep`): after the last phase, what of the stack
//! the Tagging API still lists, confirmed by its own service, priced, kept
//! or left behind; the same in `verify --after-teardown`.

use serde_json::Value;

use crate::fault_proxy::{FaultProxy, Faults};
use crate::support::World;

/// (kind, name, $/month) of the sweep's `list` ("kept" or "left_behind").
fn swept(report: &Value, list: &str) -> Vec<(String, String, Option<f64>)> {
    let mut out: Vec<_> = report["sweep"][list]
        .as_array()
        .unwrap_or_else(|| panic!("no sweep.{list} in {report:#}"))
        .iter()
        .map(|l| {
            (
                l["kind"].as_str().unwrap().to_owned(),
                l["name"].as_str().unwrap().to_owned(),
                l["usd_per_month"].as_f64(),
            )
        })
        .collect();
    out.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    out
}

/// A stack whose teardown deletes its endpoints (and their log groups) and
/// stops its running training job but leaves a tagged 100 GiB gp3 volume,
/// which no phase deletes; a protected volume and endpoint, and look-alikes
/// of others: two volumes (another project, no tags), another service's
/// endpoint log group and a running job of another team. The Tagging API lags as
/// AWS's does: it goes on listing the deleted endpoints, configs and models,
/// which the sweep must confirm gone rather than report. The teardown names
/// the volume with its ARN and $8.00/month and exits 1; once the volume is
/// deleted, the rerun and `verify --after-teardown` exit 0. Nothing asks about
/// the others' volumes.
#[test]
fn the_closing_sweep_names_what_still_bills_and_nothing_that_is_not_the_stacks() {
    let world = World::start();
    let seeded = world.seed(&[
        "--endpoints",
        "2",
        "--protected-endpoints",
        "1",
        "--volume",
        "100:gp3:Project=retail-forecast",
        "--volume",
        "50:gp3:Project=retail-forecast,sundown:protect=true",
        "--volume",
        "100:gp3:Project=billing",
        "--volume",
        "20:gp2",
        // SageMaker's per-endpoint log groups, another service's look-alike, and running jobs.
        "--endpoint-logs",
        "--log-group",
        "/aws/sagemaker/Endpoints/partner-ep",
        "--job",
        "training:retail-forecast-train-1",
        "--job",
        "training:partner-train-1:Team=partner",
    ]);
    let volumes: Vec<String> = seeded["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    let (left, protected, foreign) = (&volumes[0], &volumes[1], &volumes[2..]);
    let proxy = FaultProxy::start(
        world.moto.port,
        Faults {
            tagging_lag: true,
            job_stop: Some(std::time::Duration::from_millis(500)),
            ..Faults::default()
        },
    );
    let config = world.config(
        "stack: retail-forecast\nregion: us-east-1\naccounts: [\"123456789012\"]\n\
         scope:\n  tags: { Project: retail-forecast }\n\
         sagemaker:\n  endpoint_prefix: retail-forecast\n  wait: 1m\n",
    );
    let run = |args: &[&str]| {
        world
            .sundown()
            .config(&config)
            .env("AWS_ENDPOINT_URL", &proxy.endpoint())
            .args(args)
            .run()
    };
    world.moto.start_recording();
    let out = run(&["teardown", "--confirm", "destroy", "--output", "json"]);
    assert_eq!(out.code, 1, "a volume still bills: {out:#?}");
    let report = out.json();
    assert_eq!(report["result"], "failed");
    assert!(
        report["phases"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["status"] != "failed"),
        "every phase did its part; the sweep fails the run: {report:#}"
    );
    assert_eq!(
        swept(&report, "left_behind"),
        [("ec2:volume".to_owned(), left.clone(), Some(8.0))],
        "{report:#}"
    );
    let leftover = &report["sweep"]["left_behind"][0];
    assert_eq!(
        leftover["arn"],
        format!("arn:aws:ec2:us-east-1:123456789012:volume/{left}")
    );
    assert!(
        leftover["why"]
            .as_str()
            .unwrap()
            .starts_with(&format!("aws ec2 delete-volume --volume-id {left}")),
        "{leftover:#}"
    );
    assert_eq!(report["sweep"]["still_billing_usd_per_month"], 8.0);
    let kept = swept(&report, "kept");
    let kept_names: Vec<&str> = kept.iter().map(|(_, n, _)| n.as_str()).collect();
    assert_eq!(
        kept_names,
        [
            protected.as_str(),
            "retail-forecast-keep-2",
            "retail-forecast-keep-2-config",
            "retail-forecast-keep-2-model"
        ],
        "{kept:#?}"
    );
    assert!(
        kept.iter()
            .any(|(kind, _, usd)| kind == "sagemaker:endpoint" && *usd == Some(83.95)),
        "the kept endpoint is priced (1 × ml.m5.large): {kept:#?}"
    );
    // The lagging Tagging API listed the six deleted SageMaker resources, and the job once stopped;
    // each was confirmed gone (an ended job is a record).
    assert_eq!(report["sweep"]["gone"], 7, "{report:#}");
    let sagemaker = report["phases"][1]["resources"].as_array().unwrap();
    let outcome = |kind: &str, name: &str| {
        sagemaker
            .iter()
            .find(|r| r["kind"] == kind && r["name"] == name)
            .map(|r| r["outcome"].as_str().unwrap().to_owned())
    };
    assert_eq!(
        outcome("training_job", "retail-forecast-train-1").as_deref(),
        Some("stopped")
    );
    assert_eq!(
        outcome("log_group", "/aws/sagemaker/Endpoints/retail-forecast-ep-0").as_deref(),
        Some("deleted")
    );
    assert_eq!(
        outcome("log_group", "/aws/sagemaker/Endpoints/retail-forecast-keep-2").as_deref(),
        Some("kept")
    );
    assert!(
        out.stderr
            .contains("still billing $8.00/month: 1 resource of the stack left behind"),
        "{}",
        out.stderr
    );
    let recorded = world.moto.recording();
    for foreign in foreign
        .iter()
        .map(String::as_str)
        .chain(["partner-train-1", "partner-ep"])
    {
        assert!(
            !recorded.iter().any(|r| r.names(foreign)),
            "a request named {foreign}, which is not the stack's"
        );
    }

    // The volume removed, as the report says: the rerun and verify pass.
    world.seed(&["--delete", &format!("volume:{left}")]);
    let rerun = run(&["teardown", "--confirm", "destroy", "--output", "json"]);
    assert_eq!(rerun.code, 0, "{rerun:#?}");
    let report = rerun.json();
    assert!(swept(&report, "left_behind").is_empty(), "{report:#}");
    assert_eq!(report["sweep"]["still_billing_usd_per_month"], 0.0);
    assert!(
        rerun.stderr.contains("nothing of the stack still bills"),
        "{}",
        rerun.stderr
    );
    let verify = run(&["verify", "--after-teardown", "--output", "json"]);
    assert_eq!(verify.code, 0, "{verify:#?}");
    let evidence = verify.json()["checks"][0]["evidence"].to_string();
    assert!(evidence.contains("nothing of the stack still bills"), "{evidence}");
    assert!(
        evidence.contains(&format!("kept: ec2:volume {protected}")),
        "{evidence}"
    );
    // The world: the stack's volume is gone, the others' are as they were.
    let remaining = world.seed(&["--list-volumes"]);
    let mut want: Vec<&str> = foreign.iter().map(String::as_str).collect();
    want.push(protected);
    want.sort();
    assert_eq!(remaining["volumes"], serde_json::json!(want));
    let groups = world.seed(&["--list-log-groups", "/aws/sagemaker/Endpoints/"]);
    assert_eq!(
        groups["log_groups"],
        serde_json::json!([
            "/aws/sagemaker/Endpoints/partner-ep",
            "/aws/sagemaker/Endpoints/retail-forecast-keep-2"
        ]),
        "the stack's endpoint log groups are gone, the kept endpoint's and another service's stay"
    );
}
