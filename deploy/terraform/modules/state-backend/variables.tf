variable "name" {
  description = "Name prefix (<project>-shared): the bucket is <name>-tfstate-<account>."
  type        = string
}

variable "account_id" {
  description = "The shared-services account, which holds the state of every root."
  type        = string
}

variable "region" {
  description = "Region of the state bucket."
  type        = string
}

variable "access_log_bucket" {
  description = "The shared access-log bucket (SSE-S3) the state bucket logs to (prefix tfstate/)."
  type        = string
}

variable "deployers" {
  description = "Per root (shared, dev, staging, prod): the account and the deploy role whose Terraform runs use the state under envs/<root>/ (the state, and its S3 lockfile). Each role is granted only its own prefix."
  type = map(object({
    account_id = string
    role_arn   = string
  }))
  validation {
    condition     = alltrue([for k, d in var.deployers : startswith(d.role_arn, "arn:aws:iam::${d.account_id}:role/")])
    error_message = "deployers: each role_arn must be a role of its own account_id."
  }
}

variable "noncurrent_version_days" {
  description = "Days earlier versions of a state file are kept (to roll a state back)."
  type        = number
  default     = 90
  validation {
    condition     = var.noncurrent_version_days >= 30
    error_message = "Keep earlier state versions at least 30 days."
  }
}

variable "tags" {
  type = map(string)
}
