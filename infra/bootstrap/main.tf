# The S3 bucket that holds the Terraform state of infra/envs/* (see backend.hcl
# there), created once per account by an administrator:
#
#   cd infra/bootstrap
#   terraform init
#   terraform apply
#
# It is not part of the stack: sundown's teardown destroys infra/envs/dev, whose
# state lives here, so the bucket must outlive every teardown. prevent_destroy
# makes Terraform refuse any plan that would delete it.

provider "aws" {
  region = var.region

  # The stack's Project tag, so the bucket's cost shows in the project budget and
  # sundown verify's tags check (every ARN naming the stack carries it) passes.
  default_tags {
    tags = {
      Project   = var.project
      Purpose   = "terraform-state"
      ManagedBy = "terraform"
    }
  }
}

data "aws_caller_identity" "current" {}

locals {
  # The account id makes the name unique across AWS (bucket names are global).
  bucket_name = coalesce(var.bucket_name, "${var.project}-tfstate-${data.aws_caller_identity.current.account_id}")
}

resource "aws_s3_bucket" "state" {
  bucket = local.bucket_name

  # The state's history is the only record of what Terraform manages; never
  # empty the bucket to delete it.
  force_destroy = false

  lifecycle {
    prevent_destroy = true
  }
}

resource "aws_s3_bucket_public_access_block" "state" {
  bucket = aws_s3_bucket.state.id

  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

# ACLs off: the bucket owner owns every object, whoever wrote it.
resource "aws_s3_bucket_ownership_controls" "state" {
  bucket = aws_s3_bucket.state.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

# Every earlier state stays recoverable (a bad apply, a state rm, a deleted
# object) until the lifecycle rule below expires it.
resource "aws_s3_bucket_versioning" "state" {
  bucket = aws_s3_bucket.state.id

  versioning_configuration {
    status = "Enabled"
  }
}

# Default encryption SSE-KMS with the AWS-managed key aws/s3, not a
# customer-managed key: there is no key to create, pay for or lose (the stack's
# own CMK in modules/notifications is destroyed by a teardown, and the state
# must not depend on anything a teardown destroys), every principal of the
# account that may use the bucket may use aws/s3 through S3, and KMS calls on it
# are in CloudTrail. The S3 Bucket Key keeps KMS request charges negligible.
# The S3 backend with encrypt = true and no kms_key_id asks for SSE-S3 (AES256)
# on each object it writes (the state, its lock file), which takes precedence;
# this default covers every other object (a copy made by hand, a restore) and
# is what checkov's CKV_AWS_145 asks for.
resource "aws_s3_bucket_server_side_encryption_configuration" "state" {
  bucket = aws_s3_bucket.state.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "aws:kms"
    }
    bucket_key_enabled = true
  }
}

data "aws_iam_policy_document" "tls_only" {
  statement {
    sid     = "DenyInsecureTransport"
    effect  = "Deny"
    actions = ["s3:*"]
    resources = [
      aws_s3_bucket.state.arn,
      "${aws_s3_bucket.state.arn}/*",
    ]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "state" {
  bucket = aws_s3_bucket.state.id
  policy = data.aws_iam_policy_document.tls_only.json

  # A bucket policy cannot be attached while the public access block is being
  # created; order them.
  depends_on = [aws_s3_bucket_public_access_block.state]
}

# Versioning keeps every state Terraform ever wrote, and every lock
# (envs/dev/terraform.tfstate.tflock) leaves a version and a delete marker
# behind; without expiry they would be billed forever.
resource "aws_s3_bucket_lifecycle_configuration" "state" {
  bucket = aws_s3_bucket.state.id

  rule {
    id     = "expire-noncurrent-and-abort-incomplete-uploads"
    status = "Enabled"

    # Empty filter: the whole bucket.
    filter {}

    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_expiration_days
    }

    # Removes a delete marker once no version is left behind it (an old lock file's).
    expiration {
      expired_object_delete_marker = true
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = var.abort_incomplete_upload_days
    }
  }

  # Lifecycle rules on a versioned bucket must be applied after versioning.
  depends_on = [aws_s3_bucket_versioning.state]
}
