variable "name" {
  description = "The bucket's name."
  type        = string
}

variable "tags" {
  description = "Tags of the bucket (with `environment` and `layer`: the project policies read them); `Name` is added."
  type        = map(string)
}

variable "kms_key_arn" {
  description = "Default encryption: SSE-KMS with this key (by ARN: the environment's own key) and an S3 bucket key."
  type        = string
}

variable "deny_other_kms_keys" {
  description = "The bucket policy refuses a PUT that is not SSE-KMS, or is SSE-KMS under any key but kms_key_arn (by ARN: a writer must send the ARN, an alias or key id is refused)."
  type        = bool
  default     = false
}

variable "object_lock" {
  description = "S3 Object Lock (needs versioning, which is always on; it can only be enabled when the bucket is created): null for none, {} for Object Lock without a default retention (objects are locked one at a time by their writer), { default_retention = { mode, days } } to lock every new object version."
  type = object({
    default_retention = optional(object({
      mode = string
      days = number
    }))
  })
  default = null
}

variable "access_logs" {
  description = "Where S3 writes this bucket's server access logs: { bucket, prefix } (a modules/access-log-bucket whose access_log_sources admit this bucket; pass its `id` output, which waits for its policy)."
  type = object({
    bucket = string
    prefix = string
  })
}

variable "lifecycle_rules" {
  description = "Lifecycle rules, each over the whole bucket (filter {}) and Enabled: expiration of current objects after expiration_days, removal of expired delete markers, noncurrent versions expired after noncurrent_days, incomplete multipart uploads aborted after abort_days, transitions of current objects. Unset parts are left out."
  type = list(object({
    id                           = string
    expiration_days              = optional(number)
    expired_object_delete_marker = optional(bool)
    noncurrent_days              = optional(number)
    abort_days                   = optional(number)
    transitions = optional(list(object({
      days          = number
      storage_class = string
    })), [])
  }))
  validation {
    condition     = length(var.lifecycle_rules) > 0
    error_message = "lifecycle_rules: at least one rule (noncurrent versions must expire, uploads must be aborted)."
  }
  validation {
    condition     = alltrue([for r in var.lifecycle_rules : !(r.expiration_days != null && coalesce(r.expired_object_delete_marker, false))])
    error_message = "lifecycle_rules: a rule expires current objects (expiration_days) or removes expired delete markers, not both (S3 refuses both in one expiration)."
  }
}

variable "prefix_expirations" {
  description = "Lifecycle rules under one prefix only (after lifecycle_rules), Enabled: current objects expire after `days`, their noncurrent versions a day later, uploads are aborted after a day. For scratch prefixes (the lake's `_medallion/tmp/`), never for table data."
  type = list(object({
    id     = string
    prefix = string
    days   = number
  }))
  default = []
  validation {
    condition     = alltrue([for r in var.prefix_expirations : length(r.prefix) > 1 && endswith(r.prefix, "/")])
    error_message = "prefix_expirations: each prefix is a folder (`<name>/`), never the whole bucket."
  }
}

variable "policy_statements" {
  description = "Bucket policy statements of the caller (grants, further denies), after the module's own denies (plain HTTP; with deny_other_kms_keys, PUTs not under kms_key_arn)."
  type        = any
  default     = []
}
