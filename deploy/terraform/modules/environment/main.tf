locals {
  env     = var.environment
  name    = "${var.project_name}-${var.environment}"
  account = var.settings.account_id
  region  = var.region

  tags = {
    project      = var.project_name
    environment  = var.environment
    organization = var.organization
    managed-by   = "terraform"
  }

  msk_name         = "${local.name}-msk"
  log_group_prefix = "/${local.name}"

  # The stream job the stream service runs, and the Kafka names the engine uses for it:
  # its topics and its consumer group (the job's `group_id`, default
  # `medallion.<environment>.<pipeline>`). check.sh (MED-005) compares them with the job file.
  stream_group = coalesce(var.stream_job.group_id, "medallion.${local.env}.${var.stream_job.pipeline}")
}

# Storage, KMS, Glue, the engine task roles and the rendered engine configuration.
module "lake" {
  source                  = "../lake"
  project_name            = var.project_name
  organization            = var.organization
  environment             = var.environment
  region                  = var.region
  account_id              = local.account
  layers                  = var.settings.layers
  retention_days          = var.settings.retention_days
  audit_object_lock       = var.settings.audit_object_lock
  noncurrent_version_days = var.settings.noncurrent_version_days
  transitions             = var.settings.transitions
  promote_from            = var.settings.promote_from
  gates                   = var.settings.gates
  retention               = var.settings.retention
  release_principals      = var.settings.release_principals
  promotion_readers       = var.promotion_readers
  promotion_source        = var.promotion_source
  streaming               = var.settings.enable_streaming
  kafka_brokers           = var.settings.enable_streaming ? aws_msk_cluster.this[0].bootstrap_brokers_sasl_iam : null
  log_group_prefix        = local.log_group_prefix
  stream_extra_statements = local.stream_kafka_statements
  ballista_scheduler      = local.cluster_on ? local.ballista_scheduler_url : null
  landing                 = var.settings.landing
  backup = local.backup_on ? {
    bucket      = module.backup[0].bucket
    region      = module.backup[0].region
    prefix      = module.backup[0].prefix
    kms_key_arn = module.backup[0].kms_key_arn
  } : null
}

# Backups in a second region (docs/backup.md; deploy/README.md, "Backups and disaster
# recovery"): the bucket and its own key; the backup and restore roles are in modules/lake, the
# scheduled backup task and the restore tasks in compute.tf, its alarm in monitoring.tf.
locals {
  backup_on = var.settings.backup != null
}

module "backup" {
  count                     = local.backup_on ? 1 : 0
  source                    = "../backup"
  providers                 = { aws = aws.backup }
  project_name              = var.project_name
  organization              = var.organization
  environment               = var.environment
  account_id                = local.account
  region                    = var.backup_region
  lake_region               = var.region
  retention_days            = var.settings.backup.retention_days
  access_log_retention_days = var.settings.retention_days
  # The roles' ARNs, known before they exist (modules/lake/backup.tf names them so).
  writer_role_arn = "arn:aws:iam::${local.account}:role/${local.name}-backup-task"
  reader_role_arn = "arn:aws:iam::${local.account}:role/${local.name}-restore"
}
