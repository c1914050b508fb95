resource "aws_sns_topic" "alerts" {
  name              = "${local.name}-alerts"
  kms_master_key_id = module.lake.kms_key_arn
  tags              = local.tags
}

resource "aws_sns_topic_policy" "alerts" {
  arn = aws_sns_topic.alerts.arn
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "AlarmsEventsAndBudgetsOfThisAccount"
      Effect    = "Allow"
      Principal = { Service = ["cloudwatch.amazonaws.com", "events.amazonaws.com", "budgets.amazonaws.com"] }
      Action    = "sns:Publish"
      Resource  = aws_sns_topic.alerts.arn
      Condition = { StringEquals = { "aws:SourceAccount" = local.account } }
    }]
  })
}

resource "aws_sns_topic_subscription" "alerts_email" {
  for_each  = toset(var.settings.alert_emails)
  topic_arn = aws_sns_topic.alerts.arn
  protocol  = "email"
  endpoint  = each.value
}

# The engine logs one JSON object per line; these two events are its contract
# with the alarms: {"event":"job_failed",...} and
# {"event":"records_quarantined","count":N,...}.
resource "aws_cloudwatch_log_metric_filter" "job_failures" {
  name           = "${local.name}-job-failures"
  log_group_name = aws_cloudwatch_log_group.engine["batch"].name
  pattern        = "{ $.event = \"job_failed\" }"
  metric_transformation {
    name          = "JobFailures"
    namespace     = "Medallion/${local.name}"
    value         = "1"
    default_value = "0"
  }
}

resource "aws_cloudwatch_log_metric_filter" "quarantine" {
  # the engine's runs (not the Ballista cluster's log group: it quarantines nothing)
  for_each       = { for k, g in aws_cloudwatch_log_group.engine : k => g if k != "ballista" }
  name           = "${local.name}-${each.key}-quarantined-records"
  log_group_name = each.value.name
  pattern        = "{ $.event = \"records_quarantined\" }"
  metric_transformation {
    name          = "QuarantinedRecords"
    namespace     = "Medallion/${local.name}"
    value         = "$.count"
    default_value = "0"
  }
}

resource "aws_cloudwatch_metric_alarm" "job_failures" {
  alarm_name          = "${local.name}-job-failures"
  alarm_description   = "A medallion batch job failed in ${local.env}"
  namespace           = "Medallion/${local.name}"
  metric_name         = "JobFailures"
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = var.alarm_thresholds.job_failures
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alerts.arn]
  tags                = local.tags
}

resource "aws_cloudwatch_metric_alarm" "quarantine_spike" {
  alarm_name          = "${local.name}-quarantine-spike"
  alarm_description   = "More than ${var.alarm_thresholds.quarantined_records_5m} records quarantined in 5 minutes in ${local.env}"
  namespace           = "Medallion/${local.name}"
  metric_name         = "QuarantinedRecords"
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = var.alarm_thresholds.quarantined_records_5m
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alerts.arn]
  tags                = local.tags
}

# MSK publishes consumer lag for groups that commit offsets; the engine commits its group's
# offsets to Kafka after every Delta commit for exactly this. Dimensions are the real names:
# the stream job's group and topic(s). No data (no stream yet, topic idle) is not an alarm;
# a stream that is not running is caught by `stream_not_running`.
resource "aws_cloudwatch_metric_alarm" "consumer_lag" {
  for_each            = var.settings.enable_streaming ? toset(var.stream_job.topics) : toset([])
  alarm_name          = "${local.name}-consumer-lag-${each.key}"
  alarm_description   = "Stream consumer group ${local.stream_group} is falling behind on ${each.key} in ${local.env}"
  namespace           = "AWS/Kafka"
  metric_name         = "SumOffsetLag"
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 3
  threshold           = var.alarm_thresholds.consumer_lag_records
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alerts.arn]
  ok_actions          = [aws_sns_topic.alerts.arn]
  dimensions = {
    "Cluster Name"   = local.msk_name
    "Consumer Group" = local.stream_group
    "Topic"          = each.key
  }
  tags = local.tags
}

# The engine's own view of lag, from its /metrics through the agent sidecar (metrics.tf): per
# topic, the worst partition's messages between the broker's high watermark and the next offset
# committed to Bronze. No data (no stream task, or the agent stopped) is not breaching, so the
# alarm clears when the stream catches up or stops; a stopped stream is `stream_not_running`.
resource "aws_cloudwatch_metric_alarm" "stream_partition_lag" {
  for_each            = var.settings.enable_streaming ? toset(var.stream_job.topics) : toset([])
  alarm_name          = "${local.name}-stream-partition-lag-${each.key}"
  alarm_description   = "The ${local.env} stream's worst partition of ${each.key} is more than ${var.alarm_thresholds.consumer_lag_records} messages behind (engine metric medallion_stream_partition_lag)"
  namespace           = local.metrics_namespace
  metric_name         = "medallion_stream_partition_lag"
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 3
  threshold           = var.alarm_thresholds.consumer_lag_records
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alerts.arn]
  ok_actions          = [aws_sns_topic.alerts.arn]
  dimensions = {
    service = local.metrics_service
    topic   = each.key
  }
  tags = local.tags
}

# Failed Bronze commits and failed Silver/Gold follow runs of the stream (counters: the agent
# sends the delta per scrape, so the 5-minute Sum is the failures in those 5 minutes).
resource "aws_cloudwatch_metric_alarm" "stream_failures" {
  for_each = var.settings.enable_streaming ? {
    commit = "medallion_stream_commit_failures_total"
    silver = "medallion_stream_silver_failures_total"
  } : {}
  alarm_name          = "${local.name}-stream-${each.key}-failures"
  alarm_description   = "The ${local.env} stream reported ${each.value} in the last 5 minutes"
  namespace           = local.metrics_namespace
  metric_name         = each.value
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = var.alarm_thresholds.stream_failures_5m
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alerts.arn]
  ok_actions          = [aws_sns_topic.alerts.arn]
  dimensions = {
    service = local.metrics_service
  }
  tags = local.tags
}

# Container Insights: fewer running stream tasks than wanted (missing data = not running).
resource "aws_cloudwatch_metric_alarm" "stream_not_running" {
  count               = var.settings.enable_streaming ? 1 : 0
  alarm_name          = "${local.name}-stream-not-running"
  alarm_description   = "The ${local.env} stream service runs fewer tasks than desired"
  namespace           = "ECS/ContainerInsights"
  metric_name         = "RunningTaskCount"
  statistic           = "Minimum"
  period              = 300
  evaluation_periods  = 2
  threshold           = var.settings.multi_az ? 2 : 1
  comparison_operator = "LessThanThreshold"
  treat_missing_data  = "breaching"
  alarm_actions       = [aws_sns_topic.alerts.arn]
  ok_actions          = [aws_sns_topic.alerts.arn]
  dimensions = {
    ClusterName = aws_ecs_cluster.this.name
    ServiceName = "${local.name}-stream"
  }
  tags = local.tags
}

# Backups: once a backup is finished and its `backup_taken` record appended, `medallion backup`
# logs the structured event {"event":"backup_taken","environment":<env>,"to":<location>,...}
# (engine/cli/src/commands/backup.rs; one JSON object per line: the task definitions set
# MEDALLION_LOG_FORMAT=json and MEDALLION_LOG=info, compute.tf). The backup task logs to the batch
# log group (stream prefix backup); the filter (modules/backup output taken_pattern) counts the
# events of this environment to its own backup locations. None for two recovery points
# (2 x rpo_hours) = the RPO is not met: alarm (missing data is breaching). A backup that fails exits
# non-zero: `task_failed` below.
locals {
  backup_taken_pattern = local.backup_on ? module.backup[0].taken_pattern : null
}

resource "aws_cloudwatch_log_metric_filter" "backup_taken" {
  count          = local.backup_on ? 1 : 0
  name           = "${local.name}-backup-taken"
  log_group_name = aws_cloudwatch_log_group.engine["batch"].name
  pattern        = local.backup_taken_pattern
  metric_transformation {
    name      = "BackupsTaken"
    namespace = "Medallion/${local.name}"
    value     = "1"
  }
}

resource "aws_cloudwatch_metric_alarm" "backup_missing" {
  count               = local.backup_on ? 1 : 0
  alarm_name          = "${local.name}-backup-missing"
  alarm_description   = "No medallion backup of ${local.env} finished in the last ${2 * var.settings.backup.rpo_hours} h (2 x the RPO of ${var.settings.backup.rpo_hours} h)"
  namespace           = "Medallion/${local.name}"
  metric_name         = "BackupsTaken"
  statistic           = "Sum"
  period              = var.settings.backup.rpo_hours * 3600
  evaluation_periods  = 2
  datapoints_to_alarm = 2
  threshold           = 1
  comparison_operator = "LessThanThreshold"
  treat_missing_data  = "breaching"
  alarm_actions       = [aws_sns_topic.alerts.arn]
  ok_actions          = [aws_sns_topic.alerts.arn]
  tags                = local.tags
}

# Failed (non-zero exit) engine tasks also go straight to the alert topic.
resource "aws_cloudwatch_event_rule" "task_failed" {
  name        = "${local.name}-engine-task-failed"
  description = "Engine ECS task stopped with a non-zero exit code in ${local.env}"
  event_pattern = jsonencode({
    source        = ["aws.ecs"]
    "detail-type" = ["ECS Task State Change"]
    detail = {
      clusterArn = [aws_ecs_cluster.this.arn]
      lastStatus = ["STOPPED"]
      containers = { exitCode = [{ "anything-but" = 0 }] }
    }
  })
  tags = local.tags
}

resource "aws_cloudwatch_event_target" "task_failed" {
  rule = aws_cloudwatch_event_rule.task_failed.name
  arn  = aws_sns_topic.alerts.arn
}

resource "aws_budgets_budget" "monthly" {
  name         = "${local.name}-monthly"
  budget_type  = "COST"
  limit_amount = tostring(var.settings.monthly_budget_usd)
  limit_unit   = "USD"
  time_unit    = "MONTHLY"

  cost_filter {
    name   = "TagKeyValue"
    values = ["user:environment$${local.env}"]
  }

  notification {
    comparison_operator       = "GREATER_THAN"
    threshold                 = 80
    threshold_type            = "PERCENTAGE"
    notification_type         = "ACTUAL"
    subscriber_sns_topic_arns = [aws_sns_topic.alerts.arn]
  }

  notification {
    comparison_operator       = "GREATER_THAN"
    threshold                 = 100
    threshold_type            = "PERCENTAGE"
    notification_type         = "FORECASTED"
    subscriber_sns_topic_arns = [aws_sns_topic.alerts.arn]
  }

  tags = local.tags
}
