terraform {
  # The same minimum as infra/envs/dev, whose S3 backend (use_lockfile) needs 1.10.
  required_version = ">= 1.10"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.50, < 7.0"
    }
  }

  # No backend block: this module's own state is local (terraform.tfstate in
  # this directory, git-ignored). An administrator applies it once per account,
  # before the first `terraform init` of infra/envs/dev, and the bucket it
  # creates cannot hold the state of the run that creates it.
}
