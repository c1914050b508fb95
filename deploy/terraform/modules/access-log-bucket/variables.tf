variable "name" {
  description = "The bucket's name."
  type        = string
}

variable "tags" {
  description = "Tags of the bucket (with `environment`); `Name` and `layer = access-logs` are added (MED-001 admits SSE-S3 on that layer only)."
  type        = map(string)
}

variable "account_id" {
  description = "The account whose buckets log here (aws:SourceAccount of the log delivery)."
  type        = string
}

variable "source_arns" {
  description = "The buckets that log here (aws:SourceArn patterns, ArnLike)."
  type        = list(string)
}

variable "retention_days" {
  description = "Days the access logs are kept (current objects expire)."
  type        = number
}

variable "noncurrent_days" {
  description = "Days overwritten/deleted log objects are kept."
  type        = number
  default     = 7
}
