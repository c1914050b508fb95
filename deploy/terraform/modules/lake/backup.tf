# ------------------------------------------------------------------ backups (`medallion backup`)
# The scheduled `medallion backup --env <env> --to s3://<backup bucket>/<env>/<generation>
# --kms-key <backup key>` (modules/environment) runs as the backup task role; `medallion
# restore` is run by a person as the restore role (break-glass, MFA). The backup bucket and its
# key are in another region (modules/backup); their key policy admits exactly these two roles.
#
# What `medallion backup` does (engine/core/src/backup/take.rs): lists the lake and reads every
# table's Delta log and data files and every `_medallion/` object (the rendered configuration,
# the audit trail, ledgers, suppression list, lineage, promotions); exports the catalog (Glue
# GetDatabases, GetTables, GetTable); lists and reads the backup's manifests, writes the copies,
# the catalog export and the manifest under the backup key; appends one `backup_taken` record
# to the audit trail (locked like every record: S3 authorises the lock headers of a PUT as
# s3:PutObjectRetention). It never deletes, never writes a table, never changes the catalog.
locals {
  backup_on            = var.backup != null
  backup_bucket_arn    = local.backup_on ? "arn:aws:s3:::${var.backup.bucket}" : null
  backup_prefix_arn    = local.backup_on ? "arn:aws:s3:::${var.backup.bucket}/${var.backup.prefix}*" : null
  backup_role_name     = "${local.name}-backup-task"
  restore_role_name    = "${local.name}-restore"
  backup_role_arn      = "${local.role_arn_prefix}/${local.backup_role_name}"
  restore_role_arn     = "${local.role_arn_prefix}/${local.restore_role_name}"
  lake_key_via_service = ["s3.${local.region}.amazonaws.com", "glue.${local.region}.amazonaws.com"]

  backup_statements = local.backup_on ? [
    {
      Sid      = "ListOwnLake"
      Effect   = "Allow"
      Action   = ["s3:ListBucket", "s3:GetBucketLocation"]
      Resource = [local.bucket_arn]
    },
    {
      # Tables (Delta logs and data files) and `_medallion/**`: read only.
      Sid      = "ReadWholeOwnLake"
      Effect   = "Allow"
      Action   = ["s3:GetObject"]
      Resource = ["${local.bucket_arn}/*"]
    },
    {
      # The `backup_taken` record (with its Object Lock retention) and HEAD.json.
      Sid      = "AppendAuditRecord"
      Effect   = "Allow"
      Action   = ["s3:PutObject", "s3:PutObjectRetention"]
      Resource = [local.audit_arn]
    },
    {
      # Nothing of the lake is ever deleted or its retention lifted by a backup.
      Sid      = "NeverDeleteInTheLake"
      Effect   = "Deny"
      Action   = ["s3:DeleteObject", "s3:DeleteObjectVersion", "s3:BypassGovernanceRetention"]
      Resource = ["${local.bucket_arn}/*"]
    },
    {
      Sid      = "ListGlueDatabases"
      Effect   = "Allow"
      Action   = ["glue:GetDatabases"]
      Resource = [local.glue_catalog_arn, "arn:aws:glue:${local.region}:${local.account}:database/*"]
    },
    {
      # The catalog export: read only.
      Sid      = "ReadOwnGlueTables"
      Effect   = "Allow"
      Action   = ["glue:GetTables", "glue:GetTable"]
      Resource = concat([local.glue_catalog_arn], local.glue_db_arns, local.glue_table_arns)
    },
    {
      # The backup location is found by listing its manifests.
      Sid      = "ListOwnBackups"
      Effect   = "Allow"
      Action   = ["s3:ListBucket"]
      Resource = [local.backup_bucket_arn]
    },
    {
      # Earlier manifests (what is held already), then the copies, the catalog export and the
      # manifest: only under the environment's prefix.
      Sid      = "ReadAndWriteOwnBackups"
      Effect   = "Allow"
      Action   = ["s3:GetObject", "s3:PutObject"]
      Resource = [local.backup_prefix_arn]
    },
    {
      # Backups expire by the bucket's lifecycle (retention), never by the task.
      Sid      = "NeverDeleteBackups"
      Effect   = "Deny"
      Action   = ["s3:DeleteObject", "s3:DeleteObjectVersion", "s3:BypassGovernanceRetention", "s3:PutLifecycleConfiguration"]
      Resource = [local.backup_bucket_arn, "${local.backup_bucket_arn}/*"]
    },
  ] : []
}

resource "aws_iam_role" "backup_task" {
  count              = local.backup_on ? 1 : 0
  name               = local.backup_role_name
  assume_role_policy = local.ecs_assume
  tags               = local.tags
}

# No key ARN in it: known at plan time (MED-016).
resource "aws_iam_role_policy" "backup_task" {
  count = local.backup_on ? 1 : 0
  name  = "medallion-backup"
  role  = aws_iam_role.backup_task[0].id
  policy = jsonencode({
    Version   = "2012-10-17"
    Statement = local.backup_statements
  })
}

resource "aws_iam_role_policy" "backup_task_key" {
  count = local.backup_on ? 1 : 0
  name  = "medallion-backup-keys"
  role  = aws_iam_role.backup_task[0].id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        # Read the lake (Decrypt) and write the audit record (GenerateDataKey) under the
        # lake's key; read the encrypted Glue catalog. Only through S3 and Glue.
        Sid       = "LakeKeyThroughS3AndGlue"
        Effect    = "Allow"
        Action    = ["kms:Decrypt", "kms:GenerateDataKey"]
        Resource  = [aws_kms_key.this.arn]
        Condition = { StringEquals = { "kms:ViaService" = local.lake_key_via_service } }
      },
      {
        # Every object of the backup under the backup key (in the backup region).
        Sid       = "BackupKeyThroughS3"
        Effect    = "Allow"
        Action    = ["kms:GenerateDataKey", "kms:Encrypt", "kms:Decrypt"]
        Resource  = [var.backup.kms_key_arn]
        Condition = { StringEquals = { "kms:ViaService" = "s3.${var.backup.region}.amazonaws.com" } }
      },
    ]
  })
}

# ------------------------------------------------------------------ restore (human, MFA, break-glass)
# `medallion restore --env <env> --from s3://<backup bucket>/<env>/<generation>` after a loss
# (deploy/README.md, "Disaster recovery"): a person of this account assumes it with MFA for at
# most an hour, and starts the restore task (modules/environment: `<project>-<env>-restore-<generation>`,
# which runs as this role in the lake's region) or runs the command as this role. It reads the backups (decrypts with the backup key), writes the lost tables'
# files and Delta logs and the metadata objects the lake lacks (encrypts with the lake's key),
# registers the databases and tables in Glue, appends `backup_restored` to the audit trail. It
# deletes nothing but its own restore markers (a restore only recreates what is missing), in the
# lake or the backups.
locals {
  restore_statements = local.backup_on ? [
    {
      Sid      = "ListOwnLake"
      Effect   = "Allow"
      Action   = ["s3:ListBucket", "s3:GetBucketLocation"]
      Resource = [local.bucket_arn]
    },
    {
      # What exists (tables, the trail, erasures since the backup), the configuration.
      Sid      = "ReadWholeOwnLake"
      Effect   = "Allow"
      Action   = ["s3:GetObject"]
      Resource = ["${local.bucket_arn}/*"]
    },
    {
      # The lost tables' data files and Delta logs; the metadata the lake lacks (trail,
      # ledgers, suppression list, promotions, lineage); the `backup_restored` record.
      Sid      = "WriteLostTablesAndMetadata"
      Effect   = "Allow"
      Action   = ["s3:PutObject", "s3:AbortMultipartUpload"]
      Resource = concat(local.layer_object_arns, ["${local.bucket_arn}/_medallion/*"])
    },
    {
      # The configuration is Terraform's (a backup's copy of it is never written back).
      Sid      = "NeverOverwriteRenderedConfig"
      Effect   = "Deny"
      Action   = ["s3:PutObject"]
      Resource = ["${local.bucket_arn}/${local.config_key}"]
    },
    {
      Sid      = "LockRestoredAuditRecords"
      Effect   = "Allow"
      Action   = ["s3:PutObjectRetention"]
      Resource = [local.audit_arn]
    },
    {
      # A restore is marked by `_medallion/restore/in_progress.json` until it is recorded
      # (a restore cut short is finished by the next one); the marker is its only delete.
      Sid      = "RemoveOwnRestoreMarkers"
      Effect   = "Allow"
      Action   = ["s3:DeleteObject"]
      Resource = ["${local.bucket_arn}/_medallion/restore/*"]
    },
    {
      Sid    = "NeverDeleteTablesOrMetadata"
      Effect = "Deny"
      Action = ["s3:DeleteObject"]
      Resource = concat(local.layer_object_arns, [
        local.audit_arn, "${local.bucket_arn}/${local.ledger_prefix}*", "${local.bucket_arn}/_medallion/privacy/*",
        "${local.bucket_arn}/_medallion/promotions/*", "${local.bucket_arn}/${local.config_key}",
      ])
    },
    {
      Sid      = "NeverDeleteVersionsOrBypassRetention"
      Effect   = "Deny"
      Action   = ["s3:DeleteObjectVersion", "s3:BypassGovernanceRetention"]
      Resource = ["${local.bucket_arn}/*"]
    },
    {
      Sid      = "ListGlueDatabases"
      Effect   = "Allow"
      Action   = ["glue:GetDatabases"]
      Resource = [local.glue_catalog_arn, "arn:aws:glue:${local.region}:${local.account}:database/*"]
    },
    {
      # The databases and tables as the backup's catalog had them.
      Sid    = "ReRegisterOwnCatalog"
      Effect = "Allow"
      Action = [
        "glue:GetDatabase", "glue:CreateDatabase", "glue:UpdateDatabase", "glue:TagResource",
        "glue:GetTable", "glue:GetTables", "glue:CreateTable", "glue:UpdateTable",
      ]
      Resource = concat([local.glue_catalog_arn], local.glue_db_arns, local.glue_table_arns)
    },
    {
      Sid      = "ListOwnBackups"
      Effect   = "Allow"
      Action   = ["s3:ListBucket"]
      Resource = [local.backup_bucket_arn]
    },
    {
      Sid      = "ReadOwnBackups"
      Effect   = "Allow"
      Action   = ["s3:GetObject"]
      Resource = [local.backup_prefix_arn]
    },
    {
      Sid      = "NeverChangeBackups"
      Effect   = "Deny"
      Action   = ["s3:PutObject", "s3:DeleteObject", "s3:DeleteObjectVersion", "s3:BypassGovernanceRetention", "s3:PutLifecycleConfiguration"]
      Resource = [local.backup_bucket_arn, "${local.backup_bucket_arn}/*"]
    },
  ] : []
}

resource "aws_iam_role" "restore" {
  #checkov:skip=CKV_AWS_61:the trust names this account and requires MFA no older than an hour (people of the account, sessions of an hour); checkov does not read conditions, MED-015 checks them
  count                = local.backup_on ? 1 : 0
  name                 = local.restore_role_name
  max_session_duration = 3600
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Effect    = "Allow"
        Principal = { AWS = "arn:aws:iam::${local.account}:root" }
        Action    = "sts:AssumeRole"
        Condition = {
          Bool            = { "aws:MultiFactorAuthPresent" = "true" }
          NumericLessThan = { "aws:MultiFactorAuthAge" = "3600" }
        }
      },
      # The restore task (ECS of this account and region): started by a person holding this role,
      # which may pass itself to it (modules/environment: restore_run_task); no schedule starts it
      # and the events role cannot pass it.
      local.ecs_assume_statement,
    ]
  })
  tags = merge(local.tags, { access = "human", break-glass = "true" })
}

# No key ARN in it: known at plan time (MED-016).
resource "aws_iam_role_policy" "restore" {
  count = local.backup_on ? 1 : 0
  name  = "medallion-restore-from-backup"
  role  = aws_iam_role.restore[0].id
  policy = jsonencode({
    Version   = "2012-10-17"
    Statement = local.restore_statements
  })
}

resource "aws_iam_role_policy" "restore_key" {
  count = local.backup_on ? 1 : 0
  name  = "medallion-restore-keys"
  role  = aws_iam_role.restore[0].id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        # Write the lake and the encrypted Glue catalog, read the trail: only through S3 and Glue.
        Sid       = "LakeKeyThroughS3AndGlue"
        Effect    = "Allow"
        Action    = ["kms:Decrypt", "kms:GenerateDataKey"]
        Resource  = [aws_kms_key.this.arn]
        Condition = { StringEquals = { "kms:ViaService" = local.lake_key_via_service } }
      },
      {
        Sid       = "BackupKeyThroughS3"
        Effect    = "Allow"
        Action    = ["kms:Decrypt"]
        Resource  = [var.backup.kms_key_arn]
        Condition = { StringEquals = { "kms:ViaService" = "s3.${var.backup.region}.amazonaws.com" } }
      },
    ]
  })
}
