output "bucket_name" {
  description = "Name of the data bucket."
  value       = aws_s3_bucket.this.id
}

output "bucket_arn" {
  description = "ARN of the data bucket."
  value       = aws_s3_bucket.this.arn
}

output "tiering_configuration_name" {
  description = "Name of the Intelligent-Tiering archive configuration."
  value       = aws_s3_bucket_intelligent_tiering_configuration.this.name
}
