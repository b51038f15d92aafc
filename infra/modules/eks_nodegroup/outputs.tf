output "node_group_name" {
  description = "Name of the node group."
  value       = aws_eks_node_group.this.node_group_name
}

output "node_group_arn" {
  description = "ARN of the node group."
  value       = aws_eks_node_group.this.arn
}

output "autoscaler_tags" {
  description = "The cluster-autoscaler auto-discovery tags put on the node group."
  value       = local.autoscaler_tags
}
