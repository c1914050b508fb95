# Task roles of the engine. Every action below is one the engine makes (see the comments);
# deploy/tests/proof/ applies this module to a local AWS API with IAM enforcement and runs
# `medallion run jobs/ --env staging` as the batch role to show it is enough.

locals {
  # ECS tasks of this account and region only.
  ecs_assume_statement = {
    Effect    = "Allow"
    Principal = { Service = "ecs-tasks.amazonaws.com" }
    Action    = "sts:AssumeRole"
    Condition = {
      StringEquals = { "aws:SourceAccount" = local.account }
      ArnLike      = { "aws:SourceArn" = "arn:aws:ecs:${local.region}:${local.account}:*" }
    }
  }
  ecs_assume = jsonencode({
    Version   = "2012-10-17"
    Statement = [local.ecs_assume_statement]
  })

  glue_catalog_arn = "arn:aws:glue:${local.region}:${local.account}:catalog"
  glue_db_arns     = [for d in values(local.glue_db_names) : "arn:aws:glue:${local.region}:${local.account}:database/${d}"]
  glue_table_arns  = [for d in values(local.glue_db_names) : "arn:aws:glue:${local.region}:${local.account}:table/${d}/*"]

  data_access_statements = [
    {
      # object_store lists table folders and _delta_log (ListObjectsV2); location checks.
      Sid      = "ListOwnLake"
      Effect   = "Allow"
      Action   = ["s3:ListBucket", "s3:GetBucketLocation"]
      Resource = [local.bucket_arn]
    },
    {
      # Delta reads (GET/HEAD), staged and committed writes (PUT incl. conditional and
      # multipart), removal of staged files and vacuum (DELETE), abandoned uploads.
      Sid      = "ReadWriteOwnLayers"
      Effect   = "Allow"
      Action   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"]
      Resource = [for l in sort(tolist(local.layers)) : "${local.bucket_arn}/${l}/*"]
    },
    {
      # MEDALLION_ENVIRONMENTS=s3://<lake>/_medallion/environments.yaml
      Sid      = "ReadRenderedEngineConfig"
      Effect   = "Allow"
      Action   = ["s3:GetObject"]
      Resource = ["${local.bucket_arn}/${local.config_key}"]
    },
    {
      # SSE-KMS: PUT needs GenerateDataKey, GET needs Decrypt; the encrypted Glue catalog
      # needs Encrypt/Decrypt/GenerateDataKey. Only this environment's key, by ARN.
      Sid      = "UseOwnEnvironmentKey"
      Effect   = "Allow"
      Action   = ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey"]
      Resource = [aws_kms_key.this.arn]
    },
    {
      # GlueCatalog::list_databases pages through GetDatabases and keeps its prefix; the
      # call is authorised on the catalog and on every database it returns.
      Sid      = "ListGlueDatabases"
      Effect   = "Allow"
      Action   = ["glue:GetDatabases"]
      Resource = [local.glue_catalog_arn, "arn:aws:glue:${local.region}:${local.account}:database/*"]
    },
    {
      # create_database (AlreadyExists is fine, with tags), get/list/create/update tables.
      Sid    = "OwnGlueDatabasesAndTables"
      Effect = "Allow"
      Action = [
        "glue:CreateDatabase", "glue:GetDatabase", "glue:TagResource",
        "glue:GetTable", "glue:GetTables", "glue:CreateTable", "glue:UpdateTable",
      ]
      Resource = concat([local.glue_catalog_arn], local.glue_db_arns, local.glue_table_arns)
    },
  ]

  # The Bronze stage reads the sources `medallion maintain` retired with their rows
  # (`_medallion/ingested/<db>.<table>`, a Delta table): without this, the first run after a
  # retention that removed files is refused by S3. A policy of its own with no key ARN, known
  # at plan time (MED-011).
  # Also: Silver reads the erasure suppression list (`_medallion/privacy/`: the salt and one
  # entry per erasure) for pipelines whose schema declares a data subject, and runs write their
  # OpenLineage events to `_medallion/lineage/` (the file transport), and Gold keeps the
  # partial aggregates of its incrementally refreshed tables under `_medallion/gold_state/`
  # (read, replaced, older files deleted; an erasure deletes them all).
  ledger_read_statements = [
    {
      Sid      = "ReadRetiredSourcesLedger"
      Effect   = "Allow"
      Action   = ["s3:GetObject"]
      Resource = ["${local.bucket_arn}/${local.ledger_prefix}*"]
    },
    {
      Sid      = "ReadErasureSuppressionList"
      Effect   = "Allow"
      Action   = ["s3:GetObject"]
      Resource = ["${local.bucket_arn}/_medallion/privacy/*"]
    },
    {
      Sid      = "WriteLineageEvents"
      Effect   = "Allow"
      Action   = ["s3:PutObject"]
      Resource = ["${local.bucket_arn}/_medallion/lineage/*"]
    },
    {
      Sid      = "KeepGoldPartialAggregates"
      Effect   = "Allow"
      Action   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"]
      Resource = ["${local.bucket_arn}/_medallion/gold_state/*"]
    },
  ]

  # The audit trail under `_medallion/audit/` (both task roles run the engine, so both write
  # it). A separate policy with no key ARN in it, so that it is known at plan time and the
  # project policy MED-009 checks it offline.
  audit_arn = "${local.bucket_arn}/${local.audit_prefix}*"
  audit_trail_statements = [
    {
      # Records: PUT with x-amz-object-lock-mode/-retain-until-date (S3 authorises those
      # headers as s3:PutObjectRetention) and x-amz-checksum-sha256; HEAD.json overwritten,
      # open/ run markers created; reads of records and HEAD.json; `medallion audit verify`
      # reads each record's retention (GetObjectRetention).
      Sid      = "WriteAndVerifyAuditTrail"
      Effect   = "Allow"
      Action   = ["s3:GetObject", "s3:PutObject", "s3:PutObjectRetention", "s3:GetObjectRetention"]
      Resource = [local.audit_arn]
    },
    {
      # Every command that writes to the environment first checks that no restore is under
      # way (`_medallion/restore/in_progress.json`, written and removed by `medallion restore`
      # as the restore role); without this read S3 answers 403 and the command refuses.
      Sid      = "SeeRestoreInProgress"
      Effect   = "Allow"
      Action   = ["s3:GetObject"]
      Resource = ["${local.bucket_arn}/_medallion/restore/*"]
    },
    {
      # Only the run markers are deleted. Records are never deleted by the engine (not even a
      # delete marker over a record); HEAD.json is overwritten, not deleted.
      Sid      = "RemoveOwnRunMarkers"
      Effect   = "Allow"
      Action   = ["s3:DeleteObject"]
      Resource = ["${local.bucket_arn}/${local.audit_prefix}open/*"]
    },
    {
      # No version of anything under the audit prefix is ever removed by the engine: Object
      # Lock protects the locked record versions anyway; this also covers HEAD.json's and the
      # markers' history, which lifecycle expires (noncurrent_version_days).
      Sid      = "NeverDeleteAuditVersions"
      Effect   = "Deny"
      Action   = ["s3:DeleteObjectVersion"]
      Resource = [local.audit_arn]
    },
    {
      # Nobody in the engine role can shorten or lift a governance-mode retention.
      Sid      = "NeverBypassGovernanceRetention"
      Effect   = "Deny"
      Action   = ["s3:BypassGovernanceRetention"]
      Resource = ["${local.bucket_arn}/*"]
    },
  ]
}

# ------------------------------------------------------------------ batch runs
resource "aws_iam_role" "batch_task" {
  name               = local.task_role_names.batch
  assume_role_policy = local.ecs_assume
  tags               = local.tags
}

resource "aws_iam_role_policy" "batch_task" {
  name = "medallion-batch-data-access"
  role = aws_iam_role.batch_task.id
  policy = jsonencode({
    Version   = "2012-10-17"
    Statement = local.data_access_statements
  })
}

resource "aws_iam_role_policy" "batch_task_audit" {
  name = "medallion-audit-trail"
  role = aws_iam_role.batch_task.id
  policy = jsonencode({
    Version   = "2012-10-17"
    Statement = local.audit_trail_statements
  })
}

resource "aws_iam_role_policy" "batch_task_ledger" {
  name = "medallion-retired-sources"
  role = aws_iam_role.batch_task.id
  policy = jsonencode({
    Version   = "2012-10-17"
    Statement = local.ledger_read_statements
  })
}

# ------------------------------------------------------------------ landing (files sources on S3)
# `bronze.source.files.path: s3://<bucket>/<prefix>...` (platform.yaml `landing`): the Bronze
# stage lists the glob's fixed prefix page by page (ListObjectsV2: s3:ListBucket, with the
# request's prefix under the landing prefix), reads objects with ranged GETs (If-Match on the
# ETag) and HEADs exact keys (s3:GetObject), SSE-KMS objects decrypted by S3 with the landing key
# (kms:Decrypt through S3 only). Read only; only the batch task role (the Bronze shards run as it;
# Silver, Gold and the cluster never read sources). A policy of its own, known at plan time
# (MED-019). GetBucketLocation is not needed: the engine uses the environment's region.
locals {
  landing_keys = distinct(compact([for l in var.landing : l.kms_key_arn]))
  landing_statements = concat(
    [for i, l in var.landing : {
      Sid       = "ListLanding${i}"
      Effect    = "Allow"
      Action    = ["s3:ListBucket"]
      Resource  = ["arn:aws:s3:::${l.bucket}"]
      Condition = { StringLike = { "s3:prefix" = ["${l.prefix}*"] } }
    }],
    [{
      Sid      = "ReadLandingObjects"
      Effect   = "Allow"
      Action   = ["s3:GetObject"]
      Resource = [for l in var.landing : "arn:aws:s3:::${l.bucket}/${l.prefix}*"]
    }],
    length(local.landing_keys) == 0 ? [] : [{
      Sid       = "DecryptLandingThroughS3"
      Effect    = "Allow"
      Action    = ["kms:Decrypt"]
      Resource  = local.landing_keys
      Condition = { StringEquals = { "kms:ViaService" = "s3.${local.region}.amazonaws.com" } }
    }],
  )
}

resource "aws_iam_role_policy" "batch_task_landing" {
  count = length(var.landing) > 0 ? 1 : 0
  name  = "medallion-batch-landing"
  role  = aws_iam_role.batch_task.id
  policy = jsonencode({
    Version   = "2012-10-17"
    Statement = local.landing_statements
  })
}

# ------------------------------------------------------------------ stream consumer
resource "aws_iam_role" "stream_task" {
  count              = var.streaming ? 1 : 0
  name               = local.task_role_names.stream
  assume_role_policy = local.ecs_assume
  tags               = local.tags
}

resource "aws_iam_role_policy" "stream_task" {
  count = var.streaming ? 1 : 0
  name  = "medallion-stream-data-access"
  role  = aws_iam_role.stream_task[0].id
  policy = jsonencode({
    Version   = "2012-10-17"
    Statement = concat(local.data_access_statements, var.stream_extra_statements)
  })
}

resource "aws_iam_role_policy" "stream_task_audit" {
  count = var.streaming ? 1 : 0
  name  = "medallion-audit-trail"
  role  = aws_iam_role.stream_task[0].id
  policy = jsonencode({
    Version   = "2012-10-17"
    Statement = local.audit_trail_statements
  })
}

resource "aws_iam_role_policy" "stream_task_ledger" {
  count = var.streaming ? 1 : 0
  name  = "medallion-retired-sources"
  role  = aws_iam_role.stream_task[0].id
  policy = jsonencode({
    Version   = "2012-10-17"
    Statement = local.ledger_read_statements
  })
}

# ------------------------------------------------------------------ releases (promotion)
# In an environment with `promote_from`, the release role is the principal that runs
# `medallion promote --from <promote_from> --to <this environment> --apply` (CI on merge, see
# deploy/ci/release.sh). What the promotion reads here: the Glue catalog and the tables' Delta
# logs (the target's schemas, for the compatibility gate and the plan's table diff), the audit
# trail (earlier promotions), the rendered configuration (the entry the release is made for).
# What it writes: one audit record (`release_promoted`, locked like every record) and
# HEAD.json. Nothing else: no data file, no table, no catalog change, no delete.
# Trust: only `release_principals` of this account (default the CI role <project>-ci), named
# in an aws:PrincipalArn condition so that they need not exist yet; the task roles cannot.
locals {
  release_role_name  = "${local.name}-release"
  release_principals = coalesce(var.release_principals, ["arn:aws:iam::${local.account}:role/${var.project_name}-ci"])
  release_statements = [
    {
      # Listing table folders and _delta_log, and the audit trail.
      Sid      = "ListOwnLake"
      Effect   = "Allow"
      Action   = ["s3:ListBucket", "s3:GetBucketLocation"]
      Resource = [local.bucket_arn]
    },
    {
      # Table metadata only (commits and checkpoints): never a data file.
      Sid      = "ReadDeltaLogsOfOwnLayers"
      Effect   = "Allow"
      Action   = ["s3:GetObject"]
      Resource = [for l in sort(tolist(local.layers)) : "${local.bucket_arn}/${l}/*/_delta_log/*"]
    },
    {
      Sid      = "ReadRenderedEngineConfig"
      Effect   = "Allow"
      Action   = ["s3:GetObject"]
      Resource = ["${local.bucket_arn}/${local.config_key}"]
    },
    {
      # Read the trail, append the promotion record with its Object Lock retention
      # (S3 authorises the lock headers of a PUT as s3:PutObjectRetention), update HEAD.json.
      Sid      = "ReadAndAppendAuditTrail"
      Effect   = "Allow"
      Action   = ["s3:GetObject", "s3:PutObject", "s3:PutObjectRetention"]
      Resource = [local.audit_arn]
    },
    {
      Sid      = "NeverDeleteAuditVersions"
      Effect   = "Deny"
      Action   = ["s3:DeleteObject", "s3:DeleteObjectVersion"]
      Resource = [local.audit_arn]
    },
    {
      Sid      = "NeverBypassGovernanceRetention"
      Effect   = "Deny"
      Action   = "s3:BypassGovernanceRetention"
      Resource = ["${local.bucket_arn}/*"]
    },
    {
      Sid      = "ListGlueDatabases"
      Effect   = "Allow"
      Action   = ["glue:GetDatabases"]
      Resource = [local.glue_catalog_arn, "arn:aws:glue:${local.region}:${local.account}:database/*"]
    },
    {
      # Read only: the promotion never creates or changes a database or table.
      Sid      = "ReadOwnGlueDatabasesAndTables"
      Effect   = "Allow"
      Action   = ["glue:GetDatabase", "glue:GetTable", "glue:GetTables"]
      Resource = concat([local.glue_catalog_arn], local.glue_db_arns, local.glue_table_arns)
    },
  ]
}

resource "aws_iam_role" "release" {
  #checkov:skip=CKV_AWS_61:the trust names this account and admits only release_principals (aws:PrincipalArn), so that the CI role need not exist first
  count = var.promote_from == null ? 0 : 1
  name  = local.release_role_name
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { AWS = "arn:aws:iam::${local.account}:root" }
      Action    = "sts:AssumeRole"
      Condition = { ArnEquals = { "aws:PrincipalArn" = local.release_principals } }
    }]
  })
  tags = local.tags
}

# No key ARN in it: known at plan time, so MED-010 checks it offline.
resource "aws_iam_role_policy" "release" {
  count = var.promote_from == null ? 0 : 1
  name  = "medallion-release"
  role  = aws_iam_role.release[0].id
  policy = jsonencode({
    Version   = "2012-10-17"
    Statement = local.release_statements
  })
}

# The key, only through S3 (SSE-KMS reads of the trail and Delta logs, the record's PUT) and
# Glue (the encrypted catalog); the key policy admits this account's principals that way.
resource "aws_iam_role_policy" "release_key" {
  count = var.promote_from == null ? 0 : 1
  name  = "medallion-release-key"
  role  = aws_iam_role.release[0].id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid      = "UseOwnEnvironmentKeyThroughS3AndGlue"
      Effect   = "Allow"
      Action   = ["kms:Decrypt", "kms:GenerateDataKey"]
      Resource = [aws_kms_key.this.arn]
      Condition = {
        StringEquals = { "kms:ViaService" = ["s3.${local.region}.amazonaws.com", "glue.${local.region}.amazonaws.com"] }
      }
    }]
  })
}

# ------------------------------------------------------------------ retention (`medallion maintain`)
# The scheduled `medallion maintain --env <env> --jobs jobs/` (modules/environment) runs as this
# role: table retention is the engine's (docs/retention.md), S3 never expires live Delta files.
# What maintain does here: lists the lake, reads every table's log and data (dates of rows,
# Silver's bookmarks), commits removals and Silver DELETEs (new data files, `_delta_log`
# commits and checkpoints), deletes vacuumed data files and expired `_delta_log` entries,
# appends the sources it retired to `_medallion/ingested/` (which the Bronze stage reads), and
# records each commit in the audit trail. It reads the Glue catalog (classifications of
# columns, the tables of the lake) and never changes it.
locals {
  layer_object_arns = [for l in sort(tolist(local.layers)) : "${local.bucket_arn}/${l}/*"]
  maintain_statements = [
    {
      Sid      = "ListOwnLake"
      Effect   = "Allow"
      Action   = ["s3:ListBucket", "s3:GetBucketLocation"]
      Resource = [local.bucket_arn]
    },
    {
      # Removal and DELETE commits (new files, commits, checkpoints), VACUUM (DeleteObject of
      # data files no version within the window references), log cleanup (old `_delta_log`
      # entries), abandoned uploads of large rewritten files.
      Sid      = "ExpireAndVacuumOwnLayers"
      Effect   = "Allow"
      Action   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"]
      Resource = local.layer_object_arns
    },
    {
      # The ledger of retired sources: a small Delta table per Bronze table.
      Sid      = "AppendRetiredSourcesLedger"
      Effect   = "Allow"
      Action   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"]
      Resource = ["${local.bucket_arn}/${local.ledger_prefix}*"]
    },
    {
      Sid      = "ReadRenderedEngineConfig"
      Effect   = "Allow"
      Action   = ["s3:GetObject"]
      Resource = ["${local.bucket_arn}/${local.config_key}"]
    },
    {
      Sid      = "ListGlueDatabases"
      Effect   = "Allow"
      Action   = ["glue:GetDatabases"]
      Resource = [local.glue_catalog_arn, "arn:aws:glue:${local.region}:${local.account}:database/*"]
    },
    {
      # Read only: retention changes tables through their Delta logs, never the catalog.
      Sid      = "ReadOwnGlueDatabasesAndTables"
      Effect   = "Allow"
      Action   = ["glue:GetDatabase", "glue:GetTable", "glue:GetTables"]
      Resource = concat([local.glue_catalog_arn], local.glue_db_arns, local.glue_table_arns)
    },
  ]
}

resource "aws_iam_role" "maintain_task" {
  name               = local.task_role_names.maintain
  assume_role_policy = local.ecs_assume
  tags               = local.tags
}

# No key ARN in it: known at plan time, so MED-011 checks it offline.
resource "aws_iam_role_policy" "maintain_task" {
  name = "medallion-maintain-data-access"
  role = aws_iam_role.maintain_task.id
  policy = jsonencode({
    Version   = "2012-10-17"
    Statement = local.maintain_statements
  })
}

resource "aws_iam_role_policy" "maintain_task_key" {
  name = "medallion-maintain-key"
  role = aws_iam_role.maintain_task.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      # SSE-KMS reads and writes of the lake, the encrypted Glue catalog; only this key.
      Sid      = "UseOwnEnvironmentKeyForMaintenance"
      Effect   = "Allow"
      Action   = ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey"]
      Resource = [aws_kms_key.this.arn]
    }]
  })
}

resource "aws_iam_role_policy" "maintain_task_audit" {
  name = "medallion-audit-trail"
  role = aws_iam_role.maintain_task.id
  policy = jsonencode({
    Version   = "2012-10-17"
    Statement = local.audit_trail_statements
  })
}

# Promotion from another account (prod <- staging): the release role reads the upstream lake the
# way a promotion does (its audit trail, the tables' Delta logs, its rendered configuration) and
# decrypts through S3 only objects of that bucket; it reads the upstream's Glue catalog (its
# databases and tables) and decrypts it through Glue. The upstream's bucket, catalog and key
# policies grant this role the same, read-only (promotion_readers there). MED-014 checks both sides.
locals {
  upstream_bucket_arn = var.promotion_source == null ? null : "arn:aws:s3:::${var.project_name}-${var.promotion_source.environment}-lake-${var.promotion_source.account_id}"
  # The upstream's Glue catalog (its account, this region) and its databases <project>_<env>_*.
  upstream_glue_arn    = var.promotion_source == null ? null : "arn:aws:glue:${local.region}:${var.promotion_source.account_id}"
  upstream_glue_prefix = var.promotion_source == null ? null : replace("${var.project_name}-${var.promotion_source.environment}_", "-", "_")
}

resource "aws_iam_role_policy" "release_upstream" {
  count = var.promote_from != null && var.promotion_source != null ? 1 : 0
  name  = "medallion-release-upstream"
  role  = aws_iam_role.release[0].id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid      = "PromotionReadFrom${title(var.promotion_source.environment)}List"
        Effect   = "Allow"
        Action   = ["s3:ListBucket"]
        Resource = [local.upstream_bucket_arn]
      },
      {
        Sid    = "PromotionReadFrom${title(var.promotion_source.environment)}Objects"
        Effect = "Allow"
        Action = ["s3:GetObject"]
        Resource = concat(
          ["${local.upstream_bucket_arn}/${local.audit_prefix}*", "${local.upstream_bucket_arn}/${local.config_key}"],
          [for l in sort(var.promotion_source.layers) : "${local.upstream_bucket_arn}/${l}/*/_delta_log/*"],
        )
      },
      {
        # The upstream key's ARN is not known here: any key of that account, only through S3,
        # only for objects of that bucket; its key policy admits only this role.
        Sid      = "PromotionReadFrom${title(var.promotion_source.environment)}Key"
        Effect   = "Allow"
        Action   = ["kms:Decrypt"]
        Resource = ["arn:aws:kms:${local.region}:${var.promotion_source.account_id}:key/*"]
        Condition = {
          StringEquals = { "kms:ViaService" = "s3.${local.region}.amazonaws.com" }
          StringLike   = { "kms:EncryptionContext:aws:s3:arn" = [local.upstream_bucket_arn, "${local.upstream_bucket_arn}/*"] }
        }
      },
      {
        # The plan's table diff and the schema gate read the upstream's catalog (the engine sends its
        # catalog_id): read only, its databases and their tables. Its resource policy grants the same.
        Sid      = "PromotionReadFrom${title(var.promotion_source.environment)}Catalog"
        Effect   = "Allow"
        Action   = ["glue:GetDatabase", "glue:GetDatabases", "glue:GetTable", "glue:GetTables"]
        Resource = ["${local.upstream_glue_arn}:catalog", "${local.upstream_glue_arn}:database/${local.upstream_glue_prefix}*", "${local.upstream_glue_arn}:table/${local.upstream_glue_prefix}*/*"]
      },
      {
        # Its catalog is encrypted with its key: decrypt through Glue only (its key policy admits
        # only this role that way).
        Sid       = "PromotionReadFrom${title(var.promotion_source.environment)}CatalogKey"
        Effect    = "Allow"
        Action    = ["kms:Decrypt"]
        Resource  = ["arn:aws:kms:${local.region}:${var.promotion_source.account_id}:key/*"]
        Condition = { StringEquals = { "kms:ViaService" = "glue.${local.region}.amazonaws.com" } }
      },
    ]
  })
}

# ------------------------------------------------------------------ operator (human, MFA)
# The restore runbook's role (deploy/README.md, "Recovery"): a person of this account assumes it
# with MFA (at most an hour old) for at most an hour, to find the damage (object versions, Delta
# logs), bring back object versions (copy-object), roll a table back (delete commit files),
# re-register the catalog (`medallion catalog sync`). Never: delete an audit record or version,
# bypass retention, delete object versions.
locals {
  operator_role_name = "${local.name}-operator"
  operator_statements = [
    {
      Sid      = "ListLakeAndVersions"
      Effect   = "Allow"
      Action   = ["s3:ListBucket", "s3:ListBucketVersions", "s3:GetBucketLocation"]
      Resource = [local.bucket_arn]
    },
    {
      # Read any version, restore by copying a version over the current object, remove the
      # commit files after the version a table is rolled back to.
      Sid      = "RestoreLayerObjects"
      Effect   = "Allow"
      Action   = ["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject", "s3:DeleteObject"]
      Resource = local.layer_object_arns
    },
    {
      Sid      = "ReadConfigurationAndAuditTrail"
      Effect   = "Allow"
      Action   = ["s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectRetention"]
      Resource = ["${local.bucket_arn}/${local.config_key}", local.audit_arn]
    },
    {
      Sid      = "NeverDeleteVersionsOrAuditRecords"
      Effect   = "Deny"
      Action   = ["s3:DeleteObjectVersion", "s3:BypassGovernanceRetention", "s3:PutObjectRetention"]
      Resource = ["${local.bucket_arn}/*"]
    },
    {
      Sid      = "NeverDeleteAuditRecords"
      Effect   = "Deny"
      Action   = "s3:DeleteObject"
      Resource = [local.audit_arn]
    },
    {
      Sid      = "ListGlueDatabases"
      Effect   = "Allow"
      Action   = ["glue:GetDatabases"]
      Resource = [local.glue_catalog_arn, "arn:aws:glue:${local.region}:${local.account}:database/*"]
    },
    {
      # `medallion tables` and `medallion catalog sync`.
      Sid      = "ReadAndReRegisterCatalog"
      Effect   = "Allow"
      Action   = ["glue:GetDatabase", "glue:GetTable", "glue:GetTables", "glue:CreateTable", "glue:UpdateTable"]
      Resource = concat([local.glue_catalog_arn], local.glue_db_arns, local.glue_table_arns)
    },
  ]
}

resource "aws_iam_role" "operator" {
  #checkov:skip=CKV_AWS_61:the trust names this account and requires MFA no older than an hour (people of the account, sessions of an hour); checkov does not read conditions, MED-015 checks them
  name                 = local.operator_role_name
  max_session_duration = 3600
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { AWS = "arn:aws:iam::${local.account}:root" }
      Action    = "sts:AssumeRole"
      Condition = {
        Bool            = { "aws:MultiFactorAuthPresent" = "true" }
        NumericLessThan = { "aws:MultiFactorAuthAge" = "3600" }
      }
    }]
  })
  tags = merge(local.tags, { access = "human" })
}

# No key ARN in it: known at plan time (MED-015 reads the trust, MED-006 the grants).
resource "aws_iam_role_policy" "operator" {
  name = "medallion-restore"
  role = aws_iam_role.operator.id
  policy = jsonencode({
    Version   = "2012-10-17"
    Statement = local.operator_statements
  })
}

# The key only through S3 and Glue (the key policy admits this account's principals that way).
resource "aws_iam_role_policy" "operator_key" {
  name = "medallion-restore-key"
  role = aws_iam_role.operator.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "UseOwnEnvironmentKeyThroughS3AndGlue"
      Effect    = "Allow"
      Action    = ["kms:Decrypt", "kms:GenerateDataKey"]
      Resource  = [aws_kms_key.this.arn]
      Condition = { StringEquals = { "kms:ViaService" = ["s3.${local.region}.amazonaws.com", "glue.${local.region}.amazonaws.com"] } }
    }]
  })
}

# ------------------------------------------------------------------ the Ballista cluster
# With a cluster (var.ballista_scheduler, modules/environment cluster.tf) the batch run shares
# its intermediate rows with the executors below `<lake>/_medallion/tmp/<run>/` (SSE-KMS with
# this key, deleted when the run ends; a lifecycle rule removes what a killed run left,
# storage.tf), and the scheduler and executors read the lake with their own role: read only.
locals {
  cluster_on      = var.ballista_scheduler != null
  cluster_tmp_arn = "${local.bucket_arn}/${local.cluster_tmp_prefix}*"
}

resource "aws_iam_role_policy" "batch_task_cluster_share" {
  count = local.cluster_on ? 1 : 0
  name  = "medallion-cluster-share"
  role  = aws_iam_role.batch_task.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      # engine/core/src/cluster/share.rs: upload (PUT, multipart), the cluster reads, delete at the end
      Sid      = "ShareRunFilesWithTheCluster"
      Effect   = "Allow"
      Action   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"]
      Resource = [local.cluster_tmp_arn]
    }]
  })
}

resource "aws_iam_role" "cluster_task" {
  count              = local.cluster_on ? 1 : 0
  name               = "${local.name}-ballista-task"
  assume_role_policy = local.ecs_assume
  tags               = local.tags
}

resource "aws_iam_role_policy" "cluster_task" {
  count = local.cluster_on ? 1 : 0
  name  = "medallion-cluster-read-lake"
  role  = aws_iam_role.cluster_task[0].id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid      = "ListOwnLake"
        Effect   = "Allow"
        Action   = ["s3:ListBucket", "s3:GetBucketLocation"]
        Resource = [local.bucket_arn]
      },
      {
        # the tables' data files (the run names them from the Delta log) and the run's shared rows
        Sid      = "ReadOwnLayersAndRunFiles"
        Effect   = "Allow"
        Action   = ["s3:GetObject"]
        Resource = concat([for l in sort(tolist(local.layers)) : "${local.bucket_arn}/${l}/*"], [local.cluster_tmp_arn])
      },
      {
        Sid      = "DecryptWithOwnEnvironmentKey"
        Effect   = "Allow"
        Action   = ["kms:Decrypt"]
        Resource = [aws_kms_key.this.arn]
      },
    ]
  })
}
