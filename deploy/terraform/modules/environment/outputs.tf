output "kms_key_arn" {
  description = "This environment's customer-managed key."
  value       = module.lake.kms_key_arn
}

output "kms_key_rotation" {
  value = module.lake.kms_key_rotation
}

output "lake_bucket" {
  description = "The lake bucket (layers are prefixes)."
  value       = module.lake.lake_bucket
}

output "lake_sse_kms_key" {
  value = module.lake.lake_sse_kms_key
}

output "lake_current_version_expiration_days" {
  value = module.lake.lake_current_version_expiration_days
}

output "lake_noncurrent_version_days" {
  value = module.lake.lake_noncurrent_version_days
}

output "access_log_bucket_expiration_days" {
  value = module.lake.access_log_bucket_expiration_days
}

output "glue_databases" {
  value = module.lake.glue_databases
}

output "engine_environment" {
  description = "This environment's entry of the engine configuration."
  value       = module.lake.engine_environment
}

output "engine_environment_static" {
  value = module.lake.engine_environment_static
}

output "engine_config_yaml" {
  description = "The rendered engine configuration (environments.yaml)."
  value       = module.lake.engine_config_yaml
}

output "engine_config_uri" {
  description = "Where the tasks read it (MEDALLION_ENVIRONMENTS)."
  value       = module.lake.engine_config_uri
}

output "task_commands" {
  description = "The engine command of each task definition."
  value = merge(
    { batch = local.batch_command, maintain = local.maintain_command },
    var.settings.enable_streaming ? { stream = local.stream_command } : {},
  )
}

output "maintenance" {
  description = "The scheduled retention: its schedule, its command, the role it runs as."
  value = {
    schedule  = aws_cloudwatch_event_rule.maintain.schedule_expression
    command   = local.maintain_command
    family    = aws_ecs_task_definition.maintain.family
    role_name = module.lake.maintain_task_role_name
  }
}

output "maintain_task_definition" {
  description = "The maintain task definition's container definitions (JSON) and task role, and the batch task's container definitions (the same image)."
  value = {
    container_definitions       = aws_ecs_task_definition.maintain.container_definitions
    task_role_arn               = aws_ecs_task_definition.maintain.task_role_arn
    batch_container_definitions = aws_ecs_task_definition.batch.container_definitions
  }
}

output "stream_metrics" {
  description = "How the stream's Prometheus metrics reach CloudWatch (null without streaming): the scrape target (= --metrics-addr), the agent's configuration (CW_CONFIG_CONTENT) and scrape configuration (PROMETHEUS_CONFIG_CONTENT), its log group, the IAM policy that lets it write there, and the stream task definition's containers."
  value = var.settings.enable_streaming ? {
    metrics_addr      = local.metrics_addr
    namespace         = local.metrics_namespace
    agent_config      = local.metrics_agent_config
    prometheus_config = local.prometheus_config
    agent_image       = var.metrics_agent_image
    log_group         = aws_cloudwatch_log_group.stream_metrics[0].name
    agent_policy      = aws_iam_role_policy.stream_metrics[0].policy
  } : null
}

output "stream_task_containers" {
  description = "The stream task definition's container definitions (JSON); null without streaming."
  value       = one(aws_ecs_task_definition.stream[*].container_definitions)
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
    module.lake.resource_names,
    [aws_ecs_cluster.this.name, aws_ecr_repository.engine.name],
    [for r in concat([aws_iam_role.execution, aws_iam_role.events], aws_iam_role.bastion, aws_iam_role.bastion_stop) : r.name],
    [aws_accessanalyzer_analyzer.account.analyzer_name],
    [for g in aws_cloudwatch_log_group.engine : g.name],
    [module.network.flow_log_group_name],
    [for c in aws_msk_cluster.this : c.cluster_name],
    [for r in aws_cloudwatch_event_rule.batch : r.name],
    [aws_cloudwatch_event_rule.maintain.name, aws_ecs_task_definition.maintain.family],
    flatten([for b in module.backup : b.resource_names]),
    [for r in aws_cloudwatch_event_rule.backup : r.name], aws_ecs_task_definition.backup[*].family,
    [for t in aws_ecs_task_definition.restore : t.family],
    [aws_sns_topic.alerts.name, aws_budgets_budget.monthly.name],
  )
}

output "stream_kafka_access" {
  description = "What the stream task role may do on MSK: its job's topics and its consumer group (null without streaming)."
  value = var.settings.enable_streaming ? {
    job        = var.stream_job.path
    topic_arns = local.msk_topic_arns
    group_arn  = local.msk_group_arn
  } : null
}

output "lake_bucket_policy" {
  value = module.lake.bucket_policy
}

output "task_policies" {
  value = module.lake.task_policies
}

output "lake_object_lock_enabled" {
  value = module.lake.lake_object_lock_enabled
}

output "lake_default_retention_rules" {
  value = module.lake.lake_default_retention_rules
}

output "lake_versioning" {
  value = module.lake.lake_versioning
}

output "peering_connection_id" {
  description = "The peering request to the shared-services VPC (give it to envs/shared: peering_connection_ids)."
  value       = module.network.peering_connection_id
}

output "release_role_arn" {
  description = "The role that records promotions into this environment (deploy/ci/release.sh runs `medallion promote --apply` as it); null without promote_from."
  value       = module.lake.release_role_arn
}

output "release_policies" {
  value = module.lake.release_policies
}

output "promotion" {
  description = "promote_from and gates as rendered into the engine configuration."
  value       = module.lake.promotion
}

output "promotion_read_grants" {
  description = "Bucket-policy grants of this lake to the release role of the environment promoting from it across accounts (JSON)."
  value       = module.lake.promotion_read_grants
}

output "promotion_catalog_policy" {
  description = "The Glue catalog's resource policy: read-only grants to the release role of the environment promoting from this one across accounts (JSON; null: none)."
  value       = module.lake.promotion_catalog_policy
}

output "backups" {
  description = "The backups (null without settings.backup): bucket, region, key, retention, locations and schedules by generation, the RPO, the roles, the alarm."
  value = local.backup_on ? {
    bucket              = module.backup[0].bucket
    region              = module.backup[0].region
    kms_key_arn         = module.backup[0].kms_key_arn
    kms_key_rotation    = module.backup[0].kms_key_rotation
    sse_kms_key         = module.backup[0].sse_kms_key
    object_lock_enabled = module.backup[0].object_lock_enabled
    retention_days      = module.backup[0].retention_days
    rpo_hours           = var.settings.backup.rpo_hours
    locations           = module.backup[0].locations
    schedules           = { for g, r in aws_cloudwatch_event_rule.backup : g => r.schedule_expression }
    commands            = local.backup_commands
    family              = aws_ecs_task_definition.backup[0].family
    task_role_arn       = aws_ecs_task_definition.backup[0].task_role_arn
    role_name           = module.lake.backup_task_role_name
    restore_role_name   = module.lake.restore_role_name
    restore_role_arn    = module.lake.restore_role_arn
    taken_pattern       = local.backup_taken_pattern
    taken_log_group     = aws_cloudwatch_log_metric_filter.backup_taken[0].log_group_name
    task_containers     = aws_ecs_task_definition.backup[0].container_definitions
    alarm_period        = aws_cloudwatch_metric_alarm.backup_missing[0].period
    alarm_evaluations   = aws_cloudwatch_metric_alarm.backup_missing[0].evaluation_periods
    bucket_policy       = module.backup[0].bucket_policy
  } : null
}

output "backup_policies" {
  value = module.lake.backup_policies
}

output "restore_tasks" {
  description = "The restore task definitions (the disaster recovery runbook), by backup generation: family and command (known at plan time; null without backups)."
  value = local.backup_on ? { for g, cmd in local.restore_commands : g => {
    family  = local.restore_families[g]
    command = cmd
  } } : null
}

output "restore_run_task" {
  description = "By backup generation: the command that starts its restore task (as the restore role, runbook step 4); null without backups."
  value = local.backup_on ? { for g, f in local.restore_families : g => join(" ", [
    "aws ecs run-task --region ${local.region} --cluster ${aws_ecs_cluster.this.name} --task-definition ${f} --launch-type FARGATE",
    "--network-configuration 'awsvpcConfiguration={subnets=[${join(",", local.workload_subnet_ids)}],securityGroups=[${aws_security_group.tasks.id}],assignPublicIp=DISABLED}'",
  ]) } : null
}

output "restore_task_definitions" {
  description = "The restore task definitions' container definitions (JSON), task and execution roles, the log group, the restore role's run-task policy and the events role's policy (terraform tests)."
  value = local.backup_on ? {
    tasks = { for g, t in aws_ecs_task_definition.restore : g => {
      container_definitions = t.container_definitions
      task_role_arn         = t.task_role_arn
      execution_role_arn    = t.execution_role_arn
    } }
    batch_container_definitions = aws_ecs_task_definition.batch.container_definitions
    log_group                   = aws_cloudwatch_log_group.engine["restore"].name
    run_task_policy             = aws_iam_role_policy.restore_run_task[0].policy
    events_policy               = aws_iam_role_policy.events.policy
  } : null
}

output "batch_orchestration" {
  description = "With Bronze shards: per batch job, its state machine's name and definition (placeholders @@...@@ for the ARNs and ids known after apply), the shard commands and the final command; null with one run per schedule."
  value = local.sharded ? { for k, j in var.batch_jobs : k => {
    name           = "${local.name}-batch-${k}"
    shards         = local.shards
    definition     = local.batch_state_machines[k]
    shard_commands = local.shard_commands[k]
    final_command  = local.final_commands[k]
    schedule       = j.schedule
  } } : null
}

output "cluster" {
  description = "The Ballista cluster (null without): the scheduler's address as rendered, the commands, the executors' scaling, the security group rules."
  value = local.cluster_on ? {
    scheduler_url     = local.ballista_scheduler_url
    namespace         = local.ballista_namespace
    scheduler_command = local.scheduler_command
    executor_command  = local.executor_command
    executors         = var.settings.cluster.executors
    scaling           = { for k, s in local.executor_scaling : k => { schedule = s.schedule, count = s.count } }
    flows             = local.ballista_flows
    task_role_name    = module.lake.cluster_task_role_name
  } : null
}

output "orchestration_policies" {
  description = "With Bronze shards: the state machine role's policy and the events role's policy (JSON; known in the tests, where the ARNs are overridden)."
  value = local.sharded ? {
    state_machine = aws_iam_role_policy.orchestration[0].policy
    events        = aws_iam_role_policy.events.policy
  } : null
}

output "cluster_task_definitions" {
  description = "With a cluster: the scheduler's and executors' container definitions (JSON), task roles and the cluster's IAM policies (JSON)."
  value = local.cluster_on ? {
    scheduler          = aws_ecs_task_definition.ballista_scheduler[0].container_definitions
    executor           = aws_ecs_task_definition.ballista_executor[0].container_definitions
    scheduler_role     = aws_ecs_task_definition.ballista_scheduler[0].task_role_arn
    executor_role      = aws_ecs_task_definition.ballista_executor[0].task_role_arn
    policies           = module.lake.cluster_policies
    ingress_cidrs      = [for r in aws_vpc_security_group_ingress_rule.ballista : r.cidr_ipv4]
    lake_expirations   = module.lake.lake_prefix_expirations
    service_registries = length(aws_ecs_service.ballista_scheduler[0].service_registries)
  } : null
}

output "batch_targets" {
  description = "The batch schedules' targets: job names started directly (ECS RunTask) and through the state machine."
  value = {
    direct        = sort(keys(aws_cloudwatch_event_target.batch))
    state_machine = sort(keys(aws_cloudwatch_event_target.batch_orchestrated))
  }
}

output "landing_policy" {
  description = "The batch task role's read-only grant on platform.yaml's landing locations (JSON; null without)."
  value       = module.lake.landing_policy
}

output "engine_kafka_static" {
  description = "What the rendered engine configuration's `kafka` entry is made of, known at plan time (null without streaming): auth as rendered, and the MSK cluster whose IAM bootstrap brokers (port 9098, one per broker, known after apply) are rendered as brokers. check.sh's drift check compares environments.yaml's kafka entry with it."
  value = var.settings.enable_streaming ? {
    auth         = module.lake.kafka_auth
    cluster_name = local.msk_name
    region       = local.region
    port         = 9098
    broker_count = aws_msk_cluster.this[0].number_of_broker_nodes
  } : null
}
