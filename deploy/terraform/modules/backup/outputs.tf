output "bucket" {
  description = "The backup bucket (in the backup region)."
  value       = aws_s3_bucket.backup.bucket
}

output "bucket_arn" {
  value = aws_s3_bucket.backup.arn
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
  value       = one([for r in aws_s3_bucket_server_side_encryption_configuration.backup.rule : one(r.apply_server_side_encryption_by_default).kms_master_key_id])
}

output "retention_days" {
  description = "Days after which S3 expires a backup object (current version)."
  value       = one([for r in aws_s3_bucket_lifecycle_configuration.backup.rule : one(r.expiration).days if r.id == "backup-retention"])
}

output "generations" {
  description = "Backup generations: name => { days, months } (cron fields of the schedule writing to s3://<bucket>/<env>/<name>)."
  value       = local.generations
}

output "locations" {
  description = "The backup locations (`medallion backup --to` / `medallion restore --from`), by generation."
  value       = { for g, _ in local.generations : g => "s3://${local.bucket_name}/${local.env}/${g}" }
}

output "bucket_policy" {
  value = aws_s3_bucket_policy.backup.policy
}

output "object_lock_enabled" {
  value = aws_s3_bucket.backup.object_lock_enabled
}

output "resource_names" {
  value = [local.bucket_name, local.log_bucket_name, aws_kms_alias.backup.name]
}
