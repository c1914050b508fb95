# Root module for the prod environment: deploys only its own entry of the platform's one
# environments definition (deploy/terraform/platform.yaml, read through modules/platform).
locals {
  environment = "prod"
}

module "platform" {
  source     = "../../modules/platform"
  root       = local.environment
  definition = yamldecode(file("${path.module}/../../platform.yaml"))
}

module "environment" {
  source            = "../../modules/environment"
  providers         = { aws = aws, aws.backup = aws.backup }
  backup_region     = module.platform.backup_region
  project_name      = module.platform.project_name
  organization      = module.platform.organization
  environment       = local.environment
  region            = module.platform.region
  settings          = module.platform.settings
  shared_services   = module.platform.shared_services
  engine_image_tag  = var.engine_image_tag
  promotion_readers = module.platform.promotion_readers
  promotion_source  = module.platform.promotion_source
  # AWS Config of this account delivers to the shared log archive (envs/shared).
  log_archive_bucket = module.platform.log_archive_bucket
}
