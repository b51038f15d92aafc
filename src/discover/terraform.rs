//! Terraform discovery: the pre-flight that initialises the root module and
//! reads its state (no state at all is a refusal: destroying nothing would
//! leave the stack billing under a green report), and the managed resources in
//! that state. Blocking: it runs Terraform. Changes nothing.

use anyhow::Result;

use crate::config::Protect;
use crate::exit::refuse;
use crate::model::inventory::{Action, Kind, Resource};
use crate::terraform::{State, Terraform};

/// Checks, initialises and reads the module's state; blocking (runs Terraform).
/// Every failure is a refusal: it is found before the first deletion. A
/// resource in the state that carries the protect tag is one too: phases 1–3
/// would keep it and `terraform destroy` would then destroy it.
pub fn preflight(tf: &Terraform, protect: &Protect) -> Result<State> {
    tf.check()?;
    tf.init().map_err(|e| {
        refuse(format!(
            "terraform init in {} failed ({e:#}); fix the module or terraform.backend_config in sundown.yaml",
            tf.dir().display()
        ))
    })?;
    let state = tf.state_pull().map_err(|e| {
        refuse(format!(
            "cannot read the Terraform state of {} ({e:#}); check the backend's credentials and terraform.backend_config",
            tf.dir().display()
        ))
    })?;
    if state.lineage.is_none() {
        return Err(refuse(format!(
            "no Terraform state for {} (backend {}, workspace {}): it was never applied with this backend and workspace, \
             so terraform destroy would destroy nothing; point terraform.backend_config at the backend that holds the stack's \
             state (a fresh CI runner has no local state) or set terraform.workspace",
            tf.dir().display(),
            tf.backend_type(),
            tf.workspace_name()
        )));
    }
    let protected: Vec<&str> = state
        .managed()
        .filter(|i| protect.matches(i.tags.iter().map(|(k, v)| (k.as_str(), v.as_str()))))
        .map(|i| i.address.as_str())
        .collect();
    if !protected.is_empty() {
        return Err(refuse(format!(
            "the Terraform state of {} holds resources tagged {}={}, which terraform destroy would destroy: {}; \
             take them out of the state first (`terraform state rm ADDRESS`, or a `removed {{ from = ADDRESS \
             lifecycle {{ destroy = false }} }}` block with Terraform >= 1.7)",
            tf.dir().display(),
            protect.tag,
            protect.value,
            protected.join(", ")
        )));
    }
    Ok(state)
}

/// The managed resources in the module's state; blocking (runs Terraform).
pub fn discover(tf: &Terraform, protect: &Protect) -> Result<Vec<Resource>> {
    let state = preflight(tf, protect)?;
    Ok(resources(&state))
}

pub fn resources(state: &State) -> Vec<Resource> {
    state
        .managed()
        .map(|i| Resource::new(Kind::TerraformResource, &i.address, Action::Delete).id(i.id.clone()))
        .collect()
}
