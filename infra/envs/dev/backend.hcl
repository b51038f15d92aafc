# Settings of the S3 backend declared in versions.tf, for
# terraform init -backend-config=backend.hcl (cargo xtask tf init passes it).

# The state bucket infra/bootstrap creates: replace 123456789012 with your AWS account id.
bucket = "retail-forecast-tfstate-123456789012"
# Where this environment's state lives in the bucket; the lock file is this key plus ".tflock".
key = "envs/dev/terraform.tfstate"
# The bucket's region, which is also the stack's region.
region = "us-east-1"
# Asks S3 to encrypt the state and its lock file at rest (SSE-S3, as no kms_key_id is set).
encrypt = true
# Locks the state with a lock object next to it in the same bucket, so no DynamoDB table is needed (Terraform >= 1.10).
use_lockfile = true
