output "id" {
  description = "The bucket's name, once its policy admits log delivery (S3 checks the target's policy when a source bucket's logging is configured: refer to this bucket through this output)."
  value       = aws_s3_bucket.access_logs.id
  depends_on  = [aws_s3_bucket_policy.this]
}

output "bucket" {
  description = "The bucket's name (known at plan time)."
  value       = aws_s3_bucket.access_logs.bucket
}

output "expiration_days" {
  description = "Days after which S3 expires the access logs."
  value       = one([for r in aws_s3_bucket_lifecycle_configuration.this.rule : one(r.expiration).days])
}
