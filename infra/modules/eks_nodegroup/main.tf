# A managed SPOT node group over several interchangeable instance types, tagged
# for cluster-autoscaler auto-discovery.

locals {
  autoscaler_tags = {
    "k8s.io/cluster-autoscaler/enabled"             = "true"
    "k8s.io/cluster-autoscaler/${var.cluster_name}" = "owned"
  }
}

resource "aws_eks_node_group" "this" {
  cluster_name    = var.cluster_name
  node_group_name = var.node_group_name
  node_role_arn   = var.node_role_arn
  subnet_ids      = var.subnet_ids

  capacity_type  = "SPOT"
  instance_types = var.instance_types
  ami_type       = var.ami_type
  disk_size      = var.disk_size

  scaling_config {
    min_size     = var.min_size
    max_size     = var.max_size
    desired_size = var.desired_size
  }

  update_config {
    max_unavailable = 1
  }

  labels = var.labels

  tags = merge(var.tags, local.autoscaler_tags)

  lifecycle {
    # The cluster autoscaler and sundown's off-hours scheduler change it.
    ignore_changes = [scaling_config[0].desired_size]

    precondition {
      condition     = var.min_size <= var.desired_size && var.desired_size <= var.max_size
      error_message = "desired_size must lie between min_size and max_size."
    }
  }
}
