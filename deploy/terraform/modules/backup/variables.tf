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

variable "account_id" {
  description = "The environment's AWS account id (the backup bucket lives in the same account, in another region)."
  type        = string
}

variable "region" {
  description = "The backup region: another region than the lake's (the provider this module is given must be configured for it)."
  type        = string
  validation {
    condition     = var.region != var.lake_region
    error_message = "The backup region must differ from the lake's region (a regional outage must not take both)."
  }
}

variable "lake_region" {
  description = "The lake's region (refused as the backup region)."
  type        = string
}

variable "retention_days" {
  description = "How long S3 keeps a backup object (current objects expire that many days after they were written, their noncurrent versions one day later). GDPR: a backup keeps erased people's rows until it expires (docs/backup.md, \"Erasures and backups\"; deploy/README.md, \"Backups\")."
  type        = number
  validation {
    condition     = (var.retention_days >= 12 && var.retention_days <= 16) || (var.retention_days >= 32 && var.retention_days <= 57)
    error_message = "retention_days must be 12-16 (generations of 10 days) or 32-57 (generations of a month): the engine's backups are incremental, a generation's files must outlive it and be gone before it is reused (deploy/README.md, \"Backups\")."
  }
}

variable "writer_role_arn" {
  description = "The backup task role (writes backups, encrypts with the backup key)."
  type        = string
}

variable "reader_role_arn" {
  description = "The restore role (reads backups, decrypts with the backup key)."
  type        = string
}

variable "access_log_retention_days" {
  description = "Days the backup bucket's S3 access logs are kept (the environment's retention_days, like the lake's access logs)."
  type        = number
}
