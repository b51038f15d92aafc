# The stack's SNS topic (budget alerts, sundown reports, the scheduler's
# dead-letter messages) and the customer-managed KMS key that encrypts it.
#
# A CMK rather than the AWS-managed alias/aws/sns: the AWS-managed key's policy
# cannot be changed, so AWS Budgets could not publish to a topic encrypted with
# it. The same key also encrypts the stack's log groups and the scheduler's
# environment (see the statements below), so the stack pays for one key.

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition

  # A key policy's Resource "*" means "this key". The policy is written as JSON
  # rather than an aws_iam_policy_document: checkov's IAM-document checks
  # (CKV_AWS_109/111/356) read every policy document as an identity policy and
  # would flag the standard account-root statement. CKV_AWS_33 (no wildcard
  # principal) and CKV2_AWS_64 (policy defined) still apply to this key.
  key_policy_statements = concat(
    [
      {
        Sid       = "AccountAdministers"
        Effect    = "Allow"
        Principal = { AWS = "arn:${local.partition}:iam::${local.account_id}:root" }
        Action    = "kms:*"
        Resource  = "*"
      },
      {
        Sid       = "BudgetsPublishToEncryptedTopic"
        Effect    = "Allow"
        Principal = { Service = "budgets.amazonaws.com" }
        Action    = ["kms:GenerateDataKey*", "kms:Decrypt"]
        Resource  = "*"
        Condition = {
          StringEquals = { "aws:SourceAccount" = local.account_id }
        }
      },
    ],
    var.allow_cloudwatch_logs ? [
      {
        Sid       = "CloudWatchLogsEncryptLogGroups"
        Effect    = "Allow"
        Principal = { Service = "logs.${var.region}.amazonaws.com" }
        Action    = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
        Resource  = "*"
        Condition = {
          ArnLike = {
            "kms:EncryptionContext:aws:logs:arn" = "arn:${local.partition}:logs:${var.region}:${local.account_id}:log-group:*"
          }
        }
      },
    ] : [],
  )
}

resource "aws_kms_key" "this" {
  description             = "${var.name}: SNS topic, log groups and scheduler environment"
  enable_key_rotation     = true
  deletion_window_in_days = var.key_deletion_window_days

  policy = jsonencode({
    Version   = "2012-10-17"
    Statement = local.key_policy_statements
  })

  tags = var.tags
}

resource "aws_kms_alias" "this" {
  name          = "alias/${var.name}"
  target_key_id = aws_kms_key.this.key_id
}

resource "aws_sns_topic" "this" {
  name              = var.name
  kms_master_key_id = aws_kms_key.this.arn
  tags              = var.tags
}

data "aws_iam_policy_document" "topic" {
  statement {
    sid       = "BudgetsPublish"
    effect    = "Allow"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.this.arn]

    principals {
      type        = "Service"
      identifiers = ["budgets.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }

    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = ["arn:${local.partition}:budgets::${local.account_id}:*"]
    }
  }
}

resource "aws_sns_topic_policy" "this" {
  arn    = aws_sns_topic.this.arn
  policy = data.aws_iam_policy_document.topic.json
}
