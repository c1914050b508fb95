# Offline plan-mode tests for the dev root. The real AWS provider runs with
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
    arn    = "arn:aws:kms:eu-west-1:111111111111:key/00000000-0000-0000-0000-00000000dev0"
    key_id = "00000000-0000-0000-0000-00000000dev0"
  }
}

override_resource {
  target          = module.environment.aws_ecr_repository.engine
  override_during = plan
  values = {
    arn            = "arn:aws:ecr:eu-west-1:111111111111:repository/medallion-dev/engine"
    repository_url = "111111111111.dkr.ecr.eu-west-1.amazonaws.com/medallion-dev/engine"
  }
}

override_resource {
  target          = module.environment.module.lake.aws_iam_role.maintain_task
  override_during = plan
  values = {
    arn = "arn:aws:iam::111111111111:role/medallion-dev-maintain-task"
  }
}

run "dev_plan" {
  command = plan

  assert {
    condition     = module.environment.lake_sse_kms_key == module.environment.kms_key_arn
    error_message = "The dev lake bucket must be encrypted with the dev environment's own KMS key."
  }

  assert {
    condition     = strcontains(module.environment.kms_key_arn, ":111111111111:") && module.environment.kms_key_rotation
    error_message = "The dev key must live in the dev account and rotate."
  }

  assert {
    condition     = module.environment.lake_current_version_expiration_days == null
    error_message = "S3 must never expire current dev lake objects (live Delta files); retention is the engine's."
  }

  assert {
    condition     = module.environment.lake_noncurrent_version_days <= 30
    error_message = "dev noncurrent lake versions must expire within 30 days."
  }

  assert {
    condition     = module.environment.access_log_bucket_expiration_days == 30
    error_message = "dev access-log bucket must follow the 30-day retention."
  }

  # The rendered engine configuration is the deployed resources, nothing copied by hand.
  assert {
    condition = (
      module.environment.engine_environment.lake == "s3://${module.environment.lake_bucket}" &&
      module.environment.engine_environment.kms_key == module.environment.kms_key_arn &&
      module.environment.engine_environment.retention_days == 30 &&
      module.environment.engine_environment.streaming == false
    )
    error_message = "The dev engine configuration must name the lake bucket, the key ARN, retention 30 and streaming false."
  }

  assert {
    condition = length(module.environment.glue_databases) == 1 && alltrue([
      for layer, db in module.environment.glue_databases :
      db == "${module.environment.engine_environment.catalog.glue.database_prefix}${layer}"
    ])
    error_message = "The engine's Glue database names (<database_prefix><layer>) must be the databases Terraform creates."
  }

  assert {
    condition     = module.environment.engine_environment.catalog.glue.catalog_id == "111111111111" && module.environment.promotion_catalog_policy == null
    error_message = "The rendered dev configuration must carry catalog.glue.catalog_id = the dev account; dev's catalog grants nobody else (no resource policy)."
  }

  assert {
    condition     = yamldecode(module.environment.engine_config_yaml).environments["dev"].kms_key == module.environment.kms_key_arn
    error_message = "The rendered environments.yaml must carry the key ARN."
  }

  # The bucket policy denies plain HTTP, non-KMS encryption and any key but this one (by ARN).
  assert {
    condition = (
      one([for s in jsondecode(module.environment.lake_bucket_policy).Statement : s.Condition.Bool["aws:SecureTransport"] if s.Sid == "DenyInsecureTransport" && s.Effect == "Deny" && s.Action == "s3:*"]) == "false" &&
      one([for s in jsondecode(module.environment.lake_bucket_policy).Statement : s.Condition.StringNotEqualsIfExists["s3:x-amz-server-side-encryption"] if s.Sid == "DenyNonKmsEncryption" && s.Effect == "Deny"]) == "aws:kms" &&
      one([for s in jsondecode(module.environment.lake_bucket_policy).Statement : s.Condition.StringNotEqualsIfExists["s3:x-amz-server-side-encryption-aws-kms-key-id"] if s.Sid == "DenyOtherKmsKeys" && s.Effect == "Deny"]) == module.environment.kms_key_arn
    )
    error_message = "The dev lake bucket policy must deny plain HTTP, non-KMS encryption and every key but the dev key ARN."
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
    error_message = "The dev task roles may use S3 only on the dev lake, KMS only on the dev key, and no wildcard action."
  }

  # Audit trail: Object Lock on the lake bucket (versioned) with NO default retention; the
  # engine locks each audit record itself with the rendered audit.object_lock.
  assert {
    condition     = module.environment.lake_object_lock_enabled && module.environment.lake_versioning == "Enabled" && module.environment.lake_default_retention_rules == 0
    error_message = "The dev lake bucket must have Object Lock enabled, versioning on and no default retention (only audit records are locked, by the engine)."
  }

  assert {
    condition = (
      yamldecode(module.environment.engine_config_yaml).environments["dev"].audit.object_lock.mode == "governance" &&
      yamldecode(module.environment.engine_config_yaml).environments["dev"].audit.object_lock.days == 30
    )
    error_message = "The rendered dev configuration must carry audit.object_lock = { mode: governance, days: 30 }."
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
    error_message = "The dev task roles may set Object Lock retention only on _medallion/audit/* and may never bypass governance retention."
  }

  assert {
    condition = alltrue([for kind in ["batch-audit"] : (
      length([for s in jsondecode(module.environment.task_policies[kind]).Statement : s if s.Effect == "Deny" && contains(flatten([s.Action]), "s3:DeleteObjectVersion") && contains(flatten([s.Resource]), "arn:aws:s3:::${module.environment.lake_bucket}/_medallion/audit/*")]) == 1 &&
      length([for s in jsondecode(module.environment.task_policies[kind]).Statement : s if s.Effect == "Deny" && contains(flatten([s.Action]), "s3:BypassGovernanceRetention")]) == 1
    )])
    error_message = "Each dev task role must be denied s3:DeleteObjectVersion on _medallion/audit/* and s3:BypassGovernanceRetention."
  }

  assert {
    condition     = module.environment.task_commands["batch"] == ["medallion", "run", "jobs/", "--env", "dev"]
    error_message = "The dev batch task must run `medallion run jobs/ --env dev`."
  }

  # Retention is the engine's: a daily `medallion maintain` with its own task role, which
  # may delete data files and Delta log entries of the layers but never change the catalog.
  assert {
    condition = (
      module.environment.task_commands["maintain"] == ["medallion", "maintain", "--env", "dev", "--jobs", "jobs/"] &&
      jsondecode(module.environment.maintain_task_definition.container_definitions)[0].command == module.environment.task_commands["maintain"] &&
      jsondecode(module.environment.maintain_task_definition.container_definitions)[0].image == jsondecode(module.environment.maintain_task_definition.batch_container_definitions)[0].image &&
      module.environment.maintain_task_definition.task_role_arn == "arn:aws:iam::111111111111:role/medallion-dev-maintain-task" &&
      module.environment.maintenance.schedule == "cron(0 4 * * ? *)"
    )
    error_message = "dev must run `medallion maintain --env dev --jobs jobs/` daily, with the batch image, as the maintain task role."
  }

  assert {
    condition = alltrue(flatten([for s in jsondecode(module.environment.task_policies["maintain"]).Statement : [
      for a in flatten([s.Action]) : !startswith(a, "glue:") || contains(["glue:GetDatabases", "glue:GetDatabase", "glue:GetTable", "glue:GetTables"], a)
    ]])) && length([for s in jsondecode(module.environment.task_policies["maintain"]).Statement : s if contains(flatten([s.Action]), "s3:DeleteObject") && contains(flatten([s.Resource]), "arn:aws:s3:::${module.environment.lake_bucket}/bronze/*")]) == 1
    error_message = "The dev maintain role must delete in the lake's layers (VACUUM, log cleanup) and only read the Glue catalog."
  }

  assert {
    condition     = jsondecode(module.environment.task_policies["batch-ledger"]).Statement[0].Resource == ["arn:aws:s3:::${module.environment.lake_bucket}/_medallion/ingested/*"]
    error_message = "The dev batch role must read the retired-sources ledger the Bronze stage reads."
  }

  assert {
    condition     = !contains(keys(module.environment.task_commands), "stream")
    error_message = "dev has no streaming: no stream service."
  }

  assert {
    condition     = length(distinct(module.environment.private_subnet_azs)) == 1
    error_message = "dev must have private subnets in exactly 1 AZ(s)."
  }

  assert {
    condition     = module.environment.nat_gateway_count == 1
    error_message = "dev must have 1 NAT gateway(s)."
  }

  assert {
    condition     = module.environment.msk_broker_count == 0
    error_message = "dev must have 0 MSK broker(s)."
  }

  assert {
    condition     = module.environment.flow_log_group_name == "/medallion-dev/vpc-flow-logs"
    error_message = "dev VPC must ship flow logs to its own log group."
  }

  assert {
    condition     = alltrue([for n in module.environment.resource_names : strcontains(n, "dev")])
    error_message = "Every named dev resource must carry the dev name."
  }

  assert {
    condition     = alltrue([for n in module.environment.resource_names : length(regexall("(^|[^a-z])(staging|prod)([^a-z]|$)", n)) == 0])
    error_message = "No dev resource may name another environment."
  }

  # dev is where releases are tested first: it runs any spec, nothing is promoted into it.
  assert {
    condition     = !contains(keys(yamldecode(module.environment.engine_config_yaml).environments["dev"]), "promote_from") && module.environment.release_role_arn == null
    error_message = "dev must not render promote_from nor have a release role."
  }
}

# The validation of the one environments definition (modules/platform): the real
# deploy/terraform/platform.yaml with one of dev's values made invalid.
run "dev_rejects_invalid_log_retention" {
  command = plan
  module {
    source = "../../modules/platform"
  }

  variables {
    root = "dev"
    definition = merge(yamldecode(file("../../platform.yaml")), { environments = merge(yamldecode(file("../../platform.yaml")).environments, {
      dev = merge(yamldecode(file("../../platform.yaml")).environments.dev, { log_retention_days = 2555 })
    }) })
  }

  expect_failures = [var.definition]
}

run "dev_rejects_invalid_audit_object_lock" {
  command = plan
  module {
    source = "../../modules/platform"
  }

  variables {
    root = "dev"
    definition = merge(yamldecode(file("../../platform.yaml")), { environments = merge(yamldecode(file("../../platform.yaml")).environments, {
      dev = merge(yamldecode(file("../../platform.yaml")).environments.dev, { audit_object_lock = { mode = "legal-hold", days = 0 } })
    }) })
  }

  expect_failures = [var.definition]
}

run "dev_rejects_invalid_gates" {
  command = plan
  module {
    source = "../../modules/platform"
  }

  variables {
    root = "dev"
    definition = merge(yamldecode(file("../../platform.yaml")), { environments = merge(yamldecode(file("../../platform.yaml")).environments, {
      dev = merge(yamldecode(file("../../platform.yaml")).environments.dev, { gates = { max_quarantine_ratio = 1.5 } })
    }) })
  }

  expect_failures = [var.definition]
}

run "dev_rejects_promote_from_itself" {
  command = plan
  module {
    source = "../../modules/platform"
  }

  variables {
    root = "dev"
    definition = merge(yamldecode(file("../../platform.yaml")), { environments = merge(yamldecode(file("../../platform.yaml")).environments, {
      dev = merge(yamldecode(file("../../platform.yaml")).environments.dev, { promote_from = "dev" })
    }) })
  }

  expect_failures = [var.definition]
}

# Account ids are exactly 12 digits (an unquoted id with a leading zero, or a digit too few or too
# many, would name another account or none): the environment's and the shared one's.
run "dev_rejects_short_account_id" {
  command = plan
  module {
    source = "../../modules/platform"
  }

  variables {
    root = "dev"
    definition = merge(yamldecode(file("../../platform.yaml")), { environments = merge(yamldecode(file("../../platform.yaml")).environments, {
      dev = merge(yamldecode(file("../../platform.yaml")).environments.dev, { account_id = "11111111111" })
    }) })
  }

  expect_failures = [var.definition]
}

run "dev_rejects_non_digit_shared_account_id" {
  command = plan
  module {
    source = "../../modules/platform"
  }

  variables {
    root = "dev"
    definition = merge(yamldecode(file("../../platform.yaml")), {
      shared = merge(yamldecode(file("../../platform.yaml")).shared, { account_id = "00000000000a" })
    })
  }

  expect_failures = [var.definition]
}

# dev runs one batch task per schedule: no shards, no state machine, no cluster.
run "dev_one_batch_run" {
  command = plan

  assert {
    condition = (
      module.environment.batch_orchestration == null && module.environment.cluster == null &&
      tolist(module.environment.batch_targets.direct) == tolist(["nightly"]) && length(module.environment.batch_targets.state_machine) == 0
    )
    error_message = "dev (bronze_shards 1) must start its batch task directly, without a state machine or a cluster."
  }
}

# dev has no backups (its lake is rebuilt from the sources; deploy/README.md, "Backups and
# disaster recovery").
run "dev_has_no_backups" {
  command = plan

  assert {
    condition     = module.environment.backups == null && length(module.environment.backup_policies) == 0 && module.environment.restore_tasks == null
    error_message = "dev must have no backup bucket, backup or restore task, or roles."
  }
}

# dev has no landing locations: no landing grant at all.
run "dev_has_no_landing" {
  command = plan

  assert {
    condition     = module.environment.landing_policy == null
    error_message = "dev has no landing in platform.yaml: its batch role reads no landing bucket."
  }
}

run "dev_has_no_kafka" {
  command = plan

  assert {
    condition     = module.environment.engine_kafka_static == null && !contains(keys(module.environment.engine_environment_static), "kafka")
    error_message = "dev does not stream: Terraform renders no kafka entry."
  }
}
