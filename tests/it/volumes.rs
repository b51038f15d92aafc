//! The namespaces' PersistentVolumes: the Kubernetes phase ends only when the
//! volumes of the stack's claims with reclaimPolicy Delete are gone, and lists
//! the Retain ones as kept with their $/month (`src/phases/volumes.rs`). The
//! Kubernetes fake plays the EBS CSI driver: a Delete volume goes some time
//! after its namespace (deleted at the emulator first, then its
//! PersistentVolume), a Retain one stays.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::World;

/// An EBS volume as the EBS CSI driver tags what it provisions for a claim of `namespace`.
fn csi_volume(world: &World, gib: u32, namespace: &str, more: &str) -> String {
    let seeded = world.seed(&[
        "--volume",
        &format!(
            "{gib}:gp3:kubernetes.io/cluster/retail-forecast-cluster=owned,ebs.csi.aws.com/cluster=true,\
             kubernetes.io/created-for/pvc/namespace={namespace}{more}"
        ),
    ]);
    seeded["volumes"][0].as_str().unwrap().to_owned()
}

/// The stack's namespace has a Delete volume (the driver takes 3 s to delete
/// it once the namespace is gone) and a 50 GiB gp3 Retain volume; another
/// namespace has a (protected) volume too. `terraform destroy` starts only
/// after the Delete volume is gone at the emulator; the Retain one is kept,
/// named with its EBS volume and $4.00/month, and the closing sweep keeps it
/// too; the other namespace's volume is neither waited for nor touched.
#[test]
fn terraform_waits_for_the_namespaces_volumes_and_a_retained_one_is_kept_and_priced() {
    let world = World::start().with_namespaces(&["retail-forecast", "other"]);
    let data = csi_volume(&world, 100, "retail-forecast", "");
    let archive = csi_volume(&world, 50, "retail-forecast", "");
    // Another namespace of the cluster, not the stack's: its volume is protected, or the
    // closing sweep would rightly name it (the cluster goes, and the volume would stay).
    let others = csi_volume(&world, 20, "other", ",sundown:protect=true");
    let kube = world.kube();
    kube.add_volume("pvc-data", ("retail-forecast", "data"), "Delete", &data);
    kube.add_volume("pvc-archive", ("retail-forecast", "archive"), "Retain", &archive);
    kube.add_volume("pvc-other", ("other", "cache"), "Delete", &others);
    let lag = Duration::from_secs(3);
    kube.set_volume_lag(lag);
    let deleted_at: Arc<std::sync::Mutex<Option<Instant>>> = Arc::default();
    let (moto, at) = (world.moto.endpoint(), deleted_at.clone());
    let seed = world.deleting("volume:placeholder");
    let program = seed.get_program().to_owned();
    let args: Vec<std::ffi::OsString> = seed.get_args().map(|a| a.to_owned()).collect();
    let envs: Vec<(std::ffi::OsString, Option<std::ffi::OsString>)> = seed
        .get_envs()
        .map(|(k, v)| (k.to_owned(), v.map(|v| v.to_owned())))
        .collect();
    kube.on_volume_deleted(Arc::new(move |volume: &str| {
        // The driver's DeleteVolume: `seed.py --delete volume:ID` against the emulator.
        let mut delete = std::process::Command::new(&program);
        for a in &args {
            let a = a
                .to_string_lossy()
                .replace("volume:placeholder", &format!("volume:{volume}"));
            delete.arg(a);
        }
        for (k, v) in &envs {
            match v {
                Some(v) => delete.env(k, v),
                None => delete.env_remove(k),
            };
        }
        let status = delete.status().expect("run seed.py --delete");
        assert!(status.success(), "the driver could not delete {volume} at {moto}");
        *at.lock().unwrap() = Some(Instant::now());
    }));
    world.terraform(&["resources=1"]);
    let config = world.stack_config("1m", "");

    let plan = world
        .sundown()
        .config(&config)
        .args(&["plan", "--output", "json"])
        .run();
    assert_eq!(plan.code, 0, "{plan:#?}");
    let plan = plan.json();
    let volumes: Vec<(String, String)> = plan["phases"][0]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["kind"] == "persistent_volume")
        .map(|r| {
            (
                r["name"].as_str().unwrap().to_owned(),
                r["action"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        volumes,
        [
            ("pvc-archive".to_owned(), "keep".to_owned()),
            ("pvc-data".to_owned(), "delete".to_owned())
        ],
        "only the stack's namespace's volumes: {plan:#}"
    );

    let out = world
        .sundown()
        .config(&config)
        .args(&["teardown", "--confirm", "destroy", "--output", "json"])
        .run();
    assert_eq!(out.code, 0, "{out:#?}");
    let report = out.json();
    let k = &report["phases"][0];
    let outcome = |name: &str| {
        k["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == name)
            .unwrap_or_else(|| panic!("{name} not in {k:#}"))
            .clone()
    };
    assert_eq!(outcome("pvc-data")["outcome"], "deleted", "{k:#}");
    let kept = outcome("pvc-archive");
    assert_eq!(kept["outcome"], "kept", "{k:#}");
    let detail = kept["detail"].as_str().unwrap();
    assert!(
        detail.contains(&format!("EBS volume {archive}, 50 GiB gp3")) && detail.contains("$4.00/month"),
        "{detail}"
    );
    assert!(
        !k.to_string().contains("pvc-other"),
        "another namespace's volume: {k:#}"
    );
    // terraform destroy started only once the driver had deleted the volume (sundown's log is in order).
    assert!(
        deleted_at.lock().unwrap().is_some(),
        "the driver deleted the Delete volume"
    );
    let gone = out
        .stderr
        .find("PersistentVolume pvc-data is gone")
        .expect("the volume's end is logged");
    let destroy = out
        .stderr
        .find("terraform: destroying null_resource")
        .expect("terraform destroyed the state");
    assert!(
        gone < destroy,
        "terraform destroy began before the volume was gone: {}",
        out.stderr
    );
    assert!(world.state_list().is_empty());
    // The closing sweep finds the retained volume by the cluster's tag, and keeps it.
    let kept_by_sweep: Vec<&str> = report["sweep"]["kept"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["name"].as_str().unwrap())
        .collect();
    assert!(kept_by_sweep.contains(&archive.as_str()), "{:#}", report["sweep"]);
    let left = world.seed(&["--list-volumes"]);
    let mut expected = vec![archive.clone(), others.clone()];
    expected.sort();
    assert_eq!(
        left["volumes"],
        serde_json::json!(expected),
        "the Delete volume is gone, the others stay"
    );
}
