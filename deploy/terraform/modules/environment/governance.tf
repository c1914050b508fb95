# Account-level governance of the environment: IAM Access Analyzer (findings for any resource
# policy of this account that grants access outside it: the lake's bucket and key policies, role
# trusts), and the bastion's nightly stop.
resource "aws_accessanalyzer_analyzer" "account" {
  analyzer_name = "${local.name}-account"
  type          = "ACCOUNT"
  tags          = local.tags
}

# The SSM bastion (dev) is stopped every evening by EventBridge Scheduler; start it with
# `aws ec2 start-instances` when needed. Its role may stop exactly that instance.
resource "aws_iam_role" "bastion_stop" {
  count = var.settings.bastion_instance_type != null ? 1 : 0
  name  = "${local.name}-bastion-stop"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "scheduler.amazonaws.com" }
      Action    = "sts:AssumeRole"
      Condition = { StringEquals = { "aws:SourceAccount" = local.account } }
    }]
  })
  tags = local.tags
}

resource "aws_iam_role_policy" "bastion_stop" {
  count = var.settings.bastion_instance_type != null ? 1 : 0
  name  = "stop-bastion"
  role  = aws_iam_role.bastion_stop[0].id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid      = "StopOwnBastion"
      Effect   = "Allow"
      Action   = ["ec2:StopInstances"]
      Resource = ["arn:aws:ec2:${local.region}:${local.account}:instance/${aws_instance.bastion[0].id}"]
    }]
  })
}

resource "aws_scheduler_schedule" "bastion_stop" {
  #checkov:skip=CKV_AWS_297:the schedule's only payload is the bastion's instance id (nothing secret); an AWS-owned key encrypts it
  count                        = var.settings.bastion_instance_type != null ? 1 : 0
  name                         = "${local.name}-bastion-stop"
  description                  = "Stops the ${local.env} SSM bastion every evening"
  schedule_expression          = var.bastion_stop_schedule
  schedule_expression_timezone = "UTC"
  state                        = "ENABLED"
  flexible_time_window {
    mode = "OFF"
  }
  target {
    arn      = "arn:aws:scheduler:::aws-sdk:ec2:stopInstances"
    role_arn = aws_iam_role.bastion_stop[0].arn
    input    = jsonencode({ InstanceIds = [aws_instance.bastion[0].id] })
  }
}

# AWS Config in this account (the shared account's organisation conformance packs and
# aggregator need a recorder in every member account): all resources incl. global types,
# delivered to the central log archive (config/AWSLogs/<account>/Config/, which admits this
# account; the archive encrypts with its own key).
resource "aws_iam_role" "config" {
  count = var.log_archive_bucket != null ? 1 : 0
  name  = "${local.name}-config-recorder"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "config.amazonaws.com" }
      Action    = "sts:AssumeRole"
      Condition = { StringEquals = { "aws:SourceAccount" = local.account } }
    }]
  })
  tags = local.tags
}

resource "aws_iam_role_policy_attachment" "config" {
  count      = var.log_archive_bucket != null ? 1 : 0
  role       = aws_iam_role.config[0].name
  policy_arn = "arn:aws:iam::aws:policy/service-role/AWS_ConfigRole"
}

resource "aws_config_configuration_recorder" "this" {
  count    = var.log_archive_bucket != null ? 1 : 0
  name     = "${local.name}-recorder"
  role_arn = aws_iam_role.config[0].arn
  recording_group {
    all_supported                 = true
    include_global_resource_types = true
  }
}

resource "aws_config_delivery_channel" "this" {
  count          = var.log_archive_bucket != null ? 1 : 0
  name           = "${local.name}-delivery"
  s3_bucket_name = var.log_archive_bucket
  s3_key_prefix  = "config"
  depends_on     = [aws_config_configuration_recorder.this]
}

resource "aws_config_configuration_recorder_status" "this" {
  count      = var.log_archive_bucket != null ? 1 : 0
  name       = aws_config_configuration_recorder.this[0].name
  is_enabled = true
  depends_on = [aws_config_delivery_channel.this]
}
