# Task roles of the engine. Every action below is one the engine makes (see the comments);
# deploy/tests/proof/ applies this module to a local AWS API with IAM enforcement and runs
# `medallion run jobs/ --env staging` as the batch role to show it is enough.

locals {
  ecs_assume = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "ecs-tasks.amazonaws.com" }
      Action    = "sts:AssumeRole"
      Condition = {
        StringEquals = { "aws:SourceAccount" = local.account }
        ArnLike      = { "aws:SourceArn" = "arn:aws:ecs:${local.region}:${local.account}:*" }
      }
    }]
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
