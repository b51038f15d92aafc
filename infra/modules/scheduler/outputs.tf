output "function_name" {
  description = "Name of the scheduler Lambda function."
  value       = aws_lambda_function.this.function_name
}

output "function_arn" {
  description = "ARN of the scheduler Lambda function (the rules' target)."
  value       = aws_lambda_function.this.arn
}

output "log_group_name" {
  description = "Name of the function's log group."
  value       = aws_cloudwatch_log_group.this.name
}

output "role_arn" {
  description = "ARN of the function's IAM role."
  value       = aws_iam_role.this.arn
}

output "rule_names" {
  description = "Names of the EventBridge rules, keyed by action."
  value = {
    stop  = aws_cloudwatch_event_rule.stop.name
    start = aws_cloudwatch_event_rule.start.name
  }
}
