# Offline plan-mode tests for the staging root. The real AWS provider runs with
# fake credentials (skip_* options via var.offline_plan); only the KMS key is
# overridden so that its ARN is known at plan time and can be compared.

variables {
  offline_plan     = true
  engine_image_tag = "git-0123abc"
}

override_resource {
  target          = module.environment.module.lake.aws_kms_key.this
  override_during = plan
  values = {
    arn    = "arn:aws:kms:eu-west-1:222222222222:key/00000000-0000-0000-0000-00000000stag"
    key_id = "00000000-0000-0000-0000-00000000stag"
  }
}

override_resource {
  target          = module.environment.aws_ecr_repository.engine
  override_during = plan
  values = {
    arn            = "arn:aws:ecr:eu-west-1:222222222222:repository/medallion-staging/engine"
    repository_url = "222222222222.dkr.ecr.eu-west-1.amazonaws.com/medallion-staging/engine"
  }
}

override_resource {
  target          = module.environment.aws_msk_cluster.this
  override_during = plan
  values = {
    arn                        = "arn:aws:kafka:eu-west-1:222222222222:cluster/medallion-staging-msk/00000000-0000-0000-0000-000000000000-1"
    bootstrap_brokers_sasl_iam = "b-1.medallion-staging-msk.kafka.eu-west-1.amazonaws.com:9098,b-2.medallion-staging-msk.kafka.eu-west-1.amazonaws.com:9098"
  }
}

override_resource {
  target          = module.environment.module.lake.aws_iam_role.maintain_task
  override_during = plan
  values = {
    arn = "arn:aws:iam::222222222222:role/medallion-staging-maintain-task"
  }
}

override_resource {
  target          = module.environment.module.backup[0].aws_kms_key.backup
  override_during = plan
  values = {
    arn    = "arn:aws:kms:eu-central-1:222222222222:key/00000000-0000-0000-0000-0000stagback"
    key_id = "00000000-0000-0000-0000-0000stagback"
  }
}

override_resource {
  target          = module.environment.module.lake.aws_iam_role.backup_task[0]
  override_during = plan
  values = {
    arn = "arn:aws:iam::222222222222:role/medallion-staging-backup-task"
  }
}

override_resource {
  target          = module.environment.module.lake.aws_iam_role.restore[0]
  override_during = plan
  values = {
    arn = "arn:aws:iam::222222222222:role/medallion-staging-restore"
  }
}

override_resource {
  target          = module.environment.module.lake.aws_iam_role.batch_task
  override_during = plan
  values = {
    arn = "arn:aws:iam::222222222222:role/medallion-staging-batch-task"
  }
}

override_resource {
  target          = module.environment.aws_iam_role.execution
  override_during = plan
  values = {
    arn = "arn:aws:iam::222222222222:role/medallion-staging-task-execution"
  }
}

override_resource {
  target          = module.environment.aws_ecs_cluster.this
  override_during = plan
  values = {
    arn = "arn:aws:ecs:eu-west-1:222222222222:cluster/medallion-staging"
  }
}

override_resource {
  target          = module.environment.aws_cloudwatch_log_group.engine["restore"]
  override_during = plan
  values = {
    arn = "arn:aws:logs:eu-west-1:222222222222:log-group:/medallion-staging/engine-restore"
  }
}

run "staging_plan" {
  command = plan

  assert {
    condition     = module.environment.lake_sse_kms_key == module.environment.kms_key_arn
    error_message = "The staging lake bucket must be encrypted with the staging environment's own KMS key."
  }

  assert {
    condition     = strcontains(module.environment.kms_key_arn, ":222222222222:") && module.environment.kms_key_rotation
    error_message = "The staging key must live in the staging account and rotate."
  }

  assert {
    condition     = module.environment.lake_current_version_expiration_days == null
    error_message = "S3 must never expire current staging lake objects (live Delta files); retention is the engine's."
  }

  assert {
    condition     = module.environment.lake_noncurrent_version_days <= 30
    error_message = "staging noncurrent lake versions must expire within 30 days."
  }

  assert {
    condition     = module.environment.access_log_bucket_expiration_days == 90
    error_message = "staging access-log bucket must follow the 90-day retention."
  }

  # The rendered engine configuration is the deployed resources, nothing copied by hand.
  assert {
    condition = (
      module.environment.engine_environment.lake == "s3://${module.environment.lake_bucket}" &&
      module.environment.engine_environment.kms_key == module.environment.kms_key_arn &&
      module.environment.engine_environment.retention_days == 90 &&
      module.environment.engine_environment.streaming == true
    )
    error_message = "The staging engine configuration must name the lake bucket, the key ARN, retention 90 and streaming true."
  }

  assert {
    condition = length(module.environment.glue_databases) == 3 && alltrue([
      for layer, db in module.environment.glue_databases :
      db == "${module.environment.engine_environment.catalog.glue.database_prefix}${layer}"
    ])
    error_message = "The engine's Glue database names (<database_prefix><layer>) must be the databases Terraform creates."
  }

  assert {
    condition     = yamldecode(module.environment.engine_config_yaml).environments["staging"].kms_key == module.environment.kms_key_arn
    error_message = "The rendered environments.yaml must carry the key ARN."
  }

  # The bucket policy denies plain HTTP, non-KMS encryption and any key but this one (by ARN).
  assert {
    condition = (
      one([for s in jsondecode(module.environment.lake_bucket_policy).Statement : s.Condition.Bool["aws:SecureTransport"] if s.Sid == "DenyInsecureTransport" && s.Effect == "Deny" && s.Action == "s3:*"]) == "false" &&
      one([for s in jsondecode(module.environment.lake_bucket_policy).Statement : s.Condition.StringNotEqualsIfExists["s3:x-amz-server-side-encryption"] if s.Sid == "DenyNonKmsEncryption" && s.Effect == "Deny"]) == "aws:kms" &&
      one([for s in jsondecode(module.environment.lake_bucket_policy).Statement : s.Condition.StringNotEqualsIfExists["s3:x-amz-server-side-encryption-aws-kms-key-id"] if s.Sid == "DenyOtherKmsKeys" && s.Effect == "Deny"]) == module.environment.kms_key_arn
    )
    error_message = "The staging lake bucket policy must deny plain HTTP, non-KMS encryption and every key but the staging key ARN."
  }

  # Task roles: S3 only on the own lake, KMS only on the own key, no wildcard action.
  assert {
    condition = alltrue(flatten([for kind, doc in module.environment.task_policies : [
      for s in jsondecode(doc).Statement : [
        !contains(flatten([s.Action]), "*"),
        !startswith(flatten([s.Action])[0], "s3:") || alltrue([for r in flatten([s.Resource]) : startswith(r, "arn:aws:s3:::${module.environment.lake_bucket}")]),
        !startswith(flatten([s.Action])[0], "kms:") || flatten([s.Resource]) == [module.environment.kms_key_arn],
      ]
    ]]))
    error_message = "The staging task roles may use S3 only on the staging lake, KMS only on the staging key, and no wildcard action."
  }

  assert {
    condition     = module.environment.engine_environment.kafka.auth == "msk_iam" && strcontains(module.environment.engine_environment.kafka.brokers, ":9098")
    error_message = "The staging engine configuration must name the MSK IAM brokers (port 9098) with auth msk_iam."
  }

  # Audit trail: Object Lock on the lake bucket (versioned) with NO default retention; the
  # engine locks each audit record itself with the rendered audit.object_lock.
  assert {
    condition     = module.environment.lake_object_lock_enabled && module.environment.lake_versioning == "Enabled" && module.environment.lake_default_retention_rules == 0
    error_message = "The staging lake bucket must have Object Lock enabled, versioning on and no default retention (only audit records are locked, by the engine)."
  }

  assert {
    condition = (
      yamldecode(module.environment.engine_config_yaml).environments["staging"].audit.object_lock.mode == "governance" &&
      yamldecode(module.environment.engine_config_yaml).environments["staging"].audit.object_lock.days == 365
    )
    error_message = "The rendered staging configuration must carry audit.object_lock = { mode: governance, days: 365 }."
  }

  # Task roles: retention only on audit records, no governance bypass allowed anywhere; each
  # role's audit policy explicitly denies version deletion under the audit prefix and bypass.
  assert {
    condition = alltrue(flatten([for kind, doc in module.environment.task_policies : [
      for s in jsondecode(doc).Statement : s.Effect == "Deny" || (
        !contains(flatten([s.Action]), "s3:BypassGovernanceRetention") &&
        (!contains(flatten([s.Action]), "s3:PutObjectRetention") || flatten([s.Resource]) == ["arn:aws:s3:::${module.environment.lake_bucket}/_medallion/audit/*"])
      )
    ]]))
    error_message = "The staging task roles may set Object Lock retention only on _medallion/audit/* and may never bypass governance retention."
  }

  assert {
    condition = alltrue([for kind in ["batch-audit", "stream-audit"] : (
      length([for s in jsondecode(module.environment.task_policies[kind]).Statement : s if s.Effect == "Deny" && contains(flatten([s.Action]), "s3:DeleteObjectVersion") && contains(flatten([s.Resource]), "arn:aws:s3:::${module.environment.lake_bucket}/_medallion/audit/*")]) == 1 &&
      length([for s in jsondecode(module.environment.task_policies[kind]).Statement : s if s.Effect == "Deny" && contains(flatten([s.Action]), "s3:BypassGovernanceRetention")]) == 1
    )])
    error_message = "Each staging task role must be denied s3:DeleteObjectVersion on _medallion/audit/* and s3:BypassGovernanceRetention."
  }

  assert {
    condition     = module.environment.task_commands["batch"] == ["medallion", "run", "jobs/", "--env", "staging"]
    error_message = "The staging batch task must run `medallion run jobs/ --env staging`."
  }

  # Retention is the engine's: a daily `medallion maintain` with its own task role, which
  # may delete data files and Delta log entries of the layers but never change the catalog.
  assert {
    condition = (
      module.environment.task_commands["maintain"] == ["medallion", "maintain", "--env", "staging", "--jobs", "jobs/"] &&
      jsondecode(module.environment.maintain_task_definition.container_definitions)[0].command == module.environment.task_commands["maintain"] &&
      jsondecode(module.environment.maintain_task_definition.container_definitions)[0].image == jsondecode(module.environment.maintain_task_definition.batch_container_definitions)[0].image &&
      module.environment.maintain_task_definition.task_role_arn == "arn:aws:iam::222222222222:role/medallion-staging-maintain-task" &&
      module.environment.maintenance.schedule == "cron(0 4 * * ? *)"
    )
    error_message = "staging must run `medallion maintain --env staging --jobs jobs/` daily, with the batch image, as the maintain task role."
  }

  assert {
    condition = alltrue(flatten([for s in jsondecode(module.environment.task_policies["maintain"]).Statement : [
      for a in flatten([s.Action]) : !startswith(a, "glue:") || contains(["glue:GetDatabases", "glue:GetDatabase", "glue:GetTable", "glue:GetTables"], a)
    ]])) && length([for s in jsondecode(module.environment.task_policies["maintain"]).Statement : s if contains(flatten([s.Action]), "s3:DeleteObject") && contains(flatten([s.Resource]), "arn:aws:s3:::${module.environment.lake_bucket}/bronze/*")]) == 1
    error_message = "The staging maintain role must delete in the lake's layers (VACUUM, log cleanup) and only read the Glue catalog."
  }

  assert {
    condition     = jsondecode(module.environment.task_policies["batch-ledger"]).Statement[0].Resource == ["arn:aws:s3:::${module.environment.lake_bucket}/_medallion/ingested/*"]
    error_message = "The staging batch role must read the retired-sources ledger the Bronze stage reads."
  }

  assert {
    condition     = module.environment.task_commands["stream"] == ["medallion", "stream", "jobs/streaming/clickstream.yaml", "--env", "staging", "--metrics-addr", "127.0.0.1:9464"]
    error_message = "The staging stream service must run `medallion stream jobs/streaming/clickstream.yaml --env staging` (a job file, not a folder)."
  }

  # The stream's Prometheus metrics reach CloudWatch through the agent sidecar: the stream task
  # runs the engine (read-only, uid 10001) and the agent with exactly the configuration MED-013
  # checks against the alarms and the engine's metric names.
  assert {
    condition = (
      length(jsondecode(module.environment.stream_task_containers)) == 2 &&
      jsondecode(module.environment.stream_task_containers)[0].name == "engine" &&
      jsondecode(module.environment.stream_task_containers)[0].readonlyRootFilesystem == true &&
      jsondecode(module.environment.stream_task_containers)[0].user == "10001" &&
      jsondecode(module.environment.stream_task_containers)[1].name == "metrics-agent" &&
      jsondecode(module.environment.stream_task_containers)[1].essential == false &&
      jsondecode(module.environment.stream_task_containers)[1].image == module.environment.stream_metrics.agent_image &&
      one([for e in jsondecode(module.environment.stream_task_containers)[1].environment : e.value if e.name == "CW_CONFIG_CONTENT"]) == jsonencode(module.environment.stream_metrics.agent_config) &&
      one([for e in jsondecode(module.environment.stream_task_containers)[1].environment : e.value if e.name == "PROMETHEUS_CONFIG_CONTENT"]) == yamlencode(module.environment.stream_metrics.prometheus_config)
    )
    error_message = "The staging stream task must run the read-only engine and the metrics-agent sidecar with the checked agent and scrape configuration."
  }

  # Cross-account promotion staging -> prod: the staging lake's bucket policy lets prod's release
  # role (only it, by aws:PrincipalArn) list the lake and read the audit trail, the Delta logs
  # and the configuration; the key policy lets it decrypt through S3. Nothing else, no write.
  assert {
    condition = (
      length([for s in jsondecode(module.environment.lake_bucket_policy).Statement : s if startswith(s.Sid, "PromotionReadByProdRelease")]) == 2 &&
      alltrue([for s in jsondecode(module.environment.lake_bucket_policy).Statement : (
        s.Principal == { AWS = "arn:aws:iam::333333333333:root" } &&
        s.Condition.ArnEquals["aws:PrincipalArn"] == ["arn:aws:iam::333333333333:role/medallion-prod-release"] &&
        alltrue([for a in flatten([s.Action]) : contains(["s3:ListBucket", "s3:GetObject"], a)]) &&
        alltrue([for r in flatten([s.Resource]) : r == "arn:aws:s3:::${module.environment.lake_bucket}" || strcontains(r, "/_delta_log/") || endswith(r, "/_medallion/audit/*") || endswith(r, "/_medallion/environments.yaml")])
      ) if startswith(s.Sid, "PromotionRead")])
    )
    error_message = "The staging lake must grant prod's release role (only) read access to its audit trail, Delta logs and configuration, and nothing else."
  }

  assert {
    condition     = length(distinct(module.environment.private_subnet_azs)) == 2
    error_message = "staging must have private subnets in exactly 2 AZ(s)."
  }

  assert {
    condition     = module.environment.nat_gateway_count == 1
    error_message = "staging must have 1 NAT gateway(s)."
  }

  assert {
    condition     = module.environment.msk_broker_count == 2
    error_message = "staging must have 2 MSK broker(s)."
  }

  assert {
    condition     = module.environment.flow_log_group_name == "/medallion-staging/vpc-flow-logs"
    error_message = "staging VPC must ship flow logs to its own log group."
  }

  assert {
    condition     = alltrue([for n in module.environment.resource_names : strcontains(n, "staging")])
    error_message = "Every named staging resource must carry the staging name."
  }

  assert {
    condition     = alltrue([for n in module.environment.resource_names : length(regexall("(^|[^a-z])(dev|prod)([^a-z]|$)", n)) == 0])
    error_message = "No staging resource may name another environment."
  }

  # Promotion: staging runs only releases promoted from dev (rendered for the engine), and the
  # release role that records promotions writes nothing but audit records.
  assert {
    condition = (
      yamldecode(module.environment.engine_config_yaml).environments["staging"].promote_from == "dev" &&
      yamldecode(module.environment.engine_config_yaml).environments["staging"].gates == { max_quarantine_ratio = 0.5 }
    )
    error_message = "The rendered staging configuration must carry promote_from: dev and gates { max_quarantine_ratio: 0.5 }."
  }

  assert {
    condition = alltrue(flatten([for s in jsondecode(module.environment.release_policies["release"]).Statement : [
      for a in flatten([s.Action]) : s.Effect == "Deny" || (
        (!contains(["s3:PutObject", "s3:PutObjectRetention"], a) || flatten([s.Resource]) == ["arn:aws:s3:::${module.environment.lake_bucket}/_medallion/audit/*"]) &&
        !contains(["s3:DeleteObject", "s3:DeleteObjectVersion", "s3:BypassGovernanceRetention", "glue:CreateTable", "glue:UpdateTable", "glue:CreateDatabase"], a) &&
        (!startswith(a, "s3:") || alltrue([for r in flatten([s.Resource]) : startswith(r, "arn:aws:s3:::${module.environment.lake_bucket}")]))
      )
    ]]))
    error_message = "The staging release role may write only _medallion/audit/* of the staging lake, never delete, bypass retention or change the catalog."
  }

  assert {
    condition = alltrue([for s in jsondecode(module.environment.release_policies["release-key"]).Statement :
      flatten([s.Resource]) == [module.environment.kms_key_arn] && length(s.Condition.StringEquals["kms:ViaService"]) == 2
    ])
    error_message = "The staging release role may use only the staging key, and only through S3 and Glue."
  }

  # Cross-account promotion staging -> prod: the engine asks staging's own catalog (catalog_id), and
  # the catalog's resource policy lets prod's release role only read staging's databases and tables.
  assert {
    condition     = yamldecode(module.environment.engine_config_yaml).environments["staging"].catalog.glue.catalog_id == "222222222222"
    error_message = "The rendered staging configuration must carry catalog.glue.catalog_id = the staging account (\"222222222222\")."
  }

  assert {
    condition = length(jsondecode(module.environment.promotion_catalog_policy).Statement) == 1 && alltrue([
      for s in jsondecode(module.environment.promotion_catalog_policy).Statement : (
        s.Effect == "Allow" && s.Principal.AWS == "arn:aws:iam::333333333333:root" &&
        s.Condition.ArnEquals["aws:PrincipalArn"] == ["arn:aws:iam::333333333333:role/medallion-prod-release"] &&
        sort(s.Action) == tolist(["glue:GetDatabase", "glue:GetDatabases", "glue:GetTable", "glue:GetTables"]) &&
        sort(s.Resource) == tolist(["arn:aws:glue:eu-west-1:222222222222:catalog", "arn:aws:glue:eu-west-1:222222222222:database/medallion_staging_*", "arn:aws:glue:eu-west-1:222222222222:table/medallion_staging_*/*"])
      )
    ])
    error_message = "staging's Glue catalog policy must let only prod's release role read (GetDatabase(s), GetTable(s)) only staging's databases and tables."
  }
}

# Backups (deploy/README.md, "Backups and disaster recovery"): a bucket of the staging account in the
# backup region under its own key, `medallion backup` every 24 h per generation as the
# backup task role, kept 14 days; the roles read and never delete.
run "staging_backups" {
  command = plan

  # The backup alarm counts the engine's JSON event `backup_taken` (engine/cli/src/commands/backup.rs)
  # of this environment to its own backup locations, in the log group the backup task writes, and
  # the backup task logs JSON at info level (the event is an info event).
  assert {
    condition = (
      module.environment.backups.taken_pattern == "{ ($.event = \"backup_taken\") && ($.environment = \"staging\") && ($.to = \"s3://medallion-staging-backup-222222222222/staging/*\") }" &&
      jsondecode(module.environment.backups.task_containers)[0].logConfiguration.options["awslogs-group"] == module.environment.backups.taken_log_group &&
      contains(jsondecode(module.environment.backups.task_containers)[0].environment, { name = "MEDALLION_LOG_FORMAT", value = "json" }) &&
      contains(jsondecode(module.environment.backups.task_containers)[0].environment, { name = "MEDALLION_LOG", value = "info" })
    )
    error_message = "The staging backup alarm must count the engine's JSON backup_taken event of staging to s3://medallion-staging-backup-222222222222/staging/*, in the backup task's log group, and the backup task must log JSON at info level."
  }

  assert {
    condition = (
      module.environment.backups.bucket == "medallion-staging-backup-222222222222" && module.environment.backups.region == "eu-central-1" &&
      module.environment.backups.kms_key_arn == "arn:aws:kms:eu-central-1:222222222222:key/00000000-0000-0000-0000-0000stagback" && module.environment.backups.sse_kms_key == module.environment.backups.kms_key_arn &&
      module.environment.backups.kms_key_arn != module.environment.kms_key_arn && module.environment.backups.kms_key_rotation &&
      module.environment.backups.object_lock_enabled && module.environment.backups.retention_days == 14
    )
    error_message = "staging backups must go to medallion-staging-backup-222222222222 in eu-central-1, SSE-KMS under their own rotating key (never the lake's), kept 14 days."
  }

  assert {
    condition = module.environment.backups.schedules == { d01 = "cron(30 3 1-10 * ? *)", d11 = "cron(30 3 11-20 * ? *)", d21 = "cron(30 3 21-31 * ? *)" } && alltrue([
      for g, cmd in module.environment.backups.commands :
      cmd == ["medallion", "backup", "--env", "staging", "--to", "s3://medallion-staging-backup-222222222222/staging/${g}", "--kms-key", "arn:aws:kms:eu-central-1:222222222222:key/00000000-0000-0000-0000-0000stagback", "--region", "eu-central-1"]
    ]) && length(module.environment.backups.commands) == 3 && module.environment.backups.task_role_arn == "arn:aws:iam::222222222222:role/medallion-staging-backup-task"
    error_message = "staging must run `medallion backup --env staging --to s3://medallion-staging-backup-222222222222/staging/<generation> --kms-key <backup key> --region <backup region>` every 24 h in each generation, as the backup task role."
  }

  assert {
    condition = length([for s in jsondecode(module.environment.backups.bucket_policy).Statement : s
      if s.Effect == "Deny" && try(s.Condition.StringNotEqualsIfExists["s3:x-amz-server-side-encryption-aws-kms-key-id"], "") == "arn:aws:kms:eu-central-1:222222222222:key/00000000-0000-0000-0000-0000stagback"]) == 1 && length([
    for s in jsondecode(module.environment.backups.bucket_policy).Statement : s if s.Effect == "Deny" && try(s.Condition.Bool["aws:SecureTransport"], "") == "false"]) == 1
    error_message = "The staging backup bucket must refuse plain HTTP and any key but the backup key."
  }

  assert {
    condition = alltrue([for s in jsondecode(module.environment.backup_policies["backup-keys"]).Statement :
      (flatten([s.Resource]) == [module.environment.kms_key_arn] && sort(s.Action) == tolist(["kms:Decrypt", "kms:GenerateDataKey"])) ||
      (flatten([s.Resource]) == ["arn:aws:kms:eu-central-1:222222222222:key/00000000-0000-0000-0000-0000stagback"] && s.Condition.StringEquals["kms:ViaService"] == "s3.eu-central-1.amazonaws.com")
      ]) && alltrue([for s in jsondecode(module.environment.backup_policies["restore-keys"]).Statement :
      (flatten([s.Resource]) == [module.environment.kms_key_arn]) || (flatten([s.Resource]) == ["arn:aws:kms:eu-central-1:222222222222:key/00000000-0000-0000-0000-0000stagback"] && s.Action == ["kms:Decrypt"])
    ])
    error_message = "The staging backup role may use the lake key (decrypt, data keys for its audit record) and the backup key; the restore role only decrypts with the backup key."
  }

  assert {
    condition = alltrue(flatten([for k in ["backup", "restore"] : [for s in jsondecode(module.environment.backup_policies[k]).Statement : [
      for a in flatten([s.Action]) : s.Effect == "Deny" || !contains(["s3:DeleteObject", "s3:DeleteObjectVersion", "s3:BypassGovernanceRetention", "glue:DeleteTable", "glue:DeleteDatabase"], a) ||
      (k == "restore" && a == "s3:DeleteObject" && flatten([s.Resource]) == ["arn:aws:s3:::${module.environment.lake_bucket}/_medallion/restore/*"])
    ]]]))
    error_message = "Neither the staging backup role nor the restore role may delete anything (the restore only its own markers under _medallion/restore/)."
  }
}

# The restore of the disaster recovery runbook as an ECS task: one task definition per backup
# generation, restoring that generation's location from the backup region, as the break-glass
# restore role, logging to its own group; started by a person holding the restore role, never by
# a schedule (the events role cannot pass the restore role).
run "staging_restore_task" {
  command = plan

  assert {
    condition = keys(module.environment.restore_tasks) == ["d01", "d11", "d21"] && alltrue([for g, t in module.environment.restore_tasks : (
      t.family == "medallion-staging-restore-${g}" &&
      t.command == ["medallion", "restore", "--env", "staging", "--from", "s3://medallion-staging-backup-222222222222/staging/${g}", "--region", "eu-central-1"] &&
      jsondecode(module.environment.restore_task_definitions.tasks[g].container_definitions)[0].command == t.command &&
      jsondecode(module.environment.restore_task_definitions.tasks[g].container_definitions)[0].image == jsondecode(module.environment.restore_task_definitions.batch_container_definitions)[0].image &&
      jsondecode(module.environment.restore_task_definitions.tasks[g].container_definitions)[0].readonlyRootFilesystem == true &&
      jsondecode(module.environment.restore_task_definitions.tasks[g].container_definitions)[0].user == "10001" &&
      jsondecode(module.environment.restore_task_definitions.tasks[g].container_definitions)[0].logConfiguration.options["awslogs-group"] == "/medallion-staging/engine-restore" &&
      module.environment.restore_task_definitions.tasks[g].task_role_arn == "arn:aws:iam::222222222222:role/medallion-staging-restore"
    )]) && module.environment.restore_task_definitions.log_group == "/medallion-staging/engine-restore"
    error_message = "staging must have a restore task definition per backup generation running `medallion restore --env staging --from s3://medallion-staging-backup-222222222222/staging/<generation> --region eu-central-1` with the batch image (read-only, uid 10001), as the restore role, logging to /medallion-staging/engine-restore."
  }

  assert {
    condition = alltrue([for s in jsondecode(module.environment.restore_task_definitions.run_task_policy).Statement : (
      s.Effect == "Allow" &&
      (!contains(flatten([s.Action]), "ecs:RunTask") || (sort(flatten([s.Resource])) == sort(["arn:aws:ecs:eu-west-1:222222222222:task-definition/medallion-staging-restore-d01:*", "arn:aws:ecs:eu-west-1:222222222222:task-definition/medallion-staging-restore-d11:*", "arn:aws:ecs:eu-west-1:222222222222:task-definition/medallion-staging-restore-d21:*"]) && try(s.Condition.ArnEquals["ecs:cluster"], "") == "arn:aws:ecs:eu-west-1:222222222222:cluster/medallion-staging")) &&
      (!contains(flatten([s.Action]), "iam:PassRole") || (sort(flatten([s.Resource])) == sort(["arn:aws:iam::222222222222:role/medallion-staging-task-execution", "arn:aws:iam::222222222222:role/medallion-staging-restore"]) && try(s.Condition.StringEquals["iam:PassedToService"], "") == "ecs-tasks.amazonaws.com")) &&
      alltrue([for a in flatten([s.Action]) : contains(["ecs:RunTask", "iam:PassRole", "ecs:DescribeTasks", "logs:GetLogEvents", "logs:FilterLogEvents"], a)])
    )])
    error_message = "The staging restore role may start only the restore tasks, on its own cluster, passing only the restore and execution roles, and follow them; nothing else."
  }

  assert {
    condition = alltrue([for s in jsondecode(module.environment.restore_task_definitions.events_policy).Statement : (
      !contains(flatten([s.Resource]), "arn:aws:iam::222222222222:role/medallion-staging-restore") &&
      alltrue([for r in flatten([s.Resource]) : !strcontains(r, "-restore-")])
    )])
    error_message = "The staging events role (the schedules) may neither pass the restore role nor start a restore task."
  }
}

# Bronze shards without a cluster (deploy/README.md, "Batch runs: shards and the cluster").
run "staging_batch_shards" {
  command = plan

  assert {
    condition = (
      module.environment.batch_orchestration["nightly"].shard_commands == [for pair in setproduct(["jobs/shop/", "jobs/iot/"], ["0", "1", "2", "3"]) :
      ["medallion", "run", pair[0], "--env", "staging", "--shard", "${pair[1]}/4"]] &&
      module.environment.batch_orchestration["nightly"].definition.States.SilverAndGold.Parameters.Overrides.ContainerOverrides[0].Command == ["medallion", "run", "jobs/", "--env", "staging"] &&
      length(module.environment.batch_targets.direct) == 0 && tolist(module.environment.batch_targets.state_machine) == tolist(["nightly"])
    )
    error_message = "staging must run Bronze in 4 shards per file-job folder from its state machine, then `medallion run jobs/ --env staging`."
  }

  assert {
    condition     = module.environment.cluster == null && !contains(keys(yamldecode(module.environment.engine_config_yaml).environments["staging"]), "engine")
    error_message = "staging has no Ballista cluster (off by default) and renders no engine."
  }
}

# S3 landing (platform.yaml `landing`): the batch task role reads exactly the landing location,
# read only: list under the prefix, get below it, decrypt with the landing key through S3.
run "staging_landing_read_only" {
  command = plan

  assert {
    condition = jsondecode(module.environment.landing_policy).Statement == [
      {
        Sid       = "ListLanding0"
        Effect    = "Allow"
        Action    = ["s3:ListBucket"]
        Resource  = ["arn:aws:s3:::example-org-landing-222222222222"]
        Condition = { StringLike = { "s3:prefix" = ["shop/*"] } }
      },
      {
        Sid      = "ReadLandingObjects"
        Effect   = "Allow"
        Action   = ["s3:GetObject"]
        Resource = ["arn:aws:s3:::example-org-landing-222222222222/shop/*"]
      },
      {
        Sid       = "DecryptLandingThroughS3"
        Effect    = "Allow"
        Action    = ["kms:Decrypt"]
        Resource  = ["arn:aws:kms:eu-west-1:222222222222:key/1a2b3c4d-0000-0000-0000-00000000aa01"]
        Condition = { StringEquals = { "kms:ViaService" = "s3.eu-west-1.amazonaws.com" } }
      },
    ]
    error_message = "The staging batch role must read exactly s3://example-org-landing-222222222222/shop/ (ListBucket under the prefix, GetObject, kms:Decrypt through S3 of eu-west-1), nothing more."
  }

  assert {
    condition = alltrue(flatten([for kind, doc in module.environment.task_policies : [
      for s in jsondecode(doc).Statement : [for r in flatten([s.Resource]) : !strcontains(r, "example-org-landing")]
    ]]))
    error_message = "Only the batch role's landing policy may name the landing bucket."
  }
}

# A landing location in another environment's lake is refused (isolation, as the engine refuses
# such a source), and so is a landing key of another environment's account.
run "staging_rejects_landing_in_prod_lake" {
  command = plan
  module {
    source = "../../modules/platform"
  }

  variables {
    root = "staging"
    definition = merge(yamldecode(file("../../platform.yaml")), { environments = merge(yamldecode(file("../../platform.yaml")).environments, {
      staging = merge(yamldecode(file("../../platform.yaml")).environments.staging, { landing = [{ bucket = "medallion-prod-lake-333333333333", prefix = "bronze/" }] })
    }) })
  }

  expect_failures = [var.definition]
}

run "staging_rejects_landing_key_of_prod" {
  command = plan
  module {
    source = "../../modules/platform"
  }

  variables {
    root = "staging"
    definition = merge(yamldecode(file("../../platform.yaml")), { environments = merge(yamldecode(file("../../platform.yaml")).environments, {
      staging = merge(yamldecode(file("../../platform.yaml")).environments.staging, { landing = [{
        bucket      = "example-org-landing-222222222222"
        prefix      = "shop/"
        kms_key_arn = "arn:aws:kms:eu-west-1:333333333333:key/00000000-0000-0000-0000-00000000a0d0"
      }] })
    }) })
  }

  expect_failures = [var.definition]
}

run "staging_rejects_landing_prefix_wildcard" {
  command = plan
  module {
    source = "../../modules/platform"
  }

  variables {
    root = "staging"
    definition = merge(yamldecode(file("../../platform.yaml")), { environments = merge(yamldecode(file("../../platform.yaml")).environments, {
      staging = merge(yamldecode(file("../../platform.yaml")).environments.staging, { landing = [{ bucket = "example-org-landing-222222222222", prefix = "*" }] })
    }) })
  }

  expect_failures = [var.definition]
}

# The kafka entry's parts known at plan time (what check.sh's drift check compares the
# repository's environments.yaml with) are those of the rendered entry.
run "staging_kafka_static" {
  command = plan

  assert {
    condition = (
      module.environment.engine_kafka_static == { auth = "msk_iam", cluster_name = "medallion-staging-msk", region = "eu-west-1", port = 9098, broker_count = 2 } &&
      module.environment.engine_environment.kafka.auth == module.environment.engine_kafka_static.auth &&
      alltrue([for b in split(",", module.environment.engine_environment.kafka.brokers) : startswith(b, "b-") && strcontains(b, ".medallion-staging-msk.") && endswith(b, ".kafka.eu-west-1.amazonaws.com:9098")])
    )
    error_message = "engine_kafka_static must describe the rendered kafka entry: auth msk_iam, the IAM brokers (port 9098) of medallion-staging-msk in eu-west-1, 2 brokers."
  }
}
