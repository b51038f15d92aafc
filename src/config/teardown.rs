//! The `teardown:` section: how the teardown's phases follow one another.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// How the teardown runs its phases; every key has a default.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Teardown {
    /// `overlapped`: each phase issues its deletions as soon as the one before
    /// has issued its own, and their waits run together; `strict`: each phase
    /// starts only once the one before is complete. Either way the deletions
    /// go out namespace, jobs, endpoints, images, and `terraform destroy`
    /// runs only once every earlier phase is complete.
    #[serde(default)]
    pub order: Order,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Order {
    /// The waits overlap: the teardown takes about its longest wait plus `terraform destroy`.
    #[default]
    Overlapped,
    /// One phase after another, as before: the teardown takes the sum of the waits.
    Strict,
}
