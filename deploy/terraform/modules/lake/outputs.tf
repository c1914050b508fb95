output "kms_key_arn" {
  description = "The environment's customer-managed key (the engine's `kms_key`)."
  value       = aws_kms_key.this.arn
}

output "kms_key_id" {
  value = aws_kms_key.this.key_id
}

output "kms_alias" {
  value = aws_kms_alias.this.name
}

output "kms_key_rotation" {
  value = aws_kms_key.this.enable_key_rotation
}

output "lake_bucket" {
  description = "The lake bucket; layers are its prefixes."
  value       = module.lake_bucket.bucket
}

output "lake_bucket_arn" {
  value = module.lake_bucket.arn
}

output "lake_sse_kms_key" {
  description = "KMS key of the lake bucket's default encryption."
  value       = module.lake_bucket.sse_kms_key
}

output "lake_current_version_expiration_days" {
  description = "Expiry of current lake objects by S3 lifecycle (must stay null: retention is the engine's)."
  value       = one(flatten([for r in module.lake_bucket.lifecycle_rules : [for e in r.expiration : e.days if e.days != null && e.days > 0] if try(r.filter[0].prefix, null) == null || try(r.filter[0].prefix, "") == ""]))
}

output "lake_prefix_expirations" {
  description = "Expiry of current objects under one prefix only (with a cluster: the run files under _medallion/tmp/; never a layer): prefix => days."
  value       = { for r in module.lake_bucket.lifecycle_rules : r.filter[0].prefix => r.expiration[0].days if try(r.filter[0].prefix, "") != "" && try(r.filter[0].prefix, null) != null }
}

output "lake_noncurrent_version_days" {
  description = "The longest noncurrent-version expiry of the lake's lifecycle rules (null: none expires them)."
  value       = try(max([for r in module.lake_bucket.lifecycle_rules : r.noncurrent_version_expiration[0].noncurrent_days if length(r.noncurrent_version_expiration) > 0]...), null)
}

output "access_log_bucket" {
  value = module.access_logs.bucket
}

output "access_log_bucket_expiration_days" {
  value = module.access_logs.expiration_days
}

output "glue_database_prefix" {
  description = "The engine's `catalog.glue.database_prefix`."
  value       = local.glue_database_prefix
}

output "glue_databases" {
  value = { for l, d in aws_glue_catalog_database.layer : l => d.name }
}

output "batch_task_role_arn" {
  value = aws_iam_role.batch_task.arn
}

output "batch_task_role_name" {
  value = aws_iam_role.batch_task.name
}

output "stream_task_role_arn" {
  value = one(aws_iam_role.stream_task[*].arn)
}

output "stream_task_role_name" {
  value = one(aws_iam_role.stream_task[*].name)
}

output "maintain_task_role_arn" {
  description = "The role of the scheduled `medallion maintain` (retention, VACUUM)."
  value       = aws_iam_role.maintain_task.arn
}

output "maintain_task_role_name" {
  value = aws_iam_role.maintain_task.name
}

output "engine_role_arns" {
  value = local.engine_role_arns
}

output "engine_environment" {
  description = "This environment's entry of the engine configuration (environments.yaml)."
  value       = local.engine_environment
}

output "engine_environment_static" {
  description = "The part of engine_environment known before apply (all but kms_key and kafka)."
  value       = local.engine_environment_static
}

output "engine_config_yaml" {
  description = "The engine configuration (an environments.yaml with this one environment)."
  value       = local.engine_config_yaml
}

output "engine_config_uri" {
  description = "Where the engine configuration is stored (the task definitions' MEDALLION_ENVIRONMENTS)."
  value       = "s3://${local.bucket_name}/${local.config_key}"
}

output "resource_names" {
  description = "Names of the lake's named resources."
  value = concat(
    [local.bucket_name, local.log_bucket_name, aws_kms_alias.this.name],
    values(local.glue_db_names),
    [for r in concat([aws_iam_role.batch_task, aws_iam_role.maintain_task, aws_iam_role.operator], aws_iam_role.stream_task, aws_iam_role.release, aws_iam_role.backup_task, aws_iam_role.restore) : r.name],
  )
}

output "bucket_policy" {
  description = "The lake bucket policy (JSON)."
  value       = module.lake_bucket.policy
}

output "task_policies" {
  description = "The engine task roles' policies (JSON), by role kind (`<kind>-audit`: the audit-trail policy; `maintain-key`: the maintain role's KMS policy)."
  value = merge(
    { batch = aws_iam_role_policy.batch_task.policy },
    { for p in aws_iam_role_policy.stream_task : "stream" => p.policy },
    { batch-audit = aws_iam_role_policy.batch_task_audit.policy },
    { for p in aws_iam_role_policy.stream_task_audit : "stream-audit" => p.policy },
    { batch-ledger = aws_iam_role_policy.batch_task_ledger.policy },
    { for p in aws_iam_role_policy.stream_task_ledger : "stream-ledger" => p.policy },
    { maintain = aws_iam_role_policy.maintain_task.policy },
    { maintain-key = aws_iam_role_policy.maintain_task_key.policy },
    { maintain-audit = aws_iam_role_policy.maintain_task_audit.policy },
  )
}

output "lake_object_lock_enabled" {
  description = "Object Lock is enabled on the lake bucket (the engine locks its audit records per object)."
  value       = module.lake_bucket.object_lock_enabled
}

output "lake_default_retention_rules" {
  description = "Default Object Lock retention rules of the lake bucket (must stay 0: only audit records are locked, by the engine)."
  value       = module.lake_bucket.default_retention_rules
}

output "lake_versioning" {
  value = module.lake_bucket.versioning
}

output "audit_object_lock" {
  description = "The Object Lock retention the engine puts on each audit record (rendered as `audit.object_lock`)."
  value       = var.audit_object_lock
}

output "release_role_arn" {
  description = "The role that records promotions into this environment (`medallion promote --apply`); null without promote_from."
  value       = one(aws_iam_role.release[*].arn)
}

output "release_role_name" {
  value = one(aws_iam_role.release[*].name)
}

output "release_policies" {
  description = "The release role's policies (JSON): `release` (S3 and Glue, known at plan time), `release-key` (KMS) and `release-upstream` (read of the upstream lake in another account, with promotion_source)."
  value = merge(
    { for p in aws_iam_role_policy.release : "release" => p.policy },
    { for p in aws_iam_role_policy.release_key : "release-key" => p.policy },
    { for p in aws_iam_role_policy.release_upstream : "release-upstream" => p.policy },
  )
}

output "promotion" {
  description = "promote_from and gates as rendered into the engine configuration."
  value       = local.promotion
}

output "promotion_read_grants" {
  description = "The lake bucket policy's read-only grants to the next environment's release role (cross-account promotion; JSON statements, known at plan time)."
  value       = jsonencode(local.promotion_read_grants)
}

output "operator_role_arn" {
  description = "The restore runbook's role (human, MFA)."
  value       = aws_iam_role.operator.arn
}

output "backup_task_role_arn" {
  description = "The role of the scheduled `medallion backup`; null without backups."
  value       = one(aws_iam_role.backup_task[*].arn)
}

output "backup_task_role_name" {
  value = one(aws_iam_role.backup_task[*].name)
}

output "restore_role_arn" {
  description = "The break-glass role that runs `medallion restore` (human, MFA); null without backups."
  value       = one(aws_iam_role.restore[*].arn)
}

output "restore_role_name" {
  value = one(aws_iam_role.restore[*].name)
}

output "backup_role_arns" {
  description = "The ARNs the backup and restore roles will have (known at plan time, for the backup key policy)."
  value       = { writer = local.backup_role_arn, reader = local.restore_role_arn }
}

output "backup_policies" {
  description = "The backup and restore roles' policies (JSON): `backup`, `restore` (S3 and Glue, known at plan time), `backup-keys`, `restore-keys`."
  value = merge(
    { for p in aws_iam_role_policy.backup_task : "backup" => p.policy },
    { for p in aws_iam_role_policy.backup_task_key : "backup-keys" => p.policy },
    { for p in aws_iam_role_policy.restore : "restore" => p.policy },
    { for p in aws_iam_role_policy.restore_key : "restore-keys" => p.policy },
  )
}

output "promotion_catalog_policy" {
  description = "The Glue catalog's resource policy (JSON): read-only grants to the next environment's release role (cross-account promotion); null without promotion_readers."
  value       = one(aws_glue_resource_policy.promotion[*].policy)
}

output "cluster_task_role_arn" {
  description = "The Ballista scheduler's and executors' task role (reads the lake; null without a cluster)."
  value       = local.cluster_on ? aws_iam_role.cluster_task[0].arn : null
}

output "cluster_task_role_name" {
  value = local.cluster_on ? aws_iam_role.cluster_task[0].name : null
}

output "cluster_policies" {
  description = "With a cluster: the cluster role's policy and the batch role's share policy (JSON), for the tests and MED-018."
  value = local.cluster_on ? {
    cluster_task = aws_iam_role_policy.cluster_task[0].policy
    batch_share  = aws_iam_role_policy.batch_task_cluster_share[0].policy
  } : null
}

output "landing_policy" {
  description = "The batch task role's read-only grant on the landing locations (JSON; null without `landing`): the tests and MED-019."
  value       = length(var.landing) > 0 ? aws_iam_role_policy.batch_task_landing[0].policy : null
}

output "kafka_auth" {
  description = "The rendered engine configuration's kafka.auth (null without streaming); known at plan time, unlike the brokers."
  value       = var.streaming ? local.kafka_auth : null
}
