variable "name" {
  description = "Name of the SNS topic; also the KMS key alias (alias/<name>)."
  type        = string
  default     = "retail-forecast-alerts"
}

variable "region" {
  description = "AWS region of the stack (names the CloudWatch Logs service principal in the key policy)."
  type        = string
  default     = "us-east-1"
}

variable "allow_cloudwatch_logs" {
  description = "Let CloudWatch Logs in this account and region use the key, so the stack's log groups can be encrypted with it."
  type        = bool
  default     = true
}

variable "key_deletion_window_days" {
  description = "Days the KMS key waits, after `terraform destroy`, before it is deleted (7 to 30)."
  type        = number
  default     = 7

  validation {
    condition     = var.key_deletion_window_days >= 7 && var.key_deletion_window_days <= 30
    error_message = "key_deletion_window_days must be between 7 and 30."
  }
}

variable "tags" {
  description = "Extra tags for the topic and key (the provider's default_tags are added on top)."
  type        = map(string)
  default     = {}
}
