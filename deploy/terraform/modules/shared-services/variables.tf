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
  default     = "10.0.0.0/16"
}

variable "azs" {
  description = "AZs of the shared-services VPC private subnets."
  type        = list(string)
}

variable "log_retention_days" {
  description = "Retention of the central CloudWatch log groups (CloudWatch-allowed value)."
  type        = number
  default     = 2557
}

variable "archive_retention_days" {
  description = "Days the central log archive keeps CloudTrail/Config objects."
  type        = number
  default     = 2555
}

variable "object_lock_days" {
  description = "Object-lock (GOVERNANCE) retention on the central log archive."
  type        = number
  default     = 365
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
