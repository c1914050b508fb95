# ------------------------------------------------------------------ alert topic
resource "aws_sns_topic" "security_alerts" {
  name              = "${local.name}-security-alerts"
  kms_master_key_id = aws_kms_key.logs.arn
  tags              = local.tags
}

resource "aws_sns_topic_policy" "security_alerts" {
  arn = aws_sns_topic.security_alerts.arn
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "EventBridgeCloudTrailAndBudgetsOfThisAccount"
      Effect    = "Allow"
      Principal = { Service = ["events.amazonaws.com", "cloudtrail.amazonaws.com", "budgets.amazonaws.com"] }
      Action    = "sns:Publish"
      Resource  = aws_sns_topic.security_alerts.arn
      Condition = { StringEquals = { "aws:SourceAccount" = local.account } }
    }]
  })
}

# ------------------------------------------------------------------ organisation CloudTrail
resource "aws_iam_role" "trail_to_logs" {
  name = "${local.name}-cloudtrail-to-logs"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "cloudtrail.amazonaws.com" }
      Action    = "sts:AssumeRole"
      Condition = { StringEquals = { "aws:SourceArn" = local.trail_arn } }
    }]
  })
  tags = local.tags
}

resource "aws_iam_role_policy" "trail_to_logs" {
  name = "write-trail-log-group"
  role = aws_iam_role.trail_to_logs.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect   = "Allow"
      Action   = ["logs:CreateLogStream", "logs:PutLogEvents"]
      Resource = ["${aws_cloudwatch_log_group.central["cloudtrail"].arn}:*"]
    }]
  })
}

resource "aws_cloudtrail" "org" {
  name                          = local.trail_name
  s3_bucket_name                = local.archive_bucket
  s3_key_prefix                 = "cloudtrail"
  kms_key_id                    = aws_kms_key.logs.arn
  is_organization_trail         = true
  is_multi_region_trail         = true
  include_global_service_events = true
  enable_log_file_validation    = true
  cloud_watch_logs_group_arn    = "${aws_cloudwatch_log_group.central["cloudtrail"].arn}:*"
  cloud_watch_logs_role_arn     = aws_iam_role.trail_to_logs.arn
  sns_topic_name                = aws_sns_topic.security_alerts.name

  event_selector {
    read_write_type           = "All"
    include_management_events = true
    data_resource {
      type   = "AWS::S3::Object"
      values = ["arn:aws:s3"]
    }
  }

  tags       = local.tags
  depends_on = [module.archive]
}

# ------------------------------------------------------------------ AWS Config
resource "aws_iam_role" "config" {
  name = "${local.name}-config-recorder"
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
  role       = aws_iam_role.config.name
  policy_arn = "arn:aws:iam::aws:policy/service-role/AWS_ConfigRole"
}

resource "aws_iam_role_policy_attachment" "config_org" {
  role       = aws_iam_role.config.name
  policy_arn = "arn:aws:iam::aws:policy/service-role/AWSConfigRoleForOrganizations"
}

resource "aws_config_configuration_recorder" "this" {
  name     = "${local.name}-recorder"
  role_arn = aws_iam_role.config.arn
  recording_group {
    all_supported                 = true
    include_global_resource_types = true
  }
}

resource "aws_config_delivery_channel" "this" {
  name           = "${local.name}-delivery"
  s3_bucket_name = module.archive.id
  s3_key_prefix  = "config"
  s3_kms_key_arn = aws_kms_key.logs.arn
  sns_topic_arn  = aws_sns_topic.security_alerts.arn
  depends_on     = [aws_config_configuration_recorder.this, module.archive]
}

resource "aws_config_configuration_recorder_status" "this" {
  name       = aws_config_configuration_recorder.this.name
  is_enabled = true
  depends_on = [aws_config_delivery_channel.this]
}

locals {
  config_rules = {
    encrypted-volumes   = "ENCRYPTED_VOLUMES"
    s3-sse-enabled      = "S3_BUCKET_SERVER_SIDE_ENCRYPTION_ENABLED"
    root-mfa-enabled    = "ROOT_ACCOUNT_MFA_ENABLED"
    cloudtrail-enabled  = "CLOUD_TRAIL_ENABLED"
    s3-ssl-only         = "S3_BUCKET_SSL_REQUESTS_ONLY"
    vpc-flow-logs-on    = "VPC_FLOW_LOGS_ENABLED"
    cmk-rotation-on     = "CMK_BACKING_KEY_ROTATION_ENABLED"
    s3-no-public-access = "S3_BUCKET_LEVEL_PUBLIC_ACCESS_PROHIBITED"
  }
}

resource "aws_config_config_rule" "managed" {
  for_each = local.config_rules
  name     = "${local.name}-${each.key}"
  source {
    owner             = "AWS"
    source_identifier = each.value
  }
  tags       = local.tags
  depends_on = [aws_config_configuration_recorder.this]
}

resource "aws_config_configuration_aggregator" "org" {
  name = "${local.name}-org-aggregator"
  organization_aggregation_source {
    all_regions = true
    role_arn    = aws_iam_role.config.arn
  }
  tags       = local.tags
  depends_on = [aws_iam_role_policy_attachment.config_org]
}

# ------------------------------------------------------------------ Security Hub
resource "aws_securityhub_account" "this" {
  enable_default_standards = false
}

resource "aws_securityhub_standards_subscription" "cis" {
  standards_arn = "arn:aws:securityhub:${local.region}::standards/cis-aws-foundations-benchmark/v/1.4.0"
  depends_on    = [aws_securityhub_account.this]
}

resource "aws_securityhub_standards_subscription" "pci_dss" {
  standards_arn = "arn:aws:securityhub:${local.region}::standards/pci-dss/v/3.2.1"
  depends_on    = [aws_securityhub_account.this]
}

resource "aws_securityhub_standards_subscription" "fsbp" {
  standards_arn = "arn:aws:securityhub:${local.region}::standards/aws-foundational-security-best-practices/v/1.0.0"
  depends_on    = [aws_securityhub_account.this]
}

# ------------------------------------------------------------------ critical findings -> SNS + central log group
locals {
  finding_rules = {
    securityhub-critical = {
      description = "Security Hub findings with CRITICAL or HIGH severity"
      pattern = {
        source        = ["aws.securityhub"]
        "detail-type" = ["Security Hub Findings - Imported"]
        detail        = { findings = { Severity = { Label = ["CRITICAL", "HIGH"] }, Workflow = { Status = ["NEW"] } } }
      }
    }
    config-noncompliant = {
      description = "AWS Config rule turned NON_COMPLIANT"
      pattern = {
        source        = ["aws.config"]
        "detail-type" = ["Config Rules Compliance Change"]
        detail        = { newEvaluationResult = { complianceType = ["NON_COMPLIANT"] } }
      }
    }
    root-activity = {
      description = "Any API call or console sign-in by the root user"
      pattern = {
        "detail-type" = ["AWS API Call via CloudTrail", "AWS Console Sign In via CloudTrail"]
        detail        = { userIdentity = { type = ["Root"] } }
      }
    }
  }
}

resource "aws_cloudwatch_event_rule" "findings" {
  for_each      = local.finding_rules
  name          = "${local.name}-${each.key}"
  description   = each.value.description
  event_pattern = jsonencode(each.value.pattern)
  tags          = local.tags
}

resource "aws_cloudwatch_event_target" "findings_sns" {
  for_each = local.finding_rules
  rule     = aws_cloudwatch_event_rule.findings[each.key].name
  arn      = aws_sns_topic.security_alerts.arn
}

resource "aws_cloudwatch_event_target" "findings_logs" {
  for_each = local.finding_rules
  rule     = aws_cloudwatch_event_rule.findings[each.key].name
  arn      = aws_cloudwatch_log_group.central["security-findings"].arn
}

resource "aws_cloudwatch_log_resource_policy" "events_to_findings" {
  policy_name = "${local.name}-events-to-findings"
  policy_document = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = ["events.amazonaws.com", "delivery.logs.amazonaws.com"] }
      Action    = ["logs:CreateLogStream", "logs:PutLogEvents"]
      Resource  = "${aws_cloudwatch_log_group.central["security-findings"].arn}:*"
    }]
  })
}
