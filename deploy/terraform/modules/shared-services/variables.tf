variable "project_name" {
  description = "Project name, prefix of every resource name."
  type        = string
}

variable "organization" {
  description = "Owning organisation (cost-allocation tag)."
  type        = string
}

variable "region" {
  description = "Home region of the shared services."
  type        = string
}

variable "account_id" {
  description = "Shared-services (organisation management / log-archive) account id."
  type        = string
}

variable "member_account_ids" {
  description = "Environment account ids whose AWS Config delivers into the central bucket."
  type        = list(string)
}

variable "cidr" {
  description = "CIDR of the shared-services VPC (the only peering target of the environments)."
  type        = string
}

variable "azs" {
  description = "AZs of the shared-services VPC private subnets."
  type        = list(string)
}

variable "log_retention_days" {
  description = "Retention of the central CloudWatch log groups (CloudWatch-allowed value)."
  type        = number
}

variable "archive_retention_days" {
  description = "Days the central log archive keeps CloudTrail/Config objects."
  type        = number
}

variable "access_log_retention_days" {
  description = "Days the log archive's own server access logs are kept."
  type        = number
}

variable "object_lock_days" {
  description = "Object-lock (GOVERNANCE) retention on the central log archive."
  type        = number
}

variable "environment_peerings" {
  description = "Peering requests of the environment VPCs to accept (their `vpc_peering_connection` ids, output of each environment root) with their CIDRs."
  type = map(object({
    connection_id = string
    cidr          = string
  }))
  default = {}
}

variable "state_deployers" {
  description = "Per root (shared, dev, staging, prod): the account and deploy role that read and write that root's Terraform state (envs/<root>/ of the state bucket)."
  type = map(object({
    account_id = string
    role_arn   = string
  }))
}

variable "cost_allocation_tags" {
  description = "Tags activated as cost-allocation tags in this (payer) account; the environments' budgets filter on `environment`."
  type        = list(string)
  default     = ["environment", "project", "organization"]
}

variable "monthly_budget_usd" {
  description = "Monthly cost budget of the shared-services account (alerts at 80 % actual, 100 % forecast)."
  type        = number
}

variable "conformance_packs" {
  description = "Organisation conformance packs: name => S3 URI of its template (AWS's sample Operational Best Practices packs, uploaded by the operator)."
  type        = map(string)
  default     = {}
  validation {
    condition     = alltrue([for k, v in var.conformance_packs : startswith(v, "s3://")])
    error_message = "conformance_packs: each template is an s3:// URI."
  }
}
