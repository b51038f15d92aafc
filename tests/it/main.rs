//! The one integration-test binary: sundown run as a user runs it, against the
//! moto emulator, the Kubernetes fake and a real Terraform binary. Every test
//! asserts on the world (the emulator's resources, its request recorder).

// Shared with xtask by path; each side uses part of them.
mod fault_proxy;
mod github_fake;
#[allow(dead_code)]
mod kube_fake;
#[allow(dead_code)]
mod moto;
mod support;

mod action;
mod config_errors;
mod contract;
mod controller;
mod cost;
mod faults;
mod iam;
mod infra;
mod jobs;
mod lambda;
mod overlap;
mod ownership;
mod plan;
mod races;
mod schedule;
mod schedule_checks;
mod snapshots;
mod stacks;
mod sweep;
mod teardown;
mod terraform;
mod verify;
mod volumes;
mod waits;
