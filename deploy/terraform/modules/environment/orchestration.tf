# ------------------------------------------------------------------ batch runs with Bronze shards
# settings.bronze_shards = n > 1 (platform.yaml): each batch schedule starts a Step Functions
# state machine instead of one ECS task. It runs, in parallel, one batch task per file-job folder
# and shard, `medallion run <folder> --env <env> --shard i/n` (i = 0..n-1; Kafka jobs are refused
# with --shard, so only the job's `shard_paths`), waits for all of them (ECS RunTask .sync), and
# only then one `medallion run <path> --env <env>` without --shard (quarantine, Silver, Gold; with
# a cluster it reaches the Ballista scheduler). A shard that fails fails the Parallel state and the
# execution: the final run does not start (the next schedule runs again; Bronze ingests each file
# once). docs/cluster.md, deploy/README.md "Batch runs: shards and the cluster".
locals {
  sharded = var.settings.bronze_shards > 1
  shards  = var.settings.bronze_shards

  # The definition is written with placeholders for what is only known after apply (ARNs, ids),
  # so that it can be read at plan time (output batch_orchestration: MED-017, the tests); the
  # state machine gets it with the placeholders replaced (below).
  batch_network = { Subnets = "@@SUBNETS@@", SecurityGroups = "@@TASK_SECURITY_GROUPS@@", AssignPublicIp = "DISABLED" }
  # the final (unsharded) run reaches the cluster when there is one
  final_network = merge(local.batch_network, { SecurityGroups = "@@FINAL_SECURITY_GROUPS@@" })
  orchestration_placeholders = {
    "\"@@CLUSTER@@\""               = jsonencode(aws_ecs_cluster.this.arn)
    "\"@@TASK_DEFINITION@@\""       = jsonencode(aws_ecs_task_definition.batch.arn)
    "\"@@SUBNETS@@\""               = jsonencode(local.workload_subnet_ids)
    "\"@@TASK_SECURITY_GROUPS@@\""  = jsonencode([aws_security_group.tasks.id])
    "\"@@FINAL_SECURITY_GROUPS@@\"" = jsonencode(concat([aws_security_group.tasks.id], local.cluster_on ? [aws_security_group.ballista_client[0].id] : []))
  }

  # job => the shard commands, then the final command
  shard_commands = { for k, j in var.batch_jobs : k => [for pair in setproduct(j.shard_paths, [for i in range(local.shards) : tostring(i)]) :
    ["medallion", "run", pair[0], "--env", local.env, "--shard", "${pair[1]}/${local.shards}"]
  ] }
  final_commands = { for k, j in var.batch_jobs : k => ["medallion", "run", j.path, "--env", local.env] }

  run_batch_task = {
    Type     = "Task"
    Resource = "arn:aws:states:::ecs:runTask.sync"
  }
  batch_state_machines = { for k, j in var.batch_jobs : k => {
    Comment = "${local.name} batch ${k}: Bronze in ${local.shards} shards per file-job folder, then one run for the quarantine, Silver and Gold"
    StartAt = "BronzeShards"
    States = {
      BronzeShards = {
        Type       = "Parallel"
        ResultPath = null
        Next       = "SilverAndGold"
        Branches = [for idx, cmd in local.shard_commands[k] : {
          StartAt = "Shard${idx}"
          States = {
            "Shard${idx}" = merge(local.run_batch_task, {
              End = true
              Parameters = {
                Cluster              = "@@CLUSTER@@"
                TaskDefinition       = "@@TASK_DEFINITION@@"
                LaunchType           = "FARGATE"
                PlatformVersion      = "LATEST"
                NetworkConfiguration = { AwsvpcConfiguration = local.batch_network }
                Overrides            = { ContainerOverrides = [{ Name = "engine", Command = cmd }] }
              }
            })
          }
        }]
      }
      SilverAndGold = merge(local.run_batch_task, {
        End = true
        Parameters = {
          Cluster              = "@@CLUSTER@@"
          TaskDefinition       = "@@TASK_DEFINITION@@"
          LaunchType           = "FARGATE"
          PlatformVersion      = "LATEST"
          NetworkConfiguration = { AwsvpcConfiguration = local.final_network }
          Overrides            = { ContainerOverrides = [{ Name = "engine", Command = local.final_commands[k] }] }
        }
      })
    }
  } }
}

resource "aws_cloudwatch_log_group" "orchestration" {
  count             = local.sharded ? 1 : 0
  name              = "${local.log_group_prefix}/batch-orchestration"
  retention_in_days = var.settings.log_retention_days
  kms_key_id        = module.lake.kms_key_arn
  tags              = local.tags
}

resource "aws_sfn_state_machine" "batch" {
  for_each = local.sharded ? var.batch_jobs : {}
  name     = "${local.name}-batch-${each.key}"
  role_arn = aws_iam_role.orchestration[0].arn
  definition = replace(replace(replace(replace(replace(jsonencode(local.batch_state_machines[each.key]),
    "\"@@CLUSTER@@\"", local.orchestration_placeholders["\"@@CLUSTER@@\""]),
    "\"@@TASK_DEFINITION@@\"", local.orchestration_placeholders["\"@@TASK_DEFINITION@@\""]),
    "\"@@SUBNETS@@\"", local.orchestration_placeholders["\"@@SUBNETS@@\""]),
    "\"@@TASK_SECURITY_GROUPS@@\"", local.orchestration_placeholders["\"@@TASK_SECURITY_GROUPS@@\""]),
  "\"@@FINAL_SECURITY_GROUPS@@\"", local.orchestration_placeholders["\"@@FINAL_SECURITY_GROUPS@@\""])
  logging_configuration {
    log_destination        = "${aws_cloudwatch_log_group.orchestration[0].arn}:*"
    include_execution_data = true # task ARNs and exit codes, no data (KMS-encrypted group)
    level                  = "ALL"
  }
  tracing_configuration {
    enabled = true
  }
  tags = local.tags
}

resource "aws_cloudwatch_event_target" "batch_orchestrated" {
  for_each = local.sharded ? var.batch_jobs : {}
  rule     = aws_cloudwatch_event_rule.batch[each.key].name
  arn      = aws_sfn_state_machine.batch[each.key].arn
  role_arn = aws_iam_role.events.arn
}

# The state machine's role: run (and stop, follow) the batch task definition on this cluster,
# pass exactly its task and execution roles, the managed rule ECS .sync waits with; log
# delivery and X-Ray, whose actions take no resource.
resource "aws_iam_role" "orchestration" {
  count = local.sharded ? 1 : 0
  name  = "${local.name}-batch-orchestration"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "states.amazonaws.com" }
      Action    = "sts:AssumeRole"
      Condition = {
        StringEquals = { "aws:SourceAccount" = local.account }
        ArnLike      = { "aws:SourceArn" = "arn:aws:states:${local.region}:${local.account}:stateMachine:${local.name}-batch-*" }
      }
    }]
  })
  tags = local.tags
}

resource "aws_iam_role_policy" "orchestration" {
  count = local.sharded ? 1 : 0
  name  = "run-batch-shards"
  role  = aws_iam_role.orchestration[0].id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "RunOwnBatchTaskOnOwnCluster"
        Effect    = "Allow"
        Action    = ["ecs:RunTask"]
        Resource  = ["arn:aws:ecs:${local.region}:${local.account}:task-definition/${local.name}-batch:*"]
        Condition = { ArnEquals = { "ecs:cluster" = aws_ecs_cluster.this.arn } }
      },
      {
        Sid      = "FollowAndStopOwnTasks"
        Effect   = "Allow"
        Action   = ["ecs:DescribeTasks", "ecs:StopTask"]
        Resource = ["arn:aws:ecs:${local.region}:${local.account}:task/${local.name}/*"]
      },
      {
        Sid       = "PassOnlyTheBatchRoles"
        Effect    = "Allow"
        Action    = ["iam:PassRole"]
        Resource  = [aws_iam_role.execution.arn, module.lake.batch_task_role_arn]
        Condition = { StringEquals = { "iam:PassedToService" = "ecs-tasks.amazonaws.com" } }
      },
      {
        Sid      = "EcsSyncManagedRule"
        Effect   = "Allow"
        Action   = ["events:PutTargets", "events:PutRule", "events:DescribeRule"]
        Resource = ["arn:aws:events:${local.region}:${local.account}:rule/StepFunctionsGetEventsForECSTaskRule"]
      },
      {
        Sid    = "LogDeliveryAndTracingTakeNoResource"
        Effect = "Allow"
        Action = [
          "logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery", "logs:DeleteLogDelivery",
          "logs:ListLogDeliveries", "logs:PutResourcePolicy", "logs:DescribeResourcePolicies", "logs:DescribeLogGroups",
          "xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules", "xray:GetSamplingTargets",
        ]
        Resource = "*"
      },
    ]
  })
}

# A failed, timed-out or aborted batch execution alerts (a failed shard task alerts by itself:
# task_failed, monitoring.tf).
resource "aws_cloudwatch_event_rule" "batch_failed" {
  count       = local.sharded ? 1 : 0
  name        = "${local.name}-batch-orchestration-failed"
  description = "A batch state machine execution of ${local.env} failed"
  event_pattern = jsonencode({
    source        = ["aws.states"]
    "detail-type" = ["Step Functions Execution Status Change"]
    detail = {
      status          = ["FAILED", "TIMED_OUT", "ABORTED"]
      stateMachineArn = [for k in sort(keys(var.batch_jobs)) : aws_sfn_state_machine.batch[k].arn]
    }
  })
  tags = local.tags
}

resource "aws_cloudwatch_event_target" "batch_failed" {
  count = local.sharded ? 1 : 0
  rule  = aws_cloudwatch_event_rule.batch_failed[0].name
  arn   = aws_sns_topic.alerts.arn
}
