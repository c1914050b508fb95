output "kms_key_arn" {
  description = "This environment's customer-managed key."
  value       = aws_kms_key.this.arn
}

output "kms_key_rotation" {
  value = aws_kms_key.this.enable_key_rotation
}

output "bucket_names" {
  description = "Data bucket per layer."
  value       = { for l, b in aws_s3_bucket.data : l => b.bucket }
}

output "bucket_sse_kms_keys" {
  description = "KMS key used by each data bucket's default encryption."
  value = { for l, c in aws_s3_bucket_server_side_encryption_configuration.data :
  l => one([for r in c.rule : one(r.apply_server_side_encryption_by_default).kms_master_key_id]) }
}

output "bucket_expiration_days" {
  description = "Lifecycle expiration (days) per data bucket."
  value = { for l, c in aws_s3_bucket_lifecycle_configuration.data :
  l => one([for r in c.rule : one(r.expiration).days]) }
}

output "access_log_bucket_expiration_days" {
  value = one([for r in aws_s3_bucket_lifecycle_configuration.access_logs.rule : one(r.expiration).days])
}

output "glue_databases" {
  value = { for l, d in aws_glue_catalog_database.layer : l => d.name }
}

output "vpc_id" {
  value = module.network.vpc_id
}

output "private_subnet_azs" {
  value = module.network.private_subnet_azs
}

output "workload_subnet_count" {
  value = length(local.workload_subnet_ids)
}

output "nat_gateway_count" {
  value = module.network.nat_gateway_count
}

output "msk_broker_count" {
  value = var.settings.enable_streaming ? aws_msk_cluster.this[0].number_of_broker_nodes : 0
}

output "flow_log_group_name" {
  value = module.network.flow_log_group_name
}

output "ecs_cluster_name" {
  value = aws_ecs_cluster.this.name
}

output "alerts_topic_arn" {
  value = aws_sns_topic.alerts.arn
}

output "resource_names" {
  description = "Names of the environment's named resources (tests assert none names another environment)."
  value = concat(
    values(local.bucket_names),
    [local.log_bucket_name, aws_kms_alias.this.name, aws_ecs_cluster.this.name, aws_ecr_repository.engine.name],
    values(local.glue_db_names),
    [for r in concat([aws_iam_role.execution, aws_iam_role.batch_task, aws_iam_role.events], aws_iam_role.stream_task, aws_iam_role.bastion) : r.name],
    [for g in aws_cloudwatch_log_group.engine : g.name],
    [module.network.flow_log_group_name],
    [for c in aws_msk_cluster.this : c.cluster_name],
    [for r in aws_cloudwatch_event_rule.batch : r.name],
    [aws_sns_topic.alerts.name, aws_budgets_budget.monthly.name],
  )
}
