# Everything sundown.yaml needs, by key.

output "region" {
  description = "AWS region of the stack (sundown.yaml region)."
  value       = var.region
}

output "cluster_name" {
  description = "EKS cluster (sundown.yaml kubernetes.cluster)."
  value       = var.cluster_name
}

output "node_group_names" {
  description = "SPOT node groups of the cluster (checked by sundown verify's eks.spot, scaled by the scheduler)."
  value       = [for key in sort(keys(module.eks_nodegroup)) : module.eks_nodegroup[key].node_group_name]
}

output "ecr_repository_names" {
  description = "ECR repositories (sundown.yaml ecr.repositories)."
  value       = module.ecr.repository_names
}

output "data_bucket_name" {
  description = "Data bucket (sundown.yaml verify.buckets)."
  value       = module.s3_data.bucket_name
}

output "log_group_names" {
  description = "Log groups the stack creates, the scheduler's included (all under sundown.yaml verify.log_group_prefixes except /aws/lambda/<scheduler>)."
  value       = concat(module.logs.log_group_names, [module.scheduler.log_group_name])
}

output "sns_topic_arn" {
  description = "SNS topic for budget alerts and sundown reports (sundown.yaml notify.sns_topic_arn)."
  value       = module.notifications.topic_arn
}

output "budget_name" {
  description = "Monthly cost budget (checked by sundown verify's budget check)."
  value       = module.budget.budget_name
}

output "scheduler_function_name" {
  description = "Off-hours scheduler Lambda function (sundown.yaml schedule.scheduler)."
  value       = module.scheduler.function_name
}
