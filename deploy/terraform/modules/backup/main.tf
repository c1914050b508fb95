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
module "access_logs" {
  source         = "../access-log-bucket"
  name           = local.log_bucket_name
  tags           = local.tags
  account_id     = local.account
  source_arns    = [local.bucket_arn]
  retention_days = var.access_log_retention_days
}

# ------------------------------------------------------------------ the backup bucket
# Object Lock enabled as on the lake (it can only be turned on at creation), deliberately
# without a default retention, like the lake: a default retention needs a Content-MD5 or
# checksum header on every PUT, which the engine sends for audit records only, and it would
# keep erased people's rows past `retention_days` (GDPR). See deploy/README.md, "Backups".
#
# Every object expires `retention_days` after it was written (a delete marker), its noncurrent
# version one day later: no copy of a row outlives its backup by more than a day or two of
# lifecycle lag. Generations (above) keep every backup restorable until it expires. The bucket
# policy refuses any key but the backup key (`medallion backup --kms-key <its ARN>`): the lake's
# key, or any other, is refused.
module "bucket" {
  source              = "../secure-bucket"
  name                = local.bucket_name
  tags                = merge(local.tags, { layer = "backup" })
  kms_key_arn         = aws_kms_key.backup.arn
  deny_other_kms_keys = true
  object_lock         = {}
  access_logs         = { bucket = module.access_logs.id, prefix = "backup/" }
  lifecycle_rules = [
    { id = "backup-retention", expiration_days = var.retention_days, noncurrent_days = 1, abort_days = 1 },
    { id = "expired-delete-markers", expired_object_delete_marker = true },
  ]
}
