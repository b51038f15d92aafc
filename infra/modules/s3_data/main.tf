# The data bucket: private, encrypted, versioned, and cheap to keep.
#
# The lifecycle rules and the Intelligent-Tiering archive tiers are literal
# locals so that tests (and `sundown verify`'s s3.lifecycle / s3.tiering checks)
# can read them straight from this file.

locals {
  lifecycle_rules = [
    { id = "raw-to-intelligent-tiering", prefix = "raw/", tag = null, transitions = [{ storage_class = "INTELLIGENT_TIERING", days = 30 }], expiration_days = null },
    { id = "silver-to-intelligent-tiering", prefix = "silver/", tag = null, transitions = [{ storage_class = "INTELLIGENT_TIERING", days = 30 }], expiration_days = null },
    { id = "artifacts-archive", prefix = "artifacts/", tag = null, transitions = [{ storage_class = "GLACIER_IR", days = 90 }, { storage_class = "DEEP_ARCHIVE", days = 180 }], expiration_days = null },
    { id = "logs-archive", prefix = "logs/", tag = null, transitions = [{ storage_class = "GLACIER_IR", days = 90 }, { storage_class = "DEEP_ARCHIVE", days = 180 }], expiration_days = null },
    { id = "tmp-expire", prefix = "tmp/", tag = { key = "temporary", value = "true" }, transitions = [], expiration_days = 7 },
  ]
  tiering_archive = [
    { access_tier = "ARCHIVE_ACCESS", days = 90 },
    { access_tier = "DEEP_ARCHIVE_ACCESS", days = 180 },
  ]
}

locals {
  # Bucket-wide housekeeping (empty filter): failed multipart uploads and the
  # noncurrent versions that versioning keeps would otherwise be billed forever.
  housekeeping_rules = [
    {
      id                           = "abort-incomplete-uploads-and-expire-noncurrent"
      prefix                       = null
      tag                          = null
      transitions                  = []
      expiration_days              = null
      abort_incomplete_upload_days = var.abort_incomplete_upload_days
      noncurrent_days              = var.noncurrent_version_expiration_days
    },
  ]
}

resource "aws_s3_bucket" "this" {
  bucket        = var.bucket_name
  force_destroy = var.force_destroy
  tags          = var.tags
}

resource "aws_s3_bucket_public_access_block" "this" {
  bucket = aws_s3_bucket.this.id

  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

# ACLs off: the bucket owner owns every object.
resource "aws_s3_bucket_ownership_controls" "this" {
  bucket = aws_s3_bucket.this.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

# SSE-KMS with the AWS-managed key (aws/s3) unless a CMK is given; the S3 Bucket
# Key keeps KMS request charges negligible.
resource "aws_s3_bucket_server_side_encryption_configuration" "this" {
  bucket = aws_s3_bucket.this.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = var.kms_key_arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_versioning" "this" {
  bucket = aws_s3_bucket.this.id

  versioning_configuration {
    status = "Enabled"
  }
}

data "aws_iam_policy_document" "tls_only" {
  statement {
    sid     = "DenyInsecureTransport"
    effect  = "Deny"
    actions = ["s3:*"]
    resources = [
      aws_s3_bucket.this.arn,
      "${aws_s3_bucket.this.arn}/*",
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

resource "aws_s3_bucket_policy" "this" {
  bucket = aws_s3_bucket.this.id
  policy = data.aws_iam_policy_document.tls_only.json

  # A bucket policy cannot be attached while the public access block is being
  # created; order them.
  depends_on = [aws_s3_bucket_public_access_block.this]
}

resource "aws_s3_bucket_lifecycle_configuration" "this" {
  bucket = aws_s3_bucket.this.id

  dynamic "rule" {
    for_each = concat(local.lifecycle_rules, local.housekeeping_rules)

    content {
      id     = rule.value.id
      status = "Enabled"

      # A plain prefix filter, or `and { prefix, tags }` when the rule has a tag.
      filter {
        prefix = rule.value.tag == null ? rule.value.prefix : null

        dynamic "and" {
          for_each = rule.value.tag == null ? [] : [rule.value.tag]

          content {
            prefix = rule.value.prefix
            tags   = { (and.value.key) = and.value.value }
          }
        }
      }

      dynamic "transition" {
        for_each = rule.value.transitions

        content {
          days          = transition.value.days
          storage_class = transition.value.storage_class
        }
      }

      dynamic "abort_incomplete_multipart_upload" {
        for_each = lookup(rule.value, "abort_incomplete_upload_days", null) == null ? [] : [rule.value.abort_incomplete_upload_days]

        content {
          days_after_initiation = abort_incomplete_multipart_upload.value
        }
      }

      dynamic "noncurrent_version_expiration" {
        for_each = lookup(rule.value, "noncurrent_days", null) == null ? [] : [rule.value.noncurrent_days]

        content {
          noncurrent_days = noncurrent_version_expiration.value
        }
      }

      dynamic "expiration" {
        for_each = rule.value.expiration_days == null ? [] : [rule.value.expiration_days]

        content {
          days = expiration.value
        }
      }
    }
  }

  # Lifecycle rules on a versioned bucket must be applied after versioning.
  depends_on = [aws_s3_bucket_versioning.this]
}

# Archive tiers for objects stored in the INTELLIGENT_TIERING class under the
# tiering prefix.
resource "aws_s3_bucket_intelligent_tiering_configuration" "this" {
  bucket = aws_s3_bucket.this.id
  name   = "archive-${trim(replace(var.tiering_prefix, "/", "-"), "-")}"
  status = "Enabled"

  filter {
    prefix = var.tiering_prefix
  }

  dynamic "tiering" {
    for_each = local.tiering_archive

    content {
      access_tier = tiering.value.access_tier
      days        = tiering.value.days
    }
  }
}
