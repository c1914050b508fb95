# Root module for the shared services (organisation management / log-archive account).
# Apply this first: the environments peer with its VPC. Its values and the environments' accounts,
# CIDRs and peerings come from the platform's one definition (deploy/terraform/platform.yaml).
locals {
  deploy_role_name = coalesce(var.deploy_role_name, "${module.platform.project_name}-deploy")
  shared           = module.platform.shared
}

module "platform" {
  source     = "../../modules/platform"
  root       = "shared"
  definition = yamldecode(file("${path.module}/../../platform.yaml"))
}

module "shared_services" {
  source                    = "../../modules/shared-services"
  project_name              = module.platform.project_name
  organization              = module.platform.organization
  region                    = module.platform.region
  account_id                = local.shared.account_id
  member_account_ids        = values(module.platform.environment_accounts)
  cidr                      = local.shared.cidr
  azs                       = local.shared.azs
  log_retention_days        = local.shared.log_retention_days
  archive_retention_days    = local.shared.archive_retention_days
  object_lock_days          = local.shared.archive_object_lock_days
  access_log_retention_days = local.shared.access_log_retention_days
  monthly_budget_usd        = local.shared.monthly_budget_usd
  environment_peerings      = module.platform.environment_peerings
  conformance_packs         = local.shared.conformance_packs
  # Each root's deploy role reads and writes only its own state (envs/<root>/).
  state_deployers = merge(
    { shared = { account_id = local.shared.account_id, role_arn = "arn:aws:iam::${local.shared.account_id}:role/${local.deploy_role_name}" } },
    { for env, acct in module.platform.environment_accounts : env => { account_id = acct, role_arn = "arn:aws:iam::${acct}:role/${local.deploy_role_name}" } },
  )
}
