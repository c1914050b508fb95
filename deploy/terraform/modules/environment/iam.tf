# Execution and EventBridge roles; the engine's task roles are in modules/lake (with the
# key and the bucket they use). The stream role's Kafka statements are built here, from the
# stream job's topics and group. No wildcard admin policies, no managed admin policies.

locals {
  ecs_assume = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "ecs-tasks.amazonaws.com" }
      Action    = "sts:AssumeRole"
      Condition = {
        StringEquals = { "aws:SourceAccount" = local.account }
        ArnLike      = { "aws:SourceArn" = "arn:aws:ecs:${local.region}:${local.account}:*" }
      }
    }]
  })

  msk_cluster_arn = "arn:aws:kafka:${local.region}:${local.account}:cluster/${local.msk_name}/*"
  msk_topic_arns  = [for t in var.stream_job.topics : "arn:aws:kafka:${local.region}:${local.account}:topic/${local.msk_name}/*/${t}"]
  msk_group_arn   = "arn:aws:kafka:${local.region}:${local.account}:group/${local.msk_name}/*/${local.stream_group}"

  # What the stream consumer does on MSK with IAM auth: connect, read its job's topics,
  # join/commit its own consumer group (offsets are committed after each Delta commit so
  # that lag metrics work).
  stream_kafka_statements = [
    {
      Sid      = "ConnectToOwnCluster"
      Effect   = "Allow"
      Action   = ["kafka-cluster:Connect", "kafka-cluster:DescribeCluster"]
      Resource = [local.msk_cluster_arn]
    },
    {
      Sid      = "ReadOwnStreamJobTopics"
      Effect   = "Allow"
      Action   = ["kafka-cluster:DescribeTopic", "kafka-cluster:ReadData"]
      Resource = local.msk_topic_arns
    },
    {
      Sid      = "OwnConsumerGroup"
      Effect   = "Allow"
      Action   = ["kafka-cluster:AlterGroup", "kafka-cluster:DescribeGroup"]
      Resource = [local.msk_group_arn]
    },
  ]
}

# ------------------------------------------------------------------ task execution (image pull + logs)
resource "aws_iam_role" "execution" {
  name               = "${local.name}-task-execution"
  assume_role_policy = local.ecs_assume
  tags               = local.tags
}

resource "aws_iam_role_policy" "execution" {
  name = "pull-image-and-write-logs"
  role = aws_iam_role.execution.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid      = "EcrAuthTokenIsAccountLevel"
        Effect   = "Allow"
        Action   = ["ecr:GetAuthorizationToken"]
        Resource = "*"
      },
      {
        Sid      = "PullOwnEngineImage"
        Effect   = "Allow"
        Action   = ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"]
        Resource = [aws_ecr_repository.engine.arn]
      },
      {
        Sid      = "WriteOwnEngineLogs"
        Effect   = "Allow"
        Action   = ["logs:CreateLogStream", "logs:PutLogEvents"]
        Resource = [for g in aws_cloudwatch_log_group.engine : "${g.arn}:*"]
      },
    ]
  })
}

# ------------------------------------------------------------------ the restore task (break-glass)
# The person who assumed the restore role (MFA) starts the restore task of the generation to
# restore (compute.tf), on this cluster only, passing the restore role (the task's) and the
# execution role; follows it (DescribeTasks) and reads its log. Nothing else: the events role
# cannot pass the restore role, so no schedule can start a restore.
resource "aws_iam_role_policy" "restore_run_task" {
  count = local.backup_on ? 1 : 0
  name  = "medallion-restore-run-task"
  role  = module.lake.restore_role_name
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "RunOwnRestoreTasksOnOwnCluster"
        Effect    = "Allow"
        Action    = ["ecs:RunTask"]
        Resource  = [for f in values(local.restore_families) : "arn:aws:ecs:${local.region}:${local.account}:task-definition/${f}:*"]
        Condition = { ArnEquals = { "ecs:cluster" = aws_ecs_cluster.this.arn } }
      },
      {
        Sid       = "PassRestoreAndExecutionRoles"
        Effect    = "Allow"
        Action    = ["iam:PassRole"]
        Resource  = [aws_iam_role.execution.arn, module.lake.restore_role_arn]
        Condition = { StringEquals = { "iam:PassedToService" = "ecs-tasks.amazonaws.com" } }
      },
      {
        Sid       = "FollowTasksOnOwnCluster"
        Effect    = "Allow"
        Action    = ["ecs:DescribeTasks"]
        Resource  = ["arn:aws:ecs:${local.region}:${local.account}:task/${local.name}/*"]
        Condition = { ArnEquals = { "ecs:cluster" = aws_ecs_cluster.this.arn } }
      },
      {
        Sid      = "ReadRestoreLog"
        Effect   = "Allow"
        Action   = ["logs:GetLogEvents", "logs:FilterLogEvents"]
        Resource = ["${aws_cloudwatch_log_group.engine["restore"].arn}:*"]
      },
    ]
  })
}

# ------------------------------------------------------------------ EventBridge -> ECS RunTask
resource "aws_iam_role" "events" {
  name = "${local.name}-events-run-batch"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "events.amazonaws.com" }
      Action    = "sts:AssumeRole"
      Condition = { StringEquals = { "aws:SourceAccount" = local.account } }
    }]
  })
  tags = local.tags
}

resource "aws_iam_role_policy" "events" {
  name = "run-batch-task"
  role = aws_iam_role.events.id
  policy = jsonencode({
    Version = "2012-10-17"
    # With Bronze shards the schedule starts the batch state machine (orchestration.tf), which
    # runs the batch tasks itself: then this role neither runs nor passes the batch task.
    Statement = concat(local.sharded ? [{
      Sid      = "StartOwnBatchStateMachines"
      Effect   = "Allow"
      Action   = ["states:StartExecution"]
      Resource = [for k in sort(keys(var.batch_jobs)) : "arn:aws:states:${local.region}:${local.account}:stateMachine:${local.name}-batch-${k}"]
      }] : [], local.sharded ? [] : [{
      Sid       = "RunOwnBatchTaskOnOwnCluster"
      Effect    = "Allow"
      Action    = ["ecs:RunTask"]
      Resource  = ["arn:aws:ecs:${local.region}:${local.account}:task-definition/${local.name}-batch:*"]
      Condition = { ArnEquals = { "ecs:cluster" = aws_ecs_cluster.this.arn } }
      }], [
      {
        Sid       = "RunOwnMaintainTaskOnOwnCluster"
        Effect    = "Allow"
        Action    = ["ecs:RunTask"]
        Resource  = ["arn:aws:ecs:${local.region}:${local.account}:task-definition/${local.name}-maintain:*"]
        Condition = { ArnEquals = { "ecs:cluster" = aws_ecs_cluster.this.arn } }
      },
      {
        Sid       = "PassOwnBatchRoles"
        Effect    = "Allow"
        Action    = ["iam:PassRole"]
        Resource  = concat([aws_iam_role.execution.arn], local.sharded ? [] : [module.lake.batch_task_role_arn], [module.lake.maintain_task_role_arn], local.backup_on ? [module.lake.backup_task_role_arn] : [])
        Condition = { StringEquals = { "iam:PassedToService" = "ecs-tasks.amazonaws.com" } }
      },
      ], local.backup_on ? [{
        Sid       = "RunOwnBackupTaskOnOwnCluster"
        Effect    = "Allow"
        Action    = ["ecs:RunTask"]
        Resource  = ["arn:aws:ecs:${local.region}:${local.account}:task-definition/${local.name}-backup:*"]
        Condition = { ArnEquals = { "ecs:cluster" = aws_ecs_cluster.this.arn } }
    }] : [])
  })
}
