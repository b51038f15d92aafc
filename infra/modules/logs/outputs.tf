output "log_group_names" {
  description = "Names of the log groups, in the order of var.log_group_names."
  value       = [for name in var.log_group_names : aws_cloudwatch_log_group.this[name].name]
}

output "log_group_arns" {
  description = "ARNs of the log groups, keyed by name."
  value       = { for name, group in aws_cloudwatch_log_group.this : name => group.arn }
}
