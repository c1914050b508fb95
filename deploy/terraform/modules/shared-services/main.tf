locals {
  name           = "${var.project_name}-shared"
  account        = var.account_id
  region         = var.region
  trail_name     = "${local.name}-org-trail"
  trail_arn      = "arn:aws:cloudtrail:${local.region}:${local.account}:trail/${local.name}-org-trail"
  archive_bucket = "${local.name}-log-archive-${local.account}"
  access_bucket  = "${local.name}-s3-access-logs-${local.account}"
  archive_arn    = "arn:aws:s3:::${local.name}-log-archive-${local.account}"
  access_arn     = "arn:aws:s3:::${local.name}-s3-access-logs-${local.account}"
  state_arn      = "arn:aws:s3:::${local.name}-tfstate-${local.account}"
  config_writers = distinct(concat([local.account], var.member_account_ids))
  tags = {
    project      = var.project_name
    environment  = "shared"
    organization = var.organization
    managed-by   = "terraform"
  }
}

# ------------------------------------------------------------------ KMS
resource "aws_kms_key" "logs" {
  description             = "${local.name} central log archive, trail, log groups and alert topic"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "KeyAdministrationBySharedServicesAccount"
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
        Sid       = "CloudTrailEncryptsOrgTrail"
        Effect    = "Allow"
        Principal = { Service = "cloudtrail.amazonaws.com" }
        Action    = ["kms:GenerateDataKey*", "kms:DescribeKey"]
        Resource  = "*"
        Condition = {
          StringEquals = { "aws:SourceArn" = local.trail_arn }
          StringLike   = { "kms:EncryptionContext:aws:cloudtrail:arn" = "arn:aws:cloudtrail:*:${local.account}:trail/*" }
        }
      },
      {
        Sid       = "ConfigDeliversEncrypted"
        Effect    = "Allow"
        Principal = { Service = "config.amazonaws.com" }
        Action    = ["kms:GenerateDataKey*", "kms:Decrypt", "kms:DescribeKey"]
        Resource  = "*"
        Condition = { StringEquals = { "aws:SourceAccount" = local.config_writers } }
      },
      {
        Sid       = "CentralLogGroups"
        Effect    = "Allow"
        Principal = { Service = "logs.${local.region}.amazonaws.com" }
        Action    = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
        Resource  = "*"
        Condition = {
          ArnLike = { "kms:EncryptionContext:aws:logs:arn" = "arn:aws:logs:${local.region}:${local.account}:log-group:/${local.name}/*" }
        }
      },
      {
        Sid       = "EventsAndCloudTrailPublishToEncryptedTopic"
        Effect    = "Allow"
        Principal = { Service = ["events.amazonaws.com", "cloudtrail.amazonaws.com", "cloudwatch.amazonaws.com", "budgets.amazonaws.com"] }
        Action    = ["kms:Decrypt", "kms:GenerateDataKey*"]
        Resource  = "*"
        Condition = { StringEquals = { "aws:SourceAccount" = local.account } }
      },
    ]
  })
  tags = merge(local.tags, { Name = local.name })
}

resource "aws_kms_alias" "logs" {
  name          = "alias/${local.name}-logs"
  target_key_id = aws_kms_key.logs.key_id
}

# ------------------------------------------------------------------ central CloudWatch log groups
resource "aws_cloudwatch_log_group" "central" {
  for_each          = toset(["cloudtrail", "security-findings"])
  name              = "/${local.name}/${each.key}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.logs.arn
  tags              = local.tags
}

# ------------------------------------------------------------------ shared-services VPC
module "network" {
  source                  = "../network"
  name                    = local.name
  region                  = local.region
  cidr                    = var.cidr
  azs                     = var.azs
  enable_nat              = false
  interface_endpoints     = ["kms", "sts", "logs"]
  account_id              = var.account_id
  flow_log_retention_days = var.log_retention_days
  kms_key_arn             = aws_kms_key.logs.arn
  accept_peerings         = var.environment_peerings
  tags                    = local.tags
}

# ------------------------------------------------------------------ Terraform state of every root
module "state_backend" {
  source            = "../state-backend"
  name              = local.name
  account_id        = local.account
  region            = local.region
  access_log_bucket = module.access_logs.id
  deployers         = var.state_deployers
  tags              = local.tags
}
