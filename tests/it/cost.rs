//! `sundown cost` against the emulator, a fake of the AWS Price List API and
//! Cost Explorer results set through moto: each row's price is the fake's,
//! the totals are sums of the rows, the schedule's savings follow its crons,
//! and a second run reads its prices from the cache.
//!
//! The Price List fake answers `GetProducts` as the service does: with every
//! product whose attributes match *all* the request's TERM_MATCH filters. It
//! also holds decoys (Windows, Dedicated, an unused capacity reservation, a
//! Local Zone that shares the region code, SageMaker notebooks, another
//! region), so a filter that is too loose gets several products at different
//! prices and the test sees the wrong price.

use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use wiremock::matchers::{header, method};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::support::World;

/// A product in the fake's catalogue: its service, attributes and on-demand price.
struct Product {
    service: &'static str,
    attributes: Value,
    usd: &'static str,
    unit: &'static str,
}

fn ec2(instance_type: &str, os: &str, tenancy: &str, capacity: &str, usd: &'static str) -> Product {
    Product {
        service: "AmazonEC2",
        attributes: json!({
            "regionCode": "us-east-1", "locationType": "AWS Region",
            "productFamily": "Compute Instance", "instanceType": instance_type,
            "operatingSystem": os, "tenancy": tenancy, "preInstalledSw": "NA",
            "licenseModel": "No License required", "capacitystatus": capacity, "marketoption": "OnDemand",
            "usagetype": format!("BoxUsage:{instance_type}"),
        }),
        usd,
        unit: "Hrs",
    }
}

fn sagemaker(instance: &str, component: &str, region: &str, usd: &'static str) -> Product {
    Product {
        service: "AmazonSageMaker",
        attributes: json!({
            "regionCode": region, "locationType": "AWS Region", "productFamily": "ML Instance", "component": component,
            "instanceName": instance, "instanceType": format!("{instance}-{}", component.to_lowercase()),
        }),
        usd,
        unit: "Hrs",
    }
}

/// Prices the fake serves; the real ones differ a little, so a row priced from
/// the built-in table cannot pass for one priced from the API.
const T3_MEDIUM: f64 = 0.0421;
const ML_T2_MEDIUM: f64 = 0.0571;
const EKS: f64 = 0.1;

fn catalogue() -> Vec<Product> {
    vec![
        ec2("t3.medium", "Linux", "Shared", "Used", "0.0421000000"),
        // Decoys a loose filter would also match.
        ec2("t3.medium", "Windows", "Shared", "Used", "0.0600000000"),
        ec2("t3.medium", "Linux", "Dedicated", "Used", "0.0500000000"),
        ec2(
            "t3.medium",
            "Linux",
            "Shared",
            "UnusedCapacityReservation",
            "0.0416000000",
        ),
        // The Boston Local Zone: region code us-east-1, its own prices.
        {
            let mut zone = ec2("t3.medium", "Linux", "Shared", "Used", "0.0500000000");
            zone.attributes["locationType"] = json!("AWS Local Zone");
            zone
        },
        sagemaker("ml.t2.medium", "Hosting", "us-east-1", "0.0571000000"),
        sagemaker("ml.t2.medium", "Notebook", "us-east-1", "0.0464000000"),
        sagemaker("ml.t2.medium", "Hosting", "us-west-2", "0.0700000000"),
        Product {
            service: "AmazonEKS",
            attributes: json!({"regionCode": "us-east-1", "productFamily": "Compute", "locationType": "AWS Region",
                               "usagetype": "USE1-AmazonEKS-Hours:perCluster"}),
            usd: "0.1000000000",
            unit: "Hours",
        },
        Product {
            service: "AmazonEKS",
            attributes: json!({"regionCode": "us-east-1", "productFamily": "Compute", "locationType": "AWS Outposts",
                               "usagetype": "USE1-AmazonEKS-Hours:perCluster"}),
            usd: "0.0000000000",
            unit: "Hours",
        },
    ]
}

/// The product as GetProducts returns it: a JSON string with attributes and an OnDemand term (and a Reserved one).
fn price_list_item(p: &Product) -> String {
    json!({
        "product": {"productFamily": p.attributes["productFamily"], "attributes": p.attributes, "sku": "SKU"},
        "serviceCode": p.service,
        "terms": {
            "OnDemand": {"SKU.JRTCKXETXF": {"priceDimensions": {"SKU.JRTCKXETXF.6YS6EN2CT7": {
                "unit": p.unit, "beginRange": "0", "endRange": "Inf", "pricePerUnit": {"USD": p.usd}}}}},
            "Reserved": {"SKU.4NA7Y494T4": {"priceDimensions": {"SKU.4NA7Y494T4.6YS6EN2CT7": {
                "unit": p.unit, "beginRange": "0", "endRange": "Inf", "pricePerUnit": {"USD": "0.0010000000"}}}}}
        },
        "version": "20261101000000", "publicationDate": "2026-11-01T00:00:00Z"
    })
    .to_string()
}

/// Answers with every product whose attributes match all the filters, as the service does.
struct PriceList {
    catalogue: Vec<Product>,
    requests: Arc<Mutex<Vec<Value>>>,
}

impl Respond for PriceList {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let body: Value = serde_json::from_slice(&request.body).unwrap_or_default();
        self.requests.lock().unwrap().push(body.clone());
        let service = body["ServiceCode"].as_str().unwrap_or_default();
        let filters = body["Filters"].as_array().cloned().unwrap_or_default();
        let items: Vec<String> = self
            .catalogue
            .iter()
            .filter(|p| p.service == service)
            .filter(|p| {
                filters.iter().all(|f| {
                    f["Type"] == "TERM_MATCH" && p.attributes[f["Field"].as_str().unwrap_or_default()] == f["Value"]
                })
            })
            .map(price_list_item)
            .collect();
        ResponseTemplate::new(200)
            .insert_header("content-type", "application/x-amz-json-1.1")
            .set_body_json(json!({"FormatVersion": "aws_v1", "PriceList": items}))
    }
}

async fn price_list(failing: bool) -> (MockServer, Arc<Mutex<Vec<Value>>>) {
    let server = MockServer::start().await;
    let requests = Arc::new(Mutex::new(Vec::new()));
    let mock = Mock::given(method("POST")).and(header("x-amz-target", "AWSPriceListService.GetProducts"));
    if failing {
        mock.respond_with(ResponseTemplate::new(503).set_body_string("<html>Service Unavailable</html>"))
            .mount(&server)
            .await;
    } else {
        mock.respond_with(PriceList {
            catalogue: catalogue(),
            requests: requests.clone(),
        })
        .mount(&server)
        .await;
    }
    (server, requests)
}

/// 7 endpoints of 1 × ml.t2.medium, a protected one, an unrelated one, a SPOT
/// node group of 4 × t3.medium, a spot training job, and Cost Explorer figures.
fn stack(world: &World) -> std::path::PathBuf {
    let dev = json!({"Project": "retail-forecast"});
    let mut spec: Vec<Value> = (0..7)
        .map(|i| {
            json!({"endpoint": format!("retail-forecast-{i}"), "config": format!("retail-forecast-{i}-config"),
                   "model": format!("retail-forecast-{i}-model"), "tags": dev})
        })
        .collect();
    spec.push(
        json!({"endpoint": "retail-forecast-keep", "config": "retail-forecast-keep-config",
                     "model": "retail-forecast-keep-model",
                     "tags": {"Project": "retail-forecast", "sundown:protect": "true"}}),
    );
    spec.push(json!({"endpoint": "billing-api", "config": "billing-api-config", "model": "billing-api-model"}));
    world.seed(&[
        "--sagemaker",
        &Value::Array(spec).to_string(),
        "--nodegroup",
        "retail-forecast-spot:0:4:6:instances=t3.medium",
        "--nodegroup",
        "retail-forecast-system:1:1:1:instances=t3.medium:capacity=ON_DEMAND",
        "--training-job",
        "retail-forecast-train-1:3600:1080",
    ]);
    let results = json!({"results": [{
        "GroupDefinitions": [{"Type": "DIMENSION", "Key": "SERVICE"}],
        "ResultsByTime": [{"TimePeriod": {"Start": "2026-10-30", "End": "2026-11-29"}, "Total": {},
            "Groups": [
                {"Keys": ["Amazon SageMaker"], "Metrics": {"UnblendedCost": {"Amount": "250.40", "Unit": "USD"}}},
                {"Keys": ["Amazon Elastic Container Service for Kubernetes"], "Metrics": {"UnblendedCost": {"Amount": "73.00", "Unit": "USD"}}}],
            "Estimated": true}],
        "DimensionValueAttributes": []}]});
    let (status, body) = world
        .moto
        .request(
            "POST",
            "/moto-api/static/ce/cost-and-usage-results",
            &results.to_string(),
        )
        .unwrap();
    assert!(status < 300, "setting Cost Explorer results: {status} {body}");
    world.config(
        "stack: retail-forecast\nregion: us-east-1\naccounts: [\"123456789012\"]\n\
         kubernetes:\n  cluster: retail-forecast-cluster\n  namespaces: []\n\
         sagemaker:\n  endpoint_prefix: retail-forecast\n\
         schedule:\n  stop: cron(0 19 ? * MON-FRI *)\n  start: cron(0 7 ? * MON-FRI *)\n",
    )
}

fn cost(world: &World, config: &std::path::Path, price_list: &MockServer) -> Value {
    let out = world
        .sundown()
        .config(config)
        .env("AWS_ENDPOINT_URL_PRICING", &price_list.uri())
        .env("XDG_CACHE_HOME", world.path("cache").to_str().unwrap())
        .args(&["cost", "--output", "json"])
        .run();
    assert_eq!(out.code, 0, "{out:#?}");
    out.json()
}

fn row<'a>(cost: &'a Value, name: &str) -> &'a Value {
    cost["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == name)
        .unwrap_or_else(|| panic!("no row {name}: {cost:#}"))
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 0.005
}

#[tokio::test(flavor = "multi_thread")]
async fn the_stack_is_priced_from_the_price_list_and_cost_explorer_and_the_prices_are_cached() {
    let world = World::start();
    let config = stack(&world);
    let (server, requests) = price_list(false).await;
    let cost = cost(&world, &config, &server);
    assert_eq!(cost["schema"], "sundown.cost/v1");

    // Endpoints: 1 × ml.t2.medium each at the Price List's price; the unrelated one is not there.
    for i in 0..7 {
        let r = row(&cost, &format!("retail-forecast-{i}"));
        assert_eq!(r["detail"], "1 × ml.t2.medium", "{r:#}");
        assert!(close(r["usd_per_hour"].as_f64().unwrap(), ML_T2_MEDIUM), "{r:#}");
        assert!(
            close(r["usd_per_month"].as_f64().unwrap(), ML_T2_MEDIUM * 730.0),
            "{r:#}"
        );
        assert_eq!(r["outcome_on_teardown"], "deleted");
        assert_eq!(r["stopped_by_schedule"], true);
        assert_eq!(r["price_from"], "price_list");
    }
    let kept = row(&cost, "retail-forecast-keep");
    assert_eq!(kept["outcome_on_teardown"], "kept");
    assert_eq!(kept["stopped_by_schedule"], false);
    assert!(!cost["resources"].to_string().contains("billing-api"), "{cost:#}");

    // The SPOT node group at the spot price moto returns (0.00001 in every AZ).
    let spot = row(&cost, "retail-forecast-cluster/retail-forecast-spot");
    assert_eq!(spot["detail"], "4 × t3.medium SPOT");
    assert!(
        (spot["usd_per_hour"].as_f64().unwrap() - 4.0 * 0.00001).abs() < 1e-9,
        "{spot:#}"
    );
    assert_eq!(spot["price_from"], "spot");
    let system = row(&cost, "retail-forecast-cluster/retail-forecast-system");
    assert_eq!(system["detail"], "1 × t3.medium");
    assert!(close(system["usd_per_hour"].as_f64().unwrap(), T3_MEDIUM), "{system:#}");
    assert_eq!(system["price_from"], "price_list");
    let control = row(&cost, "retail-forecast-cluster");
    assert!(close(control["usd_per_hour"].as_f64().unwrap(), EKS), "{control:#}");

    // Totals are the sums of their rows.
    let rows = cost["resources"].as_array().unwrap();
    let sum = |keep: &dyn Fn(&Value) -> bool| -> f64 {
        rows.iter()
            .filter(|r| keep(r))
            .map(|r| r["usd_per_month"].as_f64().unwrap())
            .sum()
    };
    let totals = &cost["totals"];
    assert!(
        close(totals["running_usd_per_month"].as_f64().unwrap(), sum(&|_| true)),
        "{totals:#}"
    );
    assert!(
        close(
            totals["teardown_stops_usd_per_month"].as_f64().unwrap(),
            sum(&|r| r["outcome_on_teardown"] == "deleted")
        ),
        "{totals:#}"
    );
    // Weekdays 19:00 to 07:00 and the weekend: 4 × 12 h + 60 h = 108 h of 168 a week.
    let off_share = 108.0 / 168.0;
    assert!(close(cost["schedule"]["off_share"].as_f64().unwrap(), off_share));
    let per_hour_stopped: f64 = rows
        .iter()
        .filter(|r| r["stopped_by_schedule"] == true)
        .map(|r| r["usd_per_hour"].as_f64().unwrap())
        .sum();
    assert!(
        close(
            totals["schedule_saves_usd_per_month"].as_f64().unwrap(),
            per_hour_stopped * 730.0 * off_share
        ),
        "{totals:#}"
    );
    // The next 30 days from now: four weeks (4 × 108 h) and two more days, which hold between
    // two nights (24 h) and a whole weekend (48 h), whatever day the test runs.
    let ahead = cost["schedule"]["off_hours_next_30_days"].as_f64().unwrap();
    assert!((4.0 * 108.0 + 24.0..=4.0 * 108.0 + 48.0).contains(&ahead), "{ahead}");
    assert!(
        close(
            totals["schedule_saves_usd_next_30_days"].as_f64().unwrap(),
            per_hour_stopped * ahead
        ),
        "{totals:#}"
    );

    // Cost Explorer, as set through moto; and what managed spot saved the training job.
    assert_eq!(cost["actual"]["total_usd"], 323.4, "{cost:#}");
    assert_eq!(cost["actual"]["by_service"][0]["service"], "Amazon SageMaker");
    let training = &cost["spot_training"][0];
    assert_eq!(training["job"], "retail-forecast-train-1");
    assert_eq!(training["saved_percent"], 70.0, "{training:#}");

    // Every query found exactly its product despite the decoys; a second run asks nothing.
    let asked = requests.lock().unwrap().len();
    assert_eq!(asked, 3, "one request per product: EC2, SageMaker, EKS");
    let again = self::cost(&world, &config, &server);
    assert_eq!(
        requests.lock().unwrap().len(),
        asked,
        "the second run asked the Price List again"
    );
    assert_eq!(row(&again, "retail-forecast-0")["price_from"], "cache");
    assert_eq!(again["totals"], cost["totals"]);
}

/// AWS lets an endpoint config be deleted while its endpoint runs. The
/// endpoint's instance types cannot be read then: it is listed unpriced, with
/// the reason, and every other endpoint is still priced.
#[tokio::test(flavor = "multi_thread")]
async fn an_endpoint_running_from_a_deleted_config_is_listed_unpriced() {
    let world = World::start();
    let config = stack(&world);
    let deleted = world
        .deleting("endpoint-config:retail-forecast-3-config")
        .status()
        .unwrap();
    assert!(deleted.success());
    let (server, _) = price_list(true).await;
    let cost = cost(&world, &config, &server);
    let unpriced: Vec<&Value> = cost["unpriced"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| u["name"] == "retail-forecast-3")
        .collect();
    assert_eq!(unpriced.len(), 1, "{cost:#}");
    assert_eq!(unpriced[0]["kind"], "endpoint");
    assert!(
        unpriced[0]["why"]
            .as_str()
            .unwrap()
            .contains("endpoint config is deleted"),
        "{cost:#}"
    );
    for priced in ["retail-forecast-0", "retail-forecast-4", "retail-forecast-6"] {
        assert_eq!(row(&cost, priced)["price_from"], "built_in", "{cost:#}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn without_the_price_list_the_built_in_table_prices_it_and_says_so() {
    let world = World::start();
    let config = stack(&world);
    let (server, _) = price_list(true).await;
    let cost = cost(&world, &config, &server);
    let r = row(&cost, "retail-forecast-0");
    assert_eq!(r["price_from"], "built_in");
    assert!(close(r["usd_per_hour"].as_f64().unwrap(), 0.056), "{r:#}");
    let source = &cost["price_source"];
    assert!(source["price_list_unavailable"].is_string(), "{source:#}");
    assert_eq!(source["built_in_region"], "us-east-1");
    assert!(source["used"]["built_in"].as_u64().unwrap() > 0, "{source:#}");
    let human = world
        .sundown()
        .config(&config)
        .env("AWS_ENDPOINT_URL_PRICING", &server.uri())
        .env("XDG_CACHE_HOME", world.path("cache").to_str().unwrap())
        .args(&["cost"])
        .run();
    assert!(
        human
            .stdout
            .contains("from the built-in table (AWS's published us-east-1 prices on"),
        "{human:#?}"
    );
}

/// An error answer without an AWS error code (an HTML page, as an emulator or a
/// proxy gives for a call it lacks) is reported with its HTTP status and what
/// it was, never as a bare `Unknown` (issue 30): from the Price List behind a
/// failing endpoint, and from moto itself, which has no Price List API.
#[tokio::test(flavor = "multi_thread")]
async fn an_error_without_a_code_says_its_http_status_and_never_unknown() {
    let world = World::start();
    let config = stack(&world);
    let (server, _) = price_list(true).await;
    for pricing in [Some(server.uri()), None] {
        let mut run = world
            .sundown()
            .config(&config)
            .env("XDG_CACHE_HOME", world.path("cache").to_str().unwrap())
            .args(&["cost", "--output", "json"]);
        if let Some(uri) = &pricing {
            run = run.env("AWS_ENDPOINT_URL_PRICING", uri);
        }
        let out = run.run();
        assert_eq!(out.code, 0, "{out:#?}");
        let why = out.json()["price_source"]["price_list_unavailable"]
            .as_str()
            .unwrap_or_else(|| panic!("the Price List is said unavailable: {}", out.stdout))
            .to_owned();
        let status = if pricing.is_some() { "HTTP 503" } else { "HTTP 500" };
        assert!(why.contains(status) && why.contains("HTML page"), "{why}");
        assert!(
            !why.contains("Unknown") && !out.stderr.contains("Unknown"),
            "{why}: {out:#?}"
        );
    }
}

/// Outside the regions whose usage-type prefixes sundown knows, and without
/// any price for them in the Price List or the built-in table (which is
/// us-east-1's), nothing is guessed and nothing goes missing: each resource is
/// listed unpriced with the reason, and a product that cannot be priced is
/// asked for once, not once per resource.
#[tokio::test(flavor = "multi_thread")]
async fn outside_the_known_regions_every_resource_is_listed_unpriced_with_the_reason() {
    let world = World::start();
    world.seed(&[
        "--region",
        "eu-north-1",
        "--nodegroup",
        "retail-forecast-a:1:1:1:instances=t3.medium:capacity=ON_DEMAND",
        "--nodegroup",
        "retail-forecast-b:1:2:2:instances=t3.medium:capacity=ON_DEMAND",
        "--repo",
        "retail-forecast:2",
    ]);
    let groups = ["/aws/retail-forecast/api", "/aws/retail-forecast/batch"];
    let script = format!(
        "import boto3\nlogs = boto3.client('logs', region_name='eu-north-1')\n\
         for name in {groups:?}:\n    logs.create_log_group(logGroupName=name)\n"
    );
    let made = world
        .sundown_command(world.tools.python().to_str().unwrap())
        .args(["-c", &script])
        .status()
        .unwrap();
    assert!(made.success(), "creating the log groups");
    let config = world.config(
        "stack: retail-forecast\nregion: eu-north-1\naccounts: [\"123456789012\"]\n\
         kubernetes:\n  cluster: retail-forecast-cluster\n  namespaces: []\n\
         ecr:\n  repositories: [retail-forecast]\n\
         verify:\n  log_group_prefixes: [/aws/retail-forecast]\n",
    );
    let (server, requests) = price_list(false).await;
    let cost = cost(&world, &config, &server);

    let unpriced: Vec<(String, String, String)> = cost["unpriced"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            (
                u["kind"].as_str().unwrap().to_owned(),
                u["name"].as_str().unwrap().to_owned(),
                u["why"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let named = |kind: &str, name: &str| {
        unpriced
            .iter()
            .find(|(k, n, _)| k == kind && n == name)
            .map(|(_, _, why)| why.clone())
            .unwrap_or_else(|| panic!("{kind} {name} is not listed unpriced: {cost:#}"))
    };
    let no_prefix = "no usage-type prefix known for region eu-north-1";
    let not_here = "the built-in prices are us-east-1's, not eu-north-1's";
    for (kind, name) in [
        ("eks_cluster", "retail-forecast-cluster"),
        ("ecr_storage", "retail-forecast"),
        ("log_group", groups[0]),
        ("log_group", groups[1]),
    ] {
        let why = named(kind, name);
        assert!(
            why.contains(no_prefix) && why.contains(not_here),
            "{kind} {name}: {why}"
        );
    }
    for group in ["retail-forecast-a", "retail-forecast-b"] {
        let why = named("node_group", &format!("retail-forecast-cluster/{group}"));
        assert!(
            why.contains("the Price List has no AmazonEC2 product for these filters") && why.contains(not_here),
            "{why}"
        );
    }
    assert_eq!(
        cost["resources"].as_array().unwrap().len(),
        0,
        "nothing priced at a guessed rate: {cost:#}"
    );
    assert_eq!(cost["totals"]["running_usd_per_month"], 0.0);
    // Asked once for t3.medium (two node groups), never for what has no query.
    let asked: Vec<String> = requests
        .lock()
        .unwrap()
        .iter()
        .map(|r| r["ServiceCode"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(asked, ["AmazonEC2"], "{asked:?}");
}
