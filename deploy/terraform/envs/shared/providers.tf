provider "aws" {
  region = var.region

  # Only for offline CI plans (fake credentials); never set for a real apply.
  skip_credentials_validation = var.offline_plan
  skip_requesting_account_id  = var.offline_plan
  skip_metadata_api_check     = var.offline_plan
  skip_region_validation      = var.offline_plan

  default_tags {
    tags = {
      project      = var.project_name
      organization = var.organization
      managed-by   = "terraform"
    }
  }
}
