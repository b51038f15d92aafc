//! sundown: keeps an MLOps stack on AWS cheap while it runs and tears it down safely.
//!
//! This file declares the modules, layer by layer (ARCHITECTURE.md draws the
//! house); the faces are `cli` (whose `run` the binary calls), `action` and `lambda`.

// The layers, lowest first; each imports only its own and those below
// (ARCHITECTURE.md draws them; `cargo xtask tidy` holds them).
// base
pub mod cancel;
pub mod clock;
pub mod config;
pub mod exit;
pub mod markers;
pub mod order;
pub mod schema;
pub mod text;
pub mod wait;
// clients
pub mod aws;
pub mod k8s;
pub mod scope;
pub mod terraform;
// model
pub mod model;
// discover
pub mod discover;
// analyses
pub mod checks;
pub mod cost;
pub mod iam;
pub mod sweep;
pub mod verify;
// gate
pub mod confirm;
// mutating
pub mod phases;
pub mod schedule;
// operations
pub mod notify;
pub mod plan;
pub mod rollup;
pub mod stacks;
pub mod teardown;
// faces
pub mod action;
pub mod cli;
pub mod lambda;
