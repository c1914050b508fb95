# Root module for the staging environment: deploys only its own entry of var.environments.
locals {
  environment = "staging"
  # Cross-account promotion (deploy/README.md, "Releases"): the environment that promotes from
  # this one with `cross_account_promotion` reads this lake with its release role (read-only
  # grants here), and this one's release role reads its `promote_from`'s lake when it has it.
  promotion_readers = { for k, e in var.environments : k => {
    account_id = e.account_id
    role_arn   = "arn:aws:iam::${e.account_id}:role/${var.project_name}-${k}-release"
  } if e.promote_from == local.environment && e.cross_account_promotion }
  upstream = var.environments[local.environment].promote_from
  promotion_source = var.environments[local.environment].cross_account_promotion && local.upstream != null ? {
    environment = local.upstream
    account_id  = var.environments[local.upstream].account_id
    layers      = var.environments[local.upstream].layers
  } : null
}

module "environment" {
  source            = "../../modules/environment"
  providers         = { aws = aws, aws.backup = aws.backup }
  backup_region     = var.backup_region
  project_name      = var.project_name
  organization      = var.organization
  environment       = local.environment
  region            = var.region
  settings          = var.environments[local.environment]
  shared_services   = var.shared_services
  engine_image_tag  = var.engine_image_tag
  promotion_readers = local.promotion_readers
  promotion_source  = local.promotion_source
  # AWS Config of this account delivers to the shared log archive (envs/shared).
  log_archive_bucket = var.shared_services == null ? null : "${var.project_name}-shared-log-archive-${var.shared_services.account_id}"
}
