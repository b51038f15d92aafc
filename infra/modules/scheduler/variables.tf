variable "name" {
  description = "Name of the Lambda function, its IAM role and the rule-name prefix (the root passes \"<project>-scheduler\")."
  type        = string
  default     = "retail-forecast-scheduler"
}

variable "region" {
  description = "AWS region of the stack (used in the IAM policy's resource ARNs)."
  type        = string
  default     = "us-east-1"
}

variable "package" {
  description = "Path of the deployment zip: the `bootstrap` binary (sundown built with its `lambda` cargo feature, for var.architecture) and `sundown.yaml` at the zip's root."
  type        = string
  default     = "sundown-scheduler.zip"
}

variable "package_hash" {
  description = "Base64 SHA-256 of the package (e.g. archive_file's output_base64sha256). Null computes it from the file when it exists, else leaves the deployed code unchanged."
  type        = string
  default     = null
}

variable "architecture" {
  description = "Lambda architecture the bootstrap binary is built for: arm64 (cheaper per GB-second) or x86_64."
  type        = string
  default     = "arm64"

  validation {
    condition     = contains(["arm64", "x86_64"], var.architecture)
    error_message = "architecture must be arm64 or x86_64."
  }
}

variable "timeout" {
  description = "Function timeout in seconds: above sundown.yaml's schedule.wait (10m by default), which bounds one run's waits. Lambda allows at most 900."
  type        = number
  default     = 900
}

variable "memory_size" {
  description = "Function memory in MB."
  type        = number
  default     = 128
}

variable "reserved_concurrency" {
  description = "Reserved concurrent executions (1: a stop and a start never overlap). Accounts whose concurrency quota is still 10 cannot reserve any; set -1 there."
  type        = number
  default     = 1
}

variable "tracing_mode" {
  description = "X-Ray tracing mode: Active (two runs a day stay inside the X-Ray free tier) or PassThrough."
  type        = string
  default     = "Active"

  validation {
    condition     = contains(["Active", "PassThrough"], var.tracing_mode)
    error_message = "tracing_mode must be Active or PassThrough."
  }
}

variable "cluster_name" {
  description = "EKS cluster whose node groups the function scales."
  type        = string
  default     = "retail-forecast-cluster"
}

variable "endpoint_prefix" {
  description = "SageMaker endpoints (and endpoint configs) whose names start with this prefix are the ones the function may stop and start."
  type        = string
  default     = "retail-forecast"
}

variable "stop_schedule" {
  description = "EventBridge schedule expression (UTC) of the stop run."
  type        = string
  default     = "cron(0 19 * * ? *)"
}

variable "start_schedule" {
  description = "EventBridge schedule expression (UTC) of the start run."
  type        = string
  default     = "cron(0 7 * * ? *)"
}

variable "retention_in_days" {
  description = "Retention of the function's log group (the stack's single log retention setting)."
  type        = number
  default     = 30
}

variable "kms_key_arn" {
  description = "Customer-managed KMS key that encrypts the environment, the log group and (through the topic) dead letters."
  type        = string
}

variable "dlq_topic_arn" {
  description = "SNS topic that receives failed invocations (dead-letter queue)."
  type        = string
}

variable "tags" {
  description = "Extra tags for the function, role, log group and rules (the provider's default_tags are added on top)."
  type        = map(string)
  default     = {}
}
