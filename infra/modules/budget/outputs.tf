output "budget_name" {
  description = "Name of the monthly cost budget."
  value       = aws_budgets_budget.this.name
}

output "cost_filter" {
  description = "The TagKeyValue filter value the budget uses (user:<key>$<value>)."
  value       = format("user:%s$%s", var.tag_key, var.project)
}
