# Off-hours scheduler: two EventBridge rules invoke sundown's Lambda build
# (`bootstrap`, built with the `lambda` cargo feature, next to `sundown.yaml`
# in the zip) with {"action":"stop"} in the evening and {"action":"start"} in
# the morning. Schedules are in UTC.

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition

  log_group_name = "/aws/lambda/${var.name}"

  eks_cluster_arn    = "arn:${local.partition}:eks:${var.region}:${local.account_id}:cluster/${var.cluster_name}"
  eks_nodegroup_arns = "arn:${local.partition}:eks:${var.region}:${local.account_id}:nodegroup/${var.cluster_name}/*/*"

  # SageMaker ARNs carry the lower-cased resource name.
  sagemaker_endpoint_arns        = "arn:${local.partition}:sagemaker:${var.region}:${local.account_id}:endpoint/${lower(var.endpoint_prefix)}*"
  sagemaker_endpoint_config_arns = "arn:${local.partition}:sagemaker:${var.region}:${local.account_id}:endpoint-config/${lower(var.endpoint_prefix)}*"
}

# --- Logs -------------------------------------------------------------------

# Created before the function so Lambda does not create it without retention.
resource "aws_cloudwatch_log_group" "this" {
  name              = local.log_group_name
  retention_in_days = var.retention_in_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
}

# --- IAM (least privilege) ---------------------------------------------------

data "aws_iam_policy_document" "assume" {
  statement {
    sid     = "LambdaAssume"
    effect  = "Allow"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "this" {
  name               = var.name
  description        = "sundown off-hours scheduler (${var.name})"
  assume_role_policy = data.aws_iam_policy_document.assume.json
  tags               = var.tags
}

data "aws_iam_policy_document" "permissions" {
  statement {
    sid       = "EksListNodegroups"
    effect    = "Allow"
    actions   = ["eks:ListNodegroups"]
    resources = [local.eks_cluster_arn]
  }

  statement {
    sid    = "EksScaleNodegroups"
    effect = "Allow"
    actions = [
      "eks:DescribeNodegroup",
      "eks:UpdateNodegroupConfig",
      "eks:TagResource",
      "eks:UntagResource",
    ]
    resources = [local.eks_nodegroup_arns]
  }

  # Each node-group update is checked until it is Successful.
  statement {
    sid       = "EksCheckUpdates"
    effect    = "Allow"
    actions   = ["eks:DescribeUpdate"]
    resources = [local.eks_cluster_arn, local.eks_nodegroup_arns]
  }

  # ListEndpoints and ListEndpointConfigs support no resource-level permissions.
  statement {
    sid       = "SageMakerListEndpoints"
    effect    = "Allow"
    actions   = ["sagemaker:ListEndpoints", "sagemaker:ListEndpointConfigs"]
    resources = ["*"]
  }

  # `start` finds the endpoint configs named otherwise that remember the
  # stack's endpoints; GetResources supports no resource-level permissions.
  statement {
    sid       = "FindStoppedConfigs"
    effect    = "Allow"
    actions   = ["tag:GetResources"]
    resources = ["*"]
  }

  statement {
    sid    = "SageMakerStopStartEndpoints"
    effect = "Allow"
    actions = [
      "sagemaker:DescribeEndpoint",
      "sagemaker:DeleteEndpoint",
      "sagemaker:CreateEndpoint",
      "sagemaker:DescribeEndpointConfig",
      "sagemaker:ListTags",
      "sagemaker:AddTags",
      "sagemaker:DeleteTags",
    ]
    resources = [
      local.sagemaker_endpoint_arns,
      local.sagemaker_endpoint_config_arns,
    ]
  }

  # GetCallerIdentity supports no resource-level permissions (and needs none).
  statement {
    sid       = "StsWhoAmI"
    effect    = "Allow"
    actions   = ["sts:GetCallerIdentity"]
    resources = ["*"]
  }

  statement {
    sid       = "OwnLogGroup"
    effect    = "Allow"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.this.arn}:*"]
  }

  # X-Ray trace upload supports no resource-level permissions.
  statement {
    sid       = "XRayTraces"
    effect    = "Allow"
    actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
    resources = ["*"]
  }

  # Failed asynchronous invocations go to the stack's (encrypted) SNS topic,
  # and so does sundown's alert of a failed stop or start when sundown.yaml's
  # notify.sns_topic_arn names that topic.
  statement {
    sid       = "DeadLetterPublish"
    effect    = "Allow"
    actions   = ["sns:Publish"]
    resources = [var.dlq_topic_arn]
  }

  # Decrypt the environment; encrypt dead letters for the topic.
  statement {
    sid       = "StackKey"
    effect    = "Allow"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [var.kms_key_arn]
  }
}

resource "aws_iam_role_policy" "this" {
  name   = "${var.name}-least-privilege"
  role   = aws_iam_role.this.id
  policy = data.aws_iam_policy_document.permissions.json
}

# --- Function ----------------------------------------------------------------

resource "aws_lambda_function" "this" {
  function_name = var.name
  description   = "sundown off-hours scheduler: scales EKS node groups and SageMaker endpoints down at night and back up in the morning"
  role          = aws_iam_role.this.arn

  runtime       = "provided.al2023"
  handler       = "bootstrap"
  architectures = [var.architecture]

  # Without a hash (and without the zip, e.g. on a machine that only runs
  # `terraform destroy`) the deployed code is left as it is.
  filename         = var.package
  source_code_hash = var.package_hash != null ? var.package_hash : (fileexists(var.package) ? filebase64sha256(var.package) : null)

  timeout     = var.timeout
  memory_size = var.memory_size

  # One run at a time: a stop and a start must never overlap.
  reserved_concurrent_executions = var.reserved_concurrency

  kms_key_arn = var.kms_key_arn

  environment {
    variables = {
      SUNDOWN_CONFIG = "sundown.yaml"
    }
  }

  tracing_config {
    mode = var.tracing_mode
  }

  dead_letter_config {
    target_arn = var.dlq_topic_arn
  }

  tags = var.tags

  depends_on = [
    aws_cloudwatch_log_group.this,
    aws_iam_role_policy.this,
  ]
}

# --- Schedules -----------------------------------------------------------------

resource "aws_cloudwatch_event_rule" "stop" {
  name                = "${var.name}-stop"
  description         = "Scale the stack down for the night (UTC)"
  schedule_expression = var.stop_schedule
  tags                = var.tags
}

resource "aws_cloudwatch_event_rule" "start" {
  name                = "${var.name}-start"
  description         = "Scale the stack back up in the morning (UTC)"
  schedule_expression = var.start_schedule
  tags                = var.tags
}

resource "aws_cloudwatch_event_target" "stop" {
  rule      = aws_cloudwatch_event_rule.stop.name
  target_id = "sundown-stop"
  arn       = aws_lambda_function.this.arn
  input     = jsonencode({ action = "stop" })
}

resource "aws_cloudwatch_event_target" "start" {
  rule      = aws_cloudwatch_event_rule.start.name
  target_id = "sundown-start"
  arn       = aws_lambda_function.this.arn
  input     = jsonencode({ action = "start" })
}

resource "aws_lambda_permission" "stop" {
  statement_id   = "AllowEventBridgeStop"
  action         = "lambda:InvokeFunction"
  function_name  = aws_lambda_function.this.function_name
  principal      = "events.amazonaws.com"
  source_arn     = aws_cloudwatch_event_rule.stop.arn
  source_account = local.account_id
}

resource "aws_lambda_permission" "start" {
  statement_id   = "AllowEventBridgeStart"
  action         = "lambda:InvokeFunction"
  function_name  = aws_lambda_function.this.function_name
  principal      = "events.amazonaws.com"
  source_arn     = aws_cloudwatch_event_rule.start.arn
  source_account = local.account_id
}
