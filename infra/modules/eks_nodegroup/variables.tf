variable "cluster_name" {
  description = "Name of the EKS cluster the node group joins."
  type        = string
  default     = "retail-forecast-cluster"
}

variable "node_group_name" {
  description = "Name of the node group."
  type        = string
  default     = "retail-forecast-spot"
}

variable "node_role_arn" {
  description = "IAM role the nodes run as (AmazonEKSWorkerNodePolicy, AmazonEKS_CNI_Policy, AmazonEC2ContainerRegistryReadOnly)."
  type        = string
}

variable "subnet_ids" {
  description = "Subnets the nodes are launched in (several AZs widen the spot capacity pool)."
  type        = list(string)
}

variable "instance_types" {
  description = "Interchangeable instance types (same vCPU and memory) for the spot request; more types mean fewer interruptions."
  type        = list(string)
  default     = ["m5.large", "m5a.large", "m6i.large"]

  validation {
    condition     = length(var.instance_types) >= 2
    error_message = "Give at least two instance types so spot capacity can be found (sundown verify's eks.spot check expects >= 2)."
  }
}

variable "ami_type" {
  description = "EKS AMI type; must match the instance types' architecture."
  type        = string
  default     = "AL2023_x86_64_STANDARD"
}

variable "disk_size" {
  description = "Root volume size in GiB."
  type        = number
  default     = 20
}

variable "min_size" {
  description = "Minimum number of nodes (0 lets the off-hours scheduler stop the group)."
  type        = number
  default     = 0
}

variable "max_size" {
  description = "Maximum number of nodes the cluster autoscaler may scale to."
  type        = number
  default     = 3
}

variable "desired_size" {
  description = "Initial number of nodes; afterwards owned by the autoscaler and the scheduler (ignored by Terraform)."
  type        = number
  default     = 1
}

variable "labels" {
  description = "Kubernetes labels put on the nodes."
  type        = map(string)
  default     = {}
}

variable "tags" {
  description = "Extra tags for the node group; the cluster-autoscaler auto-discovery tags are always added."
  type        = map(string)
  default     = {}
}
