//! The model: the types every layer above speaks and the documents sundown
//! writes (the inventory's resources, the plan with its digest, the teardown
//! report, a reviewed plan read back). No I/O beyond reading and writing a
//! document's file.

pub mod inventory;
pub mod plan;
pub mod report;
pub mod reviewed;
pub mod sweep;
