//! The teardown phases, in teardown order. Only the mutating layer (these and
//! `schedule/`) calls deleting AWS, Kubernetes or Terraform operations; each
//! phase deletes from what `discover/` read, past the gate.

pub mod controller;
pub mod ecr;
pub mod jobs;
pub mod kubernetes;
pub mod sagemaker;
pub mod terraform;
pub mod volumes;
