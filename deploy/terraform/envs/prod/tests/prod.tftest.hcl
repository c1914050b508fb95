# Offline plan-mode tests for the prod root. The real AWS provider runs with
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
    arn    = "arn:aws:kms:eu-west-1:333333333333:key/00000000-0000-0000-0000-00000000prod"
    key_id = "00000000-0000-0000-0000-00000000prod"
  }
}

override_resource {
  target          = module.environment.aws_ecr_repository.engine
  override_during = plan
  values = {
    arn            = "arn:aws:ecr:eu-west-1:333333333333:repository/medallion-prod/engine"
    repository_url = "333333333333.dkr.ecr.eu-west-1.amazonaws.com/medallion-prod/engine"
  }
}

override_resource {
  target          = module.environment.aws_msk_cluster.this
  override_during = plan
  values = {
    arn                        = "arn:aws:kafka:eu-west-1:333333333333:cluster/medallion-prod-msk/00000000-0000-0000-0000-000000000000-1"
    bootstrap_brokers_sasl_iam = "b-1.medallion-prod-msk.kafka.eu-west-1.amazonaws.com:9098,b-2.medallion-prod-msk.kafka.eu-west-1.amazonaws.com:9098"
  }
}

override_resource {
  target          = module.environment.module.lake.aws_iam_role.maintain_task
  override_during = plan
  values = {
    arn = "arn:aws:iam::333333333333:role/medallion-prod-maintain-task"
  }
}

override_resource {
  target          = module.environment.module.backup[0].aws_kms_key.backup
  override_during = plan
  values = {
    arn    = "arn:aws:kms:eu-central-1:333333333333:key/00000000-0000-0000-0000-0000prodback"
    key_id = "00000000-0000-0000-0000-0000prodback"
  }
}

override_resource {
  target          = module.environment.module.lake.aws_iam_role.backup_task[0]
  override_during = plan
  values = {
    arn = "arn:aws:iam::333333333333:role/medallion-prod-backup-task"
  }
}

override_resource {
  target          = module.environment.module.lake.aws_iam_role.restore[0]
  override_during = plan
  values = {
    arn = "arn:aws:iam::333333333333:role/medallion-prod-restore"
  }
}

override_resource {
  target          = module.environment.module.lake.aws_iam_role.batch_task
  override_during = plan
  values = {
    arn = "arn:aws:iam::333333333333:role/medallion-prod-batch-task"
  }
}

override_resource {
  target          = module.environment.aws_iam_role.execution
  override_during = plan
  values = {
    arn = "arn:aws:iam::333333333333:role/medallion-prod-task-execution"
  }
}

override_resource {
  target          = module.environment.aws_ecs_cluster.this
  override_during = plan
  values = {
    arn = "arn:aws:ecs:eu-west-1:333333333333:cluster/medallion-prod"
  }
}

override_resource {
  target          = module.environment.module.lake.aws_iam_role.cluster_task[0]
  override_during = plan
  values = {
    arn = "arn:aws:iam::333333333333:role/medallion-prod-ballista-task"
  }
}

override_resource {
  target          = module.environment.aws_cloudwatch_log_group.engine["restore"]
  override_during = plan
  values = {
    arn = "arn:aws:logs:eu-west-1:333333333333:log-group:/medallion-prod/engine-restore"
  }
}

run "prod_plan" {
  command = plan

  assert {
    condition     = module.environment.lake_sse_kms_key == module.environment.kms_key_arn
    error_message = "The prod lake bucket must be encrypted with the prod environment's own KMS key."
  }

  assert {
    condition     = strcontains(module.environment.kms_key_arn, ":333333333333:") && module.environment.kms_key_rotation
    error_message = "The prod key must live in the prod account and rotate."
  }

  assert {
    condition     = module.environment.lake_current_version_expiration_days == null
    error_message = "S3 must never expire current prod lake objects (live Delta files); retention is the engine's."
  }

  assert {
    condition     = module.environment.lake_noncurrent_version_days <= 30
    error_message = "prod noncurrent lake versions must expire within 30 days."
  }

  assert {
    condition     = module.environment.access_log_bucket_expiration_days == 2555
    error_message = "prod access-log bucket must follow the 2555-day retention."
  }

  # The rendered engine configuration is the deployed resources, nothing copied by hand.
  assert {
    condition = (
      module.environment.engine_environment.lake == "s3://${module.environment.lake_bucket}" &&
      module.environment.engine_environment.kms_key == module.environment.kms_key_arn &&
      module.environment.engine_environment.retention_days == 2555 &&
      module.environment.engine_environment.streaming == true
    )
    error_message = "The prod engine configuration must name the lake bucket, the key ARN, retention 2555 and streaming true."
  }

  assert {
    condition = length(module.environment.glue_databases) == 3 && alltrue([
      for layer, db in module.environment.glue_databases :
      db == "${module.environment.engine_environment.catalog.glue.database_prefix}${layer}"
    ])
    error_message = "The engine's Glue database names (<database_prefix><layer>) must be the databases Terraform creates."
  }

  assert {
    condition     = yamldecode(module.environment.engine_config_yaml).environments["prod"].kms_key == module.environment.kms_key_arn
    error_message = "The rendered environments.yaml must carry the key ARN."
  }

  # The bucket policy denies plain HTTP, non-KMS encryption and any key but this one (by ARN).
  assert {
    condition = (
      one([for s in jsondecode(module.environment.lake_bucket_policy).Statement : s.Condition.Bool["aws:SecureTransport"] if s.Sid == "DenyInsecureTransport" && s.Effect == "Deny" && s.Action == "s3:*"]) == "false" &&
      one([for s in jsondecode(module.environment.lake_bucket_policy).Statement : s.Condition.StringNotEqualsIfExists["s3:x-amz-server-side-encryption"] if s.Sid == "DenyNonKmsEncryption" && s.Effect == "Deny"]) == "aws:kms" &&
      one([for s in jsondecode(module.environment.lake_bucket_policy).Statement : s.Condition.StringNotEqualsIfExists["s3:x-amz-server-side-encryption-aws-kms-key-id"] if s.Sid == "DenyOtherKmsKeys" && s.Effect == "Deny"]) == module.environment.kms_key_arn
    )
    error_message = "The prod lake bucket policy must deny plain HTTP, non-KMS encryption and every key but the prod key ARN."
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
    error_message = "The prod task roles may use S3 only on the prod lake, KMS only on the prod key, and no wildcard action."
  }

  assert {
    condition     = module.environment.engine_environment.kafka.auth == "msk_iam" && strcontains(module.environment.engine_environment.kafka.brokers, ":9098")
    error_message = "The prod engine configuration must name the MSK IAM brokers (port 9098) with auth msk_iam."
  }

  # Audit trail: Object Lock on the lake bucket (versioned) with NO default retention; the
  # engine locks each audit record itself with the rendered audit.object_lock.
  assert {
    condition     = module.environment.lake_object_lock_enabled && module.environment.lake_versioning == "Enabled" && module.environment.lake_default_retention_rules == 0
    error_message = "The prod lake bucket must have Object Lock enabled, versioning on and no default retention (only audit records are locked, by the engine)."
  }

  assert {
    condition = (
      yamldecode(module.environment.engine_config_yaml).environments["prod"].audit.object_lock.mode == "compliance" &&
      yamldecode(module.environment.engine_config_yaml).environments["prod"].audit.object_lock.days == 2555
    )
    error_message = "The rendered prod configuration must carry audit.object_lock = { mode: compliance, days: 2555 }."
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
    error_message = "The prod task roles may set Object Lock retention only on _medallion/audit/* and may never bypass governance retention."
  }

  assert {
    condition = alltrue([for kind in ["batch-audit", "stream-audit"] : (
      length([for s in jsondecode(module.environment.task_policies[kind]).Statement : s if s.Effect == "Deny" && contains(flatten([s.Action]), "s3:DeleteObjectVersion") && contains(flatten([s.Resource]), "arn:aws:s3:::${module.environment.lake_bucket}/_medallion/audit/*")]) == 1 &&
      length([for s in jsondecode(module.environment.task_policies[kind]).Statement : s if s.Effect == "Deny" && contains(flatten([s.Action]), "s3:BypassGovernanceRetention")]) == 1
    )])
    error_message = "Each prod task role must be denied s3:DeleteObjectVersion on _medallion/audit/* and s3:BypassGovernanceRetention."
  }

  assert {
    condition     = module.environment.task_commands["batch"] == ["medallion", "run", "jobs/", "--env", "prod"]
    error_message = "The prod batch task must run `medallion run jobs/ --env prod`."
  }

  # Retention is the engine's: a daily `medallion maintain` with its own task role, which
  # may delete data files and Delta log entries of the layers but never change the catalog.
  assert {
    condition = (
      module.environment.task_commands["maintain"] == ["medallion", "maintain", "--env", "prod", "--jobs", "jobs/"] &&
      jsondecode(module.environment.maintain_task_definition.container_definitions)[0].command == module.environment.task_commands["maintain"] &&
      jsondecode(module.environment.maintain_task_definition.container_definitions)[0].image == jsondecode(module.environment.maintain_task_definition.batch_container_definitions)[0].image &&
      module.environment.maintain_task_definition.task_role_arn == "arn:aws:iam::333333333333:role/medallion-prod-maintain-task" &&
      module.environment.maintenance.schedule == "cron(0 4 * * ? *)"
    )
    error_message = "prod must run `medallion maintain --env prod --jobs jobs/` daily, with the batch image, as the maintain task role."
  }

  assert {
    condition = alltrue(flatten([for s in jsondecode(module.environment.task_policies["maintain"]).Statement : [
      for a in flatten([s.Action]) : !startswith(a, "glue:") || contains(["glue:GetDatabases", "glue:GetDatabase", "glue:GetTable", "glue:GetTables"], a)
    ]])) && length([for s in jsondecode(module.environment.task_policies["maintain"]).Statement : s if contains(flatten([s.Action]), "s3:DeleteObject") && contains(flatten([s.Resource]), "arn:aws:s3:::${module.environment.lake_bucket}/bronze/*")]) == 1
    error_message = "The prod maintain role must delete in the lake's layers (VACUUM, log cleanup) and only read the Glue catalog."
  }

  assert {
    condition     = jsondecode(module.environment.task_policies["batch-ledger"]).Statement[0].Resource == ["arn:aws:s3:::${module.environment.lake_bucket}/_medallion/ingested/*"]
    error_message = "The prod batch role must read the retired-sources ledger the Bronze stage reads."
  }

  assert {
    condition     = module.environment.task_commands["stream"] == ["medallion", "stream", "jobs/streaming/clickstream.yaml", "--env", "prod", "--metrics-addr", "127.0.0.1:9464"]
    error_message = "The prod stream service must run `medallion stream jobs/streaming/clickstream.yaml --env prod` (a job file, not a folder)."
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
    error_message = "The prod stream task must run the read-only engine and the metrics-agent sidecar with the checked agent and scrape configuration."
  }

  # Cross-account promotion staging -> prod: prod's release role reads staging's lake (read only).
  assert {
    condition = alltrue([for s in jsondecode(module.environment.release_policies["release-upstream"]).Statement : (
      alltrue([for a in flatten([s.Action]) : contains(["s3:ListBucket", "s3:GetObject", "kms:Decrypt", "glue:GetDatabase", "glue:GetDatabases", "glue:GetTable", "glue:GetTables"], a)]) &&
      alltrue([for r in flatten([s.Resource]) : (
        startswith(r, "arn:aws:s3:::medallion-staging-lake-222222222222") || r == "arn:aws:kms:eu-west-1:222222222222:key/*" ||
        contains(["arn:aws:glue:eu-west-1:222222222222:catalog", "arn:aws:glue:eu-west-1:222222222222:database/medallion_staging_*", "arn:aws:glue:eu-west-1:222222222222:table/medallion_staging_*/*"], r)
      )])
    )]) && length(jsondecode(module.environment.release_policies["release-upstream"]).Statement) == 5
    error_message = "prod's release role must read staging's lake (list, audit trail, Delta logs, configuration, decrypt through S3) and Glue catalog (its databases and tables, decrypt through Glue) and nothing else there."
  }

  assert {
    condition     = yamldecode(module.environment.engine_config_yaml).environments["prod"].catalog.glue.catalog_id == "333333333333" && module.environment.promotion_catalog_policy == null
    error_message = "The rendered prod configuration must carry catalog.glue.catalog_id = the prod account; nobody promotes from prod, so its catalog has no resource policy."
  }

  assert {
    condition     = length(distinct(module.environment.private_subnet_azs)) == 3
    error_message = "prod must have private subnets in exactly 3 AZ(s)."
  }

  assert {
    condition     = module.environment.nat_gateway_count == 3
    error_message = "prod must have 3 NAT gateway(s)."
  }

  assert {
    condition     = module.environment.msk_broker_count == 3
    error_message = "prod must have 3 MSK broker(s)."
  }

  assert {
    condition     = module.environment.flow_log_group_name == "/medallion-prod/vpc-flow-logs"
    error_message = "prod VPC must ship flow logs to its own log group."
  }

  assert {
    condition     = alltrue([for n in module.environment.resource_names : strcontains(n, "prod")])
    error_message = "Every named prod resource must carry the prod name."
  }

  assert {
    condition     = alltrue([for n in module.environment.resource_names : length(regexall("(^|[^a-z])(dev|staging)([^a-z]|$)", n)) == 0])
    error_message = "No prod resource may name another environment."
  }

  # Promotion: prod runs only releases promoted from staging (rendered for the engine), and the
  # release role that records promotions writes nothing but audit records.
  assert {
    condition = (
      yamldecode(module.environment.engine_config_yaml).environments["prod"].promote_from == "staging" &&
      yamldecode(module.environment.engine_config_yaml).environments["prod"].gates == { max_quarantine_ratio = 0.5, max_duration_s = 900 }
    )
    error_message = "The rendered prod configuration must carry promote_from: staging and gates { max_quarantine_ratio: 0.5, max_duration_s: 900 }."
  }

  assert {
    condition = alltrue(flatten([for s in jsondecode(module.environment.release_policies["release"]).Statement : [
      for a in flatten([s.Action]) : s.Effect == "Deny" || (
        (!contains(["s3:PutObject", "s3:PutObjectRetention"], a) || flatten([s.Resource]) == ["arn:aws:s3:::${module.environment.lake_bucket}/_medallion/audit/*"]) &&
        !contains(["s3:DeleteObject", "s3:DeleteObjectVersion", "s3:BypassGovernanceRetention", "glue:CreateTable", "glue:UpdateTable", "glue:CreateDatabase"], a) &&
        (!startswith(a, "s3:") || alltrue([for r in flatten([s.Resource]) : startswith(r, "arn:aws:s3:::${module.environment.lake_bucket}")]))
      )
    ]]))
    error_message = "The prod release role may write only _medallion/audit/* of the prod lake, never delete, bypass retention or change the catalog."
  }

  assert {
    condition = alltrue([for s in jsondecode(module.environment.release_policies["release-key"]).Statement :
      flatten([s.Resource]) == [module.environment.kms_key_arn] && length(s.Condition.StringEquals["kms:ViaService"]) == 2
    ])
    error_message = "The prod release role may use only the prod key, and only through S3 and Glue."
  }
}

run "prod_is_multi_az" {
  command = plan

  assert {
    condition     = module.environment.workload_subnet_count == 3 && length(distinct(module.environment.private_subnet_azs)) >= 2
    error_message = "prod workloads must run across several AZs."
  }
}

# Backups (deploy/README.md, "Backups and disaster recovery"): a bucket of the prod account in the
# backup region under its own key, `medallion backup` every 6 h per generation as the
# backup task role, kept 35 days; the roles read and never delete.
run "prod_backups" {
  command = plan

  # The backup alarm counts the engine's JSON event `backup_taken` (engine/cli/src/commands/backup.rs)
  # of this environment to its own backup locations, in the log group the backup task writes, and
  # the backup task logs JSON at info level (the event is an info event).
  assert {
    condition = (
      module.environment.backups.taken_pattern == "{ ($.event = \"backup_taken\") && ($.environment = \"prod\") && ($.to = \"s3://medallion-prod-backup-333333333333/prod/*\") }" &&
      jsondecode(module.environment.backups.task_containers)[0].logConfiguration.options["awslogs-group"] == module.environment.backups.taken_log_group &&
      contains(jsondecode(module.environment.backups.task_containers)[0].environment, { name = "MEDALLION_LOG_FORMAT", value = "json" }) &&
      contains(jsondecode(module.environment.backups.task_containers)[0].environment, { name = "MEDALLION_LOG", value = "info" })
    )
    error_message = "The prod backup alarm must count the engine's JSON backup_taken event of prod to s3://medallion-prod-backup-333333333333/prod/*, in the backup task's log group, and the backup task must log JSON at info level."
  }

  assert {
    condition = (
      module.environment.backups.bucket == "medallion-prod-backup-333333333333" && module.environment.backups.region == "eu-central-1" &&
      module.environment.backups.kms_key_arn == "arn:aws:kms:eu-central-1:333333333333:key/00000000-0000-0000-0000-0000prodback" && module.environment.backups.sse_kms_key == module.environment.backups.kms_key_arn &&
      module.environment.backups.kms_key_arn != module.environment.kms_key_arn && module.environment.backups.kms_key_rotation &&
      module.environment.backups.object_lock_enabled && module.environment.backups.retention_days == 35
    )
    error_message = "prod backups must go to medallion-prod-backup-333333333333 in eu-central-1, SSE-KMS under their own rotating key (never the lake's), kept 35 days."
  }

  assert {
    condition = module.environment.backups.schedules == { m1 = "cron(30 0/6 * JAN,APR,JUL,OCT ? *)", m2 = "cron(30 0/6 * FEB,MAY,AUG,NOV ? *)", m3 = "cron(30 0/6 * MAR,JUN,SEP,DEC ? *)" } && alltrue([
      for g, cmd in module.environment.backups.commands :
      cmd == ["medallion", "backup", "--env", "prod", "--to", "s3://medallion-prod-backup-333333333333/prod/${g}", "--kms-key", "arn:aws:kms:eu-central-1:333333333333:key/00000000-0000-0000-0000-0000prodback", "--region", "eu-central-1"]
    ]) && length(module.environment.backups.commands) == 3 && module.environment.backups.task_role_arn == "arn:aws:iam::333333333333:role/medallion-prod-backup-task"
    error_message = "prod must run `medallion backup --env prod --to s3://medallion-prod-backup-333333333333/prod/<generation> --kms-key <backup key> --region <backup region>` every 6 h in each generation, as the backup task role."
  }

  assert {
    condition = length([for s in jsondecode(module.environment.backups.bucket_policy).Statement : s
      if s.Effect == "Deny" && try(s.Condition.StringNotEqualsIfExists["s3:x-amz-server-side-encryption-aws-kms-key-id"], "") == "arn:aws:kms:eu-central-1:333333333333:key/00000000-0000-0000-0000-0000prodback"]) == 1 && length([
    for s in jsondecode(module.environment.backups.bucket_policy).Statement : s if s.Effect == "Deny" && try(s.Condition.Bool["aws:SecureTransport"], "") == "false"]) == 1
    error_message = "The prod backup bucket must refuse plain HTTP and any key but the backup key."
  }

  assert {
    condition = alltrue([for s in jsondecode(module.environment.backup_policies["backup-keys"]).Statement :
      (flatten([s.Resource]) == [module.environment.kms_key_arn] && sort(s.Action) == tolist(["kms:Decrypt", "kms:GenerateDataKey"])) ||
      (flatten([s.Resource]) == ["arn:aws:kms:eu-central-1:333333333333:key/00000000-0000-0000-0000-0000prodback"] && s.Condition.StringEquals["kms:ViaService"] == "s3.eu-central-1.amazonaws.com")
      ]) && alltrue([for s in jsondecode(module.environment.backup_policies["restore-keys"]).Statement :
      (flatten([s.Resource]) == [module.environment.kms_key_arn]) || (flatten([s.Resource]) == ["arn:aws:kms:eu-central-1:333333333333:key/00000000-0000-0000-0000-0000prodback"] && s.Action == ["kms:Decrypt"])
    ])
    error_message = "The prod backup role may use the lake key (decrypt, data keys for its audit record) and the backup key; the restore role only decrypts with the backup key."
  }

  assert {
    condition = alltrue(flatten([for k in ["backup", "restore"] : [for s in jsondecode(module.environment.backup_policies[k]).Statement : [
      for a in flatten([s.Action]) : s.Effect == "Deny" || !contains(["s3:DeleteObject", "s3:DeleteObjectVersion", "s3:BypassGovernanceRetention", "glue:DeleteTable", "glue:DeleteDatabase"], a) ||
      (k == "restore" && a == "s3:DeleteObject" && flatten([s.Resource]) == ["arn:aws:s3:::${module.environment.lake_bucket}/_medallion/restore/*"])
    ]]]))
    error_message = "Neither the prod backup role nor the restore role may delete anything (the restore only its own markers under _medallion/restore/)."
  }
}

# The restore of the disaster recovery runbook as an ECS task: one task definition per backup
# generation, restoring that generation's location from the backup region, as the break-glass
# restore role, logging to its own group; started by a person holding the restore role, never by
# a schedule (the events role cannot pass the restore role).
run "prod_restore_task" {
  command = plan

  assert {
    condition = keys(module.environment.restore_tasks) == ["m1", "m2", "m3"] && alltrue([for g, t in module.environment.restore_tasks : (
      t.family == "medallion-prod-restore-${g}" &&
      t.command == ["medallion", "restore", "--env", "prod", "--from", "s3://medallion-prod-backup-333333333333/prod/${g}", "--region", "eu-central-1"] &&
      jsondecode(module.environment.restore_task_definitions.tasks[g].container_definitions)[0].command == t.command &&
      jsondecode(module.environment.restore_task_definitions.tasks[g].container_definitions)[0].image == jsondecode(module.environment.restore_task_definitions.batch_container_definitions)[0].image &&
      jsondecode(module.environment.restore_task_definitions.tasks[g].container_definitions)[0].readonlyRootFilesystem == true &&
      jsondecode(module.environment.restore_task_definitions.tasks[g].container_definitions)[0].user == "10001" &&
      jsondecode(module.environment.restore_task_definitions.tasks[g].container_definitions)[0].logConfiguration.options["awslogs-group"] == "/medallion-prod/engine-restore" &&
      module.environment.restore_task_definitions.tasks[g].task_role_arn == "arn:aws:iam::333333333333:role/medallion-prod-restore"
    )]) && module.environment.restore_task_definitions.log_group == "/medallion-prod/engine-restore"
    error_message = "prod must have a restore task definition per backup generation running `medallion restore --env prod --from s3://medallion-prod-backup-333333333333/prod/<generation> --region eu-central-1` with the batch image (read-only, uid 10001), as the restore role, logging to /medallion-prod/engine-restore."
  }

  assert {
    condition = alltrue([for s in jsondecode(module.environment.restore_task_definitions.run_task_policy).Statement : (
      s.Effect == "Allow" &&
      (!contains(flatten([s.Action]), "ecs:RunTask") || (sort(flatten([s.Resource])) == sort(["arn:aws:ecs:eu-west-1:333333333333:task-definition/medallion-prod-restore-m1:*", "arn:aws:ecs:eu-west-1:333333333333:task-definition/medallion-prod-restore-m2:*", "arn:aws:ecs:eu-west-1:333333333333:task-definition/medallion-prod-restore-m3:*"]) && try(s.Condition.ArnEquals["ecs:cluster"], "") == "arn:aws:ecs:eu-west-1:333333333333:cluster/medallion-prod")) &&
      (!contains(flatten([s.Action]), "iam:PassRole") || (sort(flatten([s.Resource])) == sort(["arn:aws:iam::333333333333:role/medallion-prod-task-execution", "arn:aws:iam::333333333333:role/medallion-prod-restore"]) && try(s.Condition.StringEquals["iam:PassedToService"], "") == "ecs-tasks.amazonaws.com")) &&
      alltrue([for a in flatten([s.Action]) : contains(["ecs:RunTask", "iam:PassRole", "ecs:DescribeTasks", "logs:GetLogEvents", "logs:FilterLogEvents"], a)])
    )])
    error_message = "The prod restore role may start only the restore tasks, on its own cluster, passing only the restore and execution roles, and follow them; nothing else."
  }

  assert {
    condition = alltrue([for s in jsondecode(module.environment.restore_task_definitions.events_policy).Statement : (
      !contains(flatten([s.Resource]), "arn:aws:iam::333333333333:role/medallion-prod-restore") &&
      alltrue([for r in flatten([s.Resource]) : !strcontains(r, "-restore-")])
    )])
    error_message = "The prod events role (the schedules) may neither pass the restore role nor start a restore task."
  }
}

# Batch runs with Bronze shards and the Ballista cluster (deploy/README.md, "Batch runs: shards
# and the cluster"): the schedule starts the state machine, 4 shards per file-job folder in
# parallel, then one Silver/Gold run that reaches the cluster.
run "prod_batch_shards_and_cluster" {
  command = plan

  assert {
    condition = (
      module.environment.batch_orchestration["nightly"].shard_commands == [for pair in setproduct(["jobs/shop/", "jobs/iot/"], ["0", "1", "2", "3"]) :
      ["medallion", "run", pair[0], "--env", "prod", "--shard", "${pair[1]}/4"]] &&
      module.environment.batch_orchestration["nightly"].final_command == ["medallion", "run", "jobs/", "--env", "prod"]
    )
    error_message = "prod must run `medallion run jobs/shop/|jobs/iot/ --env prod --shard i/4` for i = 0..3, then `medallion run jobs/ --env prod` without --shard."
  }

  assert {
    condition = (
      module.environment.batch_orchestration["nightly"].definition.StartAt == "BronzeShards" &&
      module.environment.batch_orchestration["nightly"].definition.States.BronzeShards.Type == "Parallel" &&
      module.environment.batch_orchestration["nightly"].definition.States.BronzeShards.Next == "SilverAndGold" &&
      length(module.environment.batch_orchestration["nightly"].definition.States.BronzeShards.Branches) == 8 &&
      !can(module.environment.batch_orchestration["nightly"].definition.States.BronzeShards.Catch) &&
      alltrue([for b in module.environment.batch_orchestration["nightly"].definition.States.BronzeShards.Branches : alltrue([for s in values(b.States) :
      s.Resource == "arn:aws:states:::ecs:runTask.sync" && !can(s.Catch)])]) &&
      module.environment.batch_orchestration["nightly"].definition.States.SilverAndGold.Resource == "arn:aws:states:::ecs:runTask.sync" &&
      module.environment.batch_orchestration["nightly"].definition.States.SilverAndGold.End &&
      module.environment.batch_orchestration["nightly"].definition.States.SilverAndGold.Parameters.Overrides.ContainerOverrides[0].Command == ["medallion", "run", "jobs/", "--env", "prod"]
    )
    error_message = "The batch state machine must wait for every shard (Parallel of ecs:runTask.sync, no Catch) and only then run Silver/Gold once."
  }

  assert {
    condition = (
      length(module.environment.batch_targets.direct) == 0 && tolist(module.environment.batch_targets.state_machine) == tolist(["nightly"]) &&
      alltrue([for s in jsondecode(module.environment.orchestration_policies.events).Statement : !contains(flatten([s.Action]), "ecs:RunTask") || !anytrue([for r in flatten([s.Resource]) : strcontains(r, "task-definition/medallion-prod-batch:")])]) &&
      anytrue([for s in jsondecode(module.environment.orchestration_policies.events).Statement : contains(flatten([s.Action]), "states:StartExecution")])
    )
    error_message = "With shards the schedule starts the state machine only; the events role may not run the batch task itself."
  }

  assert {
    condition = alltrue([for s in jsondecode(module.environment.orchestration_policies.state_machine).Statement : (
      (contains(flatten([s.Action]), "iam:PassRole") ? toset(flatten([s.Resource])) == toset(["arn:aws:iam::333333333333:role/medallion-prod-task-execution", "arn:aws:iam::333333333333:role/medallion-prod-batch-task"]) : true) &&
      (contains(flatten([s.Action]), "ecs:RunTask") ? flatten([s.Resource]) == ["arn:aws:ecs:eu-west-1:333333333333:task-definition/medallion-prod-batch:*"] && s.Condition.ArnEquals["ecs:cluster"] == "arn:aws:ecs:eu-west-1:333333333333:cluster/medallion-prod" : true) &&
      (contains(flatten([s.Action]), "events:PutRule") ? flatten([s.Resource]) == ["arn:aws:events:eu-west-1:333333333333:rule/StepFunctionsGetEventsForECSTaskRule"] : true) &&
      !anytrue([for a in flatten([s.Action]) : startswith(a, "s3:") || startswith(a, "kms:") || a == "*" || endswith(a, ":*")])
    )])
    error_message = "The state machine role runs only the batch family on its cluster, passes exactly the execution and batch task roles, and uses only the ECS .sync rule."
  }

  assert {
    condition = (
      yamldecode(module.environment.engine_config_yaml).environments["prod"].engine.ballista.scheduler == "df://ballista-scheduler.medallion-prod.internal:50050" &&
      module.environment.cluster.executor_command == ["medallion", "cluster", "executor", "--scheduler-host", "ballista-scheduler.medallion-prod.internal", "--scheduler-port", "50050", "--bind-host", "0.0.0.0", "--port", "50051", "--grpc-port", "50052", "--work-dir", "/tmp/ballista"] &&
      module.environment.cluster.scheduler_command == ["medallion", "cluster", "scheduler", "--bind-host", "0.0.0.0", "--port", "50050"] &&
      module.environment.cluster_task_definitions.service_registries == 1
    )
    error_message = "prod renders engine.ballista.scheduler = its Cloud Map name, and the scheduler and executors run `medallion cluster scheduler|executor` with exactly those ports."
  }

  assert {
    condition = alltrue([for c in [jsondecode(module.environment.cluster_task_definitions.scheduler)[0], jsondecode(module.environment.cluster_task_definitions.executor)[0]] :
    c.readonlyRootFilesystem && c.user == "10001" && !c.privileged]) && contains([for m in jsondecode(module.environment.cluster_task_definitions.executor)[0].mountPoints : m.containerPath], "/tmp")
    error_message = "The cluster's containers run read-only as uid 10001; the executors' work dir is a volume."
  }

  assert {
    condition = (
      module.environment.cluster_task_definitions.executor_role == "arn:aws:iam::333333333333:role/medallion-prod-ballista-task" &&
      alltrue([for s in jsondecode(module.environment.cluster_task_definitions.policies.cluster_task).Statement :
      s.Effect == "Allow" && alltrue([for a in flatten([s.Action]) : contains(["s3:GetObject", "s3:ListBucket", "s3:GetBucketLocation", "kms:Decrypt"], a)])]) &&
      alltrue([for s in jsondecode(module.environment.cluster_task_definitions.policies.cluster_task).Statement :
      alltrue([for r in flatten([s.Resource]) : startswith(r, "arn:aws:s3:::medallion-prod-lake-333333333333") || r == module.environment.kms_key_arn])]) &&
      alltrue([for s in jsondecode(module.environment.cluster_task_definitions.policies.batch_share).Statement : flatten([s.Resource]) == ["arn:aws:s3:::medallion-prod-lake-333333333333/_medallion/tmp/*"]])
    )
    error_message = "The cluster task role only reads the prod lake and decrypts with its key; the batch role shares only _medallion/tmp/."
  }

  assert {
    condition = (
      alltrue([for c in module.environment.cluster_task_definitions.ingress_cidrs : c == null]) &&
      module.environment.cluster.scaling == { "nightly-up" = { schedule = "cron(50 1 * * ? *)", count = 2 }, "nightly-down" = { schedule = "cron(0 4 * * ? *)", count = 0 } } &&
      module.environment.cluster_task_definitions.lake_expirations == { "_medallion/tmp/" = 2 } &&
      module.environment.lake_current_version_expiration_days == null
    )
    error_message = "No cluster ingress from a CIDR; executors up 10 min before the 02:00 batch, 0 after 2 h; only _medallion/tmp/ expires in the lake."
  }
}

# S3 landing: two prefixes of one bucket, one SSE-KMS (its key, through S3 only), one SSE-S3.
run "prod_landing_read_only" {
  command = plan

  assert {
    condition = jsondecode(module.environment.landing_policy).Statement == [
      {
        Sid       = "ListLanding0"
        Effect    = "Allow"
        Action    = ["s3:ListBucket"]
        Resource  = ["arn:aws:s3:::example-org-landing-333333333333"]
        Condition = { StringLike = { "s3:prefix" = ["shop/*"] } }
      },
      {
        Sid       = "ListLanding1"
        Effect    = "Allow"
        Action    = ["s3:ListBucket"]
        Resource  = ["arn:aws:s3:::example-org-landing-333333333333"]
        Condition = { StringLike = { "s3:prefix" = ["iot/*"] } }
      },
      {
        Sid      = "ReadLandingObjects"
        Effect   = "Allow"
        Action   = ["s3:GetObject"]
        Resource = ["arn:aws:s3:::example-org-landing-333333333333/shop/*", "arn:aws:s3:::example-org-landing-333333333333/iot/*"]
      },
      {
        Sid       = "DecryptLandingThroughS3"
        Effect    = "Allow"
        Action    = ["kms:Decrypt"]
        Resource  = ["arn:aws:kms:eu-west-1:333333333333:key/1a2b3c4d-0000-0000-0000-00000000aa02"]
        Condition = { StringEquals = { "kms:ViaService" = "s3.eu-west-1.amazonaws.com" } }
      },
    ]
    error_message = "The prod batch role must read exactly s3://example-org-landing-333333333333/shop/ and /iot/ (ListBucket under each prefix, GetObject, kms:Decrypt of the shop key through S3), nothing more."
  }
}

# The executors follow hourly batch schedules too (modules/executor-schedule, which cluster.tf
# calls with the batch jobs' schedules): up 10 minutes before every run, to 0 window_minutes
# after it; anything else is refused with what is supported.
run "executors_hourly_schedule" {
  command = plan
  module {
    source = "../../modules/executor-schedule"
  }

  variables {
    schedules      = { hourly = "cron(5 * * * ? *)" }
    executors      = 2
    window_minutes = 45
  }

  assert {
    condition     = output.scaling == { "hourly-up" = { schedule = "cron(55 * * * ? *)", count = 2 }, "hourly-down" = { schedule = "cron(50 * * * ? *)", count = 0 } }
    error_message = "An hourly cron(5 * * * ? *) batch: executors up at :55 of every hour, to 0 at :50 (45 minutes after each run)."
  }
}

run "executors_daily_schedules" {
  command = plan
  module {
    source = "../../modules/executor-schedule"
  }

  variables {
    schedules      = { nightly = "cron(5 0 * * ? *)", evening = "cron(0 20 * * ? *)" }
    executors      = 3
    window_minutes = 120
  }

  assert {
    condition = output.scaling == {
      "nightly-up"   = { schedule = "cron(55 23 * * ? *)", count = 3 }
      "nightly-down" = { schedule = "cron(5 2 * * ? *)", count = 0 }
      "evening-up"   = { schedule = "cron(50 19 * * ? *)", count = 3 }
      "evening-down" = { schedule = "cron(0 22 * * ? *)", count = 0 }
    }
    error_message = "Daily batches: executors up 10 minutes before each (across midnight too), to 0 two hours after."
  }
}

run "executors_hourly_and_daily_apart" {
  command = plan
  module {
    source = "../../modules/executor-schedule"
  }

  variables {
    schedules      = { hourly = "cron(0 * * * ? *)", nightly = "cron(30 3 * * ? *)" }
    executors      = 2
    window_minutes = 15
  }

  assert {
    condition     = output.scaling["hourly-up"].schedule == "cron(50 * * * ? *)" && output.scaling["hourly-down"].schedule == "cron(15 * * * ? *)" && output.scaling["nightly-up"].schedule == "cron(20 3 * * ? *)" && output.scaling["nightly-down"].schedule == "cron(45 3 * * ? *)"
    error_message = "An hourly batch at :00 and a daily one at 03:30 with 15-minute windows do not overlap."
  }
}

run "executors_reject_hourly_window_over_the_hour" {
  command = plan
  module {
    source = "../../modules/executor-schedule"
  }

  variables {
    schedules      = { hourly = "cron(5 * * * ? *)" }
    executors      = 2
    window_minutes = 120
  }

  expect_failures = [var.schedules]
}

run "executors_reject_weekly_schedule" {
  command = plan
  module {
    source = "../../modules/executor-schedule"
  }

  variables {
    schedules      = { weekly = "cron(0 2 ? * SUN *)" }
    executors      = 2
    window_minutes = 120
  }

  expect_failures = [var.schedules]
}

run "executors_reject_overlapping_windows" {
  command = plan
  module {
    source = "../../modules/executor-schedule"
  }

  variables {
    schedules      = { hourly = "cron(5 * * * ? *)", nightly = "cron(30 2 * * ? *)" }
    executors      = 2
    window_minutes = 20
  }

  expect_failures = [output.scaling]
}
