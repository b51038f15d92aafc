//! `eks.spot`: every node group of the cluster is SPOT with several instance types.

use anyhow::Result;

use super::{Context, Finding};

pub async fn spot(cx: &Context<'_>) -> Result<Finding> {
    let Some(cluster) = cx.config.kubernetes.as_ref().and_then(|k| k.cluster.as_deref()) else {
        return Ok(Finding::warn(
            "no EKS cluster configured",
            "set kubernetes.cluster in sundown.yaml",
        ));
    };
    let eks = cx.aws.eks();
    let names = crate::aws::node_group_names(&eks, cluster).await?;
    if names.is_empty() {
        return Ok(Finding::warn(
            format!("cluster {cluster} has no managed node groups"),
            "add a SPOT node group",
        ));
    }
    let min = cx.config.verify.min_spot_instance_types;
    let (mut ok, mut bad) = (Vec::new(), Vec::new());
    for name in names {
        // Deleted since ListNodegroups: nothing to judge.
        let Some(group) = crate::aws::describe_node_group(&eks, cluster, &name).await? else {
            continue;
        };
        let group = Some(&group);
        let capacity = group
            .and_then(|g| g.capacity_type())
            .map(|c| c.as_str().to_owned())
            .unwrap_or("ON_DEMAND".into());
        let types = group.map(|g| g.instance_types().len()).unwrap_or(0);
        let line = format!("node group {name}: {capacity}, {types} instance types");
        if capacity == "SPOT" && types >= min {
            ok.push(line)
        } else {
            bad.push(line)
        }
    }
    Ok(Finding::from_lines(
        ok,
        bad,
        &format!(
            "use capacity_type = \"SPOT\" with at least {min} interchangeable instance types (infra/modules/eks_nodegroup)"
        ),
    ))
}
