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
  description = "This environment's entry of deploy/terraform/platform.yaml (typed and validated by modules/platform)."
  type = object({
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
    backup = optional(object({
      retention_days = number
      rpo_hours      = number
    }))
    # Bronze shards of every batch run: n > 1 runs `medallion run <file jobs> --shard i/n` as n
    # parallel ECS tasks, then one `medallion run <jobs>` for Silver and Gold (a Step Functions
    # state machine started by the batch schedule). 1: one run, started directly.
    bronze_shards = optional(number, 1)
    # A Ballista cluster (scheduler + executors as ECS services) for Silver's and Gold's SQL:
    # executors while a batch runs (scaled up before each batch schedule, to 0 after
    # window_minutes), their size. null: none.
    cluster = optional(object({
      executors       = number
      window_minutes  = optional(number, 120)
      executor_cpu    = optional(number, 2048)
      executor_memory = optional(number, 8192)
    }))
    # Landing locations of files sources (modules/lake `landing`): the batch task role reads them.
    landing = optional(list(object({
      bucket      = string
      prefix      = string
      kms_key_arn = optional(string)
    })), [])
  })
  validation {
    condition     = var.settings.backup == null || contains([1, 2, 3, 4, 6, 8, 12, 24], try(var.settings.backup.rpo_hours, 0))
    error_message = "backup.rpo_hours (the recovery point: hours between two scheduled backups) must divide a day: 1, 2, 3, 4, 6, 8, 12 or 24."
  }
}

variable "engine_image_tag" {
  description = "Tag of the engine image in this environment's ECR repository: `git-<commit>` (tags are immutable; see deploy/README.md, rolling out an image)."
  type        = string
  validation {
    condition     = can(regex("^git-[0-9a-f]{7,40}$", var.engine_image_tag))
    error_message = "engine_image_tag must be `git-<commit sha>` (7-40 hex digits), the tag deploy/image/build.sh pushes; the repository's tags are immutable."
  }
}

variable "stream_job" {
  description = "The job the stream service runs (`medallion stream <path>`), its pipeline name, its Kafka topics and group (null = the engine's default `medallion.<env>.<pipeline>`). The stream role may read exactly these topics and use this group; check.sh (MED-005) compares them with the job file."
  type = object({
    path     = string
    pipeline = string
    topics   = list(string)
    group_id = optional(string)
  })
  default = {
    path     = "jobs/streaming/clickstream.yaml"
    pipeline = "clickstream"
    topics   = ["web.clicks"]
  }
}

variable "batch_jobs" {
  description = "Batch jobs run by EventBridge: name => { path of the job file or folder, schedule expression, and for Bronze shards (settings.bronze_shards > 1) the folders of its file jobs: `medallion run <each> --shard i/n` (Kafka jobs are refused with --shard; MED-017 compares them with the job files) }."
  type = map(object({
    path        = string
    schedule    = string
    shard_paths = optional(list(string), [])
  }))
  default = {
    nightly = {
      path        = "jobs/"
      schedule    = "cron(0 2 * * ? *)"
      shard_paths = ["jobs/shop/", "jobs/iot/"]
    }
  }
}

variable "maintenance" {
  description = "The scheduled `medallion maintain --env <env> --jobs <jobs>` (table retention and VACUUM, docs/retention.md): its EventBridge schedule (daily; after the nightly batch run) and the job specs it reads per-table retention from."
  type = object({
    schedule = string
    jobs     = string
  })
  default = {
    schedule = "cron(0 4 * * ? *)"
    jobs     = "jobs/"
  }
}

variable "promotion_readers" {
  description = "Release roles of the environments promoting from this one across accounts (env => { account_id, role_arn }): read-only grants in this lake's bucket and key policies (modules/lake)."
  type = map(object({
    account_id = string
    role_arn   = string
  }))
  default = {}
}

variable "promotion_source" {
  description = "The environment this one promotes from across accounts ({ environment, account_id, layers }): its release role may read that lake (modules/lake). null: none."
  type = object({
    environment = string
    account_id  = string
    layers      = list(string)
  })
  default = null
}

variable "log_archive_bucket" {
  description = "The shared-services log archive bucket (<project>-shared-log-archive-<account>) this account's AWS Config delivers to; null: no recorder (MED-015 requires one)."
  type        = string
  default     = null
}

variable "bastion_stop_schedule" {
  description = "When EventBridge Scheduler stops the bastion (UTC); it is started by hand when needed."
  type        = string
  default     = "cron(0 20 * * ? *)"
}

variable "metrics_agent_image" {
  description = "The CloudWatch agent image of the stream task's metrics sidecar (scrapes the engine's Prometheus /metrics into CloudWatch). Pinned: a version tag of public.ecr.aws/cloudwatch-agent/cloudwatch-agent (or its copy in a private repository)."
  type        = string
  default     = "public.ecr.aws/cloudwatch-agent/cloudwatch-agent:1.300059.0b1207"
  validation {
    condition     = !endswith(var.metrics_agent_image, ":latest") && can(regex(":[0-9][0-9A-Za-z.]*$|@sha256:[0-9a-f]{64}$", var.metrics_agent_image))
    error_message = "metrics_agent_image must be pinned to a version tag or a digest, not latest."
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
    stream_failures_5m     = optional(number, 1)
  })
  default = {
    consumer_lag_records   = 100000
    job_failures           = 1
    quarantined_records_5m = 1000
    stream_failures_5m     = 1
  }
}

variable "backup_region" {
  description = "The region of the environment's backup bucket and key (the aws.backup provider's region); another region than the lake's. Used only with settings.backup."
  type        = string
  default     = null
}
