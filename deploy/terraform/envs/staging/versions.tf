terraform {
  required_version = ">= 1.11.0"
  # Remote state in the shared-services account's state bucket (modules/state-backend):
  # `terraform init -backend-config=backend.hcl` (copy backend.hcl.example). CI plans offline
  # with a local backend override (deploy/ci/check.sh).
  backend "s3" {}
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "= 5.100.0"
    }
  }
}
