# The type and validation of deploy/terraform/platform.yaml, the platform's one environments
# definition. Every root passes the decoded file; nothing else declares these values.

variable "root" {
  description = "The root reading the definition: shared, dev, staging or prod. An environment root gets only its own entry (and its promotion neighbours' account ids), the shared root the environments' accounts, CIDRs and peerings."
  type        = string
  validation {
    condition     = contains(["shared", "dev", "staging", "prod"], var.root)
    error_message = "root must be shared, dev, staging or prod."
  }
}

variable "definition" {
  description = "deploy/terraform/platform.yaml, decoded (yamldecode)."
  type = object({
    project_name  = string
    organization  = string
    region        = string
    backup_region = string
    shared = object({
      account_id                = string
      cidr                      = string
      azs                       = list(string)
      vpc_id                    = optional(string)
      log_retention_days        = number
      archive_retention_days    = number
      archive_object_lock_days  = number
      access_log_retention_days = number
      monthly_budget_usd        = number
      conformance_packs         = optional(map(string), {})
    })
    environments = map(object({
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
      # Landing locations the batch runs read files sources from (`bronze.source.files.path:
      # s3://<bucket>/<prefix>...`): the sources' own buckets, never one of the platform's. The
      # batch task role may list the bucket under the prefix, get objects below it, and decrypt
      # with kms_key_arn through S3 (SSE-KMS objects); nothing else, no write. [] : none.
      landing = optional(list(object({
        bucket      = string
        prefix      = string
        kms_key_arn = optional(string)
      })), [])
      # This environment's peering request to the shared VPC (output peering_connection_id of its
      # root; envs/shared accepts it). null: not (yet) accepted.
      peering_connection_id = optional(string)
    }))
  })

  validation {
    condition     = alltrue([for k in keys(var.definition.environments) : contains(["dev", "staging", "prod"], k)])
    error_message = "environments keys must be dev, staging and prod."
  }
  validation {
    condition = alltrue([for a in concat([var.definition.shared.account_id], [for e in values(var.definition.environments) : e.account_id]) :
    can(regex("^[0-9]{12}$", a))])
    error_message = "account_id (shared and every environment) must be an AWS account id: exactly 12 digits, quoted in platform.yaml (\"011111111111\": YAML would drop a leading zero of a number)."
  }
  validation {
    condition = alltrue([for e in concat(values(var.definition.environments), [var.definition.shared]) : contains(
      [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653],
    e.log_retention_days)])
    error_message = "log_retention_days must be a CloudWatch Logs allowed value (use 2557 for ~7 years)."
  }
  validation {
    condition = alltrue([for e in values(var.definition.environments) :
      contains(["governance", "compliance"], e.audit_object_lock.mode) &&
    e.audit_object_lock.days > 0 && floor(e.audit_object_lock.days) == e.audit_object_lock.days])
    error_message = "audit_object_lock: mode must be governance or compliance, days a whole number > 0 (S3 Object Lock retention of the engine's audit records)."
  }
  validation {
    condition = alltrue([for k, e in var.definition.environments :
    e.promote_from == null || (contains(keys(var.definition.environments), coalesce(e.promote_from, "-")) && e.promote_from != k)])
    error_message = "promote_from must be null or another environment of the map (dev <- staging <- prod: staging promote_from dev, prod promote_from staging)."
  }
  validation {
    condition = alltrue([for e in values(var.definition.environments) : (
      (e.gates.max_quarantine_ratio == null || (coalesce(e.gates.max_quarantine_ratio, 0) >= 0 && coalesce(e.gates.max_quarantine_ratio, 0) <= 1)) &&
      (e.gates.max_duration_s == null || coalesce(e.gates.max_duration_s, 1) > 0) &&
      (e.gates.max_peak_memory_mib == null || (coalesce(e.gates.max_peak_memory_mib, 1) > 0 && floor(coalesce(e.gates.max_peak_memory_mib, 1)) == coalesce(e.gates.max_peak_memory_mib, 1)))
    )])
    error_message = "gates: max_quarantine_ratio between 0 and 1, max_duration_s > 0 seconds, max_peak_memory_mib a whole number of MiB > 0."
  }
  validation {
    condition = alltrue([for e in values(var.definition.environments) :
      e.bronze_shards >= 1 && e.bronze_shards <= 16 && floor(e.bronze_shards) == e.bronze_shards &&
    (e.cluster == null || (try(e.cluster.executors, 0) >= 1 && try(e.cluster.window_minutes, 0) >= 10 && try(e.cluster.window_minutes, 0) <= 1380))])
    error_message = "bronze_shards must be a whole number 1..16; cluster.executors >= 1 and cluster.window_minutes 10..1380."
  }
  validation {
    condition = alltrue(flatten([for e in values(var.definition.environments) : [for l in e.landing : (
      can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", l.bucket)) &&
      can(regex("^[^/*?\\[\\]][^*?\\[\\]]*/$", l.prefix)) &&
      (l.kms_key_arn == null || can(regex("^arn:aws:kms:${var.definition.region}:[0-9]{12}:key/[0-9a-f-]+$", coalesce(l.kms_key_arn, "-"))))
    )]]))
    error_message = "landing: bucket an S3 bucket name; prefix a folder ending in / (not empty, no leading /, no * ? [ ]: the grant is exactly this prefix); kms_key_arn null or a key ARN (arn:aws:kms:<the platform's region>:<account>:key/<id>, not an alias)."
  }
  validation {
    condition = alltrue(flatten([for k, e in var.definition.environments : [for l in e.landing : (
      !anytrue([for r in concat(keys(var.definition.environments), ["shared"]) : startswith(l.bucket, "${var.definition.project_name}-${r}-")]) &&
      (l.kms_key_arn == null || !anytrue([for r, a in merge({ for k2, e2 in var.definition.environments : k2 => e2.account_id if k2 != k }, { shared = var.definition.shared.account_id }) :
      strcontains(coalesce(l.kms_key_arn, "-"), ":${a}:")]))
    )]]))
    error_message = "landing: a landing bucket may not be one of the platform's buckets (<project>-<dev|staging|prod|shared>-...: another environment's lake would break isolation, and the engine refuses a source in another environment's lake; the own lake is not a landing place), and its kms_key_arn may not be a key of another environment's (or the shared) account."
  }
}
