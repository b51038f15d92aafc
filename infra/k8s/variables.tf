variable "cluster_name" {
  description = "Name of the EKS cluster (auto-discovery tags and the autoscaler's cluster name)."
  type        = string
  default     = "retail-forecast-cluster"
}

variable "region" {
  description = "AWS region of the cluster (the autoscaler's awsRegion)."
  type        = string
  default     = "us-east-1"
}

variable "api_name" {
  description = "Name of the API workload; the PodDisruptionBudget is called <api_name>-pdb."
  type        = string
  default     = "retail-forecast-api"
}

variable "api_namespace" {
  description = "Namespace the API runs in (it must exist; the PodDisruptionBudget is created there)."
  type        = string
  default     = "retail-forecast"
}

variable "api_pod_labels" {
  description = "Labels that select the API's pods for the PodDisruptionBudget (min_available = 1)."
  type        = map(string)
  default     = { app = "retail-forecast-api" }
}

variable "autoscaler_namespace" {
  description = "Namespace of the cluster-autoscaler release."
  type        = string
  default     = "kube-system"
}

variable "autoscaler_chart_version" {
  description = "Pinned version of the cluster-autoscaler Helm chart (9.46.6 ships cluster-autoscaler 1.32; keep its minor version in step with the cluster's Kubernetes version)."
  type        = string
  default     = "9.46.6"
}

variable "autoscaler_service_account" {
  description = "Name of the autoscaler's Kubernetes service account (the IRSA role's trust policy must name system:serviceaccount:<namespace>:<this>)."
  type        = string
  default     = "cluster-autoscaler"
}

variable "autoscaler_role_arn" {
  description = "IAM role (IRSA) the autoscaler's service account assumes, set as its eks.amazonaws.com/role-arn annotation. It needs autoscaling:Describe*/SetDesiredCapacity/TerminateInstanceInAutoScalingGroup, ec2:Describe* and eks:DescribeNodegroup. Null: no annotation (the autoscaler then needs another credential source, e.g. EKS Pod Identity)."
  type        = string
  default     = null
}
