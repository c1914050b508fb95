# The stream's own metrics in CloudWatch. `medallion stream` serves Prometheus metrics on
# --metrics-addr (engine/kafka/src/metrics.rs); a CloudWatch agent sidecar in the stream task
# scrapes them over the task's localhost and writes them as embedded metric format (EMF) to the
# log group below, which CloudWatch turns into metrics in the namespace Medallion/<project>-<env>.
# Counters arrive as the delta since the previous scrape (so Sum over a period = events in it);
# gauges as they are; histograms are dropped by the agent (none is alarmed on).
#
# The alarms in monitoring.tf use exactly these metric names and dimension sets; MED-013
# compares them with the names the engine emits (read from metrics.rs) and with the agent's
# metric declarations.
locals {
  metrics_addr      = "127.0.0.1:9464"
  metrics_namespace = "Medallion/${local.name}"
  # A label the scrape adds to every sample: the alarms' `service` dimension.
  metrics_service = "${local.name}-stream"
  metrics_job     = "medallion-stream"
  # What reaches CloudWatch, by dimension set: the per-topic lag (the worst partition is the
  # period's Maximum over the partitions' and tasks' samples) and the failure counters.
  stream_metric_declarations = [
    {
      source_labels    = ["job"]
      label_matcher    = "^${local.metrics_job}$"
      dimensions       = [["service", "topic"]]
      metric_selectors = ["^medallion_stream_partition_lag$"]
    },
    {
      source_labels = ["job"]
      label_matcher = "^${local.metrics_job}$"
      dimensions    = [["service"]]
      metric_selectors = [
        "^medallion_stream_commit_failures_total$",
        "^medallion_stream_silver_failures_total$",
        "^medallion_stream_kafka_errors_total$",
        "^medallion_stream_rows_committed_total$",
        "^medallion_stream_quarantined_total$",
      ]
    },
  ]
  prometheus_config = {
    global = { scrape_interval = "60s", scrape_timeout = "10s" }
    scrape_configs = [{
      job_name     = local.metrics_job
      metrics_path = "/metrics"
      static_configs = [{
        targets = [local.metrics_addr]
        labels  = { service = local.metrics_service }
      }]
    }]
  }
  metrics_agent_config = {
    agent = { region = local.region }
    logs = {
      metrics_collected = {
        prometheus = {
          log_group_name         = "${local.log_group_prefix}/engine-stream-metrics"
          prometheus_config_path = "env:PROMETHEUS_CONFIG_CONTENT"
          emf_processor = {
            metric_namespace   = local.metrics_namespace
            metric_declaration = local.stream_metric_declarations
          }
        }
      }
      force_flush_interval = 15
    }
  }
  # The sidecar (stream task only). Not essential: the stream keeps running if it stops (the
  # lag alarms then see no data and clear; `stream_not_running` still watches the tasks).
  stream_metrics_sidecar = {
    name      = "metrics-agent"
    image     = var.metrics_agent_image
    essential = false
    # The agent translates its configuration into files of its image at start.
    readonlyRootFilesystem = false
    privileged             = false
    environment = [
      { name = "CW_CONFIG_CONTENT", value = jsonencode(local.metrics_agent_config) },
      { name = "PROMETHEUS_CONFIG_CONTENT", value = yamlencode(local.prometheus_config) },
    ]
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = "${local.log_group_prefix}/engine-stream"
        awslogs-region        = local.region
        awslogs-stream-prefix = "metrics-agent"
      }
    }
  }
  metrics_log_group_arn = "arn:aws:logs:${local.region}:${local.account}:log-group:${local.log_group_prefix}/engine-stream-metrics"
}

resource "aws_cloudwatch_log_group" "stream_metrics" {
  count             = var.settings.enable_streaming ? 1 : 0
  name              = "${local.log_group_prefix}/engine-stream-metrics"
  retention_in_days = var.settings.log_retention_days
  kms_key_id        = module.lake.kms_key_arn
  tags              = local.tags
}

# The agent runs with the stream task's role: it may write the metrics log group only.
resource "aws_iam_role_policy" "stream_metrics" {
  count = var.settings.enable_streaming ? 1 : 0
  name  = "medallion-stream-metrics"
  role  = module.lake.stream_task_role_name
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid      = "WriteStreamMetricsAsEmf"
      Effect   = "Allow"
      Action   = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
      Resource = [local.metrics_log_group_arn, "${local.metrics_log_group_arn}:*"]
    }]
  })
}
