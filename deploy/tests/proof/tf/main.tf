# The proof root: the environment module's storage, KMS, Glue and IAM part (modules/lake,
# exactly as modules/environment uses it) for dev, staging and prod, applied to a local AWS
# API (moto in server mode with IAM enforcement; deploy/tests/proof/run.sh). One account
# here, so only IAM keeps the environments apart: a stricter test than separate accounts.
terraform {
  required_version = ">= 1.11.0"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "= 5.100.0"
    }
  }
}

variable "endpoint" {
  description = "The local AWS API (moto)."
  type        = string
}

variable "account_id" {
  description = "moto's account."
  type        = string
  default     = "123456789012"
}

provider "aws" {
  region                      = "eu-west-1"
  s3_use_path_style           = true
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  skip_region_validation      = true
  endpoints {
    s3   = var.endpoint
    iam  = var.endpoint
    sts  = var.endpoint
    kms  = var.endpoint
    glue = var.endpoint
  }
}

# The backup region (modules/backup): the same local API, another region.
provider "aws" {
  alias                       = "backup"
  region                      = "eu-central-1"
  s3_use_path_style           = true
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  skip_region_validation      = true
  endpoints {
    s3   = var.endpoint
    iam  = var.endpoint
    sts  = var.endpoint
    kms  = var.endpoint
    glue = var.endpoint
  }
}

locals {
  # Backups as envs/*/terraform.tfvars.example: staging 14 days, prod 35 days; dev none.
  backups = {
    staging = { retention_days = 14 }
    prod    = { retention_days = 35 }
  }
  envs = {
    dev     = { retention_days = 30, layers = ["bronze"], streaming = false, catalog = false, audit_lock = { mode = "governance", days = 30 }, promote_from = null, gates = {} }
    staging = { retention_days = 90, layers = ["bronze", "silver", "gold"], streaming = true, catalog = true, audit_lock = { mode = "governance", days = 365 }, promote_from = "dev", gates = { max_quarantine_ratio = 0.5 }, retention = { vacuum_hours = 0 } }
    prod    = { retention_days = 2555, layers = ["bronze", "silver", "gold"], streaming = true, catalog = false, audit_lock = { mode = "compliance", days = 2555 }, promote_from = "staging", gates = { max_quarantine_ratio = 0.5, max_duration_s = 900 } }
  }
}

module "backup" {
  for_each                  = local.backups
  source                    = "../../../terraform/modules/backup"
  providers                 = { aws = aws.backup }
  project_name              = "medallion"
  organization              = "proof"
  environment               = each.key
  account_id                = var.account_id
  region                    = "eu-central-1"
  lake_region               = "eu-west-1"
  retention_days            = each.value.retention_days
  access_log_retention_days = local.envs[each.key].retention_days
  writer_role_arn           = "arn:aws:iam::${var.account_id}:role/medallion-${each.key}-backup-task"
  reader_role_arn           = "arn:aws:iam::${var.account_id}:role/medallion-${each.key}-restore"
}

module "lake" {
  for_each       = local.envs
  source         = "../../../terraform/modules/lake"
  project_name   = "medallion"
  organization   = "proof"
  environment    = each.key
  region         = "eu-west-1"
  account_id     = var.account_id
  layers         = each.value.layers
  retention_days = each.value.retention_days
  streaming      = each.value.streaming
  # Object Lock on the lake bucket, retention of audit records (as envs/*/terraform.tfvars.example).
  # moto 5.2.5 creates Object Lock buckets and enforces both modes: nothing is switched off here.
  audit_object_lock = each.value.audit_lock
  # Promotion as envs/*/terraform.tfvars.example: staging runs only releases promoted from dev,
  # prod only those promoted from staging; each gets a release role.
  promote_from = each.value.promote_from
  gates        = each.value.gates
  # The Glue catalog's encryption settings are per account; in this one-account proof only
  # staging owns them (in the real platform every environment has its own account).
  manage_catalog_encryption = each.value.catalog
  # Only here: staging's `medallion maintain` vacuums removed files in the same run (the engine
  # VACUUMs by the real clock, default 168 hours), so that the proof sees the maintain role
  # delete data files under IAM enforcement.
  retention = try(each.value.retention, {})
  # Cross-account promotion staging -> prod (as envs/*: prod has cross_account_promotion): staging
  # grants prod's release role read access, prod's release role reads staging's lake.
  promotion_readers = each.key == "staging" ? { prod = { account_id = var.account_id, role_arn = "arn:aws:iam::${var.account_id}:role/medallion-prod-release" } } : {}
  promotion_source  = each.key == "prod" ? { environment = "staging", account_id = var.account_id, layers = local.envs.staging.layers } : null
  log_group_prefix  = "/medallion-${each.key}"
  # as modules/environment passes it
  backup = contains(keys(local.backups), each.key) ? {
    bucket      = module.backup[each.key].bucket
    region      = module.backup[each.key].region
    prefix      = module.backup[each.key].prefix
    kms_key_arn = module.backup[each.key].kms_key_arn
  } : null
}

output "engine_config_yaml" {
  value = { for e, m in module.lake : e => m.engine_config_yaml }
}

output "engine_config_uri" {
  value = { for e, m in module.lake : e => m.engine_config_uri }
}

output "lake" {
  value = { for e, m in module.lake : e => {
    bucket         = m.lake_bucket
    kms_key_arn    = m.kms_key_arn
    kms_alias      = m.kms_alias
    glue_databases = m.glue_databases
    batch_role_arn = m.batch_task_role_arn
    batch_role     = m.batch_task_role_name
    stream_role    = m.stream_task_role_name
    audit_lock     = m.audit_object_lock
    release_role   = m.release_role_name
    maintain_role  = m.maintain_task_role_name
    maintain_arn   = m.maintain_task_role_arn
    backup_role    = m.backup_task_role_name
    restore_role   = m.restore_role_name
  } }
}

output "backup" {
  value = { for e, b in module.backup : e => {
    bucket      = b.bucket
    kms_key_arn = b.kms_key_arn
    region      = b.region
    locations   = b.locations
    policy      = b.bucket_policy
  } }
}
