variable "region" {
  description = "AWS region of the state bucket; backend.hcl's region must be the same."
  type        = string
  default     = "us-east-1"
}

variable "project" {
  description = "Project tag value, shared with the stack so the budget and sundown verify's tags check see the bucket as the stack's."
  type        = string
  default     = "retail-forecast"
}

variable "bucket_name" {
  description = "Name of the state bucket; null means PROJECT-tfstate-ACCOUNT_ID. backend.hcl's bucket must be the same."
  type        = string
  default     = null
}

variable "noncurrent_version_expiration_days" {
  description = "Days a replaced or deleted state version is kept before it expires; the window in which an earlier state can be restored."
  type        = number
  default     = 90

  validation {
    condition     = var.noncurrent_version_expiration_days >= 1
    error_message = "noncurrent_version_expiration_days must be at least 1."
  }
}

variable "abort_incomplete_upload_days" {
  description = "Days after which an unfinished multipart upload is aborted and its parts deleted."
  type        = number
  default     = 7

  validation {
    condition     = var.abort_incomplete_upload_days >= 1
    error_message = "abort_incomplete_upload_days must be at least 1."
  }
}
