# ------------------------------------------------------------------ access-log bucket
# S3 server access log delivery only supports SSE-S3 on the target bucket, so
# this one bucket is AES256; every data bucket uses the environment's KMS key.
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
      days = var.retention_days
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
          ArnLike      = { "aws:SourceArn" = "arn:aws:s3:::${local.name}-*" }
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

# ------------------------------------------------------------------ the lake bucket
# One bucket per environment; the layers are prefixes (bronze/, silver/, gold/), which is
# how the engine lays out `<lake>/<database>/<table>`.
#
# Object Lock is enabled (it needs versioning, below) so that the engine can lock its audit
# records (`_medallion/audit/<sequence>.json`) one object at a time: it sends
# x-amz-object-lock-mode / -retain-until-date (var.audit_object_lock, rendered as
# `audit.object_lock`) on those PUTs only. `object_lock_enabled` forces a new bucket when it
# changes: an existing lake bucket must get Object Lock in place first (deploy/README.md,
# "Audit trail: Object Lock"), never by replacement.
resource "aws_s3_bucket" "lake" {
  bucket              = local.bucket_name
  object_lock_enabled = true
  tags                = merge(local.tags, { Name = local.bucket_name, layer = "lake" })
}

# The bucket's Object Lock configuration, owned by Terraform so that it stays WITHOUT a default
# retention rule (a rule added by hand is removed on the next apply). A default retention would
# lock every new Delta data file and `_delta_log` commit too: the engine's table retention
# (delete + vacuum) and erasure must be able to delete those, and every PUT would need a
# Content-MD5/checksum header. Only the audit records are locked, by the engine, per object.
resource "aws_s3_bucket_object_lock_configuration" "lake" {
  bucket              = aws_s3_bucket.lake.id
  object_lock_enabled = "Enabled"
  depends_on          = [aws_s3_bucket_versioning.lake]
}

resource "aws_s3_bucket_ownership_controls" "lake" {
  bucket = aws_s3_bucket.lake.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "lake" {
  bucket                  = aws_s3_bucket.lake.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "lake" {
  bucket = aws_s3_bucket.lake.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "lake" {
  bucket = aws_s3_bucket.lake.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.this.arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_logging" "lake" {
  bucket        = aws_s3_bucket.lake.id
  target_bucket = aws_s3_bucket.access_logs.id
  target_prefix = "lake/"
  # S3 checks that the target's bucket policy admits log delivery.
  depends_on = [aws_s3_bucket_policy.access_logs]
}

# S3 never expires a current object of the lake: a Delta table's data files and its
# _delta_log commits are live however old they are. Retention of table data is the engine's
# (delete + vacuum, `retention_days` in the rendered configuration). S3 only removes what no
# table references any more: overwritten/deleted versions after `noncurrent_version_days`
# (the restore window), orphaned delete markers and abandoned multipart uploads.
resource "aws_s3_bucket_lifecycle_configuration" "lake" {
  bucket = aws_s3_bucket.lake.id
  rule {
    id     = "noncurrent-versions-and-aborted-uploads"
    status = "Enabled"
    filter {}
    dynamic "transition" {
      for_each = var.transitions
      content {
        days          = transition.value.days
        storage_class = transition.value.storage_class
      }
    }
    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_days
    }
    expiration {
      expired_object_delete_marker = true
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }
  depends_on = [aws_s3_bucket_versioning.lake]
}

locals {
  # `medallion promote --from <this> --to <next>` run by the next environment's release role
  # (another account) reads what a promotion reads here: the audit trail (runs, earlier
  # promotions), the tables' Delta logs (schemas), the rendered configuration. Read only,
  # never a data file. The role need not exist first (aws:PrincipalArn). MED-014.
  promotion_read_grants = flatten([for k, r in var.promotion_readers : [
    {
      Sid       = "PromotionReadBy${title(k)}ReleaseList"
      Effect    = "Allow"
      Principal = { AWS = "arn:aws:iam::${r.account_id}:root" }
      Action    = "s3:ListBucket"
      Resource  = local.bucket_arn
      Condition = { ArnEquals = { "aws:PrincipalArn" = [r.role_arn] } }
    },
    {
      Sid       = "PromotionReadBy${title(k)}ReleaseObjects"
      Effect    = "Allow"
      Principal = { AWS = "arn:aws:iam::${r.account_id}:root" }
      Action    = "s3:GetObject"
      Resource = concat(
        ["${local.bucket_arn}/${local.audit_prefix}*", "${local.bucket_arn}/${local.config_key}"],
        [for l in sort(tolist(local.layers)) : "${local.bucket_arn}/${l}/*/_delta_log/*"],
      )
      Condition = { ArnEquals = { "aws:PrincipalArn" = [r.role_arn] } }
    },
  ]])
}

resource "aws_s3_bucket_policy" "lake" {
  bucket = aws_s3_bucket.lake.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = concat([
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
        # The engine sends the key ARN (rendered `kms_key`); an alias or key id is refused.
        Sid       = "DenyOtherKmsKeys"
        Effect    = "Deny"
        Principal = "*"
        Action    = "s3:PutObject"
        Resource  = "${local.bucket_arn}/*"
        Condition = { StringNotEqualsIfExists = { "s3:x-amz-server-side-encryption-aws-kms-key-id" = aws_kms_key.this.arn } }
      }],
      local.promotion_read_grants,
    )
  })
  depends_on = [aws_s3_bucket_public_access_block.lake]
}

# ------------------------------------------------------------------ the engine configuration
# Rendered from this module's own values; the task definitions point MEDALLION_ENVIRONMENTS
# here, and `terraform output -raw engine_config_yaml` gives the same text for local use.
resource "aws_s3_object" "engine_config" {
  bucket                 = aws_s3_bucket.lake.id
  key                    = local.config_key
  content                = local.engine_config_yaml
  content_type           = "application/yaml"
  server_side_encryption = "aws:kms"
  kms_key_id             = aws_kms_key.this.arn
  bucket_key_enabled     = true
  tags                   = local.tags
  depends_on             = [aws_s3_bucket_policy.lake, aws_s3_bucket_versioning.lake]
}

# ------------------------------------------------------------------ Glue catalog
resource "aws_glue_catalog_database" "layer" {
  for_each    = local.glue_db_names
  name        = each.value
  description = "${local.name} ${each.key} layer tables"
  catalog_id  = local.account
  tags        = merge(local.tags, { layer = each.key })
}

resource "aws_glue_data_catalog_encryption_settings" "this" {
  count      = var.manage_catalog_encryption ? 1 : 0
  catalog_id = local.account
  data_catalog_encryption_settings {
    encryption_at_rest {
      catalog_encryption_mode = "SSE-KMS"
      sse_aws_kms_key_id      = aws_kms_key.this.arn
    }
    connection_password_encryption {
      return_connection_password_encrypted = true
      aws_kms_key_id                       = aws_kms_key.this.arn
    }
  }
}
