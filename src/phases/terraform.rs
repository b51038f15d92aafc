//! Phase 4: `terraform destroy` of the root module.
//!
//! Discovery initialises the module and lists its state.

use anyhow::Result;

use crate::inventory::{Action, Kind, Resource};
use crate::terraform::Terraform;

/// The resources in the module's state; blocking (runs Terraform).
pub fn discover(tf: &Terraform) -> Result<Vec<Resource>> {
    tf.check()?;
    tf.init()?;
    let addresses = tf.state_list()?;
    Ok(addresses
        .into_iter()
        .map(|a| Resource::new(Kind::TerraformResource, a, Action::Delete))
        .collect())
}
