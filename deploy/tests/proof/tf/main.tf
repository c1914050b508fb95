# The proof root: the environment module's storage, KMS, Glue and IAM part (modules/lake, with
# the arguments modules/environment gives it, from platform.yaml) for dev, staging and prod,
# applied to a local AWS API (moto in server mode with IAM enforcement;
# deploy/tests/proof/run.sh). One account here, so only IAM keeps the environments apart: a
# stricter test than separate accounts. What differs from modules/environment's call, and why:
# the account (moto's one) and so the promotion grants' accounts; the catalog encryption owner
# (per account, below); staging's vacuum_hours (below); the log group prefix written out (the
# environment module's local); no Kafka brokers, MSK IAM statements or Ballista scheduler (no
# MSK, no cluster here: the stream runs against the local broker without auth).
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
  region                      = module.platform["dev"].region
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
  region                      = module.platform["dev"].backup_region
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

# The environments' values from the platform's one definition (deploy/terraform/platform.yaml),
# as each environment root reads them (modules/platform). Only the account (moto's one) and the
# catalog encryption owner differ here, and staging vacuums at once (below).
module "platform" {
  for_each   = toset(["dev", "staging", "prod"])
  source     = "../../../terraform/modules/platform"
  root       = each.key
  definition = yamldecode(file("${path.module}/../../../terraform/platform.yaml"))
}

locals {
  settings = { for e, m in module.platform : e => m.settings }
  region   = module.platform["dev"].region
  backups  = { for e, s in local.settings : e => s.backup if s.backup != null }
  # The Glue catalog's encryption settings are per account; in this one-account proof only
  # staging owns them (in the real platform every environment has its own account).
  catalog = { dev = false, staging = true, prod = false }
  # Only here: staging's `medallion maintain` vacuums removed files in the same run (the engine
  # VACUUMs by the real clock, default 168 hours), so that the proof sees the maintain role
  # delete data files under IAM enforcement.
  retention = { staging = { vacuum_hours = 0 } }
}

module "backup" {
  for_each                  = local.backups
  source                    = "../../../terraform/modules/backup"
  providers                 = { aws = aws.backup }
  project_name              = module.platform[each.key].project_name
  organization              = module.platform[each.key].organization
  environment               = each.key
  account_id                = var.account_id
  region                    = module.platform[each.key].backup_region
  lake_region               = local.region
  retention_days            = each.value.retention_days
  access_log_retention_days = local.settings[each.key].retention_days
  writer_role_arn           = "arn:aws:iam::${var.account_id}:role/medallion-${each.key}-backup-task"
  reader_role_arn           = "arn:aws:iam::${var.account_id}:role/medallion-${each.key}-restore"
}

module "lake" {
  for_each                = local.settings
  source                  = "../../../terraform/modules/lake"
  project_name            = module.platform[each.key].project_name
  organization            = module.platform[each.key].organization
  environment             = each.key
  region                  = local.region
  account_id              = var.account_id
  layers                  = each.value.layers
  retention_days          = each.value.retention_days
  noncurrent_version_days = each.value.noncurrent_version_days
  transitions             = each.value.transitions
  release_principals      = each.value.release_principals
  streaming               = each.value.enable_streaming
  # Object Lock on the lake bucket, retention of audit records (the definition's).
  # moto 5.2.5 creates Object Lock buckets and enforces both modes: nothing is switched off here.
  audit_object_lock = each.value.audit_object_lock
  # Promotion (the definition's): staging runs only releases promoted from dev, prod only those
  # promoted from staging; each gets a release role.
  promote_from              = each.value.promote_from
  gates                     = each.value.gates
  manage_catalog_encryption = local.catalog[each.key]
  retention                 = lookup(local.retention, each.key, {})
  # Cross-account promotion staging -> prod (the definition's cross_account_promotion): staging
  # grants prod's release role read access, prod's release role reads staging's lake (all in
  # moto's one account here).
  promotion_readers = { for k, r in module.platform[each.key].promotion_readers : k => {
    account_id = var.account_id
    role_arn   = "arn:aws:iam::${var.account_id}:role/medallion-${k}-release"
  } }
  promotion_source = module.platform[each.key].promotion_source == null ? null : {
    environment = module.platform[each.key].promotion_source.environment
    account_id  = var.account_id
    layers      = module.platform[each.key].promotion_source.layers
  }
  log_group_prefix = "/medallion-${each.key}"
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
    # the backup alarm's metric filter pattern (modules/environment counts it)
    taken_pattern = b.taken_pattern
  } }
}
