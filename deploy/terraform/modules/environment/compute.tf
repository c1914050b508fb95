# ------------------------------------------------------------------ image registry
resource "aws_ecr_repository" "engine" {
  name                 = "${local.name}/engine"
  image_tag_mutability = "IMMUTABLE"
  image_scanning_configuration {
    scan_on_push = true
  }
  encryption_configuration {
    encryption_type = "KMS"
    kms_key         = module.lake.kms_key_arn
  }
  tags = local.tags
}

# ------------------------------------------------------------------ logs
resource "aws_cloudwatch_log_group" "engine" {
  for_each          = toset(concat(["batch"], var.settings.enable_streaming ? ["stream"] : [], local.backup_on ? ["restore"] : [], var.settings.cluster != null ? ["ballista"] : []))
  name              = "${local.log_group_prefix}/engine-${each.key}"
  retention_in_days = var.settings.log_retention_days
  kms_key_id        = module.lake.kms_key_arn
  tags              = local.tags
}

# ------------------------------------------------------------------ ECS
resource "aws_ecs_cluster" "this" {
  name = local.name
  setting {
    name  = "containerInsights"
    value = "enabled"
  }
  tags = local.tags
}

resource "aws_ecs_cluster_capacity_providers" "this" {
  cluster_name       = aws_ecs_cluster.this.name
  capacity_providers = ["FARGATE"]
  default_capacity_provider_strategy {
    capacity_provider = "FARGATE"
    weight            = 1
  }
}

locals {
  image = "${aws_ecr_repository.engine.repository_url}:${var.engine_image_tag}"
  # Everything the engine needs comes from the configuration Terraform rendered into the
  # lake (MEDALLION_ENVIRONMENTS); the rest are process settings. MEDALLION_LOG=info and
  # MEDALLION_LOG_FORMAT=json are what the alarms need (monitoring.tf): JSON log events, of which
  # `records_quarantined` and `backup_taken` are info events, `job_failed` an error.
  engine_environment = [
    { name = "MEDALLION_ENVIRONMENTS", value = module.lake.engine_config_uri },
    { name = "MEDALLION_SCHEMAS", value = "/app/schemas" },
    { name = "MEDALLION_LOG", value = "info" },
    { name = "MEDALLION_LOG_FORMAT", value = "json" },
    { name = "AWS_REGION", value = local.region },
    { name = "TMPDIR", value = "/tmp" },
  ]
  # The root filesystem is read-only; temporary Parquet (Silver) goes to this task volume.
  tmp_mount      = [{ sourceVolume = "tmp", containerPath = "/tmp", readOnly = false }]
  default_job    = values(var.batch_jobs)[0].path
  batch_command  = ["medallion", "run", local.default_job, "--env", local.env]
  stream_command = ["medallion", "stream", var.stream_job.path, "--env", local.env, "--metrics-addr", local.metrics_addr]
  # Table retention is the engine's (docs/retention.md): delete what is past retention_days,
  # VACUUM, checkpoint and clean the logs. Per-table retention comes from the job specs.
  maintain_command = ["medallion", "maintain", "--env", local.env, "--jobs", var.maintenance.jobs]

  # The engine container of every engine task definition (batch, stream, maintain, backup and
  # restore here; the Ballista scheduler and executors in cluster.tf), written once: the image,
  # uid 10001 (the Dockerfile's USER), a read-only root filesystem with the task volume `tmp` at
  # /tmp. Each task definition merges in its name, command, environment and log stream
  # (deploy/image/check_image.py holds every engine task definition to this and to the image).
  engine_container = {
    image                  = local.image
    essential              = true
    readonlyRootFilesystem = true
    privileged             = false
    user                   = "10001"
    mountPoints            = local.tmp_mount
  }
  # awslogs stream prefix => the engine log group it writes to (only the groups this
  # environment has: stream, restore and ballista are optional).
  engine_log_streams = {
    batch     = "batch"
    maintain  = "batch"
    backup    = "batch"
    stream    = "stream"
    restore   = "restore"
    scheduler = "ballista"
    executor  = "ballista"
  }
  engine_logs = { for prefix, group in local.engine_log_streams : prefix => {
    logDriver = "awslogs"
    options = {
      awslogs-group         = aws_cloudwatch_log_group.engine[group].name
      awslogs-region        = local.region
      awslogs-stream-prefix = prefix
    }
  } if contains(keys(aws_cloudwatch_log_group.engine), group) }
}

resource "aws_ecs_task_definition" "batch" {
  family                   = "${local.name}-batch"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.settings.multi_az ? 2048 : 1024
  memory                   = var.settings.multi_az ? 8192 : 2048
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = module.lake.batch_task_role_arn
  volume {
    name = "tmp"
  }
  container_definitions = jsonencode([merge(local.engine_container, {
    name             = "engine"
    command          = local.batch_command
    environment      = local.engine_environment
    logConfiguration = local.engine_logs["batch"]
  })])
  tags = local.tags
}

resource "aws_ecs_task_definition" "stream" {
  #checkov:skip=CKV_AWS_336:only the metrics-agent sidecar (metrics.tf) has a writable root filesystem (the CloudWatch agent writes its translated configuration into its image); the engine container is read-only (terraform tests, check_image.py)
  count                    = var.settings.enable_streaming ? 1 : 0
  family                   = "${local.name}-stream"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = 1024
  memory                   = 2048
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = module.lake.stream_task_role_arn
  volume {
    name = "tmp"
  }
  container_definitions = jsonencode([merge(local.engine_container, {
    name             = "engine"
    command          = local.stream_command
    environment      = local.engine_environment
    logConfiguration = local.engine_logs["stream"]
  }), local.stream_metrics_sidecar])
  tags = local.tags
}

# `medallion maintain`: the batch task's image, settings and size, with its own task role (a
# task definition has one task role; the maintain role deletes data files and Delta log
# entries and appends the retired-sources ledger, but never changes the Glue catalog).
resource "aws_ecs_task_definition" "maintain" {
  family                   = "${local.name}-maintain"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.settings.multi_az ? 2048 : 1024
  memory                   = var.settings.multi_az ? 8192 : 2048
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = module.lake.maintain_task_role_arn
  volume {
    name = "tmp"
  }
  container_definitions = jsonencode([merge(local.engine_container, {
    name             = "engine"
    command          = local.maintain_command
    environment      = local.engine_environment
    logConfiguration = local.engine_logs["maintain"]
  })])
  tags = local.tags
}

# `medallion backup`: the batch task's image, settings and size, with its own task role (reads
# the whole lake, appends its audit record, writes only the backup bucket; modules/lake/backup.tf).
# One schedule per generation (modules/backup), each with its location in the command.
locals {
  backup_locations = local.backup_on ? module.backup[0].locations : {}
  backup_commands = { for g, loc in local.backup_locations : g => [
    "medallion", "backup", "--env", local.env, "--to", loc, "--kms-key", module.backup[0].kms_key_arn,
    "--region", module.backup[0].region,
  ] }
  # Every rpo_hours (at :30; daily: 03:30, after the nightly run and before maintain), on the
  # generation's days or months.
  backup_hours = local.backup_on ? (var.settings.backup.rpo_hours == 24 ? "3" : "0/${var.settings.backup.rpo_hours}") : null
  backup_schedules = local.backup_on ? { for g, c in module.backup[0].generations : g =>
    "cron(30 ${local.backup_hours} ${c.days} ${c.months} ? *)"
  } : {}
  backup_first_generation = local.backup_on ? sort(keys(local.backup_commands))[0] : null
}

resource "aws_ecs_task_definition" "backup" {
  count                    = local.backup_on ? 1 : 0
  family                   = "${local.name}-backup"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.settings.multi_az ? 2048 : 1024
  memory                   = var.settings.multi_az ? 8192 : 2048
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = module.lake.backup_task_role_arn
  volume {
    name = "tmp"
  }
  container_definitions = jsonencode([merge(local.engine_container, {
    name             = "engine"
    command          = local.backup_commands[local.backup_first_generation]
    environment      = local.engine_environment
    logConfiguration = local.engine_logs["backup"]
  })])
  tags = local.tags
}

# `medallion restore` (the disaster recovery runbook, deploy/README.md): one task definition per
# backup generation, `<project>-<env>-restore-<generation>`, each restoring the newest finished
# backup of its location: the person picks the generation (runbook step 3) and starts it, nothing
# to type into a command. It runs in the lake's region (the transfer from the backup region is the
# RTO), the batch task's image, settings and size, as the break-glass restore role (modules/lake:
# its trust admits this account's ECS tasks besides people with MFA), logs to its own log group.
# Never scheduled: started by a person holding the restore role (restore_run_task in iam.tf).
locals {
  restore_commands = { for g, loc in local.backup_locations : g => [
    "medallion", "restore", "--env", local.env, "--from", loc, "--region", module.backup[0].region,
  ] }
  restore_families = { for g, _ in local.backup_locations : g => "${local.name}-restore-${g}" }
}

resource "aws_ecs_task_definition" "restore" {
  for_each                 = local.restore_commands
  family                   = local.restore_families[each.key]
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.settings.multi_az ? 2048 : 1024
  memory                   = var.settings.multi_az ? 8192 : 2048
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = module.lake.restore_role_arn
  volume {
    name = "tmp"
  }
  container_definitions = jsonencode([merge(local.engine_container, {
    name             = "engine"
    command          = each.value
    environment      = local.engine_environment
    logConfiguration = local.engine_logs["restore"]
  })])
  tags = local.tags
}

resource "aws_ecs_service" "stream" {
  count            = var.settings.enable_streaming ? 1 : 0
  name             = "${local.name}-stream"
  cluster          = aws_ecs_cluster.this.id
  task_definition  = aws_ecs_task_definition.stream[0].arn
  desired_count    = var.settings.multi_az ? 2 : 1
  launch_type      = "FARGATE"
  platform_version = "LATEST"

  network_configuration {
    subnets          = local.workload_subnet_ids
    security_groups  = [aws_security_group.tasks.id]
    assign_public_ip = false
  }

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  tags = local.tags
}

# ------------------------------------------------------------------ schedules
resource "aws_cloudwatch_event_rule" "batch" {
  for_each            = var.batch_jobs
  name                = "${local.name}-batch-${each.key}"
  description         = "Scheduled medallion run of ${each.value.path} in ${local.env}"
  schedule_expression = each.value.schedule
  tags                = local.tags
}

# With Bronze shards (settings.bronze_shards > 1) the schedule starts the state machine instead
# (orchestration.tf): shards in parallel, then one Silver/Gold run.
resource "aws_cloudwatch_event_target" "batch" {
  for_each = local.sharded ? {} : var.batch_jobs
  rule     = aws_cloudwatch_event_rule.batch[each.key].name
  arn      = aws_ecs_cluster.this.arn
  role_arn = aws_iam_role.events.arn

  ecs_target {
    task_definition_arn = aws_ecs_task_definition.batch.arn
    launch_type         = "FARGATE"
    platform_version    = "LATEST"
    task_count          = 1
    network_configuration {
      subnets          = local.workload_subnet_ids
      security_groups  = [aws_security_group.tasks.id]
      assign_public_ip = false
    }
  }

  input = jsonencode({
    containerOverrides = [{
      name    = "engine"
      command = ["medallion", "run", each.value.path, "--env", local.env]
    }]
  })
}

# Retention, daily: `medallion maintain --env <env> --jobs jobs/` with the maintain task
# definition (its command; no override). A failed or refused maintenance (exit 1/2) stops the
# task with a non-zero exit code: the `task_failed` rule (monitoring.tf) alerts.
resource "aws_cloudwatch_event_rule" "maintain" {
  name                = "${local.name}-maintain"
  description         = "Daily medallion maintain (retention, VACUUM) in ${local.env}"
  schedule_expression = var.maintenance.schedule
  state               = "ENABLED"
  tags                = local.tags
}

resource "aws_cloudwatch_event_target" "maintain" {
  rule     = aws_cloudwatch_event_rule.maintain.name
  arn      = aws_ecs_cluster.this.arn
  role_arn = aws_iam_role.events.arn

  ecs_target {
    task_definition_arn = aws_ecs_task_definition.maintain.arn
    launch_type         = "FARGATE"
    platform_version    = "LATEST"
    task_count          = 1
    network_configuration {
      subnets          = local.workload_subnet_ids
      security_groups  = [aws_security_group.tasks.id]
      assign_public_ip = false
    }
  }
}

# Backups, every rpo_hours (the recovery point): `medallion backup --env <env> --to
# s3://<backup bucket>/<env>/<generation> --kms-key <backup key>` with the backup task
# definition. A failed backup (exit != 0) is caught by the `task_failed` rule (monitoring.tf);
# a backup that did not happen at all by the `backup_missing` alarm.
resource "aws_cloudwatch_event_rule" "backup" {
  for_each            = local.backup_schedules
  name                = "${local.name}-backup-${each.key}"
  description         = "medallion backup of ${local.env} every ${var.settings.backup.rpo_hours} h (generation ${each.key})"
  schedule_expression = each.value
  state               = "ENABLED"
  tags                = local.tags
}

resource "aws_cloudwatch_event_target" "backup" {
  for_each = local.backup_schedules
  rule     = aws_cloudwatch_event_rule.backup[each.key].name
  arn      = aws_ecs_cluster.this.arn
  role_arn = aws_iam_role.events.arn

  ecs_target {
    task_definition_arn = aws_ecs_task_definition.backup[0].arn
    launch_type         = "FARGATE"
    platform_version    = "LATEST"
    task_count          = 1
    network_configuration {
      subnets          = local.workload_subnet_ids
      security_groups  = [aws_security_group.tasks.id]
      assign_public_ip = false
    }
  }

  input = jsonencode({
    containerOverrides = [{
      name    = "engine"
      command = local.backup_commands[each.key]
    }]
  })
}

# ------------------------------------------------------------------ bastion (optional, SSM only)
resource "aws_iam_role" "bastion" {
  count = var.settings.bastion_instance_type != null ? 1 : 0
  name  = "${local.name}-bastion"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "ec2.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })
  tags = local.tags
}

resource "aws_iam_role_policy_attachment" "bastion_ssm" {
  count      = var.settings.bastion_instance_type != null ? 1 : 0
  role       = aws_iam_role.bastion[0].name
  policy_arn = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
}

resource "aws_iam_instance_profile" "bastion" {
  count = var.settings.bastion_instance_type != null ? 1 : 0
  name  = "${local.name}-bastion"
  role  = aws_iam_role.bastion[0].name
}

resource "aws_security_group" "bastion" {
  count       = var.settings.bastion_instance_type != null ? 1 : 0
  name        = "${local.name}-bastion"
  description = "SSM-only bastion: no ingress, HTTPS egress"
  vpc_id      = module.network.vpc_id
  tags        = local.tags

  egress {
    description = "HTTPS to SSM and AWS APIs"
    protocol    = "tcp"
    from_port   = 443
    to_port     = 443
    cidr_blocks = ["0.0.0.0/0"]
  }
}

resource "aws_launch_template" "bastion" {
  count                  = var.settings.bastion_instance_type != null ? 1 : 0
  name                   = "${local.name}-bastion"
  image_id               = "resolve:ssm:/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
  instance_type          = var.settings.bastion_instance_type
  update_default_version = true
  metadata_options {
    http_endpoint = "enabled"
    http_tokens   = "required"
  }
  tags = local.tags
}

resource "aws_instance" "bastion" {
  count                  = var.settings.bastion_instance_type != null ? 1 : 0
  instance_type          = var.settings.bastion_instance_type
  subnet_id              = module.network.private_subnet_ids[0]
  vpc_security_group_ids = [aws_security_group.bastion[0].id]
  iam_instance_profile   = aws_iam_instance_profile.bastion[0].name
  ebs_optimized          = true
  monitoring             = true

  launch_template {
    id      = aws_launch_template.bastion[0].id
    version = "$Latest"
  }

  metadata_options {
    http_endpoint = "enabled"
    http_tokens   = "required"
  }

  root_block_device {
    encrypted   = true
    kms_key_id  = module.lake.kms_key_arn
    volume_size = 8
  }

  tags = merge(local.tags, { Name = "${local.name}-bastion" })
}
