variable "project_name" {
  description = "Project name, prefix of every resource name."
  type        = string
  default     = "medallion"
}

variable "organization" {
  description = "Owning organisation (cost-allocation tag)."
  type        = string
  default     = "example-org"
}

variable "region" {
  description = "AWS region of the platform."
  type        = string
  default     = "eu-west-1"
}

variable "backup_region" {
  description = "The region of every environment's backup bucket and key (another region than `region`: a regional outage must not take the lake and its backups)."
  type        = string
  default     = "eu-central-1"
}

variable "offline_plan" {
  description = "CI only: skip AWS credential/account look-ups so plans run offline with fake credentials."
  type        = bool
  default     = false
}

variable "environments" {
  description = "Per-environment settings. Every root receives the whole map and deploys only its own entry."
  type = map(object({
    account_id              = string
    cidr                    = string
    azs                     = list(string)
    multi_az                = bool
    retention_days          = number
    audit_object_lock       = object({ mode = string, days = number })
    noncurrent_version_days = optional(number, 30)
    log_retention_days      = number
    layers                  = list(string)
    enable_streaming        = bool
    kafka_instance_type     = optional(string)
    bastion_instance_type   = optional(string)
    monthly_budget_usd      = number
    alert_emails            = optional(list(string), [])
    transitions = optional(list(object({
      days          = number
      storage_class = string
    })), [])
    promote_from = optional(string)
    gates = optional(object({
      max_quarantine_ratio = optional(number)
      max_duration_s       = optional(number)
      max_peak_memory_mib  = optional(number)
    }), {})
    release_principals      = optional(list(string))
    cross_account_promotion = optional(bool, false)
    retention = optional(object({
      layers          = optional(map(number), {})
      classifications = optional(map(number), {})
      vacuum_hours    = optional(number)
    }), {})
    # Backups (deploy/README.md, "Backups and disaster recovery"): days S3 keeps a backup
    # (GDPR: how long erased people's rows can survive in backups) and the RPO (hours between
    # two scheduled backups). null: no backups.
    backup = optional(object({
      retention_days = number
      rpo_hours      = number
    }))
  }))
  default = {
    dev = {
      account_id            = "111111111111"
      cidr                  = "10.10.0.0/16"
      azs                   = ["eu-west-1a"]
      multi_az              = false
      retention_days        = 30
      audit_object_lock     = { mode = "governance", days = 30 }
      log_retention_days    = 30
      layers                = ["bronze"]
      enable_streaming      = false
      bastion_instance_type = "t3.nano"
      monthly_budget_usd    = 150
    }
    staging = {
      account_id          = "222222222222"
      cidr                = "10.20.0.0/16"
      azs                 = ["eu-west-1a", "eu-west-1b"]
      multi_az            = false
      retention_days      = 90
      audit_object_lock   = { mode = "governance", days = 365 }
      log_retention_days  = 90
      layers              = ["bronze", "silver", "gold"]
      enable_streaming    = true
      kafka_instance_type = "kafka.m5.large"
      monthly_budget_usd  = 900
      promote_from        = "dev"
      gates               = { max_quarantine_ratio = 0.5 }
      backup              = { retention_days = 14, rpo_hours = 24 }
    }
    prod = {
      account_id          = "333333333333"
      cidr                = "10.30.0.0/16"
      azs                 = ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
      multi_az            = true
      retention_days      = 2555
      audit_object_lock   = { mode = "compliance", days = 2555 }
      log_retention_days  = 2557
      layers              = ["bronze", "silver", "gold"]
      enable_streaming    = true
      kafka_instance_type = "kafka.m5.xlarge"
      monthly_budget_usd  = 3000
      promote_from        = "staging"
      gates               = { max_quarantine_ratio = 0.5, max_duration_s = 900 }
      backup              = { retention_days = 35, rpo_hours = 6 }
      transitions = [
        { days = 90, storage_class = "STANDARD_IA" },
        { days = 365, storage_class = "GLACIER_IR" },
      ]

      # prod promotes from staging's lake in the staging account (dev is the CI's local lake).
      cross_account_promotion = true
    }
  }

  validation {
    condition     = alltrue([for k in keys(var.environments) : contains(["dev", "staging", "prod"], k)])
    error_message = "environments keys must be dev, staging and prod."
  }
  validation {
    condition = alltrue([for e in values(var.environments) : contains(
      [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653],
    e.log_retention_days)])
    error_message = "log_retention_days must be a CloudWatch Logs allowed value (use 2557 for ~7 years)."
  }
  validation {
    condition = alltrue([for e in values(var.environments) :
      contains(["governance", "compliance"], e.audit_object_lock.mode) &&
    e.audit_object_lock.days > 0 && floor(e.audit_object_lock.days) == e.audit_object_lock.days])
    error_message = "audit_object_lock: mode must be governance or compliance, days a whole number > 0 (S3 Object Lock retention of the engine's audit records)."
  }
  validation {
    condition = alltrue([for k, e in var.environments :
    e.promote_from == null || (contains(keys(var.environments), coalesce(e.promote_from, "-")) && e.promote_from != k)])
    error_message = "promote_from must be null or another environment of the map (dev <- staging <- prod: staging promote_from dev, prod promote_from staging)."
  }
  validation {
    condition = alltrue([for e in values(var.environments) : (
      (e.gates.max_quarantine_ratio == null || (coalesce(e.gates.max_quarantine_ratio, 0) >= 0 && coalesce(e.gates.max_quarantine_ratio, 0) <= 1)) &&
      (e.gates.max_duration_s == null || coalesce(e.gates.max_duration_s, 1) > 0) &&
      (e.gates.max_peak_memory_mib == null || (coalesce(e.gates.max_peak_memory_mib, 1) > 0 && floor(coalesce(e.gates.max_peak_memory_mib, 1)) == coalesce(e.gates.max_peak_memory_mib, 1)))
    )])
    error_message = "gates: max_quarantine_ratio between 0 and 1, max_duration_s > 0 seconds, max_peak_memory_mib a whole number of MiB > 0."
  }
}

variable "shared_services" {
  description = "Shared-services VPC to peer with (optional; the only peering allowed)."
  type = object({
    vpc_id     = string
    cidr       = string
    account_id = string
  })
  default = null
}

variable "engine_image_tag" {
  description = "Engine image tag to run: `git-<commit>` as pushed by deploy/image/build.sh (the repository's tags are immutable)."
  type        = string
}

variable "deploy_role_name" {
  description = "Name of the role Terraform assumes in this environment's account (null: <project_name>-deploy); the same role reads and writes this root's state (backend.hcl)."
  type        = string
  default     = null
}
