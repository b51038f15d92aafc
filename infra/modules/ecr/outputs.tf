output "repository_names" {
  description = "Names of the ECR repositories, in the order of var.repositories."
  value       = [for name in var.repositories : aws_ecr_repository.this[name].name]
}

output "repository_urls" {
  description = "Repository URLs (registry/name), keyed by repository name."
  value       = { for name, repo in aws_ecr_repository.this : name => repo.repository_url }
}

output "lifecycle_policy" {
  description = "The lifecycle policy JSON applied to every repository."
  value       = local.lifecycle_policy
}
