variable "name" {
  description = "Name of the budget."
  type        = string
  default     = "retail-forecast-monthly"
}

variable "project" {
  description = "Value of the cost-allocation tag the budget filters on."
  type        = string
  default     = "retail-forecast"
}

variable "tag_key" {
  description = "Key of the cost-allocation tag the budget filters on (user:<key>$<project>)."
  type        = string
  default     = "Project"
}

variable "limit_amount" {
  description = "Monthly budget in USD."
  type        = number
  default     = 100
}

variable "thresholds" {
  description = "Percentages of the limit at which ACTUAL-spend notifications are sent."
  type        = list(number)
  default     = [80, 100]
}

variable "emails" {
  description = "E-mail addresses notified at each threshold (may be empty when the SNS topic has subscribers)."
  type        = list(string)
  default     = []
}

variable "sns_topic_arn" {
  description = "SNS topic notified at each threshold; its policy must let budgets.amazonaws.com publish."
  type        = string
}

variable "tags" {
  description = "Extra tags for the budget (the provider's default_tags are added on top)."
  type        = map(string)
  default     = {}
}
