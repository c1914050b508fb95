locals {
  env     = var.environment
  name    = "${var.project_name}-${var.environment}"
  account = var.settings.account_id
  region  = var.region
  layers  = toset(var.settings.layers)

  tags = {
    project      = var.project_name
    environment  = var.environment
    organization = var.organization
    managed-by   = "terraform"
  }

  # Names are computed here (known at plan time) so IAM and bucket policies can
  # be scoped precisely and checked offline.
  bucket_names    = { for l in local.layers : l => "${local.name}-${l}-${local.account}" }
  bucket_arns     = { for l, b in local.bucket_names : l => "arn:aws:s3:::${b}" }
  glue_db_names   = { for l in local.layers : l => replace("${local.name}_${l}", "-", "_") }
  log_bucket_name = "${local.name}-s3-access-logs-${local.account}"
  msk_name        = "${local.name}-msk"
  role_arn_prefix = "arn:aws:iam::${local.account}:role"
  task_role_names = {
    batch  = "${local.name}-batch-task"
    stream = "${local.name}-stream-task"
  }
  log_group_prefix = "/${local.name}"
  engine_role_arns = concat(
    ["${local.role_arn_prefix}/${local.task_role_names.batch}"],
    var.settings.enable_streaming ? ["${local.role_arn_prefix}/${local.task_role_names.stream}"] : [],
  )
}

# ------------------------------------------------------------------ KMS
resource "aws_kms_key" "this" {
  description             = "${local.name} data key (S3, Glue, MSK, logs, SNS, ECR, EBS)"
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
        Sid       = "GrantsForAwsServicesInThisEnvironment"
        Effect    = "Allow"
        Principal = { AWS = "arn:aws:iam::${local.account}:root" }
        Action    = ["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"]
        Resource  = "*"
        Condition = { Bool = { "kms:GrantIsForAWSResource" = "true" } }
      },
      {
        Sid       = "UseByThisEnvironmentsEngineRoles"
        Effect    = "Allow"
        Principal = { AWS = local.engine_role_arns }
        Action    = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"]
        Resource  = "*"
      },
      {
        Sid       = "CloudWatchLogsOfThisEnvironment"
        Effect    = "Allow"
        Principal = { Service = "logs.${local.region}.amazonaws.com" }
        Action    = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
        Resource  = "*"
        Condition = {
          ArnLike = { "kms:EncryptionContext:aws:logs:arn" = "arn:aws:logs:${local.region}:${local.account}:log-group:${local.log_group_prefix}/*" }
        }
      },
      {
        Sid       = "AlarmsEventsAndBudgetsPublishToEncryptedTopic"
        Effect    = "Allow"
        Principal = { Service = ["cloudwatch.amazonaws.com", "events.amazonaws.com", "budgets.amazonaws.com"] }
        Action    = ["kms:Decrypt", "kms:GenerateDataKey*"]
        Resource  = "*"
        Condition = { StringEquals = { "aws:SourceAccount" = local.account } }
      },
    ]
  })
  tags = merge(local.tags, { Name = local.name })

  depends_on = [aws_iam_role.batch_task, aws_iam_role.stream_task]
}

resource "aws_kms_alias" "this" {
  name          = "alias/${local.name}"
  target_key_id = aws_kms_key.this.key_id
}
