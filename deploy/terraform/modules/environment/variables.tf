variable "project_name" {
  description = "Project name, used as the prefix of every resource name."
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

variable "settings" {
  description = "This environment's entry of the environments map (see envs/*/variables.tf)."
  type = object({
    account_id            = string
    cidr                  = string
    azs                   = list(string)
    multi_az              = bool
    retention_days        = number
    log_retention_days    = number
    layers                = list(string)
    enable_streaming      = bool
    kafka_instance_type   = optional(string)
    bastion_instance_type = optional(string)
    monthly_budget_usd    = number
    alert_emails          = optional(list(string), [])
    transitions = optional(list(object({
      days          = number
      storage_class = string
    })), [])
  })
}

variable "engine_image_tag" {
  description = "Tag of the engine image in this environment's ECR repository."
  type        = string
  default     = "latest-release"
}

variable "batch_jobs" {
  description = "Batch jobs run by EventBridge: name => { path of the job file, schedule expression }."
  type = map(object({
    path     = string
    schedule = string
  }))
  default = {
    nightly = {
      path     = "jobs/"
      schedule = "cron(0 2 * * ? *)"
    }
  }
}

variable "shared_services" {
  description = "Optional shared-services VPC to peer with (the only peering allowed)."
  type = object({
    vpc_id     = string
    cidr       = string
    account_id = string
  })
  default = null
}

variable "alarm_thresholds" {
  description = "Thresholds of the engine alarms."
  type = object({
    consumer_lag_records   = number
    job_failures           = number
    quarantined_records_5m = number
  })
  default = {
    consumer_lag_records   = 100000
    job_failures           = 1
    quarantined_records_5m = 1000
  }
}
