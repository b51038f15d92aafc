output "bucket_name" {
  description = "The state bucket: the bucket of infra/envs/*/backend.hcl."
  value       = aws_s3_bucket.state.bucket
}

output "bucket_arn" {
  description = "ARN of the state bucket, for the IAM policies of the roles that run Terraform."
  value       = aws_s3_bucket.state.arn
}
