output "bucket" {
  description = "The bucket's name (known at plan time)."
  value       = aws_s3_bucket.this.bucket
}

output "id" {
  description = "The bucket's name, once its policy is in place (to write objects into it)."
  value       = aws_s3_bucket.this.id
  depends_on  = [aws_s3_bucket_policy.this]
}

output "arn" {
  value = local.arn
}

output "sse_kms_key" {
  description = "The KMS key of the default encryption."
  value       = one([for r in aws_s3_bucket_server_side_encryption_configuration.this.rule : one(r.apply_server_side_encryption_by_default).kms_master_key_id])
}

output "versioning" {
  value = one(aws_s3_bucket_versioning.this.versioning_configuration).status
}

output "object_lock_enabled" {
  description = "S3 Object Lock is enabled on the bucket."
  value       = aws_s3_bucket.this.object_lock_enabled == true && one(aws_s3_bucket_object_lock_configuration.this[*].object_lock_enabled) == "Enabled"
}

output "default_retention_rules" {
  description = "Default Object Lock retention rules of the bucket (0: objects are locked only by their writers)."
  value       = length(flatten(aws_s3_bucket_object_lock_configuration.this[*].rule))
}

output "lifecycle_rules" {
  description = "The lifecycle rules as planned (the provider's blocks)."
  value       = aws_s3_bucket_lifecycle_configuration.this.rule
}

output "policy" {
  description = "The bucket policy (JSON)."
  value       = aws_s3_bucket_policy.this.policy
}
