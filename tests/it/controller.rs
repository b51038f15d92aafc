//! What the AWS Load Balancer Controller leaves after its load balancers:
//! the security groups and target groups it made for the stack's cluster,
//! deleted by the Kubernetes phase before `terraform destroy`
//! (`src/phases/controller.rs`), and only those.

use std::time::Duration;

use serde_json::Value;

use crate::fault_proxy::{FaultProxy, Faults};
use crate::support::World;

const CLUSTER: &str = "elbv2.k8s.aws/cluster=retail-forecast-cluster";

/// (kind, name, outcome) of the kubernetes phase's groups.
fn groups(report: &Value) -> Vec<(String, String, String)> {
    crate::support::outcomes(report, "kubernetes", "_group")
}

/// The controller's groups for the stack's namespace and its shared backend
/// security group are listed in the plan and deleted, the security groups only
/// after AWS has stopped answering DependencyViolation (modelled for 2 s after
/// the first attempt, as a just-deleted load balancer's network interfaces
/// hold them); those it made for another namespace of the cluster, a protected
/// one and another cluster's stay, and nothing deletes them. Terraform's
/// destroy runs after, and the state is empty.
#[test]
fn the_controllers_groups_go_before_terraform_and_no_one_elses() {
    let world = World::start().with_namespaces(&["retail-forecast"]);
    let stack_tag = "service.k8s.aws/stack=retail-forecast/api";
    let other_tag = "service.k8s.aws/stack=other/web";
    let seeded = world.seed(&[
        "--lbc",
        &format!("sg:k8s-retail-api-sg:{CLUSTER},{stack_tag}"),
        "--lbc",
        &format!("tg:k8s-retail-api-tg:{CLUSTER},{stack_tag}"),
        "--lbc",
        &format!("sg:k8s-traffic-backend:{CLUSTER},elbv2.k8s.aws/resource=backend-sg"),
        "--lbc",
        &format!("sg:k8s-other-web-sg:{CLUSTER},{other_tag}"),
        "--lbc",
        &format!("tg:k8s-other-web-tg:{CLUSTER},{other_tag}"),
        "--lbc",
        &format!("sg:k8s-retail-kept-sg:{CLUSTER},{stack_tag},sundown:protect=true"),
        "--lbc",
        &format!("sg:k8s-elsewhere-sg:elbv2.k8s.aws/cluster=other-cluster,{stack_tag}"),
    ]);
    let id = |name: &str| seeded["lbc"][name].as_str().unwrap().to_owned();
    world.terraform(&["resources=1"]);
    let config = world.stack_config("30s", "");
    let hold = Duration::from_secs(2);
    let proxy = FaultProxy::start(
        world.moto.port,
        Faults {
            sg_dependency: Some(hold),
            ..Faults::default()
        },
    );
    let run = |args: &[&str]| {
        world
            .sundown()
            .config(&config)
            .env("AWS_ENDPOINT_URL", &proxy.endpoint())
            .args(args)
            .args(&["--output", "json"])
            .run()
    };

    let plan = run(&["plan"]);
    assert_eq!(plan.code, 0, "{plan:#?}");
    let plan = plan.json();
    let planned: Vec<(String, String)> = plan["phases"][0]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["kind"].as_str().unwrap().ends_with("_group"))
        .map(|r| {
            (
                r["name"].as_str().unwrap().to_owned(),
                r["action"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    for (name, action) in [
        (id("k8s-retail-api-sg"), "delete"),
        ("k8s-retail-api-tg".to_owned(), "delete"),
        (id("k8s-traffic-backend"), "delete"),
        (id("k8s-other-web-sg"), "keep"),
        ("k8s-other-web-tg".to_owned(), "keep"),
        (id("k8s-retail-kept-sg"), "keep"),
    ] {
        assert!(
            planned.contains(&(name.clone(), action.to_owned())),
            "{name} {action}: {planned:?}"
        );
    }
    assert!(
        !planned.iter().any(|(n, _)| *n == id("k8s-elsewhere-sg")),
        "another cluster's group is not the stack's: {planned:?}"
    );

    world.moto.start_recording();
    let out = run(&["teardown", "--confirm", "destroy"]);
    assert_eq!(out.code, 0, "{out:#?}");
    let report = out.json();
    let mut expected = vec![
        (
            "security_group".to_owned(),
            id("k8s-retail-api-sg"),
            "deleted".to_owned(),
        ),
        (
            "security_group".to_owned(),
            id("k8s-traffic-backend"),
            "deleted".to_owned(),
        ),
        ("security_group".to_owned(), id("k8s-other-web-sg"), "kept".to_owned()),
        ("security_group".to_owned(), id("k8s-retail-kept-sg"), "kept".to_owned()),
        (
            "target_group".to_owned(),
            "k8s-retail-api-tg".to_owned(),
            "deleted".to_owned(),
        ),
        (
            "target_group".to_owned(),
            "k8s-other-web-tg".to_owned(),
            "kept".to_owned(),
        ),
    ];
    expected.sort();
    assert_eq!(groups(&report), expected, "{report:#}");
    assert_eq!(report["phases"][3]["status"], "done", "{report:#}");
    assert!(world.state_list().is_empty());

    // What is left at the emulator: exactly the kept groups (and each VPC's default group).
    let left = world.seed(&["--list-lbc"]);
    let sgs: Vec<&str> = left["security_groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g.as_str().unwrap())
        .collect();
    for kept in ["k8s-other-web-sg", "k8s-retail-kept-sg", "k8s-elsewhere-sg"] {
        assert!(sgs.contains(&id(kept).as_str()), "{kept} was kept: {sgs:?}");
    }
    for gone in ["k8s-retail-api-sg", "k8s-traffic-backend"] {
        assert!(!sgs.contains(&id(gone).as_str()), "{gone} is gone: {sgs:?}");
    }
    assert_eq!(left["target_groups"], serde_json::json!(["k8s-other-web-tg"]));

    // The security groups were tried until AWS let them go, and nothing else was asked to go.
    let received = proxy.received.lock().unwrap().clone();
    let tries = |group: &str| {
        received
            .iter()
            .filter(|(_, _, body)| body.contains("Action=DeleteSecurityGroup") && body.contains(group))
            .count()
    };
    assert!(tries(&id("k8s-retail-api-sg")) >= 2, "one DependencyViolation at least");
    let deletions: Vec<String> = world
        .moto
        .recording()
        .into_iter()
        .filter(|r| matches!(r.operation.as_str(), "DeleteSecurityGroup" | "DeleteTargetGroup"))
        .map(|r| format!("{r:?}"))
        .collect();
    assert_eq!(deletions.len(), 3, "the stack's three groups only: {deletions:#?}");
    for kept in ["k8s-other-web-sg", "k8s-retail-kept-sg", "k8s-elsewhere-sg"] {
        assert!(
            !deletions.iter().any(|d| d.contains(&id(kept))),
            "{kept} was asked to go: {deletions:#?}"
        );
    }
}
