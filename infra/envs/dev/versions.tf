terraform {
  # 1.10 is the first release with the S3 backend's native lock file (use_lockfile).
  required_version = ">= 1.10"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.50, < 7.0"
    }
    archive = {
      source  = "hashicorp/archive"
      version = "~> 2.4"
    }
    # For the k8s module (../../k8s).
    kubernetes = {
      source  = "hashicorp/kubernetes"
      version = "~> 2.35"
    }
    helm = {
      source  = "hashicorp/helm"
      version = "~> 2.17"
    }
  }

  # State lives in S3 so that every runner and laptop sees the same state.
  # The settings are in backend.hcl (partial configuration):
  # terraform init -backend-config=backend.hcl (cargo xtask tf init passes it).
  # The bucket is created once with infra/bootstrap.
  backend "s3" {}
}
