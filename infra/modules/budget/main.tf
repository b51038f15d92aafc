# Monthly COST budget on the stack's cost-allocation tag, notifying by e-mail
# and SNS when ACTUAL spend crosses each threshold.
#
# The tag (e.g. Project) must be activated as a cost allocation tag in the
# Billing console before the filter matches anything.

resource "aws_budgets_budget" "this" {
  name         = var.name
  budget_type  = "COST"
  limit_amount = tostring(var.limit_amount)
  limit_unit   = "USD"
  time_unit    = "MONTHLY"

  # "user:<tag key>$<tag value>". Written with format() because "$${" in an
  # HCL string is an escape for a literal "${", not "$" plus interpolation.
  cost_filter {
    name   = "TagKeyValue"
    values = [format("user:%s$%s", var.tag_key, var.project)]
  }

  dynamic "notification" {
    for_each = var.thresholds

    content {
      notification_type          = "ACTUAL"
      comparison_operator        = "GREATER_THAN"
      threshold                  = notification.value
      threshold_type             = "PERCENTAGE"
      subscriber_email_addresses = var.emails
      subscriber_sns_topic_arns  = [var.sns_topic_arn]
    }
  }

  tags = var.tags
}
