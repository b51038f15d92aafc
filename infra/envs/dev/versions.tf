terraform {
  required_version = ">= 1.5"

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

  # State is local (terraform.tfstate in this directory, git-ignored).
  # For a shared environment, keep it in S3 with native locking (Terraform >= 1.10):
  #
  # backend "s3" {
  #   bucket       = "retail-forecast-tfstate"
  #   key          = "envs/dev/terraform.tfstate"
  #   region       = "us-east-1"
  #   encrypt      = true
  #   use_lockfile = true
  # }
}
