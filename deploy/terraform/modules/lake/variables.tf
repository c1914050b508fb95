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
