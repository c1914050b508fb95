variable "project_name" {
  description = "Project name, the prefix of every resource name."
  type        = string
}

variable "organization" {
  description = "Owning organisation (cost-allocation tag)."
  type        = string
}

variable "environment" {
  description = "Environment name: dev, staging or prod."
  type        = string
  validation {
    condition     = contains(["dev", "staging", "prod"], var.environment)
    error_message = "environment must be dev, staging or prod."
  }
}

variable "region" {
  description = "AWS region of the environment."
  type        = string
}

variable "account_id" {
  description = "The environment's AWS account id."
  type        = string
}

variable "layers" {
  description = "Layers of the lake: one prefix of the lake bucket and one Glue database each (the engine's table databases)."
  type        = list(string)
}

variable "retention_days" {
  description = "How long the engine keeps table data (rendered into the engine configuration; the engine deletes and vacuums, S3 never expires live Delta files)."
  type        = number
}

variable "audit_object_lock" {
  description = "S3 Object Lock retention the engine puts on each audit record object (`_medallion/audit/<sequence>.json`): `mode` governance or compliance, `days` (retain-until = write time + days). Rendered into the engine configuration as `audit.object_lock`. The lake bucket has Object Lock enabled but deliberately no default retention (deploy/README.md, \"Audit trail: Object Lock\")."
  type = object({
    mode = string
    days = number
  })
  validation {
    condition     = contains(["governance", "compliance"], var.audit_object_lock.mode)
    error_message = "audit_object_lock.mode must be governance or compliance (lower case, as the engine reads it)."
  }
  validation {
    condition     = var.audit_object_lock.days > 0 && floor(var.audit_object_lock.days) == var.audit_object_lock.days
    error_message = "audit_object_lock.days must be a whole number of days > 0."
  }
}

variable "noncurrent_version_days" {
  description = "Days S3 keeps overwritten/deleted (noncurrent) object versions before expiring them: the window in which a lost table can be restored."
  type        = number
  default     = 30
}

variable "streaming" {
  description = "Whether the environment runs `medallion stream` (creates the stream task role, renders `streaming: true`)."
  type        = bool
}

variable "kafka_brokers" {
  description = "MSK IAM bootstrap brokers rendered into the engine configuration (`kafka: { brokers, auth: msk_iam }`); null without streaming."
  type        = string
  default     = null
}

variable "stream_extra_statements" {
  description = "IAM statements the stream task role gets on top of the batch role's (Kafka cluster, topics and groups)."
  type        = any
  default     = []
}

variable "log_group_prefix" {
  description = "Prefix of the environment's CloudWatch log groups (the key policy lets CloudWatch Logs use the key for these only)."
  type        = string
}

variable "transitions" {
  description = "Storage-class transitions of current lake objects. Only instant-access classes: the engine must be able to read any live Delta file at any time."
  type = list(object({
    days          = number
    storage_class = string
  }))
  default = []
  validation {
    condition     = alltrue([for t in var.transitions : contains(["STANDARD_IA", "INTELLIGENT_TIERING", "GLACIER_IR"], t.storage_class)])
    error_message = "transitions: storage_class must be STANDARD_IA, INTELLIGENT_TIERING or GLACIER_IR; GLACIER, DEEP_ARCHIVE and ONEZONE_IA would make live Delta files unreadable (or lose them with one AZ)."
  }
}

variable "manage_catalog_encryption" {
  description = "Whether this module owns the account's Glue Data Catalog encryption settings (one owner per account; every environment has its own account, so true)."
  type        = bool
  default     = true
}

variable "promote_from" {
  description = "The environment whose tested releases this one runs (rendered as `promote_from`): `medallion run`/`stream` here refuse specs not promoted with `medallion promote --from <promote_from> --to <environment>`. null: runs any spec (dev). Also creates the release role that records promotions here."
  type        = string
  default     = null
  validation {
    condition     = var.promote_from == null || (contains(["dev", "staging", "prod"], coalesce(var.promote_from, "-")) && var.promote_from != var.environment)
    error_message = "promote_from must be null or another environment (dev, staging, prod)."
  }
}

variable "gates" {
  description = "What `medallion promote` checks before promoting into this environment (rendered as `gates`, unset limits are not rendered): max_quarantine_ratio (0..1, share of a pipeline's input rows its runs upstream quarantined), max_duration_s (seconds), max_peak_memory_mib (MiB, whole)."
  type = object({
    max_quarantine_ratio = optional(number)
    max_duration_s       = optional(number)
    max_peak_memory_mib  = optional(number)
  })
  default = {}
  validation {
    condition     = var.gates.max_quarantine_ratio == null || (coalesce(var.gates.max_quarantine_ratio, 0) >= 0 && coalesce(var.gates.max_quarantine_ratio, 0) <= 1)
    error_message = "gates.max_quarantine_ratio must be between 0 and 1 (0.05 = 5%)."
  }
  validation {
    condition     = var.gates.max_duration_s == null || coalesce(var.gates.max_duration_s, 1) > 0
    error_message = "gates.max_duration_s must be a number of seconds > 0."
  }
  validation {
    condition     = var.gates.max_peak_memory_mib == null || (coalesce(var.gates.max_peak_memory_mib, 1) > 0 && floor(coalesce(var.gates.max_peak_memory_mib, 1)) == coalesce(var.gates.max_peak_memory_mib, 1))
    error_message = "gates.max_peak_memory_mib must be a whole number of MiB > 0."
  }
}

variable "release_principals" {
  description = "IAM principals (ARNs in this account) that may assume the release role: the CI's deploy role that runs deploy/ci/release.sh. null: arn:aws:iam::<account>:role/<project_name>-ci. They need not exist when the role is created (the trust names the account and limits it with aws:PrincipalArn)."
  type        = list(string)
  default     = null
  validation {
    condition     = var.release_principals == null || alltrue([for p in coalesce(var.release_principals, []) : startswith(p, "arn:aws:iam::${var.account_id}:")])
    error_message = "release_principals must be IAM ARNs in this environment's own account."
  }
}

variable "retention" {
  description = "The engine's retention policy beyond `retention_days` (rendered as `retention`, only what is set; docs/retention.md): days per layer (bronze, silver, quarantine, gold), days per column classification (e.g. pii), and vacuum_hours (how long `medallion maintain` keeps files no version references before VACUUM deletes them; default 168 in the engine)."
  type = object({
    layers          = optional(map(number), {})
    classifications = optional(map(number), {})
    vacuum_hours    = optional(number)
  })
  default = {}
  validation {
    condition     = alltrue([for k, v in var.retention.layers : contains(["bronze", "silver", "quarantine", "gold"], k) && v > 0 && floor(v) == v])
    error_message = "retention.layers: keys bronze, silver, quarantine or gold, values whole numbers of days > 0."
  }
  validation {
    condition     = alltrue([for k, v in var.retention.classifications : v > 0 && floor(v) == v])
    error_message = "retention.classifications: whole numbers of days > 0."
  }
  validation {
    condition     = var.retention.vacuum_hours == null || (coalesce(var.retention.vacuum_hours, 0) >= 0 && coalesce(var.retention.vacuum_hours, 0) <= 168 && floor(coalesce(var.retention.vacuum_hours, 0)) == coalesce(var.retention.vacuum_hours, 0))
    error_message = "retention.vacuum_hours: whole hours, 0..168 (the engine refuses more than the tables' delta.deletedFileRetentionDuration, 7 days)."
  }
}

variable "promotion_readers" {
  description = "Release roles of the next environment (its `promote_from` is this one, in another account) that read this lake for `medallion promote`: env => { account_id, role_arn }. Granted read-only access to the audit trail, the tables' Delta logs and the rendered configuration (bucket policy), GetDatabase(s)/GetTable(s) on this environment's Glue databases and tables (the catalog's resource policy), and kms:Decrypt through S3 and through Glue (key policy); nothing else."
  type = map(object({
    account_id = string
    role_arn   = string
  }))
  default = {}
  validation {
    condition     = alltrue([for k, r in var.promotion_readers : r.role_arn == "arn:aws:iam::${r.account_id}:role/${var.project_name}-${k}-release"])
    error_message = "promotion_readers: each role must be the release role <project>-<env>-release of that environment's account."
  }
}

variable "promotion_source" {
  description = "The environment this one promotes from, when its lake is in another AWS account (prod <- staging): { environment, account_id, layers }. The release role may then read its audit trail, Delta logs and configuration and decrypt through S3, and read its Glue databases and tables and decrypt them through Glue; null: the promotion reads a local lake (dev in CI) or nothing."
  type = object({
    environment = string
    account_id  = string
    layers      = list(string)
  })
  default = null
}

variable "backup" {
  description = "The environment's backups (modules/backup): { bucket, region, prefix } of the backup bucket in the second region (known at plan time) and kms_key_arn of its key. Creates the backup task role (`medallion backup`, scheduled) and the restore role (`medallion restore`, break-glass, MFA). null: no backups (dev)."
  type = object({
    bucket      = string
    region      = string
    prefix      = string
    kms_key_arn = string
  })
  default = null
}

variable "ballista_scheduler" {
  description = "The Ballista cluster's scheduler (`df://<host>:<port>`, modules/environment cluster.tf), rendered as `engine.ballista.scheduler`; then the batch role may share the run's temporary files under `_medallion/tmp/` with the cluster, whose task role (`<project>-<env>-ballista-task`) only reads the lake. null: no cluster."
  type        = string
  default     = null
}

variable "landing" {
  description = "Landing locations the batch runs read files sources from (`s3://<bucket>/<prefix>...`): { bucket, prefix (a folder ending in /), kms_key_arn (the objects' SSE-KMS key; null: SSE-S3 or none) }. The batch task role (the Bronze shards run as it too) gets exactly s3:ListBucket on the bucket with s3:prefix under the prefix, s3:GetObject below the prefix and kms:Decrypt on the key through S3 of this region; no write. The bucket's owner grants the same in its bucket and key policies when it is in another account."
  type = list(object({
    bucket      = string
    prefix      = string
    kms_key_arn = optional(string)
  }))
  default = []
  validation {
    condition = alltrue([for l in var.landing : (
      can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", l.bucket)) &&
      can(regex("^[^/*?\\[\\]][^*?\\[\\]]*/$", l.prefix)) &&
      (l.kms_key_arn == null || can(regex("^arn:aws:kms:[a-z0-9-]+:[0-9]{12}:key/[0-9a-f-]+$", coalesce(l.kms_key_arn, "-"))))
    )])
    error_message = "landing: bucket an S3 bucket name, prefix a folder ending in / (no leading /, no * ? [ ]), kms_key_arn null or a key ARN (not an alias)."
  }
  validation {
    condition     = !anytrue([for l in var.landing : anytrue([for r in ["dev", "staging", "prod", "shared"] : startswith(l.bucket, "${var.project_name}-${r}-")])])
    error_message = "landing: a landing bucket may not be one of the platform's buckets (<project>-<environment>-...): another environment's lake is refused (isolation), the own lake is no landing place."
  }
}
