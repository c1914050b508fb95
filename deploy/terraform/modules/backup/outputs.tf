output "bucket" {
  description = "The backup bucket (in the backup region)."
  value       = module.bucket.bucket
}

output "bucket_arn" {
  value = module.bucket.arn
}

output "region" {
  value = local.region
}

output "prefix" {
  description = "The environment's prefix in the bucket (`<env>/`); each generation is a backup location under it."
  value       = local.prefix
}

output "kms_key_arn" {
  description = "The backup key (`medallion backup --kms-key`), in the backup region."
  value       = aws_kms_key.backup.arn
}

output "kms_key_rotation" {
  value = aws_kms_key.backup.enable_key_rotation
}

output "sse_kms_key" {
  description = "KMS key of the backup bucket's default encryption."
  value       = module.bucket.sse_kms_key
}

output "retention_days" {
  description = "Days after which S3 expires a backup object (current version)."
  value       = one([for r in module.bucket.lifecycle_rules : one(r.expiration).days if r.id == "backup-retention"])
}

output "generations" {
  description = "Backup generations: name => { days, months } (cron fields of the schedule writing to s3://<bucket>/<env>/<name>)."
  value       = local.generations
}

output "locations" {
  description = "The backup locations (`medallion backup --to` / `medallion restore --from`), by generation."
  value       = { for g, _ in local.generations : g => "s3://${local.bucket_name}/${local.env}/${g}" }
}

output "taken_pattern" {
  description = "CloudWatch Logs metric filter pattern of a finished backup of this environment: the engine's JSON log event `backup_taken` (MEDALLION_LOG_FORMAT=json; engine/cli/src/commands/backup.rs) naming this environment and one of its locations."
  value       = "{ ($.event = \"backup_taken\") && ($.environment = \"${local.env}\") && ($.to = \"s3://${local.bucket_name}/${local.env}/*\") }"
}

output "bucket_policy" {
  value = module.bucket.policy
}

output "object_lock_enabled" {
  value = module.bucket.object_lock_enabled
}

output "resource_names" {
  value = [local.bucket_name, local.log_bucket_name, aws_kms_alias.backup.name]
}
