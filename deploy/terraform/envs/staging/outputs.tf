output "kms_key_arn" {
  value = module.environment.kms_key_arn
}

output "lake_bucket" {
  value = module.environment.lake_bucket
}

output "glue_databases" {
  value = module.environment.glue_databases
}

output "private_subnet_azs" {
  value = module.environment.private_subnet_azs
}

output "resource_names" {
  value = module.environment.resource_names
}

output "engine_config_yaml" {
  description = "The engine configuration rendered from this environment's resources (also stored at engine_config_uri)."
  value       = module.environment.engine_config_yaml
}

output "engine_config_uri" {
  description = "MEDALLION_ENVIRONMENTS of the task definitions."
  value       = module.environment.engine_config_uri
}

output "task_commands" {
  value = module.environment.task_commands
}

output "stream_kafka_access" {
  value = module.environment.stream_kafka_access
}

output "engine_environment_static" {
  description = "The rendered engine configuration's fields known before apply (check.sh compares them with environments.yaml)."
  value       = module.environment.engine_environment_static
}

output "peering_connection_id" {
  description = "Give it to envs/shared (peering_connection_ids) to accept the peering and route back."
  value       = module.environment.peering_connection_id
}

output "release_role_arn" {
  description = "The principal deploy/ci/release.sh runs `medallion promote --apply` as, for promotions into this environment (null: nothing is promoted here)."
  value       = module.environment.release_role_arn
}

output "stream_metrics" {
  description = "How the stream's Prometheus metrics reach CloudWatch (agent sidecar configuration; check.sh MED-013 compares it with the alarms and the engine's metric names)."
  value       = module.environment.stream_metrics
}

output "promotion_read_grants" {
  description = "This lake's read-only grants to the next environment's release role (cross-account promotion; check.sh MED-014)."
  value       = module.environment.promotion_read_grants
}

output "restore_tasks" {
  description = "The restore task definitions by backup generation: family and command (the disaster recovery runbook; check.sh MED-016); null without backups."
  value       = module.environment.restore_tasks
}

output "restore_run_task" {
  description = "By backup generation: the `aws ecs run-task` command that starts its restore task (runbook step 4, as the restore role)."
  value       = module.environment.restore_run_task
}

output "batch_orchestration" {
  description = "Bronze shards: the batch state machines (deploy/README.md, \"Batch runs: shards and the cluster\")."
  value       = module.environment.batch_orchestration
}

output "cluster" {
  description = "The Ballista cluster (null without one)."
  value       = module.environment.cluster
}

output "landing_policy" {
  description = "The batch task role's read-only grant on the landing locations of platform.yaml (JSON; null without; check.sh MED-019)."
  value       = module.environment.landing_policy
}

output "engine_kafka_static" {
  description = "The rendered kafka entry's parts known before apply (auth; the MSK cluster, region, port and number of the brokers; null without streaming): check.sh's drift check compares environments.yaml's kafka entry with them."
  value       = module.environment.engine_kafka_static
}
