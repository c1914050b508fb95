provider "aws" {
  region = module.platform.region

  # Deploy guards: Terraform runs as the dev account's deploy role, and refuses any other account
  # (a wrong profile or role cannot apply dev elsewhere). Off only for offline CI plans.
  allowed_account_ids = var.offline_plan ? null : [module.platform.account_id]
  dynamic "assume_role" {
    for_each = var.offline_plan ? [] : [module.platform.account_id]
    content {
      role_arn     = "arn:aws:iam::${assume_role.value}:role/${coalesce(var.deploy_role_name, "${module.platform.project_name}-deploy")}"
      session_name = "terraform-dev"
    }
  }

  # Only for offline CI plans (fake credentials); never set for a real apply.
  skip_credentials_validation = var.offline_plan
  skip_requesting_account_id  = var.offline_plan
  skip_metadata_api_check     = var.offline_plan
  skip_region_validation      = var.offline_plan

  default_tags {
    tags = {
      project      = module.platform.project_name
      organization = module.platform.organization
      managed-by   = "terraform"
    }
  }
}

# The backup region (modules/backup): the same account and deploy role, another region.
provider "aws" {
  alias  = "backup"
  region = module.platform.backup_region

  # Deploy guards: Terraform runs as the dev account's deploy role, and refuses any other account
  # (a wrong profile or role cannot apply dev elsewhere). Off only for offline CI plans.
  allowed_account_ids = var.offline_plan ? null : [module.platform.account_id]
  dynamic "assume_role" {
    for_each = var.offline_plan ? [] : [module.platform.account_id]
    content {
      role_arn     = "arn:aws:iam::${assume_role.value}:role/${coalesce(var.deploy_role_name, "${module.platform.project_name}-deploy")}"
      session_name = "terraform-dev-backup"
    }
  }

  # Only for offline CI plans (fake credentials); never set for a real apply.
  skip_credentials_validation = var.offline_plan
  skip_requesting_account_id  = var.offline_plan
  skip_metadata_api_check     = var.offline_plan
  skip_region_validation      = var.offline_plan

  default_tags {
    tags = {
      project      = module.platform.project_name
      organization = module.platform.organization
      managed-by   = "terraform"
    }
  }
}
