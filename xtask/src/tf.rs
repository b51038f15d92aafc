//! `cargo xtask tf init|plan|apply|destroy [--env ENV] [-- TERRAFORM ARGS]`:
//! Terraform in `infra/envs/ENV` with that environment's var file, through duct.
//!
//! `init` passes `-backend-config=backend.hcl` when the environment has one
//! (the settings of its partial S3 backend). Every run sets
//! `CHECKPOINT_DISABLE=1`, so Terraform makes no version-check call to
//! HashiCorp.
//!
//! `plan` writes `tfplan` and `apply` applies exactly that plan; `destroy` is
//! Terraform's own (it asks for "yes"). To tear a running stack down in the
//! safe order, use `cargo xtask teardown` instead: namespaces, endpoints and
//! images first, then this same `terraform destroy`.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};

/// The environment's backend settings, passed to `init` when present.
const BACKEND_CONFIG: &str = "backend.hcl";

const USAGE: &str = "usage: cargo xtask tf init|plan|apply|destroy [--env ENV] [-- TERRAFORM ARGS]";

pub fn run(args: &[String]) -> Result<()> {
    let (ours, extra) = match args.iter().position(|a| a == "--") {
        Some(i) => (&args[..i], &args[i + 1..]),
        None => (args, &[][..]),
    };
    let mut command = None;
    let mut env = "dev".to_string();
    let mut it = ours.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--env" => env = it.next().context(USAGE)?.clone(),
            "init" | "plan" | "apply" | "destroy" if command.is_none() => command = Some(arg.clone()),
            other => bail!("unexpected argument {other:?}\n{USAGE}"),
        }
    }
    let command = command.context(USAGE)?;
    let dir = crate::root().join("infra/envs").join(&env);
    if !dir.is_dir() {
        bail!(
            "no environment {env:?}: {} does not exist (environments: {})",
            dir.display(),
            environments().join(", ")
        );
    }
    let var_file = format!("{env}.tfvars");
    let has_vars = dir.join(&var_file).is_file();
    let mut tf_args: Vec<String> = vec![command.clone(), "-input=false".into()];
    if command == "init" && dir.join(BACKEND_CONFIG).is_file() {
        tf_args.push(format!("-backend-config={BACKEND_CONFIG}"));
    }
    if command == "plan" {
        tf_args.push("-out=tfplan".into());
    }
    if has_vars && matches!(command.as_str(), "plan" | "destroy") {
        tf_args.push(format!("-var-file={var_file}"));
    }
    if command == "apply" {
        if !dir.join("tfplan").is_file() {
            bail!(
                "no saved plan in {}: run `cargo xtask tf plan --env {env}` first",
                dir.display()
            );
        }
        tf_args.push("tfplan".into());
    }
    tf_args.extend(extra.iter().cloned());
    let terraform = terraform();
    eprintln!("$ (cd {}) {} {}", dir.display(), terraform.display(), tf_args.join(" "));
    duct::cmd(&terraform, &tf_args)
        .dir(&dir)
        .env("CHECKPOINT_DISABLE", "1")
        .unchecked()
        .run()
        .with_context(|| {
            format!(
                "cannot run {}: install Terraform >= 1.10 or put it on PATH",
                terraform.display()
            )
        })
        .and_then(|out| {
            if out.status.success() {
                Ok(())
            } else {
                bail!("terraform {command} failed with {}", out.status)
            }
        })
}

/// `$TERRAFORM`, else `terraform` on PATH.
fn terraform() -> PathBuf {
    std::env::var_os("TERRAFORM")
        .map(PathBuf::from)
        .unwrap_or_else(|| "terraform".into())
}

fn environments() -> Vec<String> {
    let mut envs: Vec<String> = std::fs::read_dir(crate::root().join("infra/envs"))
        .map(|d| {
            d.flatten()
                .filter(|e| e.path().is_dir())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    envs.sort();
    envs
}
