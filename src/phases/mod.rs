//! The teardown phases. Only modules under `phases/` call deleting AWS,
//! Kubernetes or Terraform operations; each also owns the read-only
//! discovery the plan uses, so plan and teardown see the same resources.

pub mod ecr;
pub mod kubernetes;
pub mod sagemaker;
pub mod terraform;

/// How many independent requests a phase keeps in flight at once.
pub const CONCURRENCY: usize = 8;
