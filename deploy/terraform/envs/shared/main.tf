# Root module for the shared services (organisation management / log-archive account).
# Apply this first: the environments peer with its VPC.
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
}
