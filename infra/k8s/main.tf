# What keeps the API serving when spot capacity is reclaimed:
# - a PodDisruptionBudget, so node drains (spot interruption handling, the
#   autoscaler's scale-down) never evict the last API pod;
# - the cluster autoscaler, which replaces reclaimed nodes and balances the
#   node groups across the interchangeable spot instance types.
#
# No provider blocks: the caller configures kubernetes and helm with the
# cluster's endpoint and credentials.

locals {
  # IRSA: the service account names its IAM role; no annotation until one is given.
  autoscaler_sa_annotations = var.autoscaler_role_arn == null ? {} : { "eks.amazonaws.com/role-arn" = var.autoscaler_role_arn }

  autoscaler_values = {
    cloudProvider = "aws"
    awsRegion     = var.region
    autoDiscovery = {
      clusterName = var.cluster_name
      tags        = ["k8s.io/cluster-autoscaler/enabled", "k8s.io/cluster-autoscaler/${var.cluster_name}"]
    }
    extraArgs = {
      expander                        = "least-waste"
      "balance-similar-node-groups"   = true
      "skip-nodes-with-local-storage" = false
    }
    rbac = {
      create = true
      serviceAccount = {
        create      = true
        name        = var.autoscaler_service_account
        annotations = local.autoscaler_sa_annotations
      }
    }
  }
}

resource "kubernetes_pod_disruption_budget_v1" "api" {
  metadata {
    name      = "${var.api_name}-pdb"
    namespace = var.api_namespace
  }

  spec {
    min_available = 1

    selector {
      match_labels = var.api_pod_labels
    }
  }
}

resource "helm_release" "cluster_autoscaler" {
  name       = "cluster-autoscaler"
  namespace  = var.autoscaler_namespace
  repository = "https://kubernetes.github.io/autoscaler"
  chart      = "cluster-autoscaler"
  version    = var.autoscaler_chart_version

  values = [yamlencode(local.autoscaler_values)]

  atomic          = true
  cleanup_on_fail = true
  wait            = true
}
