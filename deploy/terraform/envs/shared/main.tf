# Root module for the shared services (organisation management / log-archive account).
# Apply this first: the environments peer with its VPC.
locals {
  deploy_role_name = coalesce(var.deploy_role_name, "${var.project_name}-deploy")
}

module "shared_services" {
  source             = "../../modules/shared-services"
  project_name       = var.project_name
  organization       = var.organization
  region             = var.region
  account_id         = var.shared.account_id
  member_account_ids = [for e in values(var.environments) : e.account_id]
  cidr               = var.shared.cidr
  azs                = var.shared.azs
  environment_peerings = { for env, id in var.peering_connection_ids :
  env => { connection_id = id, cidr = var.environments[env].cidr } }
  conformance_packs = var.conformance_packs
  # Each root's deploy role reads and writes only its own state (envs/<root>/).
  state_deployers = merge(
    { shared = { account_id = var.shared.account_id, role_arn = "arn:aws:iam::${var.shared.account_id}:role/${local.deploy_role_name}" } },
    { for env, e in var.environments : env => { account_id = e.account_id, role_arn = "arn:aws:iam::${e.account_id}:role/${local.deploy_role_name}" } },
  )
}
