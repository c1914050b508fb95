# The backups of one environment (`medallion backup`, docs/backup.md): one bucket in a second
# region, in the environment's account, encrypted under its own KMS key of that region (never
# the lake's). Given the provider of the backup region (modules/environment: aws.backup).
#
#   s3://<project>-<env>-backup-<account>/<env>/<generation>/   one backup location per generation
#     lake/... objects/... catalogs/... manifests/...              as the engine writes it
#
# Generations. `medallion backup` is incremental: a file an earlier backup of the same location
# holds (by its manifests) is not copied again, so a Bronze file copied once is referenced by
# every later manifest. An S3 expiration by age alone would delete it while the newest backup
# still needs it, and the engine would never copy it again (it trusts its manifests). So the
# schedule writes to a new location per generation (3 generations: days 1-10 / 11-20 / 21-31
# of each month, or months 1, 2, 3 of each quarter), each generation starts with a full copy,
# S3 expires every object `retention_days` after it was written, and a generation is used again
# only after all of its objects expired:
#   retention_days >= generation length + 1 day (the last backup of a generation stays whole
#                     until the next generation's first one finished), and
#   retention_days + 2 days (lifecycle lag) <= the gap until the generation is used again
#                     (>= 18 days for 10-day generations, >= 59 days for monthly ones).
# Hence 12-16 days (10-day generations) or 32-57 days (monthly generations).
locals {
  env     = var.environment
  name    = "${var.project_name}-${var.environment}"
  account = var.account_id
  region  = var.region

  tags = {
    project      = var.project_name
    environment  = var.environment
    organization = var.organization
    managed-by   = "terraform"
  }

  bucket_name     = "${local.name}-backup-${local.account}"
  bucket_arn      = "arn:aws:s3:::${local.bucket_name}"
  log_bucket_name = "${local.name}-backup-access-logs-${local.account}"
  prefix          = "${local.env}/"

  # name => the cron fields (day of month, month) of the backup schedule in that generation
  generations = var.retention_days <= 16 ? {
    d01 = { days = "1-10", months = "*" }
    d11 = { days = "11-20", months = "*" }
    d21 = { days = "21-31", months = "*" }
    } : {
    m1 = { days = "*", months = "JAN,APR,JUL,OCT" }
    m2 = { days = "*", months = "FEB,MAY,AUG,NOV" }
    m3 = { days = "*", months = "MAR,JUN,SEP,DEC" }
  }
}

# ------------------------------------------------------------------ KMS (backup region)
resource "aws_kms_key" "backup" {
  description             = "${local.name} backups (S3 in ${local.region}); never the lake's key"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "KeyAdministrationByEnvironmentAccount"
        Effect    = "Allow"
        Principal = { AWS = "arn:aws:iam::${local.account}:root" }
        Action = [
          "kms:Create*", "kms:Describe*", "kms:Enable*", "kms:List*", "kms:Put*",
          "kms:Update*", "kms:Revoke*", "kms:Disable*", "kms:Get*", "kms:Delete*",
          "kms:TagResource", "kms:UntagResource", "kms:ScheduleKeyDeletion", "kms:CancelKeyDeletion",
        ]
        Resource = "*"
      },
      {
        # Only the backup task role (writes) and the restore role (reads), only through S3 of
        # the backup region; their IAM policies say which actions (modules/lake/backup.tf).
        Sid       = "UseThroughS3ByBackupAndRestoreRoles"
        Effect    = "Allow"
        Principal = { AWS = "arn:aws:iam::${local.account}:root" }
        Action    = ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey"]
        Resource  = "*"
        Condition = {
          StringEquals = { "kms:CallerAccount" = local.account, "kms:ViaService" = "s3.${local.region}.amazonaws.com" }
          ArnEquals    = { "aws:PrincipalArn" = [var.writer_role_arn, var.reader_role_arn] }
        }
      },
    ]
  })
  tags = merge(local.tags, { Name = "${local.name}-backup" })
}

resource "aws_kms_alias" "backup" {
  name          = "alias/${local.name}-backup"
  target_key_id = aws_kms_key.backup.key_id
}

# ------------------------------------------------------------------ access logs (backup region)
# S3 server access logs go to a bucket of the same region, SSE-S3 (the only encryption log
# delivery supports), kept as long as the environment's other access logs.
resource "aws_s3_bucket" "access_logs" {
  #checkov:skip=CKV_AWS_145:S3 server access log delivery requires SSE-S3 on its target bucket (SSE-KMS unsupported)
  bucket = local.log_bucket_name
  tags   = merge(local.tags, { Name = local.log_bucket_name, layer = "access-logs" })
}

resource "aws_s3_bucket_ownership_controls" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "access_logs" {
  bucket                  = aws_s3_bucket.access_logs.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id
  rule {
    id     = "retention"
    status = "Enabled"
    filter {}
    expiration {
      days = var.access_log_retention_days
    }
    noncurrent_version_expiration {
      noncurrent_days = 7
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }
}

resource "aws_s3_bucket_policy" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "S3ServerAccessLogDelivery"
        Effect    = "Allow"
        Principal = { Service = "logging.s3.amazonaws.com" }
        Action    = "s3:PutObject"
        Resource  = "arn:aws:s3:::${local.log_bucket_name}/*"
        Condition = {
          StringEquals = { "aws:SourceAccount" = local.account }
          ArnLike      = { "aws:SourceArn" = local.bucket_arn }
        }
      },
      {
        Sid       = "DenyInsecureTransport"
        Effect    = "Deny"
        Principal = "*"
        Action    = "s3:*"
        Resource  = ["arn:aws:s3:::${local.log_bucket_name}", "arn:aws:s3:::${local.log_bucket_name}/*"]
        Condition = { Bool = { "aws:SecureTransport" = "false" } }
      },
    ]
  })
  depends_on = [aws_s3_bucket_public_access_block.access_logs]
}

# ------------------------------------------------------------------ the backup bucket
# Object Lock enabled as on the lake (it can only be turned on at creation), deliberately
# without a default retention, like the lake: a default retention needs a Content-MD5 or
# checksum header on every PUT, which the engine sends for audit records only, and it would
# keep erased people's rows past `retention_days` (GDPR). See deploy/README.md, "Backups".
resource "aws_s3_bucket" "backup" {
  bucket              = local.bucket_name
  object_lock_enabled = true
  tags                = merge(local.tags, { Name = local.bucket_name, layer = "backup" })
}

resource "aws_s3_bucket_object_lock_configuration" "backup" {
  bucket              = aws_s3_bucket.backup.id
  object_lock_enabled = "Enabled"
  depends_on          = [aws_s3_bucket_versioning.backup]
}

resource "aws_s3_bucket_ownership_controls" "backup" {
  bucket = aws_s3_bucket.backup.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "backup" {
  bucket                  = aws_s3_bucket.backup.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "backup" {
  bucket = aws_s3_bucket.backup.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "backup" {
  bucket = aws_s3_bucket.backup.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.backup.arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_logging" "backup" {
  bucket        = aws_s3_bucket.backup.id
  target_bucket = aws_s3_bucket.access_logs.id
  target_prefix = "backup/"
  depends_on    = [aws_s3_bucket_policy.access_logs]
}

# Every object expires `retention_days` after it was written (a delete marker), its noncurrent
# version one day later: no copy of a row outlives its backup by more than a day or two of
# lifecycle lag. Generations (above) keep every backup restorable until it expires.
resource "aws_s3_bucket_lifecycle_configuration" "backup" {
  bucket = aws_s3_bucket.backup.id
  rule {
    id     = "backup-retention"
    status = "Enabled"
    filter {}
    expiration {
      days = var.retention_days
    }
    noncurrent_version_expiration {
      noncurrent_days = 1
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
  rule {
    id     = "expired-delete-markers"
    status = "Enabled"
    filter {}
    expiration {
      expired_object_delete_marker = true
    }
  }
  depends_on = [aws_s3_bucket_versioning.backup]
}

resource "aws_s3_bucket_policy" "backup" {
  bucket = aws_s3_bucket.backup.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "DenyInsecureTransport"
        Effect    = "Deny"
        Principal = "*"
        Action    = "s3:*"
        Resource  = [local.bucket_arn, "${local.bucket_arn}/*"]
        Condition = { Bool = { "aws:SecureTransport" = "false" } }
      },
      {
        Sid       = "DenyNonKmsEncryption"
        Effect    = "Deny"
        Principal = "*"
        Action    = "s3:PutObject"
        Resource  = "${local.bucket_arn}/*"
        Condition = { StringNotEqualsIfExists = { "s3:x-amz-server-side-encryption" = "aws:kms" } }
      },
      {
        # `medallion backup --kms-key <this key's ARN>`; the lake's key (or any other) is refused.
        Sid       = "DenyOtherKmsKeys"
        Effect    = "Deny"
        Principal = "*"
        Action    = "s3:PutObject"
        Resource  = "${local.bucket_arn}/*"
        Condition = { StringNotEqualsIfExists = { "s3:x-amz-server-side-encryption-aws-kms-key-id" = aws_kms_key.backup.arn } }
      },
    ]
  })
  depends_on = [aws_s3_bucket_public_access_block.backup]
}
