# The lake of one environment: what `medallion run` / `medallion stream` touch, and the
# engine configuration rendered from it (the one source of truth, see deploy/README.md).
#
#   s3://<project>-<env>-lake-<account>/            one bucket, SSE-KMS with the environment key
#     bronze/<table>/ silver/<table>/ gold/<table>/   one prefix per layer = the engine's <lake>/<database>/<table>
#     _medallion/environments.yaml                    the engine configuration (MEDALLION_ENVIRONMENTS)
#     _medallion/ingested/<db>.<table>/               the sources retention retired (a Delta table `medallion
#                                                     maintain` appends to and the Bronze stage reads)
#     _medallion/gold_state/<db>.<table>/             partial aggregates of incrementally refreshed Gold tables
#     _medallion/audit/<sequence>.json                the engine's hash-chained audit records (Object Lock
#                                                     retention per object: audit.object_lock), plus HEAD.json
#                                                     and open/ run markers (not locked)
#   Glue databases <project>_<env>_<layer>           = the engine's `<database_prefix><database>`
#   KMS key alias/<project>-<env>                    the engine sends the key ARN as the SSE-KMS key id
#
# Batch, stream and maintain task roles are defined here too: the key policy, the bucket policy and the
# roles' policies are written against each other.

locals {
  env     = var.environment
  name    = "${var.project_name}-${var.environment}"
  account = var.account_id
  region  = var.region
  layers  = toset(var.layers)

  tags = {
    project      = var.project_name
    environment  = var.environment
    organization = var.organization
    managed-by   = "terraform"
  }

  # Names are computed here (known at plan time) so IAM and bucket policies can be scoped
  # precisely and checked offline.
  bucket_name          = "${local.name}-lake-${local.account}"
  bucket_arn           = "arn:aws:s3:::${local.bucket_name}"
  log_bucket_name      = "${local.name}-s3-access-logs-${local.account}"
  glue_database_prefix = replace("${local.name}_", "-", "_")
  glue_db_names        = { for l in local.layers : l => "${local.glue_database_prefix}${l}" }
  config_key           = "_medallion/environments.yaml"
  audit_prefix         = "_medallion/audit/"
  role_arn_prefix      = "arn:aws:iam::${local.account}:role"
  ledger_prefix        = "_medallion/ingested/"
  cluster_tmp_prefix   = "_medallion/tmp/"
  task_role_names = {
    batch    = "${local.name}-batch-task"
    stream   = "${local.name}-stream-task"
    maintain = "${local.name}-maintain-task"
  }
  engine_role_arns = concat(
    ["${local.role_arn_prefix}/${local.task_role_names.batch}"],
    var.streaming ? ["${local.role_arn_prefix}/${local.task_role_names.stream}"] : [],
    ["${local.role_arn_prefix}/${local.task_role_names.maintain}"],
  )

  # The engine configuration: exactly what `medallion` reads from environments.yaml
  # (docs/spec.md), for this one environment. The static part is known at plan time (the
  # offline checks compare it with the repository's environments.yaml).
  engine_environment_static = merge({
    description = "${local.env} on AWS; rendered by Terraform (deploy/terraform/modules/lake), do not edit"
    lake        = "s3://${local.bucket_name}"
    # catalog_id: the account whose Data Catalog holds the databases; the engine sends it on every
    # Glue call, so that a promotion from another account (prod <- staging, as prod's release role)
    # reads this environment's catalog, not the caller's.
    catalog        = { glue = { database_prefix = local.glue_database_prefix, region = local.region, catalog_id = local.account } }
    retention_days = var.retention_days
    streaming      = var.streaming
    # The engine writes each audit record with this Object Lock retention (x-amz-object-lock-*
    # headers); the bucket has no default retention (storage.tf).
    audit = { object_lock = { mode = var.audit_object_lock.mode, days = var.audit_object_lock.days } }
  }, local.promotion, local.retention_policy, local.cluster_engine)
  # A Ballista cluster (modules/environment cluster.tf): Silver's and Gold's SQL run there, the
  # run keeps the Delta commits (docs/cluster.md). Rendered only with a cluster.
  cluster_engine = var.ballista_scheduler == null ? {} : { engine = { ballista = { scheduler = var.ballista_scheduler } } }
  # Promotion: `run`/`stream` here run only releases promoted from `promote_from`, and `gates`
  # are what `medallion promote` checks. Only what is set is rendered: the engine hashes this
  # entry (JSON, keys sorted) into every release, so `gates: {}` or a null limit would make the
  # deployed entry differ from the repository's environments.yaml (config_drift.py).
  gates = { for k, v in var.gates : k => v if v != null }
  promotion = merge(
    var.promote_from == null ? {} : { promote_from = var.promote_from },
    length(local.gates) == 0 ? {} : { gates = local.gates },
  )
  # Retention beyond retention_days (docs/retention.md): only what is set is rendered, like gates.
  retention_set = merge(
    length(var.retention.layers) == 0 ? {} : { layers = var.retention.layers },
    length(var.retention.classifications) == 0 ? {} : { classifications = var.retention.classifications },
    var.retention.vacuum_hours == null ? {} : { vacuum_hours = var.retention.vacuum_hours },
  )
  retention_policy = length(local.retention_set) == 0 ? {} : { retention = local.retention_set }
  engine_environment = merge(
    local.engine_environment_static,
    { kms_key = aws_kms_key.this.arn },
    # MSK accepts IAM auth only (modules/environment/msk.tf): the engine signs
    # OAUTHBEARER tokens with the stream task role's credentials.
    var.kafka_brokers == null ? {} : { kafka = { brokers = var.kafka_brokers, auth = local.kafka_auth } },
  )
  # The rendered `kafka.auth` (known at plan; the brokers are known after apply).
  kafka_auth         = "msk_iam"
  engine_config_yaml = yamlencode({ environments = { (local.env) = local.engine_environment } })
}

# ------------------------------------------------------------------ KMS
resource "aws_kms_key" "this" {
  description             = "${local.name} data key (S3, Glue, MSK, logs, SNS, ECR, EBS)"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = concat([
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
        # Principals of this account whose IAM policies allow it (the deployer writing the
        # encrypted Glue catalog, EC2 encrypting the bastion disk, an operator reading the
        # lake during a restore) may use the key, but only through these AWS services.
        Sid       = "UseThroughAwsServicesByThisAccount"
        Effect    = "Allow"
        Principal = { AWS = "arn:aws:iam::${local.account}:root" }
        Action    = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey", "kms:CreateGrant"]
        Resource  = "*"
        Condition = {
          StringEquals = {
            "kms:CallerAccount" = local.account
            "kms:ViaService" = [
              "s3.${local.region}.amazonaws.com", "glue.${local.region}.amazonaws.com",
              "ec2.${local.region}.amazonaws.com", "kafka.${local.region}.amazonaws.com",
              "ecr.${local.region}.amazonaws.com", "sns.${local.region}.amazonaws.com",
            ]
          }
        }
      },
      {
        Sid       = "UseByThisEnvironmentsEngineRoles"
        Effect    = "Allow"
        Principal = { AWS = local.engine_role_arns }
        Action    = ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey"]
        Resource  = "*"
      },
      ], var.ballista_scheduler == null ? [] : [{
        # The Ballista scheduler and executors read the lake (SSE-KMS): decrypt only.
        Sid       = "DecryptByThisEnvironmentsClusterRole"
        Effect    = "Allow"
        Principal = { AWS = "${local.role_arn_prefix}/${local.name}-ballista-task" }
        Action    = ["kms:Decrypt"]
        Resource  = "*"
      }], [
      {
        Sid       = "CloudWatchLogsOfThisEnvironment"
        Effect    = "Allow"
        Principal = { Service = "logs.${local.region}.amazonaws.com" }
        Action    = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
        Resource  = "*"
        Condition = {
          ArnLike = { "kms:EncryptionContext:aws:logs:arn" = "arn:aws:logs:${local.region}:${local.account}:log-group:${var.log_group_prefix}/*" }
        }
      },
      {
        Sid       = "AlarmsEventsAndBudgetsPublishToEncryptedTopic"
        Effect    = "Allow"
        Principal = { Service = ["cloudwatch.amazonaws.com", "events.amazonaws.com", "budgets.amazonaws.com"] }
        Action    = ["kms:Decrypt", "kms:GenerateDataKey*"]
        Resource  = "*"
        Condition = { StringEquals = { "aws:SourceAccount" = local.account } }
      }],
      # The next environment's release role (another account) decrypts what it reads through S3
      # for `medallion promote` (bucket policy: read-only, storage.tf). MED-014 checks the shape.
      [for k, r in var.promotion_readers : {
        Sid       = "PromotionReadBy${title(k)}ReleaseKey"
        Effect    = "Allow"
        Principal = { AWS = "arn:aws:iam::${r.account_id}:root" }
        Action    = ["kms:Decrypt"]
        Resource  = "*"
        Condition = {
          ArnEquals    = { "aws:PrincipalArn" = [r.role_arn] }
          StringEquals = { "kms:ViaService" = "s3.${local.region}.amazonaws.com" }
        }
      }],
      # ... and what it reads of the Glue catalog, which is encrypted with this key (Glue decrypts
      # for the caller; the catalog's resource policy below grants the reads).
      [for k, r in var.promotion_readers : {
        Sid       = "PromotionReadBy${title(k)}ReleaseCatalogKey"
        Effect    = "Allow"
        Principal = { AWS = "arn:aws:iam::${r.account_id}:root" }
        Action    = ["kms:Decrypt"]
        Resource  = "*"
        Condition = {
          ArnEquals    = { "aws:PrincipalArn" = [r.role_arn] }
          StringEquals = { "kms:ViaService" = "glue.${local.region}.amazonaws.com" }
        }
      }],
    )
  })
  tags = merge(local.tags, { Name = local.name })

  depends_on = [aws_iam_role.batch_task, aws_iam_role.stream_task, aws_iam_role.maintain_task, aws_iam_role.cluster_task]
}

resource "aws_kms_alias" "this" {
  name          = "alias/${local.name}"
  target_key_id = aws_kms_key.this.key_id
}

# The next environment's release role (another account; promotion_readers) reads this catalog for
# `medallion promote --from <this> --to <next>` (the target's catalog_id in the rendered entry makes
# the engine ask this account's catalog): read only, only this environment's databases and their
# tables. A Glue catalog has one resource policy (per account and region): this module owns it, as
# it owns the catalog's encryption settings. MED-014 checks the exact shape.
locals {
  promotion_catalog_grants = [for k, r in var.promotion_readers : {
    Sid       = "PromotionReadBy${title(k)}ReleaseCatalog"
    Effect    = "Allow"
    Principal = { AWS = "arn:aws:iam::${r.account_id}:root" }
    Action    = ["glue:GetDatabase", "glue:GetDatabases", "glue:GetTable", "glue:GetTables"]
    Resource = [
      local.glue_catalog_arn,
      "arn:aws:glue:${local.region}:${local.account}:database/${local.glue_database_prefix}*",
      "arn:aws:glue:${local.region}:${local.account}:table/${local.glue_database_prefix}*/*",
    ]
    Condition = { ArnEquals = { "aws:PrincipalArn" = [r.role_arn] } }
  }]
}

resource "aws_glue_resource_policy" "promotion" {
  count = length(var.promotion_readers) > 0 ? 1 : 0
  policy = jsonencode({
    Version   = "2012-10-17"
    Statement = local.promotion_catalog_grants
  })
}
