# dev environment of the retail-forecast stack: the cost controls around an
# existing EKS cluster (var.cluster_name). Driven by
# `cargo xtask tf init|plan|apply|destroy --env dev` with -var-file=dev.tfvars.

provider "aws" {
  region = var.region

  default_tags {
    tags = {
      Project     = var.project
      Environment = var.environment
      ManagedBy   = "terraform"
    }
  }
}

# The cluster's endpoint and a short-lived token, for the kubernetes and helm
# providers that the k8s module uses.
data "aws_eks_cluster" "this" {
  name = var.cluster_name
}

data "aws_eks_cluster_auth" "this" {
  name = var.cluster_name
}

provider "kubernetes" {
  host                   = data.aws_eks_cluster.this.endpoint
  cluster_ca_certificate = base64decode(data.aws_eks_cluster.this.certificate_authority[0].data)
  token                  = data.aws_eks_cluster_auth.this.token
}

provider "helm" {
  kubernetes {
    host                   = data.aws_eks_cluster.this.endpoint
    cluster_ca_certificate = base64decode(data.aws_eks_cluster.this.certificate_authority[0].data)
    token                  = data.aws_eks_cluster_auth.this.token
  }
}

data "aws_partition" "current" {}

locals {
  data_bucket_name = coalesce(var.data_bucket_name, "${var.project}-data")
  scheduler_name   = "${var.project}-scheduler"

  # Nodes go where the cluster's control plane ENIs are unless subnets are given.
  node_subnet_ids = length(var.node_subnet_ids) > 0 ? var.node_subnet_ids : tolist(data.aws_eks_cluster.this.vpc_config[0].subnet_ids)

  node_role_arn = var.node_role_arn != null ? var.node_role_arn : aws_iam_role.node[0].arn
  node_policies = var.node_role_arn != null ? [] : [
    "AmazonEKSWorkerNodePolicy",
    "AmazonEKS_CNI_Policy",
    "AmazonEC2ContainerRegistryReadOnly",
  ]
}

# --- EKS spot node groups ------------------------------------------------------

data "aws_iam_policy_document" "node_assume" {
  statement {
    sid     = "EC2Assume"
    effect  = "Allow"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

# Created only when var.node_role_arn is null.
resource "aws_iam_role" "node" {
  count = var.node_role_arn == null ? 1 : 0

  name               = "${var.project}-eks-node"
  description        = "EKS worker nodes of ${var.cluster_name}"
  assume_role_policy = data.aws_iam_policy_document.node_assume.json
}

resource "aws_iam_role_policy_attachment" "node" {
  for_each = toset(local.node_policies)

  role       = aws_iam_role.node[0].name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/${each.value}"
}

module "eks_nodegroup" {
  source   = "../../modules/eks_nodegroup"
  for_each = var.node_groups

  cluster_name    = var.cluster_name
  node_group_name = "${var.project}-${each.key}"
  node_role_arn   = local.node_role_arn
  subnet_ids      = local.node_subnet_ids

  instance_types = each.value.instance_types
  min_size       = each.value.min_size
  max_size       = each.value.max_size
  desired_size   = each.value.desired_size
  labels         = each.value.labels

  # Nodes cannot join before their role has its policies.
  depends_on = [aws_iam_role_policy_attachment.node]
}

# --- ECR ---------------------------------------------------------------------

module "ecr" {
  source = "../../modules/ecr"

  repositories    = var.ecr_repositories
  force_delete    = var.ecr_force_delete
  untagged_keep   = var.ecr_untagged_keep
  tag_prefixes    = var.ecr_tag_prefixes
  per_prefix_keep = var.ecr_per_prefix_keep
  max_images      = var.ecr_max_images
}

# --- S3 data bucket --------------------------------------------------------------

module "s3_data" {
  source = "../../modules/s3_data"

  bucket_name    = local.data_bucket_name
  force_destroy  = var.data_bucket_force_destroy
  tiering_prefix = var.tiering_prefix
}

# --- Notifications (SNS topic + the stack's KMS key) ---------------------------

module "notifications" {
  source = "../../modules/notifications"

  name   = "${var.project}-alerts"
  region = var.region
}

# --- Log groups with retention -----------------------------------------------------

module "logs" {
  source = "../../modules/logs"

  log_group_names   = var.log_group_names
  retention_in_days = var.log_retention_days
  kms_key_arn       = module.notifications.kms_key_arn
}

# --- Budget ----------------------------------------------------------------------

module "budget" {
  source = "../../modules/budget"

  name          = "${var.project}-monthly"
  project       = var.project
  limit_amount  = var.budget_limit_usd
  thresholds    = var.budget_thresholds
  emails        = var.budget_emails
  sns_topic_arn = module.notifications.topic_arn
}

# --- Off-hours scheduler -----------------------------------------------------------

# The package: bootstrap (sundown built with its `lambda` feature) and
# sundown.yaml, staged together in var.scheduler_source_dir. Zipped only when
# the build is there, so `terraform destroy` (sundown's teardown) also runs on
# machines that never built it.
locals {
  scheduler_built = fileexists("${var.scheduler_source_dir}/bootstrap")
}

data "archive_file" "scheduler" {
  count = local.scheduler_built ? 1 : 0

  type        = "zip"
  source_dir  = var.scheduler_source_dir
  output_path = var.scheduler_package
}

module "scheduler" {
  source = "../../modules/scheduler"

  name                 = local.scheduler_name
  region               = var.region
  package              = var.scheduler_package
  package_hash         = local.scheduler_built ? data.archive_file.scheduler[0].output_base64sha256 : null
  architecture         = var.scheduler_architecture
  reserved_concurrency = var.scheduler_reserved_concurrency
  cluster_name         = var.cluster_name
  endpoint_prefix      = var.endpoint_prefix
  stop_schedule        = var.stop_schedule
  start_schedule       = var.start_schedule
  retention_in_days    = var.log_retention_days
  kms_key_arn          = module.notifications.kms_key_arn
  dlq_topic_arn        = module.notifications.topic_arn
}

# --- Kubernetes: PodDisruptionBudget + cluster autoscaler ---------------------------

# A separate module with its own providers (configured above from the cluster's
# credentials). Turn it off with enable_k8s = false when the cluster's API is
# not reachable from where Terraform runs.
module "k8s" {
  source = "../../k8s"
  count  = var.enable_k8s ? 1 : 0

  cluster_name             = var.cluster_name
  region                   = var.region
  autoscaler_role_arn      = var.autoscaler_role_arn
  autoscaler_chart_version = var.autoscaler_chart_version

  depends_on = [module.eks_nodegroup]
}
