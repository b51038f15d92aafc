output "pod_disruption_budget" {
  description = "Namespace/name of the API's PodDisruptionBudget."
  value       = "${kubernetes_pod_disruption_budget_v1.api.metadata[0].namespace}/${kubernetes_pod_disruption_budget_v1.api.metadata[0].name}"
}

output "autoscaler_release" {
  description = "Name, namespace and chart version of the cluster-autoscaler Helm release."
  value = {
    name      = helm_release.cluster_autoscaler.name
    namespace = helm_release.cluster_autoscaler.namespace
    version   = helm_release.cluster_autoscaler.version
  }
}
