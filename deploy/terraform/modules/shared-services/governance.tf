# Organisation-wide governance of the shared-services (management / log-archive) account:
# IAM Access Analyzer over the organisation, cost-allocation tags, and a budget for this account.

# Findings for any resource policy (bucket, key, role trust, ...) of any member account that
# grants access outside the organisation; findings go to Security Hub (critical/high -> SNS).
resource "aws_accessanalyzer_analyzer" "org" {
  analyzer_name = "${local.name}-organization"
  type          = "ORGANIZATION"
  tags          = local.tags
}

# The environments' budgets filter on the `environment` tag (modules/environment): a tag is usable
# in Cost Explorer and Budgets only once activated as a cost-allocation tag in the payer account.
resource "aws_ce_cost_allocation_tag" "this" {
  for_each = toset(var.cost_allocation_tags)
  tag_key  = each.value
  status   = "Active"
}

resource "aws_budgets_budget" "shared" {
  name         = "${local.name}-monthly"
  budget_type  = "COST"
  limit_amount = tostring(var.monthly_budget_usd)
  limit_unit   = "USD"
  time_unit    = "MONTHLY"

  cost_filter {
    name   = "LinkedAccount"
    values = [local.account]
  }

  notification {
    comparison_operator       = "GREATER_THAN"
    threshold                 = 80
    threshold_type            = "PERCENTAGE"
    notification_type         = "ACTUAL"
    subscriber_sns_topic_arns = [aws_sns_topic.security_alerts.arn]
  }

  notification {
    comparison_operator       = "GREATER_THAN"
    threshold                 = 100
    threshold_type            = "PERCENTAGE"
    notification_type         = "FORECASTED"
    subscriber_sns_topic_arns = [aws_sns_topic.security_alerts.arn]
  }

  tags = local.tags
}

# AWS's Operational Best Practices conformance packs for HIPAA and PCI DSS, deployed to every
# account of the organisation (each has a Config recorder: this account's in security.tf, the
# environments' in modules/environment). The templates are AWS's sample packs
# (github.com/awslabs/aws-config-rules, aws-config-conformance-packs/), uploaded by the operator
# to the S3 URIs of `conformance_packs` (deploy/README.md); they are not copied into this repository.
resource "aws_config_organization_conformance_pack" "this" {
  for_each        = var.conformance_packs
  name            = each.key
  template_s3_uri = each.value
  depends_on      = [aws_config_configuration_recorder_status.this]
}
