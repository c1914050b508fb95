#!/usr/bin/env python3
"""Mutation tests of the deploy checks: each bad edit below is applied to a copy of the real
Terraform (deploy/terraform), and the checks of deploy/ci/check.sh run on the copy until one
fails. A mutation that no check catches fails this script.

Usage: mutations.py [--jobs N] [--only ID,ID]     (check.sh runs it; needs terraform, the
provider mirror and checkov, like check.sh itself)

Checks: deploy/image/check_image.py (the task definitions against the image, without the binary;
it needs no plan), `terraform plan` (validation), project policies MED-001..019 on the plan JSON,
the environments.yaml drift check, `terraform test` of the root, checkov on the plan JSON. They run
cheapest first, except that the check a mutation is known to be caught by (EXPECTED, from the last
runs) runs first: the verdict is the same (caught when any check fails, missed when all pass), only
the time differs. Only the root the mutation names is planned and tested. Each root is initialised
once (a template copy of deploy/terraform with the roots' `.terraform` and lock files); each
mutation copies that template, so no mutation runs `terraform init` unless its plan or test says
it must (then it does, and its verdict comes after). One line per mutation, in the order they
finish: `CAUGHT <id> by <check>: <first finding>`, `MISSED <id>` or `BROKEN <id>` (a mutation
that could not be applied or a check that could not run: counted as missed); last line
`mutations: N caught, M missed`.
"""
import argparse
import concurrent.futures
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
DEPLOY = os.path.normpath(os.path.join(HERE, "..", ".."))
REPO = os.path.dirname(DEPLOY)
CHECKOV = os.path.join(os.environ.get("MEDALLION_CHECKOV_VENV", "/opt/medallion-venvs/checkov"), "bin", "checkov")
PY = os.path.join(os.environ.get("MEDALLION_CHECKOV_VENV", "/opt/medallion-venvs/checkov"), "bin", "python")
IMAGE_CHECK = os.path.join(DEPLOY, "image", "check_image.py")
# The roots' S3 backend: offline, a local backend stands in (as in check.sh). Its path is relative
# (to the root), so the template's initialised backend is the same in every copy.
BACKEND_OVERRIDE = 'terraform {\n  backend "local" {\n    path = "ci-mutation.tfstate"\n  }\n}\n'

# id, what, file (under deploy/terraform), old text, new text, root to check. old/new may be tuples
# of the same length: several edits of the file, each old text occurring exactly once.
# id, what, file (under deploy/terraform), old text, new text, root to check
MUTATIONS = [
    ("flow-log-reject", "VPC flow logs record REJECT traffic only",
     "modules/network/main.tf", 'traffic_type             = "ALL"', 'traffic_type             = "REJECT"', "staging"),
    ("lifecycle-disabled", "the buckets' lifecycle rules are Disabled (the lake's noncurrent versions kept forever)",
     "modules/secure-bucket/main.tf", '      id     = rule.value.id\n      status = "Enabled"',
     '      id     = rule.value.id\n      status = "Disabled"', "staging"),
    ("securityhub-standard-removed", "Security Hub FSBP standard no longer subscribed",
     "modules/shared-services/security.tf",
     'resource "aws_securityhub_standards_subscription" "fsbp" {\n  standards_arn = "arn:aws:securityhub:${local.region}::standards/aws-foundational-security-best-practices/v/1.0.0"\n  depends_on    = [aws_securityhub_account.this]\n}',
     "", "shared"),
    ("deny-http-removed", "the data buckets' TLS-only statement is removed (modules/secure-bucket)",
     "modules/secure-bucket/main.tf",
     '        Sid       = "DenyInsecureTransport"\n        Effect    = "Deny"\n        Principal = "*"\n        Action    = "s3:*"\n        Resource  = [local.arn, "${local.arn}/*"]',
     '        Sid       = "AllowInsecureTransport"\n        Effect    = "Allow"\n        Principal = "*"\n        Action    = "s3:GetObject"\n        Resource  = [local.arn, "${local.arn}/*"]', "staging"),
    ("key-rotation-off", "the environment key does not rotate",
     "modules/lake/main.tf", "enable_key_rotation     = true", "enable_key_rotation     = false", "prod"),
    ("s3-wildcard-resource", "the task roles may read and write every bucket",
     "modules/lake/iam.tf", 'Resource = [for l in sort(tolist(local.layers)) : "${local.bucket_arn}/${l}/*"]',
     'Resource = ["arn:aws:s3:::*/*"]', "staging"),
    ("public-bucket", "the data buckets' public access block is off (modules/secure-bucket; dev: the lake)",
     "modules/secure-bucket/main.tf", 'bucket                  = aws_s3_bucket.this.id\n  block_public_acls       = true\n  block_public_policy     = true',
     'bucket                  = aws_s3_bucket.this.id\n  block_public_acls       = false\n  block_public_policy     = false', "dev"),
    ("flow-logs-missing", "the VPC has no flow log",
     "modules/network/main.tf", 'resource "aws_flow_log" "this" {\n', 'resource "aws_flow_log" "this" {\n  count                    = 0\n', "prod"),
    ("retention-below-env", "staging keeps data 30 days instead of 90",
     "platform.yaml", "    retention_days: 90\n", "    retention_days: 30\n", "staging"),
    ("cross-env-key", "the staging lake is encrypted with the prod key",
     "modules/lake/storage.tf", "  kms_key_arn         = aws_kms_key.this.arn\n  deny_other_kms_keys = true",
     "  kms_key_arn         = \"arn:aws:kms:eu-west-1:333333333333:key/00000000-0000-0000-0000-00000000prod\"\n  deny_other_kms_keys = true", "staging"),
    ("msk-plaintext", "MSK accepts plaintext from clients",
     "modules/environment/msk.tf", 'client_broker = "TLS"', 'client_broker = "TLS_PLAINTEXT"', "staging"),
    ("role-assumable-cross-env", "the task roles may be assumed from the prod account",
     "modules/lake/iam.tf", 'Principal = { Service = "ecs-tasks.amazonaws.com" }',
     'Principal = { Service = "ecs-tasks.amazonaws.com", AWS = "arn:aws:iam::333333333333:root" }', "staging"),
    ("lifecycle-expires-live-delta", "S3 expires current lake objects after 90 days (live Delta files)",
     "modules/lake/storage.tf", "    expired_object_delete_marker = true\n", "    expiration_days              = 90\n", "staging"),
    ("stream-topic-mismatch", "the stream role may read a topic the job does not use (and not web.clicks)",
     "modules/environment/variables.tf", 'topics   = ["web.clicks"]', 'topics   = ["medallion-staging.clicks"]', "staging"),
    ("engine-config-alias", "the rendered engine configuration names the key alias, not its ARN",
     "modules/lake/main.tf", "{ kms_key = aws_kms_key.this.arn }", "{ kms_key = \"alias/${local.name}\" }", "staging"),
    ("stream-command-folder", "the stream service runs a folder instead of the job file",
     "modules/environment/variables.tf", 'path     = "jobs/streaming/clickstream.yaml"', 'path     = "jobs/streaming/"', "prod"),
    ("glue-prefix-mismatch", "Terraform's Glue databases differ from the engine's <prefix><layer>",
     "modules/lake/main.tf", 'glue_db_names        = { for l in local.layers : l => "${local.glue_database_prefix}${l}" }',
     'glue_db_names        = { for l in local.layers : l => "${local.glue_database_prefix}db_${l}" }', "staging"),
    ("nacl-return-range-narrow", "the public NACL lets replies in only on 32768-65535 (NAT uses 1024-65535)",
     "modules/network/main.tf", '    rule_no    = 110\n    protocol   = "tcp"\n    action     = "allow"\n    cidr_block = "0.0.0.0/0"\n    from_port  = 1024',
     '    rule_no    = 110\n    protocol   = "tcp"\n    action     = "allow"\n    cidr_block = "0.0.0.0/0"\n    from_port  = 32768', "staging"),
    # The audit trail (deploy/README.md, "Audit trail: Object Lock").
    ("object-lock-off", "the lake bucket has no S3 Object Lock (the engine cannot lock its audit records)",
     "modules/lake/storage.tf", "  object_lock         = {}\n", "  object_lock         = null\n", "prod"),
    ("audit-block-removed", "the rendered engine configuration has no audit.object_lock",
     "modules/lake/main.tf", "    audit = { object_lock = { mode = var.audit_object_lock.mode, days = var.audit_object_lock.days } }\n", "", "staging"),
    ("lake-default-retention", "a bucket-wide default retention locks every Delta file and commit",
     "modules/lake/storage.tf", "  object_lock         = {}\n",
     '  object_lock         = { default_retention = { mode = "GOVERNANCE", days = 30 } }\n', "dev"),
    ("audit-bypass-governance", "the engine roles may bypass governance retention",
     "modules/lake/iam.tf", 'Effect   = "Deny"\n      Action   = ["s3:BypassGovernanceRetention"]',
     'Effect   = "Allow"\n      Action   = ["s3:BypassGovernanceRetention"]', "staging"),
    ("audit-version-delete", "the engine roles are no longer denied deleting audit record versions",
     "modules/lake/iam.tf", 'Effect   = "Deny"\n      Action   = ["s3:DeleteObjectVersion"]',
     'Effect   = "Allow"\n      Action   = ["s3:DeleteObjectVersion"]', "staging"),
    ("prod-audit-governance", "prod audit records in governance mode (an administrator could lift the lock)",
     "platform.yaml", "audit_object_lock: { mode: compliance, days: 2555 }",
     "audit_object_lock: { mode: governance, days: 2555 }", "prod"),
    # Promotion (deploy/README.md, "Releases: promotion dev -> staging -> prod").
    ("prod-promote-from-removed", "prod runs any spec (no promote_from): untested releases reach it",
     "platform.yaml", "    promote_from: staging\n", "", "prod"),
    ("release-role-writes-data", "the release role may write the layers' Delta logs (change tables, not only record promotions)",
     "modules/lake/iam.tf", 'Sid      = "ReadDeltaLogsOfOwnLayers"\n      Effect   = "Allow"\n      Action   = ["s3:GetObject"]',
     'Sid      = "ReadDeltaLogsOfOwnLayers"\n      Effect   = "Allow"\n      Action   = ["s3:GetObject", "s3:PutObject"]', "staging"),
    ("audit-unreadable-by-task-role", "the engine task roles cannot read the audit trail they enforce promotions against",
     "modules/lake/iam.tf", 'Action   = ["s3:GetObject", "s3:PutObject", "s3:PutObjectRetention", "s3:GetObjectRetention"]',
     'Action   = ["s3:PutObject", "s3:PutObjectRetention", "s3:GetObjectRetention"]', "prod"),
    # Retention by the engine (docs/retention.md; deploy/README.md, "Retention").
    ("maintain-not-daily", "`medallion maintain` scheduled weekly instead of daily",
     "modules/environment/variables.tf", 'schedule = "cron(0 4 * * ? *)"', 'schedule = "cron(0 4 ? * SUN *)"', "staging"),
    ("maintain-cannot-vacuum", "the maintain role may not delete data files or Delta log entries (no VACUUM, no log cleanup)",
     "modules/lake/iam.tf", 'Sid      = "ExpireAndVacuumOwnLayers"\n      Effect   = "Allow"\n      Action   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"]',
     'Sid      = "ExpireAndVacuumOwnLayers"\n      Effect   = "Allow"\n      Action   = ["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload"]', "prod"),
    ("ledger-unreadable", "the batch and stream roles cannot read the retired-sources ledger (runs fail after a retention)",
     "modules/lake/iam.tf", 'Action   = ["s3:GetObject"]\n      Resource = ["${local.bucket_arn}/${local.ledger_prefix}*"]',
     'Action   = ["s3:GetObject"]\n      Resource = ["${local.bucket_arn}/${local.config_key}"]', "dev"),
    ("lifecycle-expires-layer-prefix", "a second lifecycle rule expires current objects under bronze/ after 30 days (modules/secure-bucket)",
     "modules/secure-bucket/main.tf", '  dynamic "rule" {\n    for_each = var.prefix_expirations',
     '  rule {\n    id     = "expire-old-bronze"\n    status = "Enabled"\n    filter {\n      prefix = "bronze/"\n    }\n    expiration {\n      days = 30\n    }\n  }\n  dynamic "rule" {\n    for_each = var.prefix_expirations', "dev"),
    # Remote state (deploy/README.md, "Remote state").
    ("state-grant-every-root", "a root's deploy role may read and write every root's state (envs/*)",
     "modules/state-backend/main.tf", 'Resource  = "${local.bucket_arn}/envs/${k}/*"', 'Resource  = "${local.bucket_arn}/envs/*"', "shared"),
    ("state-unversioned", "the data buckets' versioning Suspended: the state bucket keeps no earlier versions of a state",
     "modules/secure-bucket/main.tf", 'bucket = aws_s3_bucket.this.id\n  versioning_configuration {\n    status = "Enabled"',
     'bucket = aws_s3_bucket.this.id\n  versioning_configuration {\n    status = "Suspended"', "shared"),
    ("backend-no-lock", "prod's backend does not lock its state (concurrent applies)",
     "envs/prod/backend.hcl.example", "use_lockfile = true", "use_lockfile = false", "prod"),
    # The stream's metrics in CloudWatch (deploy/README.md, "Alarms").
    ("alarm-metric-not-emitted", "the lag alarm watches a metric name the engine does not emit",
     "modules/environment/monitoring.tf", 'metric_name         = "medallion_stream_partition_lag"',
     'metric_name         = "medallion_stream_consumer_lag"', "staging"),
    ("agent-drops-lag", "the agent sidecar no longer sends the partition lag to CloudWatch",
     "modules/environment/metrics.tf", 'metric_selectors = ["^medallion_stream_partition_lag$"]',
     'metric_selectors = ["^medallion_stream_partition_committed_offset$"]', "prod"),
    ("lag-alarm-stuck-when-missing", "the lag alarm treats missing data as breaching (it never clears once the stream stops)",
     "modules/environment/monitoring.tf",
     'threshold           = var.alarm_thresholds.consumer_lag_records\n  comparison_operator = "GreaterThanThreshold"\n  treat_missing_data  = "notBreaching"\n  alarm_actions       = [aws_sns_topic.alerts.arn]\n  ok_actions          = [aws_sns_topic.alerts.arn]\n  dimensions = {\n    service',
     'threshold           = var.alarm_thresholds.consumer_lag_records\n  comparison_operator = "GreaterThanThreshold"\n  treat_missing_data  = "breaching"\n  alarm_actions       = [aws_sns_topic.alerts.arn]\n  ok_actions          = [aws_sns_topic.alerts.arn]\n  dimensions = {\n    service', "staging"),
    # Cross-account promotion staging -> prod (deploy/README.md, "Releases").
    ("promotion-grant-writes", "staging's bucket policy lets prod's release role write (PutObject) what it reads",
     "modules/lake/storage.tf", 'Action    = "s3:GetObject"', 'Action    = ["s3:GetObject", "s3:PutObject"]', "staging"),
    ("promotion-grant-data-files", "staging's bucket policy lets prod's release role read every data file, not only Delta logs",
     "modules/lake/storage.tf", '[for l in sort(tolist(local.layers)) : "${local.bucket_arn}/${l}/*/_delta_log/*"],',
     '[for l in sort(tolist(local.layers)) : "${local.bucket_arn}/${l}/*"],', "staging"),
    ("promotion-grant-removed", "prod no longer reads staging's lake (`medallion promote --from staging --to prod` cannot read its trail)",
     "platform.yaml", "cross_account_promotion: true", "cross_account_promotion: false", "prod"),
    # Seed controls (deploy/README.md, "What each module provisions").
    ("pci-dss-removed", "Security Hub no longer runs the PCI DSS standard (shared)",
     "modules/shared-services/security.tf",
     'resource "aws_securityhub_standards_subscription" "pci_dss" {\n  standards_arn = "arn:aws:securityhub:${local.region}::standards/pci-dss/v/3.2.1"\n  depends_on    = [aws_securityhub_account.this]\n}',
     "", "shared"),
    ("bastion-never-stopped", "the dev bastion's nightly stop schedule is disabled",
     "modules/environment/governance.tf", 'state                        = "ENABLED"', 'state                        = "DISABLED"', "dev"),
    ("prod-provider-any-account", "the prod root's provider no longer refuses other accounts (allowed_account_ids removed)",
     "envs/prod/providers.tf", "region = module.platform.region\n\n  # Deploy guards: Terraform runs as the prod account's deploy role, and refuses any other account\n  # (a wrong profile or role cannot apply prod elsewhere). Off only for offline CI plans.\n  allowed_account_ids = var.offline_plan ? null : [module.platform.account_id]\n", "region = module.platform.region\n\n  # Deploy guards: Terraform runs as the prod account's deploy role, and refuses any other account\n  # (a wrong profile or role cannot apply prod elsewhere). Off only for offline CI plans.\n", "prod"),
    ("backup-provider-any-account", "the prod root's backup-region provider no longer refuses other accounts",
     "envs/prod/providers.tf", "region = module.platform.backup_region\n\n  # Deploy guards: Terraform runs as the prod account's deploy role, and refuses any other account\n  # (a wrong profile or role cannot apply prod elsewhere). Off only for offline CI plans.\n  allowed_account_ids = var.offline_plan ? null : [module.platform.account_id]\n", "region = module.platform.backup_region\n\n  # Deploy guards: Terraform runs as the prod account's deploy role, and refuses any other account\n  # (a wrong profile or role cannot apply prod elsewhere). Off only for offline CI plans.\n", "prod"),
    ("cost-tag-inactive", "the `environment` cost-allocation tag is not active (the environments' budgets see no cost)",
     "modules/shared-services/governance.tf", 'status   = "Active"', 'status   = "Inactive"', "shared"),
    ("config-recorder-off", "the staging account's AWS Config recorder is not enabled (the conformance packs evaluate nothing)",
     "modules/environment/governance.tf", "is_enabled = true", "is_enabled = false", "staging"),
    ("hipaa-pack-missing", "the HIPAA conformance pack is no longer deployed to the organisation",
     "platform.yaml",
     "    Operational-Best-Practices-for-HIPAA-Security: s3://medallion-shared-log-archive-000000000000/conformance-packs/Operational-Best-Practices-for-HIPAA-Security.yaml\n", "", "shared"),
    ("operator-without-mfa", "the human operator role can be assumed without MFA",
     "modules/lake/iam.tf", '        Bool            = { "aws:MultiFactorAuthPresent" = "true" }\n', "", "prod"),
    # VPC endpoints (deploy/README.md, "network").
    ("bastion-no-ssm-endpoint", "the dev VPC lacks the ssmmessages endpoint (Session Manager only through the NAT)",
     "modules/environment/network.tf", '["ssm", "ssmmessages", "ec2messages"]', '["ssm", "ec2messages"]', "dev"),
    ("endpoint-policy-any-account", "the interface endpoints admit principals of any account",
     "modules/network/main.tf", '      Condition = { StringEquals = { "aws:PrincipalAccount" = var.account_id } }\n', "", "prod"),
    # Backups and disaster recovery (deploy/README.md, "Backups and disaster recovery").
    ("backup-role-deletes", "the backup task role may delete (s3:DeleteObject) what it appends in the lake",
     "modules/lake/backup.tf", 'Sid      = "AppendAuditRecord"\n      Effect   = "Allow"\n      Action   = ["s3:PutObject", "s3:PutObjectRetention"]',
     'Sid      = "AppendAuditRecord"\n      Effect   = "Allow"\n      Action   = ["s3:PutObject", "s3:PutObjectRetention", "s3:DeleteObject"]', "prod"),
    ("backup-role-writes-tables", "the backup task role may write anywhere in the lake, not only its audit record",
     "modules/lake/backup.tf", 'Action   = ["s3:PutObject", "s3:PutObjectRetention"]\n      Resource = [local.audit_arn]',
     'Action   = ["s3:PutObject", "s3:PutObjectRetention"]\n      Resource = ["${local.bucket_arn}/*"]', "staging"),
    ("backup-role-every-backup-bucket", "the backup task role may read and write every environment's backup bucket",
     "modules/lake/backup.tf", '      Action   = ["s3:GetObject", "s3:PutObject"]\n      Resource = [local.backup_prefix_arn]',
     '      Action   = ["s3:GetObject", "s3:PutObject"]\n      Resource = ["arn:aws:s3:::${var.project_name}-*-backup-*/*"]', "prod"),
    ("backup-role-changes-catalog", "the backup task role may change Glue tables",
     "modules/lake/backup.tf", 'Action   = ["glue:GetTables", "glue:GetTable"]', 'Action   = ["glue:GetTables", "glue:GetTable", "glue:UpdateTable"]', "staging"),
    ("backup-noncurrent-kept", "noncurrent backup versions are kept 90 days (erased rows outlive the backup retention)",
     "modules/backup/main.tf", "expiration_days = var.retention_days, noncurrent_days = 1,", "expiration_days = var.retention_days, noncurrent_days = 90,", "prod"),
    ("backup-bucket-public", "the data buckets (staging: the backup bucket too) no longer restrict public buckets (modules/secure-bucket)",
     "modules/secure-bucket/main.tf", "  ignore_public_acls      = true\n  restrict_public_buckets = true",
     "  ignore_public_acls      = true\n  restrict_public_buckets = false", "staging"),
    ("backup-prod-rpo-daily", "prod is backed up once a day instead of every 6 hours (RPO 24 h)",
     "platform.yaml", "backup: { retention_days: 35, rpo_hours: 6 }", "backup: { retention_days: 35, rpo_hours: 24 }", "prod"),
    ("backup-schedule-gap", "the staging backups skip the 29th-31st of each month",
     "modules/backup/main.tf", 'd21 = { days = "21-31", months = "*" }', 'd21 = { days = "21-28", months = "*" }', "staging"),
    ("backup-alarm-silent-when-missing", "the backup_missing alarm treats no data (no backup at all) as not breaching",
     "modules/environment/monitoring.tf", 'threshold           = 1\n  comparison_operator = "LessThanThreshold"\n  treat_missing_data  = "breaching"',
     'threshold           = 1\n  comparison_operator = "LessThanThreshold"\n  treat_missing_data  = "notBreaching"', "prod"),
    ("restore-without-mfa", "the break-glass restore role can be assumed without MFA",
     "modules/lake/backup.tf", '          Bool            = { "aws:MultiFactorAuthPresent" = "true" }\n', "", "staging"),
    ("restore-writes-backups", "the restore role is granted PutObject on its backups",
     "modules/lake/backup.tf", 'Action   = ["s3:GetObject"]\n      Resource = [local.backup_prefix_arn]',
     'Action   = ["s3:GetObject", "s3:PutObject"]\n      Resource = [local.backup_prefix_arn]', "prod"),
    # The restore as an ECS task (deploy/README.md, "Disaster recovery runbook").
    ("restore-task-lake-region", "the restore task reads the backups with the lake's region instead of the backup region",
     "modules/environment/compute.tf", '"--from", loc, "--region", module.backup[0].region,', '"--from", loc, "--region", local.region,', "staging"),
    ("restore-task-as-backup-role", "the restore task runs as the backup task role instead of the restore role",
     "modules/environment/compute.tf", "  task_role_arn            = module.lake.restore_role_arn\n",
     "  task_role_arn            = module.lake.backup_task_role_arn\n", "prod"),
    ("backup-schedule-starts-restore", "the backup schedules start the restore task (a restore every 6 h)",
     "modules/environment/compute.tf", "task_definition_arn = aws_ecs_task_definition.backup[0].arn",
     "task_definition_arn = aws_ecs_task_definition.restore[each.key].arn", "prod"),
    ("events-pass-restore-role", "the events role (the schedules) may pass the break-glass restore role",
     "modules/environment/iam.tf", "local.backup_on ? [module.lake.backup_task_role_arn] : [])",
     "local.backup_on ? [module.lake.backup_task_role_arn, module.lake.restore_role_arn] : [])", "staging"),
    # Cross-account promotion staging -> prod: the Glue catalog (deploy/README.md, "Releases").
    ("promotion-catalog-grant-writes", "staging's Glue catalog policy lets prod's release role UpdateTable",
     "modules/lake/main.tf", '    Action    = ["glue:GetDatabase", "glue:GetDatabases", "glue:GetTable", "glue:GetTables"]\n',
     '    Action    = ["glue:GetDatabase", "glue:GetDatabases", "glue:GetTable", "glue:GetTables", "glue:UpdateTable"]\n', "staging"),
    ("promotion-catalog-any-database", "staging's Glue catalog policy lets prod's release role read every database of the catalog",
     "modules/lake/main.tf", '"arn:aws:glue:${local.region}:${local.account}:database/${local.glue_database_prefix}*",',
     '"arn:aws:glue:${local.region}:${local.account}:database/*",', "staging"),
    ("promotion-catalog-key-direct", "staging's key lets prod's release role decrypt directly, not only through Glue",
     "modules/lake/main.tf", '          StringEquals = { "kms:ViaService" = "glue.${local.region}.amazonaws.com" }\n', "", "staging"),
    ("promotion-upstream-catalog-writes", "prod's release role may create tables in staging's catalog",
     "modules/lake/iam.tf", '        Action   = ["glue:GetDatabase", "glue:GetDatabases", "glue:GetTable", "glue:GetTables"]\n        Resource = ["${local.upstream_glue_arn}:catalog"',
     '        Action   = ["glue:GetDatabase", "glue:GetDatabases", "glue:GetTable", "glue:GetTables", "glue:CreateTable"]\n        Resource = ["${local.upstream_glue_arn}:catalog"', "prod"),
    ("engine-config-no-catalog-id", "the rendered configuration has no catalog_id (a promotion from staging would list prod's catalog)",
     "modules/lake/main.tf", ", catalog_id = local.account } }", " } }", "staging"),
    # Security Hub across the organisation (deploy/README.md, "shared-services").
    ("securityhub-no-auto-enable", "Security Hub is not enabled in accounts joining the organisation",
     "modules/shared-services/security_hub_organization.tf", "  auto_enable           = true\n", "  auto_enable           = false\n", "shared"),
    ("securityhub-members-missing", "the environments' accounts are not enrolled in Security Hub",
     "modules/shared-services/security_hub_organization.tf", "for_each   = toset([for a in var.member_account_ids : a if a != local.account])",
     "for_each   = toset([])", "shared"),
    # Batch runs: Bronze shards and the Ballista cluster (deploy/README.md, "Batch runs: shards and the cluster").
    ("shard-without-shard", "the shard tasks run without --shard (each ingests every new file; Silver/Gold overlap nothing but Bronze races)",
     "modules/environment/orchestration.tf", '["medallion", "run", pair[0], "--env", local.env, "--shard", "${pair[1]}/${local.shards}"]',
     '["medallion", "run", pair[0], "--env", local.env]', "prod"),
    ("shards-not-awaited", "the state machine starts the shard tasks without waiting for them (.sync): Silver/Gold overlap the shards",
     "modules/environment/orchestration.tf", '    Resource = "arn:aws:states:::ecs:runTask.sync"', '    Resource = "arn:aws:states:::ecs:runTask"', "staging"),
    ("schedule-also-runs-batch", "the batch schedule also starts the unsharded run directly, beside the state machine (overlapping the shards)",
     "modules/environment/compute.tf", "  for_each = local.sharded ? {} : var.batch_jobs\n", "  for_each = var.batch_jobs\n", "prod"),
    ("executor-role-writes-lake", "the Ballista cluster's task role may write the lake (PutObject on the layers)",
     "modules/lake/iam.tf", '        Action   = ["s3:GetObject"]\n        Resource = concat([for l in sort(tolist(local.layers)) : "${local.bucket_arn}/${l}/*"], [local.cluster_tmp_arn])',
     '        Action   = ["s3:GetObject", "s3:PutObject"]\n        Resource = concat([for l in sort(tolist(local.layers)) : "${local.bucket_arn}/${l}/*"], [local.cluster_tmp_arn])', "prod"),
    ("scheduler-sg-open-world", "the Ballista scheduler's security group admits 50050 from 0.0.0.0/0",
     "modules/environment/cluster.tf", 'resource "aws_vpc_security_group_ingress_rule" "ballista" {',
     'resource "aws_vpc_security_group_ingress_rule" "scheduler_world" {\n  count             = local.cluster_on ? 1 : 0\n  security_group_id = aws_security_group.ballista_scheduler[0].id\n  ip_protocol       = "tcp"\n  from_port         = 50050\n  to_port           = 50050\n  cidr_ipv4         = "0.0.0.0/0"\n}\n\nresource "aws_vpc_security_group_ingress_rule" "ballista" {', "prod"),
    ("executors-never-scaled-down", "the executors are never scaled to 0 after the batch window (they run all day)",
     "modules/executor-schedule/main.tf", '"${k}-down" = { schedule = local.at["${k}-down"], count = 0 }',
     '"${k}-down" = { schedule = local.at["${k}-down"], count = var.executors }', "prod"),
    # Compliance floors (deploy/README.md, "Compliance floors"): consistent edits of platform.yaml,
    # which every comparison with platform.yaml passes; the floors in plan_policies.py do not.
    ("prod-log-retention-lowered", "prod's CloudWatch logs kept 365 days instead of 2557 (platform.yaml)",
     "platform.yaml", "    log_retention_days: 2557\n", "    log_retention_days: 365\n", "prod"),
    ("shared-log-retention-lowered", "the shared account's CloudWatch logs (CloudTrail, findings) kept 365 days (platform.yaml)",
     "platform.yaml", "  log_retention_days: 2557          #", "  log_retention_days: 365           #", "shared"),
    ("archive-retention-lowered", "the log archive expires CloudTrail / Config objects after 1 year instead of 7 (platform.yaml)",
     "platform.yaml", "archive_retention_days: 2555", "archive_retention_days: 365", "shared"),
    ("archive-lock-shortened", "the log archive locks each object 30 days instead of a year (platform.yaml)",
     "platform.yaml", "archive_object_lock_days: 365", "archive_object_lock_days: 30", "shared"),
    ("archive-access-logs-shortened", "the archive's server access logs kept 90 days instead of a year (platform.yaml)",
     "platform.yaml", "access_log_retention_days: 365", "access_log_retention_days: 90", "shared"),
    ("prod-audit-lock-shortened", "prod audit records locked 365 days instead of 7 years (platform.yaml)",
     "platform.yaml", "audit_object_lock: { mode: compliance, days: 2555 }", "audit_object_lock: { mode: compliance, days: 365 }", "prod"),
    ("backup-retention-above-gdpr", "prod backups kept 50 days (erased people's rows survive 50 days; platform.yaml)",
     "platform.yaml", "backup: { retention_days: 35, rpo_hours: 6 }", "backup: { retention_days: 50, rpo_hours: 6 }", "prod"),
    ("promotion-order-swapped", "the promotion order dev -> prod -> staging (one chain, the wrong one; platform.yaml)",
     "platform.yaml", ("    promote_from: dev\n", "    promote_from: staging\n"),
     ("    promote_from: prod\n", "    promote_from: dev\n"), "staging"),
    # The one environments definition (deploy/README.md, "Where environment values live").
    ("account-id-short", "dev's account id has 11 digits (platform.yaml)",
     "platform.yaml", 'account_id: "111111111111"', 'account_id: "11111111111"', "dev"),
    ("root-reads-other-env", "the prod root reads staging's entry of platform.yaml (root = \"staging\")",
     "envs/prod/main.tf", "  root       = local.environment\n", "  root       = \"staging\"\n", "prod"),
    # The backup alarm on the engine's structured event (deploy/README.md, "Backups and disaster recovery").
    ("backup-alarm-counts-summary-line", "the backup alarm counts the human summary line again, not the JSON backup_taken event",
     "modules/environment/monitoring.tf", "backup_taken_pattern = local.backup_on ? module.backup[0].taken_pattern : null",
     'backup_taken_pattern = local.backup_on ? "\\"of `${local.env}` to s3://${module.backup[0].bucket}/${local.env}/\\"" : null', "staging"),
    ("backup-task-text-logs", "the engine tasks (the backup task too) log text, not JSON: the backup alarm's pattern matches nothing",
     "modules/environment/compute.tf", '    { name = "MEDALLION_LOG_FORMAT", value = "json" },\n', "", "prod"),
    ("engine-root-writable", "the engine containers (local.engine_container) have a writable root filesystem",
     "modules/environment/compute.tf", "    readonlyRootFilesystem = true\n    privileged             = false\n    user                   = \"10001\"",
     "    readonlyRootFilesystem = false\n    privileged             = false\n    user                   = \"10001\"", "prod"),
    ("maintain-overrides-container", "the maintain task definition overrides the shared engine container (a writable root filesystem)",
     "modules/environment/compute.tf", 'merge(local.engine_container, {\n    name             = "engine"\n    command          = local.maintain_command',
     'merge(local.engine_container, { readonlyRootFilesystem = false }, {\n    name             = "engine"\n    command          = local.maintain_command', "dev"),
    # S3 landing locations of files sources (deploy/README.md, "S3 landing locations").
    ("landing-whole-bucket", "the batch role may read the whole landing bucket, not only its landing prefix",
     "modules/lake/iam.tf", 'Resource = [for l in var.landing : "arn:aws:s3:::${l.bucket}/${l.prefix}*"]',
     'Resource = [for l in var.landing : "arn:aws:s3:::${l.bucket}/*"]', "staging"),
    ("landing-write", "the batch role may write (PutObject) to the landing locations",
     "modules/lake/iam.tf", 'Sid      = "ReadLandingObjects"\n      Effect   = "Allow"\n      Action   = ["s3:GetObject"]',
     'Sid      = "ReadLandingObjects"\n      Effect   = "Allow"\n      Action   = ["s3:GetObject", "s3:PutObject"]', "prod"),
    ("landing-list-any-prefix", "the batch role may list the whole landing bucket (no s3:prefix condition)",
     "modules/lake/iam.tf", '      Condition = { StringLike = { "s3:prefix" = ["${l.prefix}*"] } }\n', "", "prod"),
    ("landing-key-direct", "the batch role may decrypt with the landing key directly, not only through S3",
     "modules/lake/iam.tf", '      Condition = { StringEquals = { "kms:ViaService" = "s3.${local.region}.amazonaws.com" } }\n', "", "staging"),
    ("landing-in-other-lake", "staging's landing location is prod's lake (isolation)",
     "platform.yaml", "bucket: example-org-landing-222222222222, prefix: shop/,", "bucket: medallion-prod-lake-333333333333, prefix: bronze/,", "staging"),
    ("executors-hourly-late", "with an hourly batch schedule the executors are scaled up at the run's start, not before it",
     "modules/executor-schedule/main.tf", '"cron(${(r.minute - var.lead_minutes + 60) % 60} * * * ? *)"', '"cron(${r.minute} * * * ? *)"', "prod"),
    ("tmp-volume-read-only", "the /tmp task volume is mounted read-only (the engine cannot write its temporary files)",
     "modules/environment/compute.tf", 'containerPath = "/tmp", readOnly = false', 'containerPath = "/tmp", readOnly = true', "prod"),
]


# The check each mutation was caught by in earlier runs, where it is not a policy (those run right
# after the plan anyway): it runs first. A hint for the order only, never for the verdict.
EXPECTED = {
    "deny-http-removed": "test", "s3-wildcard-resource": "test", "engine-config-alias": "test",
    "glue-prefix-mismatch": "test", "restore-task-as-backup-role": "test", "events-pass-restore-role": "test",
    "executor-role-writes-lake": "test", "executors-hourly-late": "test", "backup-task-text-logs": "test",
    "public-bucket": "checkov", "msk-plaintext": "checkov",
}
# Mutations of a compliance floor (deploy/README.md, "Compliance floors"): the policy output
# must hold the floor's own finding, not only some failure (environments.yaml and the terraform
# tests pin some of the same values).
MUST_FIND = {
    "prod-log-retention-lowered": r"below the compliance floor of 2557 days",
    "shared-log-retention-lowered": r"below the compliance floor of 2557 days",
    "archive-retention-lowered": r"below the compliance floor of 2555 days",
    "archive-lock-shortened": r"of 365 days \(every archived",
    "archive-access-logs-shortened": r"below the compliance floor of 365 days",
    "prod-audit-lock-shortened": r"below the compliance floor\s+for prod",
    "backup-retention-above-gdpr": r"above the compliance ceiling of 35 days",
    "backup-prod-rpo-daily": r"above the compliance ceiling of an RPO of 6 h for prod",
    "promotion-order-swapped": r"expected exactly dev -> staging -> prod",
}
# Rough relative cost (the scheduler starts the longest first, so that 2 workers end together).
ROOT_COST = {"prod": 4, "staging": 3, "dev": 2, "shared": 1}
CHECK_COST = {"test": 10, "checkov": 8}
# Output of a plan or test that wants `terraform init` again (a mutation that changed what init
# reads: module calls, providers): init, then the same command once more.
# Output of a failure that is the machine's, not a check's: it catches nothing (BROKEN).
ENV_ERROR = re.compile(r"No valid credential sources|Failed to query available provider packages|"
                       r"Failed to install provider", re.I)
NEEDS_INIT = re.compile(r"terraform init|Module not installed|module is not yet installed|Missing required provider|"
                        r"Inconsistent dependency lock file|Backend initialization required|Required plugins are not installed", re.I)


def run(cmd, cwd, env=None, timeout=600):
    p = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout + p.stderr


def first(lines, pattern):
    for l in lines.splitlines():
        if re.search(pattern, l):
            return l.strip()[:200]
    return ""


def tf_env():
    env = dict(os.environ)
    # as check.sh: the project's CLI configuration (providers from the mirror) and fake
    # credentials (plans and tests run offline), whatever the caller's environment holds
    env["TF_CLI_CONFIG_FILE"] = os.path.join(DEPLOY, "terraform", ".terraformrc")
    env.update(AWS_ACCESS_KEY_ID="mock-access-key", AWS_SECRET_ACCESS_KEY="mock-secret-key", AWS_REGION="eu-west-1")
    for k in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        env.pop(k, None)
    env.setdefault("TF_PLUGIN_CACHE_DIR", os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"),
                                                       "medallion-terraform-plugins"))
    env.setdefault("TF_PLUGIN_CACHE_MAY_BREAK_DEPENDENCY_LOCK_FILE", "1")
    env.setdefault("CHECKPOINT_DISABLE", "1")
    env.setdefault("TF_IN_AUTOMATION", "1")
    env.setdefault("TF_INPUT", "0")
    os.makedirs(env["TF_PLUGIN_CACHE_DIR"], exist_ok=True)
    return env


def make_template(roots, jobs):
    """A copy of deploy/terraform + policies with each root in `roots` initialised (local backend
    override, `.terraform`, lock file). Returns (dir, {root: error or None})."""
    tmpl = tempfile.mkdtemp(prefix="mutation-template-")
    tf = os.path.join(tmpl, "deploy", "terraform")
    shutil.copytree(os.path.join(DEPLOY, "terraform"), tf,
                    ignore=shutil.ignore_patterns(".terraform", ".terraform.lock.hcl", "*.tfstate*", "ci_backend_override.tf"))
    shutil.copytree(os.path.join(DEPLOY, "policies"), os.path.join(tmpl, "deploy", "policies"),
                    ignore=shutil.ignore_patterns("__pycache__"))
    os.symlink(os.path.join(REPO, "jobs"), os.path.join(tmpl, "jobs"))
    # check_image.py reads the Dockerfile (never mutated)
    os.symlink(os.path.join(REPO, "Dockerfile"), os.path.join(tmpl, "Dockerfile"))
    # MED-013 reads the metric names the engine emits (engine/kafka/src/metrics.rs)
    os.symlink(os.path.join(REPO, "engine"), os.path.join(tmpl, "engine"))

    def init(root):
        d = os.path.join(tf, "envs", root)
        with open(os.path.join(d, "ci_backend_override.tf"), "w") as fh:
            fh.write(BACKEND_OVERRIDE)
        rc, out = run(["terraform", "init", "-input=false", "-no-color"], d, tf_env())
        return root, (f"terraform init failed: {first(out, 'Error')}" if rc else None)

    # the first init alone (it may fill the shared plugin cache, which is not safe for concurrent
    # writers), then the others `jobs` at a time
    roots = sorted(roots)
    errors = dict([init(roots[0])]) if roots else {}
    with concurrent.futures.ThreadPoolExecutor(max(1, jobs)) as ex:
        errors.update(ex.map(init, roots[1:]))
    return tmpl, errors


def apply_edits(path, old, new):
    """Applies the edit(s); an error message when an old text does not occur exactly once."""
    olds, news = (old, new) if isinstance(old, tuple) else ((old,), (new,))
    text = open(path).read()
    for o, n in zip(olds, news):
        if text.count(o) != 1:
            return f"the text to mutate occurs {text.count(o)} times; update mutations.py"
        text = text.replace(o, n)
    with open(path, "w") as fh:
        fh.write(text)
    return None


def check_mutation(m, tmpl):
    mid, what, rel, old, new, root = m
    start = time.time()
    work = tempfile.mkdtemp(prefix=f"mutation-{mid}-")

    def done(status, detail):
        return mid, what, status, detail, time.time() - start

    try:
        # the template with its initialised roots: symlinks stay symlinks (the providers are
        # links into the plugin cache), text files are copies (the edit must not reach the template)
        shutil.copytree(os.path.join(tmpl, "deploy"), os.path.join(work, "deploy"), symlinks=True)
        for link in ("jobs", "engine", "Dockerfile"):
            os.symlink(os.path.join(REPO, link), os.path.join(work, link))
        tf = os.path.join(work, "deploy", "terraform")
        err = apply_edits(os.path.join(tf, rel), old, new)
        if err:
            return done("BROKEN", f"{rel}: {err}")
        rootdir = os.path.join(tf, "envs", root)
        env = tf_env()
        plan = os.path.join(work, "plan")
        varfile = ["-var-file=terraform.tfvars.example"] if os.path.exists(os.path.join(rootdir, "terraform.tfvars.example")) else []
        state = {"plan": None, "inited": False}

        def terraform(cmd, timeout=600):
            rc, out = run(cmd, rootdir, env, timeout)
            if rc and ENV_ERROR.search(out):
                raise RuntimeError(f"{cmd[1]} failed for a reason of the machine (no check ran): {first(out, ENV_ERROR.pattern)}")
            if rc and NEEDS_INIT.search(out) and not state["inited"]:
                state["inited"] = True
                irc, iout = run(["terraform", "init", "-input=false", "-no-color", "-reconfigure"], rootdir, env)
                if irc:  # a failing init catches nothing: the environment's, not a check's
                    raise RuntimeError(f"terraform init failed (no check ran): {first(iout, 'Error')}")
                rc, out = run(cmd, rootdir, env, timeout)
            return rc, out

        def planned():
            """None when the plan JSON is there, else the verdict (caught by the plan)."""
            if state["plan"] is None:
                rc, out = terraform(["terraform", "plan", "-refresh=false", "-lock=false", "-input=false", "-no-color",
                              *varfile, "-var", "offline_plan=true", f"-out={plan}"])
                if rc:
                    state["plan"] = ("CAUGHT", f"terraform plan: {first(out, 'Error|error')}")
                else:
                    rc, out = terraform(["terraform", "show", "-json", plan])
                    if rc:
                        state["plan"] = ("BROKEN", f"terraform show -json failed: {first(out, 'Error')}")
                    else:
                        with open(plan + ".json", "w") as fh:
                            fh.write(out)
                        state["plan"] = ()
            return state["plan"] or None

        def policies():
            v = planned()
            if v:
                return v
            rc, out = run([PY, os.path.join(work, "deploy", "policies", "plan_policies.py"), "--env", root, plan + ".json"], work)
            state["policy_out"] = out
            if rc:
                # every policy that fails on the mutation, the first one's first finding
                checks = [l.split(" ")[0] for l in out.splitlines() if re.match(r"^MED-\d+ FAIL", l)]
                if not checks:  # the checker crashed: that catches nothing
                    return "BROKEN", f"plan_policies.py failed without a FAIL line: {out.strip()[-300:]}"
                return "CAUGHT", f"policy {'+'.join(checks)}: {first(out, r'^    - ')[2:]}"
            return None

        def drift():
            if root not in ("staging", "prod"):
                return None
            v = planned()
            if v:
                return v
            rc, out = run([PY, os.path.join(work, "deploy", "policies", "config_drift.py"),
                           os.path.join(REPO, "environments.yaml"), f"{root}={plan}.json"], work)
            return ("CAUGHT", f"environments.yaml drift: {first(out, r'^    - ')[2:]}") if rc else None

        def test():
            rc, out = terraform(["terraform", "test", "-no-color"])
            if rc:
                return "CAUGHT", f"terraform test: {first(out, 'error_message|Error:|on tests')} {first(out, 'must|may')}"
            return None

        def image():
            rc, out = run([PY, IMAGE_CHECK, work, "--no-binary"], work)
            return ("CAUGHT", f"check_image.py: {first(out, '^FAIL')[5:]}") if rc else None

        def checkov():
            v = planned()
            if v:
                return v
            rc, out = run([CHECKOV, "-f", plan + ".json", "--framework", "terraform_plan", "--repo-root-for-plan-enrichment", tf,
                           "--config-file", os.path.join(DEPLOY, ".checkov.yaml"), "--compact", "--quiet", "-o", "cli"], work)
            return ("CAUGHT", f"checkov (plan JSON): {first(out, 'Check: CKV')}") if rc else None

        checks = {"image": image, "plan": planned, "policy": policies, "drift": drift, "test": test, "checkov": checkov}
        order = ["image", "plan", "policy", "drift", "test", "checkov"]
        must = MUST_FIND.get(mid)
        if must:
            # a floor's mutation must be caught by the floor itself (other checks that pin the
            # same value would hide a floor that no longer works)
            v = policies()
            if not v or v[0] != "CAUGHT" or not re.search(must, state.get("policy_out", "")):
                return done("BROKEN", f"the floor did not catch it (no finding matching {must!r}): {v}")
            return done(*v)
        hint = EXPECTED.get(mid)
        if hint in order:
            order = [hint] + [c for c in order if c != hint]
        for name in order:
            v = checks[name]()
            if v:
                return done(*v)
        return done("MISSED", "every check passed")
    except RuntimeError as e:
        return done("BROKEN", str(e))
    except subprocess.TimeoutExpired as e:
        return done("BROKEN", f"timed out: {' '.join(e.cmd[:3])}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--only", default="")
    args = ap.parse_args()
    only = {x for x in args.only.split(",") if x}
    unknown = only - {m[0] for m in MUTATIONS}
    if unknown:
        print(f"unknown mutation ids: {sorted(unknown)}")
        return 2
    todo = [m for m in MUTATIONS if not only or m[0] in only]
    t0 = time.time()
    tmpl, init_errors = make_template({m[5] for m in todo}, args.jobs)
    print(f"template: {', '.join(sorted(init_errors))} initialised once [{time.time() - t0:.0f}s]", flush=True)
    # check_image.py runs first on every mutation: it must pass on the unmutated copy, or it
    # would "catch" every mutation
    rc, out = run([PY, IMAGE_CHECK, tmpl, "--no-binary"], tmpl)
    if rc:
        print(f"check_image.py fails on the unmutated copy: {first(out, '^FAIL')}")
        shutil.rmtree(tmpl, ignore_errors=True)
        print("mutations: 0 caught, 0 missed")
        return 1
    caught = missed = 0
    # the longest first (a test or checkov, the bigger roots), so that the workers end together
    todo.sort(key=lambda m: -(CHECK_COST.get(EXPECTED.get(m[0]), 5) * ROOT_COST.get(m[5], 1)))
    try:
        with concurrent.futures.ThreadPoolExecutor(args.jobs) as ex:
            futs = []
            for m in todo:
                if init_errors.get(m[5]):
                    futs.append(ex.submit(lambda m=m: (m[0], m[1], "BROKEN", f"envs/{m[5]}: {init_errors[m[5]]}", 0.0)))
                else:
                    futs.append(ex.submit(check_mutation, m, tmpl))
            names = {f: m for f, m in zip(futs, todo)}
            for f in concurrent.futures.as_completed(futs):
                try:
                    mid, what, status, detail, secs = f.result()
                except Exception as e:  # a crash of this script's own code catches nothing
                    mid, what, status, detail, secs = names[f][0], names[f][1], "BROKEN", f"mutations.py: {e!r}", 0.0
                print(f"{status} {mid} ({what}) by {detail} [{secs:.0f}s]" if status == "CAUGHT"
                      else f"{status} {mid} ({what}): {detail} [{secs:.0f}s]", flush=True)
                if status == "CAUGHT":
                    caught += 1
                else:
                    missed += 1
    finally:
        shutil.rmtree(tmpl, ignore_errors=True)
    print(f"mutations: {caught} caught, {missed} missed")
    return 1 if missed or not caught else 0


if __name__ == "__main__":
    sys.exit(main())
