# ECR repositories with scan-on-push and a lifecycle policy that caps how many
# images each one keeps (storage is billed per GB-month).

locals {
  # Rule 1: untagged images beyond `untagged_keep`.
  untagged_rules = [
    {
      rulePriority = 1
      description  = "Keep the ${var.untagged_keep} most recent untagged images"
      selection = {
        tagStatus   = "untagged"
        countType   = "imageCountMoreThan"
        countNumber = var.untagged_keep
      }
      action = { type = "expire" }
    },
  ]

  # Rules 2..N+1: one per tag prefix, each keeping `per_prefix_keep` images.
  prefix_rules = [
    for i, prefix in var.tag_prefixes : {
      rulePriority = i + 2
      description  = "Keep the ${var.per_prefix_keep} most recent ${prefix}* images"
      selection = {
        tagStatus     = "tagged"
        tagPrefixList = [prefix]
        countType     = "imageCountMoreThan"
        countNumber   = var.per_prefix_keep
      }
      action = { type = "expire" }
    }
  ]

  # Last rule (highest priority number, as ECR requires for tagStatus "any"):
  # a cap on every image no earlier rule selected.
  any_rules = [
    {
      rulePriority = length(var.tag_prefixes) + 2
      description  = "Keep at most ${var.max_images} other images"
      selection = {
        tagStatus   = "any"
        countType   = "imageCountMoreThan"
        countNumber = var.max_images
      }
      action = { type = "expire" }
    },
  ]

  lifecycle_policy = jsonencode({
    rules = concat(local.untagged_rules, local.prefix_rules, local.any_rules)
  })
}

resource "aws_ecr_repository" "this" {
  for_each = toset(var.repositories)

  name                 = each.value
  image_tag_mutability = var.image_tag_mutability
  force_delete         = var.force_delete

  image_scanning_configuration {
    scan_on_push = true
  }

  # KMS with the AWS-managed key (aws/ecr): no key charge.
  encryption_configuration {
    encryption_type = "KMS"
  }

  tags = var.tags
}

resource "aws_ecr_lifecycle_policy" "this" {
  for_each = aws_ecr_repository.this

  repository = each.value.name
  policy     = local.lifecycle_policy
}
