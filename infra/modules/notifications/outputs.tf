output "topic_arn" {
  description = "ARN of the SNS topic (budget alerts, sundown reports, scheduler dead letters)."
  value       = aws_sns_topic.this.arn
}

output "topic_name" {
  description = "Name of the SNS topic."
  value       = aws_sns_topic.this.name
}

output "kms_key_arn" {
  description = "ARN of the customer-managed KMS key that encrypts the topic (and, when allowed, the log groups and the scheduler's environment)."
  value       = aws_kms_key.this.arn
}
