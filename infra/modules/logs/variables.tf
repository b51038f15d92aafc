variable "log_group_names" {
  description = "CloudWatch log groups to create with the stack's retention."
  type        = list(string)
  default = [
    "/aws/eks/retail-forecast-cluster/cluster",
    "/aws/retail-forecast/api",
    "/aws/retail-forecast/training",
  ]
}

variable "retention_in_days" {
  description = "Days CloudWatch keeps log events (a value CloudWatch accepts; `sundown verify` expects at most 30)."
  type        = number
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.retention_in_days)
    error_message = "retention_in_days must be a retention CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, ...)."
  }
}

variable "kms_key_arn" {
  description = "KMS key that encrypts the log groups. Its key policy must allow the logs.<region>.amazonaws.com principal. Null uses CloudWatch's own encryption."
  type        = string
  default     = null
}

variable "tags" {
  description = "Extra tags for the log groups (the provider's default_tags are added on top)."
  type        = map(string)
  default     = {}
}
