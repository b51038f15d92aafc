variable "bucket_name" {
  description = "Name of the data bucket (globally unique)."
  type        = string
  default     = "retail-forecast-data"
}

variable "force_destroy" {
  description = "Let `terraform destroy` delete the bucket while it still holds objects (and their versions). Keep false unless the data is disposable."
  type        = bool
  default     = false
}

variable "kms_key_arn" {
  description = "KMS key for default encryption (SSE-KMS). Null uses the AWS-managed key aws/s3, which has no monthly key charge."
  type        = string
  default     = null
}

variable "tiering_prefix" {
  description = "Key prefix of the Intelligent-Tiering archive configuration (ARCHIVE_ACCESS after 90 days, DEEP_ARCHIVE_ACCESS after 180)."
  type        = string
  default     = "data/"
}

variable "abort_incomplete_upload_days" {
  description = "Days after which incomplete multipart uploads are aborted (their parts are billed until then)."
  type        = number
  default     = 7
}

variable "noncurrent_version_expiration_days" {
  description = "Days after which noncurrent (overwritten or deleted) object versions are removed."
  type        = number
  default     = 30
}

variable "tags" {
  description = "Extra tags for the bucket (the provider's default_tags are added on top)."
  type        = map(string)
  default     = {}
}
