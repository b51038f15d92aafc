variable "repositories" {
  description = "Names of the ECR repositories to create."
  type        = list(string)
  default     = ["retail-forecast", "mlops/retail-api"]
}

variable "force_delete" {
  description = "Let `terraform destroy` delete a repository that still holds images. sundown's teardown empties the repositories first, so this can stay false."
  type        = bool
  default     = false
}

variable "image_tag_mutability" {
  description = "MUTABLE or IMMUTABLE. MUTABLE because dev pipelines re-push moving tags such as dev-latest."
  type        = string
  default     = "MUTABLE"

  validation {
    condition     = contains(["MUTABLE", "IMMUTABLE"], var.image_tag_mutability)
    error_message = "image_tag_mutability must be MUTABLE or IMMUTABLE."
  }
}

variable "untagged_keep" {
  description = "Untagged images kept per repository (lifecycle rule 1, tagStatus untagged, imageCountMoreThan)."
  type        = number
  default     = 3

  validation {
    condition     = var.untagged_keep >= 1
    error_message = "untagged_keep must be at least 1 (ECR's countNumber minimum)."
  }
}

variable "tag_prefixes" {
  description = "Tag prefixes that each get their own keep-N lifecycle rule, in priority order."
  type        = list(string)
  default     = ["prod", "stage", "dev"]
}

variable "per_prefix_keep" {
  description = "Images kept for each tag prefix in tag_prefixes."
  type        = number
  default     = 3

  validation {
    condition     = var.per_prefix_keep >= 1
    error_message = "per_prefix_keep must be at least 1."
  }
}

variable "max_images" {
  description = "Cap for every image no earlier rule selected (the final tagStatus any, imageCountMoreThan rule)."
  type        = number
  default     = 10

  validation {
    condition     = var.max_images >= 1
    error_message = "max_images must be at least 1."
  }
}

variable "tags" {
  description = "Extra tags for the repositories (the provider's default_tags are added on top)."
  type        = map(string)
  default     = {}
}
