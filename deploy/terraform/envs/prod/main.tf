# Root module for the prod environment: deploys only its own entry of var.environments.
locals {
  environment = "prod"
}

module "environment" {
  source           = "../../modules/environment"
  project_name     = var.project_name
  organization     = var.organization
  environment      = local.environment
  region           = var.region
  settings         = var.environments[local.environment]
  shared_services  = var.shared_services
  engine_image_tag = var.engine_image_tag
}
