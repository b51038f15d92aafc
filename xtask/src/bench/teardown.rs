//! The teardown figures: `sundown teardown --confirm destroy` against a
//! baseline in the style of the workflow it replaces
//! (`tests/fixtures/baseline_teardown.sh`: one aws-cli v1 process per call,
//! endpoints one by one, images per repository), on a large stack seeded on
//! moto, the Kubernetes fake and a local Terraform state.
//!
//! The two alternate, each on a freshly reseeded emulator: reseed, time
//! sundown, reseed, time the baseline, [`PAIRS`] times. After every run a
//! `sundown plan` (not timed) must find nothing left, so both did the whole job.
//!
//! moto's recorder sees every HTTP request either tool makes, retries
//! included. The minimum the work needs is counted in mutating calls: per
//! repository ⌈distinct images / 100⌉ BatchDeleteImage (AWS's limit per
//! call), and per endpoint one DeleteEndpoint, one DeleteEndpointConfig and one
//! DeleteModel. Reads (listing, describing, waiting) are printed beside it.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use serde_json::Value;

use super::median;
use crate::demo::{sundown_cmd, with_emulator};
use crate::kube_fake::KubeFake;
use crate::moto::{Moto, Recorded, Tools};

const PAIRS: usize = 3;
const STACK: &str = "retail-forecast";
const REPOSITORIES: usize = 10;
const IMAGES: usize = 250;
const ENDPOINTS: usize = 30;
const NAMESPACES: [&str; 2] = ["retail-forecast", "retail-forecast-jobs"];
const TERRAFORM_RESOURCES: usize = 50;
/// seed.py processes run side by side to reseed (repositories split between them).
const SEEDERS: usize = 2;
/// BatchDeleteImage takes at most this many image ids per call.
const BATCH: usize = 100;

fn repositories() -> Vec<String> {
    (0..REPOSITORIES).map(|i| format!("{STACK}/service-{i}")).collect()
}

/// What one timed run did.
struct Run {
    elapsed: Duration,
    calls: Calls,
    /// Each phase's own wall time: from sundown's report, or the script's `phase` lines.
    phases: Vec<(String, f64)>,
}

/// The requests one run made: moto's recording and the Kubernetes fake's log.
#[derive(Default)]
struct Calls {
    by_operation: BTreeMap<String, usize>,
    mutating: usize,
    reads: usize,
    kube_deletes: usize,
    kube_reads: usize,
}

impl Calls {
    fn new(recorded: &[Recorded], kube: &[String]) -> Calls {
        let mut calls = Calls::default();
        for r in recorded {
            *calls.by_operation.entry(r.operation.clone()).or_default() += 1;
            if r.is_read() {
                calls.reads += 1;
            } else {
                calls.mutating += 1;
            }
        }
        calls.kube_deletes = kube.iter().filter(|r| r.starts_with("DELETE ")).count();
        calls.kube_reads = kube.len() - calls.kube_deletes;
        calls
    }

    fn total(&self) -> usize {
        self.mutating + self.reads
    }
}

/// The emulators, the Terraform directory and the config, set up once and reseeded per run.
struct Bench<'a> {
    sundown: &'a Path,
    tools: &'a Tools,
    aws: &'a Path,
    moto: Moto,
    kube: KubeFake,
    work: PathBuf,
    config: PathBuf,
    state_snapshot: PathBuf,
}

pub fn run(sundown: &Path, tools: &Tools, aws: &Path, work: &Path) -> Result<()> {
    std::fs::create_dir_all(work)?;
    eprintln!("xtask bench: teardown, setting up the emulator, the Kubernetes fake and Terraform");
    let moto = Moto::start(&tools.moto_server(), Some(&work.join("moto.log"))).map_err(anyhow::Error::msg)?;
    let kube = KubeFake::start()?;
    kube.write_kubeconfig(&work.join("kubeconfig"))?;
    let bench = Bench {
        sundown,
        tools,
        aws,
        moto,
        kube,
        work: work.to_owned(),
        config: work.join("sundown.yaml"),
        state_snapshot: work.join("terraform.tfstate.seeded"),
    };
    bench.apply_terraform()?;
    bench.write_config()?;

    let mut sundown_runs = Vec::new();
    let mut baseline_runs = Vec::new();
    let mut minimum = None;
    for pair in 1..=PAIRS {
        let seeded = bench.reseed()?;
        let mut least = Minimum::of(&seeded)?;
        let swept = std::cell::Cell::new(0);
        eprintln!("xtask bench: pair {pair}/{PAIRS}: sundown teardown");
        let mut cmd = sundown_cmd(bench.sundown, bench.tools, &bench.moto, &bench.config);
        cmd.args(["teardown", "--confirm", "destroy", "--output", "json"]);
        let run = bench.timed(cmd, "sundown teardown", |stdout| {
            let report: Value = serde_json::from_str(stdout).context("parsing the teardown report")?;
            ensure!(
                report["result"] == "succeeded",
                "sundown teardown did not succeed: {report:#}"
            );
            let sweep = &report["sweep"];
            let listed = |key: &str| sweep[key].as_array().map_or(0, Vec::len);
            swept.set(sweep["gone"].as_u64().unwrap_or(0) as usize + listed("kept") + listed("left_behind"));
            Ok(report["phases"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|p| {
                    (
                        p["phase"].as_str().unwrap_or("?").to_owned(),
                        p["duration_seconds"].as_f64().unwrap_or(f64::NAN),
                    )
                })
                .collect())
        })?;
        sundown_runs.push(run);
        least.swept = swept.get();
        minimum = Some(least);

        bench.reseed()?;
        eprintln!("xtask bench: pair {pair}/{PAIRS}: baseline script (aws-cli, one process per call)");
        let cmd = bench.baseline_cmd();
        let run = bench.timed(cmd, "the baseline script", |stdout| {
            Ok(stdout
                .lines()
                .filter_map(|l| l.strip_prefix("phase "))
                .filter_map(|l| l.split_once(' '))
                .map(|(name, secs)| (name.to_owned(), secs.trim().parse().unwrap_or(f64::NAN)))
                .collect())
        })?;
        baseline_runs.push(run);
        eprintln!(
            "xtask bench: pair {pair}: sundown {:.2}s, baseline {:.2}s",
            sundown_runs[pair - 1].elapsed.as_secs_f64(),
            baseline_runs[pair - 1].elapsed.as_secs_f64()
        );
    }
    let minimum = minimum.expect("at least one pair");
    print_times(super::build_of(sundown), &sundown_runs, &baseline_runs);
    print_calls(&minimum, &sundown_runs, &baseline_runs);
    bench.moto.stop();
    Ok(())
}

impl Bench<'_> {
    fn env(&self, cmd: &mut Command) {
        with_emulator(cmd, self.tools, &self.moto);
    }

    fn infra(&self) -> PathBuf {
        self.work.join("infra")
    }

    /// Applies the Terraform fixture with [`TERRAFORM_RESOURCES`] resources once
    /// and keeps its state: a reseed puts that state back (null resources live
    /// in the state only, so this is the same as applying again, and quicker).
    fn apply_terraform(&self) -> Result<()> {
        let infra = self.infra();
        std::fs::create_dir_all(&infra)?;
        std::fs::copy(
            crate::root().join("tests/fixtures/terraform/main.tf"),
            infra.join("main.tf"),
        )?;
        // Read by every terraform command here, so sundown's and the baseline's destroy agree.
        std::fs::write(
            infra.join("terraform.tfvars"),
            format!("resources = {TERRAFORM_RESOURCES}\n"),
        )?;
        for args in [
            &["init", "-input=false", "-no-color"][..],
            &["apply", "-auto-approve", "-input=false", "-no-color"],
        ] {
            let mut cmd = Command::new(self.tools.terraform());
            self.env(&mut cmd);
            let out = cmd.current_dir(&infra).args(args).output()?;
            ensure!(
                out.status.success(),
                "terraform {} failed: {}",
                args[0],
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::fs::copy(infra.join("terraform.tfstate"), &self.state_snapshot)?;
        Ok(())
    }

    fn write_config(&self) -> Result<()> {
        let repos = repositories().join(", ");
        let text = format!(
            "# Written by `cargo xtask bench` for the emulator.\n\
             stack: {STACK}\nregion: us-east-1\naccounts: [\"123456789012\"]\n\
             scope:\n  tags: {{ Project: {STACK} }}\n\
             kubernetes:\n  kubeconfig: kubeconfig\n  namespaces: [{namespaces}]\n  wait: 1m\n\
             sagemaker:\n  endpoint_prefix: {STACK}\n  wait: 2m\n\
             ecr:\n  repositories: [{repos}]\n\
             terraform:\n  dir: infra\n  binary: {terraform}\n  lock_timeout: 5s\n",
            namespaces = NAMESPACES.join(", "),
            terraform = self.tools.terraform().display(),
        );
        std::fs::write(&self.config, text)?;
        Ok(())
    }

    /// Empties moto and seeds the whole stack again; returns what was seeded.
    fn reseed(&self) -> Result<Value> {
        let started = Instant::now();
        let (status, body) = self.moto.request("POST", "/moto-api/reset", "")?;
        ensure!(status == 200, "moto reset answered {status}: {body}");
        let repos = repositories();
        let mut children: Vec<Child> = Vec::new();
        for part in 0..SEEDERS {
            let mut cmd = Command::new(self.tools.python());
            cmd.arg(crate::root().join("tests/fixtures/seed.py"))
                .args(["--stack", STACK, "--prefix", STACK]);
            if part == 0 {
                cmd.args(["--endpoints", &ENDPOINTS.to_string()]);
            }
            for repo in repos.iter().skip(part).step_by(SEEDERS) {
                cmd.args(["--repo", &format!("{repo}:{IMAGES}")]);
            }
            self.env(&mut cmd);
            children.push(
                cmd.stdin(Stdio::null())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()?,
            );
        }
        let mut seeded = Value::Null;
        for child in children {
            let out = child.wait_with_output()?;
            if !out.status.success() {
                bail!("seeding failed: {}", String::from_utf8_lossy(&out.stderr));
            }
            let part: Value = serde_json::from_slice(&out.stdout)?;
            if seeded.is_null() {
                seeded = part;
            } else if let (Some(all), Some(more)) =
                (seeded["repositories"].as_object_mut(), part["repositories"].as_object())
            {
                all.extend(more.clone());
            }
        }
        for ns in NAMESPACES {
            self.kube.add_namespace(ns, false);
        }
        std::fs::copy(&self.state_snapshot, self.infra().join("terraform.tfstate"))?;
        let images = crate::demo::seeded_images(&seeded);
        let endpoints = seeded["endpoints"].as_array().map_or(0, Vec::len);
        ensure!(
            images == (REPOSITORIES * IMAGES) as u64 && endpoints == ENDPOINTS,
            "seeded {images} images and {endpoints} endpoints, wanted {} and {ENDPOINTS}",
            REPOSITORIES * IMAGES
        );
        eprintln!("xtask bench: reseeded in {:.1}s", started.elapsed().as_secs_f64());
        Ok(seeded)
    }

    fn baseline_cmd(&self) -> Command {
        let mut cmd = Command::new("bash");
        cmd.arg(crate::root().join("tests/fixtures/baseline_teardown.sh"));
        self.env(&mut cmd);
        cmd.env("AWS", self.aws)
            .env("KUBE_SERVER", self.kube.url())
            .env("NAMESPACES", NAMESPACES.join(" "))
            .env("ENDPOINT_PREFIX", STACK)
            .env("REPOSITORIES", repositories().join(" "))
            .env("TERRAFORM", self.tools.terraform())
            .env("TF_DIR", self.infra());
        cmd
    }

    /// Runs `cmd` with moto recording, checks it succeeded and that nothing is
    /// left afterwards, and returns its wall time and the requests it made.
    fn timed(&self, mut cmd: Command, what: &str, check: impl Fn(&str) -> Result<Vec<(String, f64)>>) -> Result<Run> {
        cmd.current_dir(&self.work)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let kube_before = self.kube.requests().len();
        self.moto.start_recording();
        let start = Instant::now();
        let mut child = cmd.spawn().with_context(|| format!("starting {what}"))?;
        // Read both pipes before waiting, so a chatty child never blocks on a full pipe.
        let mut stderr = child.stderr.take().expect("piped");
        let drain = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        });
        let mut stdout = String::new();
        child.stdout.take().expect("piped").read_to_string(&mut stdout)?;
        let status = child.wait()?;
        let elapsed = start.elapsed();
        let stderr = drain.join().unwrap_or_default();
        let recorded = self.moto.try_recording().map_err(anyhow::Error::msg)?;
        self.moto.request("POST", "/moto-api/recorder/stop-recording", "")?;
        let kube = self.kube.requests()[kube_before..].to_vec();
        ensure!(status.success(), "{what} failed with {status}:\n{stdout}\n{stderr}");
        let phases = check(&stdout)?;
        self.check_nothing_left(what)?;
        Ok(Run {
            elapsed,
            calls: Calls::new(&recorded, &kube),
            phases,
        })
    }

    /// `sundown plan` must find nothing to delete: the run did the whole job.
    fn check_nothing_left(&self, what: &str) -> Result<()> {
        let out = sundown_cmd(self.sundown, self.tools, &self.moto, &self.config)
            .current_dir(&self.work)
            .args(["plan", "--output", "json"])
            .output()?;
        let plan: Value = serde_json::from_slice(&out.stdout).with_context(|| {
            format!(
                "parsing the plan after {what}: {}",
                String::from_utf8_lossy(&out.stderr)
            )
        })?;
        let summary = &plan["summary"];
        ensure!(
            summary["delete"] == 0 && summary["images"] == 0 && summary["errors"] == 0,
            "after {what} the plan still finds work: {summary}"
        );
        let left: Vec<_> = self.kube.namespaces();
        ensure!(left.is_empty(), "after {what} namespaces are left: {left:?}");
        Ok(())
    }
}

/// The fewest AWS calls the seeded stack's teardown needs.
///
/// Mutating: per repository ⌈distinct images / 100⌉ BatchDeleteImage, per
/// endpoint one DeleteEndpoint, DeleteEndpointConfig and DeleteModel.
///
/// Reads, for the same safety sundown gives (the account guard, the protect
/// tag on every resource, configs and models found from what each endpoint
/// really uses rather than by naming convention, orphans by prefix):
/// GetCallerIdentity; one ListEndpoints, ListEndpointConfigs and ListModels
/// page (≤ 100 each); per endpoint a DescribeEndpoint for its config; one
/// more ListEndpoints page to see them all gone (one wait round, as moto
/// deletes at once); per config a DescribeEndpointConfig for its models;
/// per endpoint, config and model a ListTags; for the running jobs, one
/// List page per kind (training, processing, transform, tuning) and status
/// (`InProgress`, and `Stopping` for a re-run to wait on): 8; per repository a
/// DescribeRepositories (a call naming several fails whole when one is
/// missing), a ListTagsForResource, ⌈images / 1000⌉ DescribeImages (the
/// digests to delete) and, after the deletions, ⌈image ids / 1000⌉
/// ListImages to prove it empty; and the closing sweep's one GetResources
/// page per 100 resources listed and one confirmation per ARN it lists (moto
/// forgets a deleted resource at once, so after a clean teardown it lists none).
/// (Until 2026-11-29 this counted a DescribeEndpoint per endpoint to see it
/// gone and no proof of emptiness: 214 reads for the bench's fixture where
/// this counts 195.)
struct Minimum {
    batch_delete_image: usize,
    endpoints: usize,
    configs: usize,
    models: usize,
    /// (repository, distinct images, image ids: one per tag, one per untagged digest)
    repositories: Vec<(String, usize, usize)>,
    /// The ARNs the closing sweep's one query listed (each confirmed by one read).
    swept: usize,
}

impl Minimum {
    fn of(seeded: &Value) -> Result<Minimum> {
        let len = |key: &str| seeded[key].as_array().map_or(0, Vec::len);
        let mut repositories = Vec::new();
        for (name, repo) in seeded["repositories"].as_object().context("seeded repositories")? {
            let count = |key: &str| repo[key].as_u64().map(|n| n as usize).context("image count");
            // ListImages answers one id per tag and one per untagged image.
            repositories.push((name.clone(), count("images")?, count("tags")? + count("untagged")?));
        }
        Ok(Minimum {
            batch_delete_image: repositories.iter().map(|(_, n, _)| n.div_ceil(BATCH)).sum(),
            endpoints: len("endpoints"),
            configs: len("endpoint_configs"),
            models: len("models"),
            repositories,
            swept: 0,
        })
    }

    fn mutating(&self) -> usize {
        self.batch_delete_image + self.endpoints + self.configs + self.models
    }

    fn reads(&self) -> usize {
        let pages = |n: usize, per: usize| n.div_ceil(per).max(1);
        let sagemaker = pages(self.endpoints, 100)
            + pages(self.configs, 100)
            + pages(self.models, 100)
            + self.endpoints
            + pages(self.endpoints, 100)
            + self.configs
            + (self.endpoints + self.configs + self.models)
            + JOB_LISTINGS;
        let ecr: usize = self
            .repositories
            .iter()
            .map(|(_, images, ids)| 2 + pages(*images, 1000) + pages(*ids, 1000))
            .sum();
        // The closing sweep: one GetResources page per 100 resources listed, one read per ARN.
        let sweep = pages(self.swept, 100) + self.swept;
        1 + sagemaker + ecr + sweep
    }
}

/// The running jobs' listings: four kinds, two statuses (the bench seeds no job).
const JOB_LISTINGS: usize = 8;

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

fn print_times(build: &str, sundown: &[Run], baseline: &[Run]) {
    println!(
        "teardown ({REPOSITORIES} repositories x {IMAGES} images, {ENDPOINTS} endpoints with configs and models, \
         {} namespaces, {TERRAFORM_RESOURCES} Terraform resources; {build} binary against moto, reseeded before every run):",
        NAMESPACES.len()
    );
    let mut ratios = Vec::new();
    for (i, (s, b)) in sundown.iter().zip(baseline).enumerate() {
        let ratio = secs(b.elapsed) / secs(s.elapsed);
        ratios.push(ratio);
        println!(
            "  pair {}  sundown {:>7.2}s  baseline {:>7.2}s  baseline / sundown {ratio:>6.1}x",
            i + 1,
            secs(s.elapsed),
            secs(b.elapsed)
        );
    }
    ratios.sort_by(f64::total_cmp);
    let ratio = ratios[ratios.len() / 2];
    println!(
        "  median sundown {:.2}s, baseline {:.2}s",
        secs(median(sundown.iter().map(|r| r.elapsed).collect())),
        secs(median(baseline.iter().map(|r| r.elapsed).collect()))
    );
    println!(
        "  median baseline / sundown  {ratio:>6.1}x  (target >= 20x: {})",
        if ratio >= 20.0 { "met" } else { "NOT met" }
    );
    println!("  by phase (median, seconds)   sundown  baseline");
    let phase_median = |runs: &[Run], name: &str| {
        let mut v: Vec<f64> = runs
            .iter()
            .filter_map(|r| r.phases.iter().find(|(n, _)| n == name).map(|(_, s)| *s))
            .collect();
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
    };
    for name in ["kubernetes", "sagemaker", "ecr", "terraform"] {
        println!(
            "    {name:<26} {:>8.2}  {:>8.2}",
            phase_median(sundown, name),
            phase_median(baseline, name)
        );
    }
}

fn per_run(runs: &[Run], f: impl Fn(&Calls) -> usize) -> String {
    let counts: Vec<usize> = runs.iter().map(|r| f(&r.calls)).collect();
    if counts.windows(2).all(|w| w[0] == w[1]) {
        format!("{}", counts[0])
    } else {
        counts.iter().map(usize::to_string).collect::<Vec<_>>().join("/")
    }
}

fn print_calls(minimum: &Minimum, sundown: &[Run], baseline: &[Run]) {
    let per_repo: Vec<String> = minimum
        .repositories
        .iter()
        .map(|(_, n, _)| n.div_ceil(BATCH).to_string())
        .collect();
    println!("API calls per run (moto's recorder: every HTTP request, retries included):");
    println!(
        "  minimum mutating calls     {:>5} = {} BatchDeleteImage (ceil(images/{BATCH}) per repository: {}) + {} DeleteEndpoint + {} DeleteEndpointConfig + {} DeleteModel",
        minimum.mutating(),
        minimum.batch_delete_image,
        per_repo.join("+"),
        minimum.endpoints,
        minimum.configs,
        minimum.models
    );
    println!(
        "  minimum reads              {:>5}   (the same safety checks; see `Minimum` in xtask/src/bench/teardown.rs)",
        minimum.reads()
    );
    let worst = sundown.iter().map(|r| r.calls.mutating).max().unwrap_or(0);
    let ratio = worst as f64 / minimum.mutating() as f64;
    let worst_total = sundown.iter().map(|r| r.calls.total()).max().unwrap_or(0);
    let total_ratio = worst_total as f64 / (minimum.mutating() + minimum.reads()) as f64;
    for (name, runs) in [("sundown", sundown), ("baseline", baseline)] {
        println!(
            "  {name:<9} mutating {:>5}  reads {:>5}  total {:>5}   Kubernetes: {} DELETE, {} GET   (per run; a/b/c when runs differ)",
            per_run(runs, |c| c.mutating),
            per_run(runs, |c| c.reads),
            per_run(runs, Calls::total),
            per_run(runs, |c| c.kube_deletes),
            per_run(runs, |c| c.kube_reads),
        );
    }
    println!(
        "  sundown mutating / minimum {ratio:>6.2}x  (worst run; target <= 1.1x: {})",
        if ratio <= 1.1 { "met" } else { "NOT met" }
    );
    println!(
        "  sundown all calls / minimum {total_ratio:>5.2}x  (worst run, reads included; target <= 1.1x: {})",
        if total_ratio <= 1.1 { "met" } else { "NOT met" }
    );
    let baseline_worst = baseline.iter().map(|r| r.calls.mutating).max().unwrap_or(0);
    println!(
        "  baseline mutating / minimum {:>5.2}x",
        baseline_worst as f64 / minimum.mutating() as f64
    );
    // By operation, from the last run of each.
    let (s, b) = (
        &sundown.last().expect("a run").calls,
        &baseline.last().expect("a run").calls,
    );
    let mut operations: Vec<&String> = s.by_operation.keys().chain(b.by_operation.keys()).collect();
    operations.sort();
    operations.dedup();
    println!("  by operation (last run)          sundown  baseline");
    for op in operations {
        let count = |c: &Calls| c.by_operation.get(op).copied().unwrap_or(0);
        println!("    {op:<30} {:>7}  {:>8}", count(s), count(b));
    }
    println!(
        "  the baseline reads less because it checks less: no account guard, no protect tags, configs and models\n  \
         guessed by name (ENDPOINT-config, ENDPOINT-model), no orphans, no proof that a repository is empty."
    );
}
