# ------------------------------------------------------------------ the Ballista cluster
# settings.cluster (platform.yaml; prod): a Ballista scheduler and executors (the medallion
# image: `medallion cluster scheduler|executor`) as ECS services in the private subnets. The
# batch run (the driver) sends Silver's and Gold's SQL to the scheduler, found by its Cloud Map
# name (rendered as `engine.ballista.scheduler`), and keeps the Delta commits (docs/cluster.md).
# Executors run only around the batch schedules (Application Auto Scaling scheduled actions).
#
# Network (security groups, nothing else open; the services also carry the tasks group: HTTPS
# out for the image, logs, S3 and KMS):
#   batch run (ballista_client) -> scheduler 50050 (gRPC: submit, poll)
#   batch run                   -> executors 50051 (Arrow Flight: the client fetches results)
#   executors -> scheduler 50050 (register, heartbeat, poll work)
#   scheduler -> executors 50052 (executor gRPC: launch / cancel tasks)
#   executors <-> executors 50051 (Arrow Flight: shuffle)
locals {
  cluster_on         = var.settings.cluster != null
  ballista_namespace = "${local.name}.internal"
  ballista_scheduler = "ballista-scheduler.${local.ballista_namespace}"
  # The three ports, written once: the commands, the containers' port mappings and the flows.
  ballista_ports         = { scheduler = 50050, flight = 50051, executor_grpc = 50052 }
  ballista_scheduler_url = "df://${local.ballista_scheduler}:${local.ballista_ports.scheduler}"
  scheduler_command      = ["medallion", "cluster", "scheduler", "--bind-host", "0.0.0.0", "--port", tostring(local.ballista_ports.scheduler)]
  executor_command = ["medallion", "cluster", "executor", "--scheduler-host", local.ballista_scheduler,
    "--scheduler-port", tostring(local.ballista_ports.scheduler), "--bind-host", "0.0.0.0", "--port", tostring(local.ballista_ports.flight),
  "--grpc-port", tostring(local.ballista_ports.executor_grpc), "--work-dir", "/tmp/ballista"]
  # The engine tasks' process settings (compute.tf) without the rendered configuration and the
  # schemas: the nodes run only what the batch run sends them.
  cluster_environment = [for e in local.engine_environment : e if !contains(["MEDALLION_ENVIRONMENTS", "MEDALLION_SCHEMAS"], e.name)]

}

# Executors: up 10 minutes before each batch run, to 0 `window_minutes` after it. Daily
# `cron(M H * * ? *)` and hourly `cron(M * * * ? *)` schedules (an hourly job's actions are
# hourly; its window must end before the next run's lead, window_minutes <= 49); the module
# refuses any other expression and windows that overlap.
module "executor_schedule" {
  count          = local.cluster_on ? 1 : 0
  source         = "../executor-schedule"
  schedules      = { for k, j in var.batch_jobs : k => j.schedule }
  executors      = var.settings.cluster.executors
  window_minutes = var.settings.cluster.window_minutes
}

locals {
  executor_scaling = local.cluster_on ? module.executor_schedule[0].scaling : {}
}

resource "aws_service_discovery_private_dns_namespace" "cluster" {
  count       = local.cluster_on ? 1 : 0
  name        = local.ballista_namespace
  description = "Ballista cluster of ${local.env}"
  vpc         = module.network.vpc_id
  tags        = local.tags
}

resource "aws_service_discovery_service" "scheduler" {
  count = local.cluster_on ? 1 : 0
  name  = "ballista-scheduler"
  dns_config {
    namespace_id   = aws_service_discovery_private_dns_namespace.cluster[0].id
    routing_policy = "MULTIVALUE"
    dns_records {
      ttl  = 10
      type = "A"
    }
  }
  health_check_custom_config {
    failure_threshold = 1
  }
  tags = local.tags
}

# ------------------------------------------------------------------ security groups
resource "aws_security_group" "ballista_client" {
  #checkov:skip=CKV2_AWS_5:attached to the final batch run by the batch state machine's definition (orchestration.tf: RunTask NetworkConfiguration), which checkov does not read; MED-018 checks its flows
  count       = local.cluster_on ? 1 : 0
  name        = "${local.name}-ballista-client"
  description = "Batch runs using the Ballista cluster: scheduler and executor Flight egress only"
  vpc_id      = module.network.vpc_id
  tags        = local.tags
}

resource "aws_security_group" "ballista_scheduler" {
  count       = local.cluster_on ? 1 : 0
  name        = "${local.name}-ballista-scheduler"
  description = "Ballista scheduler: gRPC from the batch runs and the executors only"
  vpc_id      = module.network.vpc_id
  tags        = local.tags
}

resource "aws_security_group" "ballista_executor" {
  count       = local.cluster_on ? 1 : 0
  name        = "${local.name}-ballista-executor"
  description = "Ballista executors: task gRPC from the scheduler, Flight from executors and batch runs"
  vpc_id      = module.network.vpc_id
  tags        = local.tags
}

locals {
  # from => to, port, what (each one egress rule on `from` and one ingress rule on `to`)
  ballista_flows = local.cluster_on ? {
    client-scheduler   = { from = "client", to = "scheduler", port = local.ballista_ports.scheduler, what = "batch run submits to the scheduler" }
    client-executor    = { from = "client", to = "executor", port = local.ballista_ports.flight, what = "batch run fetches results (Flight)" }
    executor-scheduler = { from = "executor", to = "scheduler", port = local.ballista_ports.scheduler, what = "executors register and poll" }
    scheduler-executor = { from = "scheduler", to = "executor", port = local.ballista_ports.executor_grpc, what = "scheduler launches tasks" }
    executor-executor  = { from = "executor", to = "executor", port = local.ballista_ports.flight, what = "shuffle between executors (Flight)" }
  } : {}
  ballista_sg = local.cluster_on ? {
    client    = aws_security_group.ballista_client[0].id
    scheduler = aws_security_group.ballista_scheduler[0].id
    executor  = aws_security_group.ballista_executor[0].id
  } : {}
}

resource "aws_vpc_security_group_egress_rule" "ballista" {
  for_each                     = local.ballista_flows
  security_group_id            = local.ballista_sg[each.value.from]
  description                  = each.value.what
  ip_protocol                  = "tcp"
  from_port                    = each.value.port
  to_port                      = each.value.port
  referenced_security_group_id = local.ballista_sg[each.value.to]
}

resource "aws_vpc_security_group_ingress_rule" "ballista" {
  for_each                     = local.ballista_flows
  security_group_id            = local.ballista_sg[each.value.to]
  description                  = each.value.what
  ip_protocol                  = "tcp"
  from_port                    = each.value.port
  to_port                      = each.value.port
  referenced_security_group_id = local.ballista_sg[each.value.from]
}

# ------------------------------------------------------------------ task definitions
resource "aws_ecs_task_definition" "ballista_scheduler" {
  count                    = local.cluster_on ? 1 : 0
  family                   = "${local.name}-ballista-scheduler"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = 1024
  memory                   = 2048
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = module.lake.cluster_task_role_arn
  volume {
    name = "tmp"
  }
  container_definitions = jsonencode([merge(local.engine_container, {
    name             = "scheduler"
    command          = local.scheduler_command
    environment      = local.cluster_environment
    portMappings     = [{ containerPort = local.ballista_ports.scheduler, protocol = "tcp" }]
    logConfiguration = local.engine_logs["scheduler"]
  })])
  tags = local.tags
}

resource "aws_ecs_task_definition" "ballista_executor" {
  count                    = local.cluster_on ? 1 : 0
  family                   = "${local.name}-ballista-executor"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.settings.cluster.executor_cpu
  memory                   = var.settings.cluster.executor_memory
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = module.lake.cluster_task_role_arn
  # shuffle files: --work-dir /tmp/ballista on the task volume at /tmp (the image's writable
  # VOLUME; the root filesystem is read-only), on 100 GiB of ephemeral storage
  volume {
    name = "tmp"
  }
  ephemeral_storage {
    size_in_gib = 100
  }
  container_definitions = jsonencode([merge(local.engine_container, {
    name             = "executor"
    command          = local.executor_command
    environment      = local.cluster_environment
    portMappings     = [for p in [local.ballista_ports.flight, local.ballista_ports.executor_grpc] : { containerPort = p, protocol = "tcp" }]
    logConfiguration = local.engine_logs["executor"]
  })])
  tags = local.tags
}

# ------------------------------------------------------------------ services
resource "aws_ecs_service" "ballista_scheduler" {
  count                  = local.cluster_on ? 1 : 0
  name                   = "${local.name}-ballista-scheduler"
  cluster                = aws_ecs_cluster.this.id
  task_definition        = aws_ecs_task_definition.ballista_scheduler[0].arn
  desired_count          = 1
  launch_type            = "FARGATE"
  platform_version       = "LATEST"
  propagate_tags         = "SERVICE"
  enable_execute_command = false
  network_configuration {
    subnets          = local.workload_subnet_ids
    security_groups  = [aws_security_group.tasks.id, aws_security_group.ballista_scheduler[0].id]
    assign_public_ip = false
  }
  service_registries {
    registry_arn = aws_service_discovery_service.scheduler[0].arn
  }
  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }
  tags = local.tags
}

resource "aws_ecs_service" "ballista_executor" {
  count                  = local.cluster_on ? 1 : 0
  name                   = "${local.name}-ballista-executor"
  cluster                = aws_ecs_cluster.this.id
  task_definition        = aws_ecs_task_definition.ballista_executor[0].arn
  desired_count          = 0 # scaled by the batch schedule (below)
  launch_type            = "FARGATE"
  platform_version       = "LATEST"
  propagate_tags         = "SERVICE"
  enable_execute_command = false
  network_configuration {
    subnets          = local.workload_subnet_ids
    security_groups  = [aws_security_group.tasks.id, aws_security_group.ballista_executor[0].id]
    assign_public_ip = false
  }
  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }
  lifecycle {
    ignore_changes = [desired_count]
  }
  tags = local.tags
}

resource "aws_appautoscaling_target" "ballista_executor" {
  count              = local.cluster_on ? 1 : 0
  service_namespace  = "ecs"
  resource_id        = "service/${aws_ecs_cluster.this.name}/${aws_ecs_service.ballista_executor[0].name}"
  scalable_dimension = "ecs:service:DesiredCount"
  min_capacity       = 0
  max_capacity       = var.settings.cluster.executors
}

resource "aws_appautoscaling_scheduled_action" "ballista_executor" {
  for_each           = local.executor_scaling
  name               = "${local.name}-ballista-executors-${each.key}"
  service_namespace  = aws_appautoscaling_target.ballista_executor[0].service_namespace
  resource_id        = aws_appautoscaling_target.ballista_executor[0].resource_id
  scalable_dimension = aws_appautoscaling_target.ballista_executor[0].scalable_dimension
  schedule           = each.value.schedule
  timezone           = "UTC"
  scalable_target_action {
    min_capacity = each.value.count
    max_capacity = each.value.count
  }
}
