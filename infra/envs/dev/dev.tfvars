# dev environment. Used as: terraform plan|apply|destroy -var-file=dev.tfvars
# (cargo xtask tf ... --env dev). Values not set here take their defaults in variables.tf.

project     = "retail-forecast"
environment = "dev"
region      = "us-east-1"

cluster_name = "retail-forecast-cluster"

node_groups = {
  spot = {
    instance_types = ["m5.large", "m5a.large", "m6i.large"]
    min_size       = 0
    max_size       = 3
    desired_size   = 1
    labels         = { pool = "spot" }
  }
}

ecr_repositories = ["retail-forecast", "mlops/retail-api"]

tiering_prefix            = "data/"
data_bucket_force_destroy = false

log_retention_days = 30

budget_limit_usd  = 100
budget_thresholds = [80, 100]
budget_emails     = []

endpoint_prefix        = "retail-forecast"
stop_schedule          = "cron(0 19 * * ? *)"
start_schedule         = "cron(0 7 * * ? *)"
scheduler_architecture = "arm64"
