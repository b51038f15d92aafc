//! Scope is sacred: sundown deletes only what is provably the stack's.
//! The name rule with its separator, `scope.tags`, configs and models shared
//! with endpoints outside the stack, the namespace phase bound to the
//! stack's cluster, protected resources in Terraform's state, Classic ELBs,
//! and a cluster whose teardown deletes no namespace.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::fault_proxy::{FaultProxy, Faults, Hook};
use crate::support::World;

const SCOPED: &str = "scope:\n  tags: { Project: acme-churn, Environment: dev }\n";

/// The SageMaker resources of issue 13, each endpoint with its own config and model, tagged like it.
fn acme_churn(world: &World) {
    let dev = json!({"Project": "acme-churn", "Environment": "dev"});
    let mut spec: Vec<Value> = (0..4)
        .map(|i| {
            json!({"endpoint": format!("acme-churn-e{i}"), "config": format!("acme-churn-e{i}-config"),
                   "model": format!("acme-churn-e{i}-model"), "tags": dev})
        })
        .collect();
    spec.extend([
        json!({"endpoint": "acme-churn-prod", "config": "acme-churn-prod-config", "model": "acme-churn-prod-model",
               "tags": {"Project": "acme-churn", "Environment": "prod"}}),
        json!({"endpoint": "acme-churn-untagged", "config": "acme-churn-untagged-config", "model": "acme-churn-untagged-model"}),
        // Another service whose name merely starts with the prefix.
        json!({"endpoint": "acme-churnv2", "config": "acme-churnv2-config", "model": "acme-churnv2-model", "tags": dev}),
        // An endpoint outside the stack that serves from a config (and model) named like the stack's.
        json!({"endpoint": "partner-api", "config": "acme-churn-shared-config", "model": "acme-churn-shared-model", "tags": dev}),
        // An endpoint outside the stack whose own config uses one of the stack's models.
        json!({"endpoint": "other-svc2", "config": "other-svc2-config", "model": "acme-churn-e1-model"}),
    ]);
    world.seed(&["--sagemaker", &Value::Array(spec).to_string()]);
}

fn acme_config(world: &World, scope: &str) -> std::path::PathBuf {
    world.config(&format!(
        "stack: acme-churn\nregion: us-east-1\naccounts: [\"123456789012\"]\n{scope}\
         sagemaker:\n  endpoint_prefix: acme-churn\n  wait: 1m\n"
    ))
}

/// `(kind, name) → reason` of every resource the plan keeps, and the names it deletes.
fn plan_decisions(plan: &Value) -> (Vec<(String, String, String)>, Vec<String>) {
    let resources = plan["phases"][1]["resources"].as_array().unwrap();
    let mut kept = Vec::new();
    let mut deleted = Vec::new();
    for r in resources {
        let name = r["name"].as_str().unwrap().to_owned();
        match r["action"].as_str().unwrap() {
            "keep" => kept.push((
                r["kind"].as_str().unwrap().to_owned(),
                name,
                r["reason"].as_str().unwrap_or_default().to_owned(),
            )),
            "delete" => deleted.push(name),
            _ => {}
        }
    }
    deleted.sort();
    (kept, deleted)
}

#[tokio::test(flavor = "multi_thread")]
async fn only_the_stacks_endpoints_go_and_shared_configs_and_models_stay() {
    let world = World::start();
    acme_churn(&world);
    let config = acme_config(&world, SCOPED);

    let plan = world
        .sundown()
        .config(&config)
        .args(&["plan", "--output", "json"])
        .run();
    assert_eq!(plan.code, 0, "{plan:#?}");
    assert!(!plan.stderr.contains("no scope.tags"), "{plan:#?}");
    let (kept, deleted) = plan_decisions(&plan.json());
    let reason = |name: &str| {
        kept.iter()
            .find(|(_, n, _)| n == name)
            .map(|(_, _, r)| r.as_str())
            .unwrap_or_else(|| panic!("{name} is not kept: {kept:#?}"))
    };
    assert_eq!(reason("acme-churn-prod"), "Environment=prod, scope wants dev");
    assert_eq!(
        reason("acme-churn-untagged"),
        "no Environment tag, scope wants dev; no Project tag, scope wants acme-churn"
    );
    assert_eq!(reason("acme-churn-shared-config"), "in use by endpoint partner-api");
    assert_eq!(
        reason("acme-churn-e1-model"),
        "in use by endpoint other-svc2 through other-svc2-config"
    );
    assert_eq!(
        reason("acme-churn-prod-config"),
        "used by kept endpoint acme-churn-prod"
    );
    assert_eq!(
        reason("acme-churn-untagged-model"),
        "used by kept endpoint config acme-churn-untagged-config"
    );
    let mut expected_deleted: Vec<String> = (0..4)
        .flat_map(|i| [format!("acme-churn-e{i}"), format!("acme-churn-e{i}-config")])
        .chain([0, 2, 3].map(|i| format!("acme-churn-e{i}-model")))
        .collect();
    expected_deleted.sort();
    assert_eq!(deleted, expected_deleted);
    let all = plan.stdout.clone();
    assert!(
        !all.contains("acme-churnv2"),
        "another service is not even listed: {all}"
    );

    let out = world
        .sundown()
        .config(&config)
        .args(&["teardown", "--confirm", "destroy"])
        .run();
    assert_eq!(out.code, 0, "{out:#?}");
    let left = world.leftovers(&[]).await;
    assert_eq!(
        left.endpoints,
        [
            "acme-churn-prod",
            "acme-churn-untagged",
            "acme-churnv2",
            "other-svc2",
            "partner-api"
        ]
    );
    assert_eq!(
        left.configs,
        [
            "acme-churn-prod-config",
            "acme-churn-shared-config",
            "acme-churn-untagged-config",
            "acme-churnv2-config",
            "other-svc2-config"
        ]
    );
    assert_eq!(
        left.models,
        [
            "acme-churn-e1-model",
            "acme-churn-prod-model",
            "acme-churn-shared-model",
            "acme-churn-untagged-model",
            "acme-churnv2-model"
        ]
    );

    // Without scope.tags, ownership is by name only, and plan and teardown say so, once each.
    let by_name = acme_config(&world, "");
    for args in [&["plan"][..], &["teardown", "--confirm", "destroy"]] {
        let out = world.sundown().config(&by_name).args(args).run();
        assert_eq!(out.stderr.matches("no scope.tags").count(), 1, "{args:?}: {out:#?}");
    }
}

/// A kubeconfig for the fake plus the stack's EKS cluster on the emulator, and a config naming both.
fn kube_world() -> World {
    let world = World::start().with_namespaces(&["retail-forecast"]);
    world.seed(&["--endpoints", "1"]);
    world
}

fn kube_config(world: &World, kubernetes: &str) -> std::path::PathBuf {
    world.config(&format!(
        "stack: retail-forecast\nregion: us-east-1\naccounts: [\"123456789012\"]\n\
         sagemaker:\n  endpoint_prefix: retail-forecast\nkubernetes:\n{kubernetes}  namespaces: [retail-forecast]\n  wait: 20s\n"
    ))
}

fn assert_untouched(world: &World, out: &crate::support::Outcome) {
    assert_eq!(out.code, 2, "{out:#?}");
    assert_eq!(out.stderr.trim_end().lines().count(), 1, "{out:#?}");
    let writes: Vec<_> = world.moto.recording().into_iter().filter(|r| !r.is_read()).collect();
    assert!(writes.is_empty(), "{writes:#?}");
    let deletes: Vec<String> = world
        .kube()
        .requests()
        .into_iter()
        .filter(|r| r.starts_with("DELETE"))
        .collect();
    assert!(deletes.is_empty(), "{deletes:#?}");
    assert_eq!(world.kube().namespaces().len(), 1);
}

#[test]
fn namespaces_are_deleted_only_on_the_stacks_cluster() {
    let world = kube_world();
    let cluster = world.seed(&["--cluster"]);
    let endpoint = cluster["cluster_endpoint"].as_str().unwrap().to_owned();
    let fake = world.kube().url();

    // The cluster named, and a kubeconfig that points at another server.
    let other = kube_config(&world, "  cluster: retail-forecast-cluster\n  kubeconfig: kubeconfig\n");
    world.moto.start_recording();
    let out = world
        .sundown()
        .config(&other)
        .args(&["teardown", "--confirm", "destroy"])
        .run();
    assert_untouched(&world, &out);
    assert!(out.stderr.contains(&fake) && out.stderr.contains(&endpoint), "{out:#?}");

    // Neither cluster nor kubeconfig, with a live API server in KUBECONFIG: never inferred.
    let neither = kube_config(&world, "");
    world.moto.start_recording();
    let out = world
        .sundown()
        .config(&neither)
        .env("KUBECONFIG", world.path("kubeconfig").to_str().unwrap())
        .args(&["teardown", "--confirm", "destroy"])
        .run();
    assert_untouched(&world, &out);
    assert!(out.stderr.contains("kubernetes.cluster"), "{out:#?}");

    // `api_server` says the kubeconfig's server is the cluster (a tunnel): it proceeds.
    let tunnel = kube_config(
        &world,
        &format!("  cluster: retail-forecast-cluster\n  kubeconfig: kubeconfig\n  api_server: {fake}/\n"),
    );
    let plan = world
        .sundown()
        .config(&tunnel)
        .args(&["plan", "--output", "json"])
        .run();
    assert_eq!(plan.code, 0, "{plan:#?}");
    let source = plan.json()["phases"][0]["source"].as_str().unwrap().to_owned();
    assert!(source.starts_with(&fake), "the plan shows the API server: {source}");
    let out = world
        .sundown()
        .config(&tunnel)
        .args(&["teardown", "--confirm", "destroy", "--output", "json"])
        .run();
    assert_eq!(out.code, 0, "{out:#?}");
    assert!(out.json()["phases"][0]["source"].as_str().unwrap().starts_with(&fake));
    assert!(world.kube().namespaces().is_empty());
}

#[test]
fn when_the_cluster_is_gone_its_namespaces_are_absent_and_nothing_is_contacted() {
    // No EKS cluster on the emulator; the kubeconfig points at a live API server.
    let world = World::start();
    let kube = crate::kube_fake::KubeFake::start().unwrap();
    kube.add_namespace("retail-forecast", false);
    kube.write_kubeconfig(&world.path("kubeconfig")).unwrap();
    let config = world.config(&format!(
        "stack: retail-forecast\nregion: us-east-1\naccounts: [\"123456789012\"]\n\
         kubernetes:\n  cluster: retail-forecast-cluster\n  kubeconfig: kubeconfig\n  api_server: {}\n  \
         namespaces: [retail-forecast]\n  wait: 5s\n",
        kube.url()
    ));
    let out = world
        .sundown()
        .config(&config)
        .args(&["teardown", "--confirm", "destroy", "--output", "json"])
        .run();
    assert_eq!(out.code, 0, "{out:#?}");
    let k = &out.json()["phases"][0];
    assert_eq!(k["status"], "done", "{k:#}");
    assert_eq!(k["resources"][0]["outcome"], "absent", "{k:#}");
    assert!(kube.requests().is_empty(), "{:#?}", kube.requests());
}

#[test]
fn a_protected_resource_in_terraforms_state_is_refused_before_anything_is_deleted() {
    let world = kube_world();
    let infra = world.terraform_module();
    let state = json!({
        "version": 4, "terraform_version": "1.0.0", "serial": 3, "lineage": "crafted-for-the-test",
        "outputs": {},
        "resources": [{
            "mode": "managed", "type": "null_resource", "name": "stack",
            "provider": "provider[\"registry.terraform.io/hashicorp/null\"]",
            "instances": [
                {"index_key": 0, "schema_version": 0, "attributes": {"id": "1", "triggers": null}},
                {"index_key": 1, "schema_version": 0,
                 "attributes": {"id": "2", "triggers": null, "tags": {"Project": "retail-forecast", "sundown:protect": "true"}}}
            ]
        }]
    });
    std::fs::write(infra.join("terraform.tfstate"), state.to_string()).unwrap();
    let config = world.stack_config("20s", "");
    world.moto.start_recording();
    let out = world
        .sundown()
        .config(&config)
        .args(&["teardown", "--confirm", "destroy"])
        .run();
    assert_untouched(&world, &out);
    assert!(
        out.stderr.contains("null_resource.stack[1]") && !out.stderr.contains("null_resource.stack[0]"),
        "{out:#?}"
    );
    assert!(out.stderr.contains("terraform state rm"), "{out:#?}");
}

/// A teardown with a Classic ELB tagged for the cluster, which stays.
fn classic_elb_world(wait: &str) -> (World, std::path::PathBuf) {
    let world = World::start().with_namespaces(&["retail-forecast"]);
    world.seed(&["--classic-elb", "a1b2c3d4e5"]);
    world.terraform(&["resources=1"]);
    let config = world.stack_config(wait, "");
    (world, config)
}

/// The ELB stays until sundown says it waits for it; then the test deletes it
/// (as the cloud provider does once its Service is gone). Terraform's first
/// destroy line comes after that deletion: the ordering is read from the
/// events' moments, not from how long the run took.
#[test]
fn a_lingering_classic_elb_is_awaited() {
    let (world, config) = classic_elb_world("30s");
    awaited(
        &world,
        &config,
        "classic load balancer a1b2c3d4e5",
        &["classic-elb:a1b2c3d4e5"],
    );
    assert!(world.state_list().is_empty());
}

/// A teardown that says it waits for `waited` (the load balancers the cluster's
/// controllers made) and then looks at them again, still there, before any
/// Terraform line: it waits, rather than saying so and going on. The test then
/// deletes `release` (seed.py's `--delete`) as the controllers would, and
/// requires Terraform's first destroy line after both that look and that
/// deletion, and exit 0. Returns the teardown's stderr lines.
fn awaited(world: &World, config: &std::path::Path, waited: &str, release: &[&str]) -> Vec<(Instant, String)> {
    // No faults: the proxy only records when sundown lists load balancers.
    let proxy = FaultProxy::start(world.moto.port, Faults::default());
    let running = world
        .sundown()
        .config(config)
        .env("AWS_ENDPOINT_URL", &proxy.endpoint())
        .args(&["teardown", "--confirm", "destroy"])
        .start();
    running.wait_for_line(
        &format!("waiting for the cluster's controllers to delete {waited}"),
        Duration::from_secs(60),
    );
    let said = Instant::now();
    let looked_again = loop {
        let listed = proxy
            .received
            .lock()
            .unwrap()
            .iter()
            .find(|(at, _, body)| *at > said && body.contains("Action=DescribeLoadBalancers"))
            .map(|(at, _, _)| *at);
        if let Some(at) = listed {
            break at;
        }
        // Without a look, Terraform or the run's end comes next: sundown said it waits and did not.
        let lines = running.lines();
        assert!(
            !lines.iter().any(|l| l.contains("terraform:")) && said.elapsed() < Duration::from_secs(60),
            "sundown did not look at the load balancers again after saying it waits for them: {lines:#?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let released = Instant::now();
    for what in release {
        assert!(world.deleting(what).status().unwrap().success(), "deleting {what}");
    }
    let (code, _, lines) = running.finish(Duration::from_secs(60));
    assert_eq!(code, 0, "{lines:#?}");
    let destroying = crate::support::first_destroy(&lines);
    assert!(
        looked_again < destroying,
        "sundown looked at the load balancers again only after terraform destroy began: {lines:#?}"
    );
    assert!(
        released < destroying,
        "terraform destroy started before {release:?} went: {lines:#?}"
    );
    lines
}

#[test]
fn a_classic_elb_that_stays_is_named_and_terraform_is_skipped() {
    let (world, config) = classic_elb_world("3s");
    let out = world
        .sundown()
        .config(&config)
        .args(&["teardown", "--confirm", "destroy", "--output", "json"])
        .run();
    assert_eq!(out.code, 1, "{out:#?}");
    let report = out.json();
    let k = &report["phases"][0];
    assert_eq!(k["status"], "failed", "{k:#}");
    assert!(
        k["errors"].to_string().contains("classic load balancer a1b2c3d4e5"),
        "{k:#}"
    );
    assert_eq!(report["phases"][3]["status"], "skipped");
    assert_eq!(world.state_list().len(), 1);
}

/// The AWS Load Balancer Controller's ALB and NLB for the stack's cluster
/// (tagged `elbv2.k8s.aws/cluster`) hold the VPC: Terraform's destroy waits
/// until both are gone, as for a Classic ELB. The test deletes them only once
/// sundown says it waits for them, and Terraform's first destroy line comes
/// after; another cluster's ALB is never waited for, nor changed.
#[test]
fn the_controllers_alb_and_nlb_are_awaited_and_another_clusters_is_not() {
    let world = World::start().with_namespaces(&["retail-forecast"]);
    world.seed(&[
        "--elbv2",
        "k8s-retail-api-0a1b2c:application",
        "--elbv2",
        "k8s-retail-grpc-3d4e5f:network",
        "--elbv2",
        "k8s-other-web-6a7b8c:application:other-cluster",
    ]);
    world.terraform(&["resources=1"]);
    let config = world.stack_config("30s", "");
    world.moto.start_recording();
    let lines = awaited(
        &world,
        &config,
        "load balancer k8s-retail-api-0a1b2c, load balancer k8s-retail-grpc-3d4e5f",
        &["elbv2:k8s-retail-api-0a1b2c", "elbv2:k8s-retail-grpc-3d4e5f"],
    );
    assert!(
        !lines.iter().any(|(_, l)| l.contains("k8s-other-web")),
        "another cluster's load balancer was waited for: {lines:#?}"
    );
    // The only changes to load balancers are the test's own two deletions.
    let changed: Vec<_> = world
        .moto
        .recording()
        .into_iter()
        .filter(|r| !r.is_read() && r.service == "elasticloadbalancing")
        .collect();
    assert_eq!(changed.len(), 2, "{changed:#?}");
    assert!(
        changed
            .iter()
            .all(|r| r.operation == "DeleteLoadBalancer" && r.names("k8s-retail-")),
        "sundown changed a load balancer: {changed:#?}"
    );
    assert!(world.state_list().is_empty());
}

/// A load balancer's controller deletes it between sundown's DescribeLoadBalancers and its
/// DescribeTags: on AWS this is the moment the wait is for, and the tag read of the whole
/// batch then fails with LoadBalancerNotFound ("The specified load balancer does not
/// exist", the ELB API reference's DescribeTags errors). The proxy deletes one of two
/// Classic ELBs just before the first DescribeTags reaches moto, which answers the same
/// way. The deleted one counts as gone, and the wait goes on for the other.
#[test]
fn a_load_balancer_deleted_between_list_and_tag_read_counts_as_gone() {
    let world = World::start().with_namespaces(&["retail-forecast"]);
    world.seed(&["--classic-elb", "a1b2c3d4e5", "--classic-elb", "f6a7b8c9d0"]);
    world.terraform(&["resources=1"]);
    let config = world.stack_config("30s", "");
    // At the first tag read: a1b2c3d4e5 goes at once, f6a7b8c9d0 2 s later (so it is
    // there for that read and the next, whatever the machine's pace).
    let delete_now = Mutex::new(world.deleting("classic-elb:a1b2c3d4e5"));
    let delete_later = Mutex::new(Some(world.deleting("classic-elb:f6a7b8c9d0")));
    let later: Arc<Mutex<Option<std::thread::JoinHandle<()>>>> = Arc::default();
    let later_in_hook = later.clone();
    const CLASSIC_TAGS: &str = "Action=DescribeTags&Version=2012-06-01";
    let proxy = FaultProxy::start(
        world.moto.port,
        Faults {
            before_first: Some((
                CLASSIC_TAGS,
                Hook::new(move || {
                    assert!(delete_now.lock().unwrap().status().unwrap().success());
                    let mut cmd = delete_later.lock().unwrap().take().unwrap();
                    *later_in_hook.lock().unwrap() = Some(std::thread::spawn(move || {
                        std::thread::sleep(Duration::from_secs(2));
                        assert!(cmd.status().unwrap().success());
                    }));
                }),
            )),
            ..Faults::default()
        },
    );
    let out = world
        .sundown()
        .config(&config)
        .env("AWS_ENDPOINT_URL", &proxy.endpoint())
        .args(&["teardown", "--confirm", "destroy", "--output", "json"])
        .run();
    let later = later.lock().unwrap().take().expect("the hook ran");
    later.join().unwrap();
    assert_eq!(out.code, 0, "{out:#?}");
    let report = out.json();
    assert_eq!(report["phases"][0]["errors"], json!([]), "{report:#}");
    assert_eq!(report["phases"][3]["status"], "done");
    assert!(world.state_list().is_empty());
    // The batch of both failed; then each alone: the deleted one not found, the other still tagged.
    let reads: Vec<String> = proxy
        .received
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, _, body)| body.contains(CLASSIC_TAGS))
        .map(|(_, _, body)| body.clone())
        .collect();
    assert!(reads.len() >= 3, "{reads:#?}");
    let names = |body: &str| ["a1b2c3d4e5", "f6a7b8c9d0"].map(|n| body.contains(n));
    assert_eq!(names(&reads[0]), [true, true], "{reads:#?}");
    assert_eq!(names(&reads[1]), [true, false], "{reads:#?}");
    assert_eq!(names(&reads[2]), [false, true], "{reads:#?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cluster_without_namespaces_plans_and_schedule_keeps_out_of_scope_node_groups() {
    let world = World::start();
    world.seed(&[
        "--nodegroup",
        "ng-dev:1:2:3:Environment=dev",
        "--nodegroup",
        "ng-prod:1:2:3:Environment=prod",
    ]);
    let config = world.config(
        "stack: retail-forecast\nregion: us-east-1\naccounts: [\"123456789012\"]\n\
         scope:\n  tags: { Project: retail-forecast, Environment: dev }\n\
         kubernetes:\n  cluster: retail-forecast-cluster\n  namespaces: []\n",
    );
    let plan = world
        .sundown()
        .config(&config)
        .args(&["plan", "--output", "json"])
        .run();
    assert_eq!(plan.code, 0, "{plan:#?}");
    assert_eq!(plan.json()["phases"][0]["status"], "ready");

    let stop = world
        .sundown()
        .config(&config)
        .args(&["schedule", "stop", "--output", "json"])
        .run();
    assert_eq!(stop.code, 0, "{stop:#?}");
    let changes = stop.json()["changes"].clone();
    let detail = |name: &str| {
        changes
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"].as_str().unwrap().ends_with(name))
            .map(|c| {
                (
                    c["changed"].as_bool().unwrap(),
                    c["detail"].as_str().unwrap().to_owned(),
                )
            })
            .unwrap()
    };
    assert!(detail("/ng-dev").0, "{changes:#}");
    assert_eq!(
        detail("/ng-prod"),
        (false, "kept (Environment=prod, scope wants dev)".to_owned())
    );
    let eks = aws_sdk_eks::Client::new(&world.sdk().await);
    let size = |name: &'static str| {
        let eks = eks.clone();
        async move {
            let out = eks
                .describe_nodegroup()
                .cluster_name("retail-forecast-cluster")
                .nodegroup_name(name)
                .send()
                .await
                .unwrap();
            out.nodegroup()
                .unwrap()
                .scaling_config()
                .unwrap()
                .desired_size()
                .unwrap()
        }
    };
    assert_eq!((size("ng-dev").await, size("ng-prod").await), (0, 2));
}

/// The log groups a plan or a report lists in its SageMaker phase: (name, its
/// `action` or `outcome`, the reason or detail).
fn log_groups_in(document: &Value, field: &str) -> Vec<(String, String, String)> {
    document["phases"][1]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["kind"] == "log_group")
        .map(|r| {
            let why = r.get("reason").or_else(|| r.get("detail"));
            (
                r["name"].as_str().unwrap().to_owned(),
                r[field].as_str().unwrap().to_owned(),
                why.and_then(Value::as_str).unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// The log group SageMaker makes for each endpoint (`/aws/sagemaker/Endpoints/<name>`)
/// outlives it. Those of the endpoints the teardown deletes go once their
/// endpoint is gone; that of a kept endpoint stays, and so do those outside the
/// name rule (`retail-forecastv2-…`, another service's). A group whose endpoint
/// is gone already is the stack's by its name only while `scope.tags` is empty:
/// with it, the group stays and the plan says why. `sagemaker.logs: keep` keeps them all.
#[test]
fn an_endpoints_log_group_goes_with_it_and_no_other() {
    let world = World::start();
    world.seed(&[
        "--endpoints",
        "2",
        "--protected-endpoints",
        "1",
        "--endpoint-logs",
        "--log-group",
        "/aws/sagemaker/Endpoints/retail-forecast-old",
        "--log-group",
        "/aws/sagemaker/Endpoints/retail-forecastv2-api",
        "--log-group",
        "/aws/sagemaker/Endpoints/billing-api",
    ]);
    let endpoint_logs = |name: &str| format!("/aws/sagemaker/Endpoints/{name}");
    let config_with = |extra: &str| {
        world.config(&format!(
            "stack: retail-forecast\nregion: us-east-1\naccounts: [\"123456789012\"]\n\
             sagemaker:\n  endpoint_prefix: retail-forecast\n  wait: 1m\n{extra}"
        ))
    };
    let plan_of = |extra: &str| {
        let config = config_with(extra);
        let out = world
            .sundown()
            .config(&config)
            .args(&["plan", "--output", "json"])
            .run();
        assert_eq!(out.code, 0, "{out:#?}");
        log_groups_in(&out.json(), "action")
    };
    let action = |groups: &[(String, String, String)], name: &str| {
        groups
            .iter()
            .find(|(n, _, _)| *n == endpoint_logs(name))
            .map(|(_, a, why)| (a.clone(), why.clone()))
            .unwrap_or_else(|| panic!("{name}'s log group is not in the plan: {groups:?}"))
    };

    // By name only: the gone endpoint's group is the stack's; outside the rule, nothing is listed.
    let groups = plan_of("");
    assert_eq!(groups.len(), 4, "{groups:?}");
    assert_eq!(action(&groups, "retail-forecast-ep-0").0, "delete");
    assert_eq!(action(&groups, "retail-forecast-ep-1").0, "delete");
    assert_eq!(action(&groups, "retail-forecast-old").0, "delete");
    assert_eq!(
        action(&groups, "retail-forecast-keep-2"),
        ("keep".into(), "its endpoint retail-forecast-keep-2 is kept".into())
    );
    // With scope.tags, a group whose endpoint is gone cannot be shown to be the stack's.
    let scoped = plan_of("scope:\n  tags: { Project: retail-forecast }\n");
    let (kept, why) = action(&scoped, "retail-forecast-old");
    assert_eq!(kept, "keep");
    assert!(why.contains("carries no tags to show it was the stack's"), "{why}");
    assert_eq!(action(&scoped, "retail-forecast-ep-0").0, "delete");
    // sagemaker.logs: keep keeps them all.
    let config = config_with("  logs: keep\n");
    let out = world
        .sundown()
        .config(&config)
        .args(&["plan", "--output", "json"])
        .run();
    let keeps = log_groups_in(&out.json(), "action");
    assert_eq!(keeps.len(), 4);
    assert!(
        keeps
            .iter()
            .all(|(_, action, why)| action == "keep" && why == "sagemaker.logs: keep"),
        "{keeps:#?}"
    );

    // The teardown, by name only: exactly the stack's groups go, and nothing asks about the others.
    let config = config_with("");
    world.moto.start_recording();
    let out = world
        .sundown()
        .config(&config)
        .args(&["teardown", "--confirm", "destroy", "--output", "json"])
        .run();
    assert_eq!(out.code, 0, "{out:#?}");
    let outcomes: Vec<(String, String)> = log_groups_in(&out.json(), "outcome")
        .into_iter()
        .map(|(name, outcome, _)| (name, outcome))
        .collect();
    for (name, outcome) in [
        ("retail-forecast-ep-0", "deleted"),
        ("retail-forecast-ep-1", "deleted"),
        ("retail-forecast-old", "deleted"),
        ("retail-forecast-keep-2", "kept"),
    ] {
        assert!(
            outcomes.contains(&(endpoint_logs(name), outcome.to_owned())),
            "{name}: {outcomes:?}"
        );
    }
    let left = world.seed(&["--list-log-groups", "/aws/sagemaker/Endpoints/"]);
    let mut left: Vec<String> = left["log_groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    left.sort();
    assert_eq!(
        left,
        [
            endpoint_logs("billing-api"),
            endpoint_logs("retail-forecast-keep-2"),
            endpoint_logs("retail-forecastv2-api")
        ]
    );
    for request in world.moto.recording() {
        for foreign in ["billing-api", "retail-forecastv2-api", "retail-forecast-keep-2"] {
            assert!(
                request.is_read() || !request.names(foreign),
                "a mutating request names {foreign}: {request:?}"
            );
        }
        assert!(
            !request.names("billing-api"),
            "a request names billing-api: {request:?}"
        );
    }
}

/// DeleteLogGroup's OK is a promise: the phase checks with one listing that
/// the groups it deleted are gone. Through a proxy that answers DeleteLogGroup
/// with 200 and deletes nothing, the group is named as still there and the run fails.
#[test]
fn a_log_group_deleted_but_still_listed_fails_the_phase() {
    let world = World::start();
    world.seed(&["--endpoints", "1", "--endpoint-logs"]);
    let proxy = FaultProxy::start(
        world.moto.port,
        Faults {
            always: Some(("Logs_20140328.DeleteLogGroup", 200, "Accepted")),
            ..Faults::default()
        },
    );
    let config = world.config(
        "stack: retail-forecast\nregion: us-east-1\naccounts: [\"123456789012\"]\n\
         sagemaker:\n  endpoint_prefix: retail-forecast\n  wait: 1m\n",
    );
    let out = world
        .sundown()
        .config(&config)
        .env("AWS_ENDPOINT_URL", &proxy.endpoint())
        .args(&["teardown", "--confirm", "destroy", "--output", "json"])
        .run();
    assert_eq!(out.code, 1, "{out:#?}");
    let group = "/aws/sagemaker/Endpoints/retail-forecast-ep-0";
    let outcomes = log_groups_in(&out.json(), "outcome");
    assert_eq!(outcomes.len(), 1, "{outcomes:?}");
    assert_eq!(outcomes[0].0, group);
    assert_eq!(outcomes[0].1, "failed");
    assert!(
        outcomes[0].2.contains("is still listed after DeleteLogGroup"),
        "{outcomes:?}"
    );
    let left = world.seed(&["--list-log-groups", "/aws/sagemaker/Endpoints/"]);
    assert_eq!(
        left["log_groups"],
        serde_json::json!([group]),
        "the proxy deleted nothing"
    );
}
