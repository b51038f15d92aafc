# --- Stack ---------------------------------------------------------------------

variable "project" {
  description = "Project name: the Project tag on every resource (provider default_tags), the budget's cost-allocation filter and the prefix of resource names."
  type        = string
  default     = "retail-forecast"
}

variable "environment" {
  description = "Environment name (the Environment tag)."
  type        = string
  default     = "dev"
}

variable "region" {
  description = "AWS region of the stack."
  type        = string
  default     = "us-east-1"
}

# --- EKS -------------------------------------------------------------------------

variable "cluster_name" {
  description = "Existing EKS cluster the node groups join, the scheduler scales and the k8s module configures."
  type        = string
  default     = "retail-forecast-cluster"
}

variable "node_subnet_ids" {
  description = "Subnets for the node groups. Empty: the cluster's own subnets (its vpc_config)."
  type        = list(string)
  default     = []
}

variable "node_role_arn" {
  description = "Existing IAM role for the nodes. Null: a role <project>-eks-node is created with the three EKS worker policies."
  type        = string
  default     = null
}

variable "node_groups" {
  description = "SPOT node groups, keyed by suffix (the group is named <project>-<key>). desired_size is only the initial size: the autoscaler and the off-hours scheduler own it afterwards."
  type = map(object({
    instance_types = list(string)
    min_size       = number
    max_size       = number
    desired_size   = number
    labels         = optional(map(string), {})
  }))
  default = {
    spot = {
      instance_types = ["m5.large", "m5a.large", "m6i.large"]
      min_size       = 0
      max_size       = 3
      desired_size   = 1
      labels         = { pool = "spot" }
    }
  }
}

# --- ECR -------------------------------------------------------------------------

variable "ecr_repositories" {
  description = "ECR repositories to create (sundown.yaml ecr.repositories)."
  type        = list(string)
  default     = ["retail-forecast", "mlops/retail-api"]
}

variable "ecr_force_delete" {
  description = "Let terraform destroy delete repositories that still hold images (sundown's teardown empties them first)."
  type        = bool
  default     = false
}

variable "ecr_untagged_keep" {
  description = "Untagged images kept per repository."
  type        = number
  default     = 3
}

variable "ecr_tag_prefixes" {
  description = "Tag prefixes that each keep their own last ecr_per_prefix_keep images."
  type        = list(string)
  default     = ["prod", "stage", "dev"]
}

variable "ecr_per_prefix_keep" {
  description = "Images kept per tag prefix."
  type        = number
  default     = 3
}

variable "ecr_max_images" {
  description = "Cap for all other images in a repository (the final tagStatus any rule)."
  type        = number
  default     = 10
}

# --- S3 --------------------------------------------------------------------------

variable "data_bucket_name" {
  description = "Name of the data bucket. Null: <project>-data."
  type        = string
  default     = null
}

variable "data_bucket_force_destroy" {
  description = "Let terraform destroy delete the data bucket with its objects and versions. sundown does not empty buckets, so destroy fails on a non-empty bucket while this is false."
  type        = bool
  default     = false
}

variable "tiering_prefix" {
  description = "Prefix of the Intelligent-Tiering archive configuration (sundown.yaml verify.tiering_prefix)."
  type        = string
  default     = "data/"
}

# --- Logs ------------------------------------------------------------------------

variable "log_group_names" {
  description = "Log groups created with the stack's retention (under sundown.yaml verify.log_group_prefixes). The scheduler's own group is created by its module."
  type        = list(string)
  default = [
    "/aws/eks/retail-forecast-cluster/cluster",
    "/aws/retail-forecast/api",
    "/aws/retail-forecast/training",
  ]
}

variable "log_retention_days" {
  description = "Retention of every log group the stack creates (sundown.yaml verify.max_log_retention_days)."
  type        = number
  default     = 30
}

# --- Budget ----------------------------------------------------------------------

variable "budget_limit_usd" {
  description = "Monthly cost budget in USD for resources tagged Project = var.project."
  type        = number
  default     = 100
}

variable "budget_thresholds" {
  description = "Percentages of the budget at which ACTUAL-spend alerts go out (sundown.yaml verify.budget_thresholds)."
  type        = list(number)
  default     = [80, 100]
}

variable "budget_emails" {
  description = "E-mail addresses that receive the budget alerts (the SNS topic always does)."
  type        = list(string)
  default     = []
}

# --- Scheduler -------------------------------------------------------------------

variable "scheduler_source_dir" {
  description = "Directory (relative to infra/envs/dev) holding the scheduler's `bootstrap` binary and `sundown.yaml`; zipped into scheduler_package when bootstrap is there. Creating or updating the function needs it; destroy does not."
  type        = string
  default     = "../../../target/sundown-lambda"
}

variable "scheduler_package" {
  description = "Path (relative to infra/envs/dev) where the scheduler zip is written."
  type        = string
  default     = "../../../target/sundown-lambda.zip"
}

variable "scheduler_architecture" {
  description = "Architecture the bootstrap binary is built for: arm64 or x86_64."
  type        = string
  default     = "arm64"
}

variable "scheduler_reserved_concurrency" {
  description = "Reserved concurrency of the scheduler function (1; -1 for accounts whose Lambda concurrency quota is still 10)."
  type        = number
  default     = 1
}

variable "endpoint_prefix" {
  description = "SageMaker endpoints the scheduler may stop and start (sundown.yaml sagemaker.endpoint_prefix)."
  type        = string
  default     = "retail-forecast"
}

variable "stop_schedule" {
  description = "When the stack is scaled down, as an EventBridge schedule expression in UTC (sundown.yaml schedule.stop)."
  type        = string
  default     = "cron(0 19 * * ? *)"
}

variable "start_schedule" {
  description = "When the stack is scaled back up, as an EventBridge schedule expression in UTC (sundown.yaml schedule.start)."
  type        = string
  default     = "cron(0 7 * * ? *)"
}

# --- Kubernetes ------------------------------------------------------------------

variable "enable_k8s" {
  description = "Apply the k8s module (PodDisruptionBudget, cluster autoscaler). Needs the cluster's API to be reachable with the caller's credentials."
  type        = bool
  default     = true
}

variable "autoscaler_role_arn" {
  description = "IRSA role for the cluster autoscaler's service account. Null: no annotation."
  type        = string
  default     = null
}

variable "autoscaler_chart_version" {
  description = "Pinned cluster-autoscaler Helm chart version (match its app version to the cluster's Kubernetes minor version)."
  type        = string
  default     = "9.46.6"
}
