# ------------------------------------------------------------------ access-log bucket (SSE-S3: S3 log delivery requirement)
module "access_logs" {
  source          = "../access-log-bucket"
  name            = local.access_bucket
  tags            = local.tags
  account_id      = local.account
  source_arns     = [local.archive_arn, local.state_arn]
  retention_days  = var.access_log_retention_days
  noncurrent_days = 30
}

# ------------------------------------------------------------------ central log archive
# SSE-KMS with the shared key, Object Lock with a default GOVERNANCE retention (every CloudTrail
# and Config object is locked), Glacier IR after 90 days, expiry after archive_retention_days;
# the bucket policy admits CloudTrail and Config writes (by aws:SourceArn / aws:SourceAccount)
# and denies every deletion.
module "archive" {
  source      = "../secure-bucket"
  name        = local.archive_bucket
  tags        = merge(local.tags, { layer = "log-archive" })
  kms_key_arn = aws_kms_key.logs.arn
  object_lock = { default_retention = { mode = "GOVERNANCE", days = var.object_lock_days } }
  access_logs = { bucket = module.access_logs.id, prefix = "log-archive/" }
  lifecycle_rules = [{
    id              = "retention"
    transitions     = [{ days = 90, storage_class = "GLACIER_IR" }]
    expiration_days = var.archive_retention_days
    noncurrent_days = 30
    abort_days      = 7
  }]
  policy_statements = [
    {
      Sid       = "CloudTrailAclCheck"
      Effect    = "Allow"
      Principal = { Service = "cloudtrail.amazonaws.com" }
      Action    = "s3:GetBucketAcl"
      Resource  = local.archive_arn
      Condition = { StringEquals = { "aws:SourceArn" = local.trail_arn } }
    },
    {
      Sid       = "CloudTrailWrite"
      Effect    = "Allow"
      Principal = { Service = "cloudtrail.amazonaws.com" }
      Action    = "s3:PutObject"
      Resource  = "${local.archive_arn}/cloudtrail/*"
      Condition = { StringEquals = { "aws:SourceArn" = local.trail_arn } }
    },
    {
      Sid       = "ConfigAclCheck"
      Effect    = "Allow"
      Principal = { Service = "config.amazonaws.com" }
      Action    = ["s3:GetBucketAcl", "s3:ListBucket"]
      Resource  = local.archive_arn
      Condition = { StringEquals = { "aws:SourceAccount" = local.config_writers } }
    },
    {
      Sid       = "ConfigWrite"
      Effect    = "Allow"
      Principal = { Service = "config.amazonaws.com" }
      Action    = "s3:PutObject"
      Resource  = [for a in local.config_writers : "${local.archive_arn}/config/AWSLogs/${a}/Config/*"]
      Condition = { StringEquals = { "aws:SourceAccount" = local.config_writers } }
    },
    {
      Sid       = "DenyDeletion"
      Effect    = "Deny"
      Principal = "*"
      Action    = ["s3:DeleteObject", "s3:DeleteObjectVersion", "s3:DeleteBucket"]
      Resource  = [local.archive_arn, "${local.archive_arn}/*"]
    },
  ]
}
