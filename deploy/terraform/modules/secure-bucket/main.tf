# One hardened S3 bucket, the pattern of every data bucket of the platform (the lakes, the backups,
# the log archive, the Terraform state); their server-access-log targets are modules/access-log-bucket:
#
#   - public access blocked, BucketOwnerEnforced (no ACLs), versioning on;
#   - default encryption SSE-KMS under the caller's key (the environment's) with an S3 bucket key;
#   - a bucket policy that denies plain HTTP, optionally every PUT not SSE-KMS under exactly that
#     key (by ARN), then the caller's statements;
#   - server access logs to the caller's target; lifecycle rules over the whole bucket, all
#     Enabled; optional S3 Object Lock, with or without a default retention.
#
# The project policies (deploy/policies/plan_policies.py) follow the references of these
# resources to the bucket and to the caller's key: MED-001 (encryption by the environment's own
# key), MED-003 (lifecycle), MED-009/016 (Object Lock, versioning), MED-012 (the state bucket).
locals {
  arn  = "arn:aws:s3:::${var.name}"
  tags = merge(var.tags, { Name = var.name })
}

resource "aws_s3_bucket" "this" {
  bucket              = var.name
  object_lock_enabled = var.object_lock != null ? true : null
  tags                = local.tags
}

resource "aws_s3_bucket_ownership_controls" "this" {
  bucket = aws_s3_bucket.this.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "this" {
  bucket                  = aws_s3_bucket.this.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "this" {
  bucket = aws_s3_bucket.this.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "this" {
  bucket = aws_s3_bucket.this.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = var.kms_key_arn
    }
    bucket_key_enabled = true
  }
}

# Managed by Terraform also without a default retention, so that one added by hand is removed on
# the next apply (deploy/README.md, "Audit trail: Object Lock").
resource "aws_s3_bucket_object_lock_configuration" "this" {
  count               = var.object_lock != null ? 1 : 0
  bucket              = aws_s3_bucket.this.id
  object_lock_enabled = "Enabled"
  dynamic "rule" {
    for_each = try(var.object_lock.default_retention, null) == null ? [] : [var.object_lock.default_retention]
    content {
      default_retention {
        mode = rule.value.mode
        days = rule.value.days
      }
    }
  }
  depends_on = [aws_s3_bucket_versioning.this]
}

resource "aws_s3_bucket_logging" "this" {
  bucket        = aws_s3_bucket.this.id
  target_bucket = var.access_logs.bucket
  target_prefix = var.access_logs.prefix
}

resource "aws_s3_bucket_lifecycle_configuration" "this" {
  bucket = aws_s3_bucket.this.id
  dynamic "rule" {
    for_each = var.lifecycle_rules
    content {
      id     = rule.value.id
      status = "Enabled"
      filter {}
      dynamic "transition" {
        for_each = rule.value.transitions
        content {
          days          = transition.value.days
          storage_class = transition.value.storage_class
        }
      }
      dynamic "expiration" {
        for_each = rule.value.expiration_days != null || coalesce(rule.value.expired_object_delete_marker, false) ? [rule.value] : []
        content {
          days                         = expiration.value.expiration_days
          expired_object_delete_marker = expiration.value.expired_object_delete_marker
        }
      }
      dynamic "noncurrent_version_expiration" {
        for_each = rule.value.noncurrent_days == null ? [] : [rule.value.noncurrent_days]
        content {
          noncurrent_days = noncurrent_version_expiration.value
        }
      }
      dynamic "abort_incomplete_multipart_upload" {
        for_each = rule.value.abort_days == null ? [] : [rule.value.abort_days]
        content {
          days_after_initiation = abort_incomplete_multipart_upload.value
        }
      }
    }
  }
  dynamic "rule" {
    for_each = var.prefix_expirations
    content {
      status = "Enabled"
      id     = rule.value.id
      filter {
        prefix = rule.value.prefix
      }
      expiration {
        days = rule.value.days
      }
      noncurrent_version_expiration {
        noncurrent_days = 1
      }
      abort_incomplete_multipart_upload {
        days_after_initiation = 1
      }
    }
  }
  depends_on = [aws_s3_bucket_versioning.this]
}

resource "aws_s3_bucket_policy" "this" {
  bucket = aws_s3_bucket.this.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = concat(
      [{
        Sid       = "DenyInsecureTransport"
        Effect    = "Deny"
        Principal = "*"
        Action    = "s3:*"
        Resource  = [local.arn, "${local.arn}/*"]
        Condition = { Bool = { "aws:SecureTransport" = "false" } }
      }],
      var.deny_other_kms_keys ? [
        {
          Sid       = "DenyNonKmsEncryption"
          Effect    = "Deny"
          Principal = "*"
          Action    = "s3:PutObject"
          Resource  = "${local.arn}/*"
          Condition = { StringNotEqualsIfExists = { "s3:x-amz-server-side-encryption" = "aws:kms" } }
        },
        {
          # Writers send the key ARN (the engine: the rendered `kms_key`, `--kms-key`); an alias,
          # a key id or another key is refused.
          Sid       = "DenyOtherKmsKeys"
          Effect    = "Deny"
          Principal = "*"
          Action    = "s3:PutObject"
          Resource  = "${local.arn}/*"
          Condition = { StringNotEqualsIfExists = { "s3:x-amz-server-side-encryption-aws-kms-key-id" = var.kms_key_arn } }
        },
      ] : [],
      var.policy_statements,
    )
  })
  depends_on = [aws_s3_bucket_public_access_block.this]
}
