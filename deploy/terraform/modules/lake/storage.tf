# ------------------------------------------------------------------ access-log bucket
# S3 server access log delivery only supports SSE-S3 on the target bucket, so this one bucket is
# AES256; every data bucket uses the environment's KMS key. Logs expire at retention_days.
module "access_logs" {
  source         = "../access-log-bucket"
  name           = local.log_bucket_name
  tags           = local.tags
  account_id     = local.account
  source_arns    = ["arn:aws:s3:::${local.name}-*"]
  retention_days = var.retention_days
}

# ------------------------------------------------------------------ the lake bucket
# One bucket per environment; the layers are prefixes (bronze/, silver/, gold/), which is
# how the engine lays out `<lake>/<database>/<table>`. SSE-KMS with the environment key; the
# bucket policy refuses plain HTTP, non-KMS PUTs and any key but this one, by ARN (the engine
# sends the ARN it is given in `kms_key`).
#
# Object Lock is enabled (it needs versioning) so that the engine can lock its audit records
# (`_medallion/audit/<sequence>.json`) one object at a time: it sends
# x-amz-object-lock-mode / -retain-until-date (var.audit_object_lock, rendered as
# `audit.object_lock`) on those PUTs only. The bucket's Object Lock configuration has NO default
# retention: it would lock every new Delta data file and `_delta_log` commit too, and the engine's
# table retention (delete + vacuum) and erasure must be able to delete those (and every PUT would
# need a checksum header). `object_lock_enabled` forces a new bucket when it changes: an existing
# lake bucket must get Object Lock in place first (deploy/README.md, "Audit trail: Object Lock"),
# never by replacement.
#
# Lifecycle: S3 never expires a current object of the lake: a Delta table's data files and its
# _delta_log commits are live however old they are. Retention of table data is the engine's
# (delete + vacuum, `retention_days` in the rendered configuration). S3 only removes what no
# table references any more: overwritten/deleted versions after `noncurrent_version_days`
# (the restore window), orphaned delete markers and abandoned multipart uploads.
module "lake_bucket" {
  source              = "../secure-bucket"
  name                = local.bucket_name
  tags                = merge(local.tags, { layer = "lake" })
  kms_key_arn         = aws_kms_key.this.arn
  deny_other_kms_keys = true
  object_lock         = {}
  access_logs         = { bucket = module.access_logs.id, prefix = "lake/" }
  lifecycle_rules = [{
    id                           = "noncurrent-versions-and-aborted-uploads"
    transitions                  = var.transitions
    noncurrent_days              = var.noncurrent_version_days
    expired_object_delete_marker = true
    abort_days                   = 7
  }]
  # With a Ballista cluster: what a killed run left of its shared rows (`_medallion/tmp/<run>/`,
  # never a table file) expires after 2 days, its versions a day later. MED-003 admits expiry
  # of current objects under exactly this prefix.
  prefix_expirations = var.ballista_scheduler == null ? [] : [{ id = "cluster-run-files", prefix = local.cluster_tmp_prefix, days = 2 }]
  # The next environment's release role (another account) reads what a promotion reads (below).
  policy_statements = local.promotion_read_grants
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

# ------------------------------------------------------------------ the engine configuration
# Rendered from this module's own values; the task definitions point MEDALLION_ENVIRONMENTS
# here, and `terraform output -raw engine_config_yaml` gives the same text for local use.
resource "aws_s3_object" "engine_config" {
  bucket                 = module.lake_bucket.id
  key                    = local.config_key
  content                = local.engine_config_yaml
  content_type           = "application/yaml"
  server_side_encryption = "aws:kms"
  kms_key_id             = aws_kms_key.this.arn
  bucket_key_enabled     = true
  tags                   = local.tags
  depends_on             = [module.lake_bucket]
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
