# Remote state of every root: one bucket in the shared-services account, one prefix per root
# (envs/<root>/terraform.tfstate), S3-native locking (`use_lockfile = true`: a conditional PUT of
# envs/<root>/terraform.tfstate.tflock, Terraform >= 1.10; no DynamoDB table).
#
#   s3://<project>-shared-tfstate-<account>/envs/{shared,dev,staging,prod}/terraform.tfstate
#
# Encrypted with its own rotating key (a state holds every attribute of every resource), versioned
# (earlier states kept noncurrent_version_days), TLS only, no public access, access-logged.
# Each root's deploy role may read and write only its own prefix: the dev pipeline cannot read
# prod's state. The roots' `backend "s3" {}` blocks are configured with their
# backend.hcl.example (deploy/README.md, "Remote state").
locals {
  bucket     = "${var.name}-tfstate-${var.account_id}"
  bucket_arn = "arn:aws:s3:::${local.bucket}"
  tags       = merge(var.tags, { Name = local.bucket, layer = "tfstate" })
  # Sids name the root (MED-002 admits these grants, MED-012 checks their shape).
  sid = { for k in keys(var.deployers) : k => title(k) }
}

resource "aws_kms_key" "state" {
  description             = "${var.name} Terraform state"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = concat([
      {
        Sid       = "KeyAdministrationBySharedServicesAccount"
        Effect    = "Allow"
        Principal = { AWS = "arn:aws:iam::${var.account_id}:root" }
        Action = [
          "kms:Create*", "kms:Describe*", "kms:Enable*", "kms:List*", "kms:Put*",
          "kms:Update*", "kms:Revoke*", "kms:Disable*", "kms:Get*", "kms:Delete*",
          "kms:TagResource", "kms:UntagResource", "kms:ScheduleKeyDeletion", "kms:CancelKeyDeletion",
        ]
        Resource = "*"
      }],
      [for k, d in var.deployers : {
        # The deploy role of one root, only through S3 (its state objects; the bucket policy
        # limits it to its own prefix). The role need not exist yet (aws:PrincipalArn).
        Sid       = "TerraformState${local.sid[k]}Key"
        Effect    = "Allow"
        Principal = { AWS = "arn:aws:iam::${d.account_id}:root" }
        Action    = ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey"]
        Resource  = "*"
        Condition = {
          ArnEquals    = { "aws:PrincipalArn" = [d.role_arn] }
          StringEquals = { "kms:ViaService" = "s3.${var.region}.amazonaws.com" }
        }
      }],
    )
  })
  tags = merge(local.tags, { Name = "${var.name}-tfstate" })
}

resource "aws_kms_alias" "state" {
  name          = "alias/${var.name}-tfstate"
  target_key_id = aws_kms_key.state.key_id
}

# States are never expired; earlier versions are kept noncurrent_version_days (rollback).
module "bucket" {
  source      = "../secure-bucket"
  name        = local.bucket
  tags        = local.tags
  kms_key_arn = aws_kms_key.state.arn
  access_logs = { bucket = var.access_log_bucket, prefix = "tfstate/" }
  lifecycle_rules = [{
    id              = "state-history"
    noncurrent_days = var.noncurrent_version_days
    abort_days      = 7
  }]
  # Each root's deploy role: only its own prefix (MED-012).
  policy_statements = flatten([for k, d in var.deployers : [
    {
      Sid       = "TerraformState${local.sid[k]}List"
      Effect    = "Allow"
      Principal = { AWS = "arn:aws:iam::${d.account_id}:root" }
      Action    = "s3:ListBucket"
      Resource  = local.bucket_arn
      Condition = {
        ArnEquals  = { "aws:PrincipalArn" = [d.role_arn] }
        StringLike = { "s3:prefix" = ["envs/${k}/*"] }
      }
    },
    {
      # The state and its lockfile (created with a conditional PUT, deleted on unlock).
      Sid       = "TerraformState${local.sid[k]}Objects"
      Effect    = "Allow"
      Principal = { AWS = "arn:aws:iam::${d.account_id}:root" }
      Action    = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
      Resource  = "${local.bucket_arn}/envs/${k}/*"
      Condition = { ArnEquals = { "aws:PrincipalArn" = [d.role_arn] } }
    },
  ]])
}
