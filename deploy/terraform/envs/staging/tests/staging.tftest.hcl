# Offline plan-mode tests for the staging root. The real AWS provider runs with
# fake credentials (skip_* options via var.offline_plan); only the KMS key is
# overridden so that its ARN is known at plan time and can be compared.

variables {
  offline_plan = true
}

override_resource {
  target          = module.environment.aws_kms_key.this
  override_during = plan
  values = {
    arn    = "arn:aws:kms:eu-west-1:222222222222:key/00000000-0000-0000-0000-00000000stag"
    key_id = "00000000-0000-0000-0000-00000000stag"
  }
}

run "staging_plan" {
  command = plan

  assert {
    condition     = length(module.environment.bucket_sse_kms_keys) == 3
    error_message = "staging must have 3 data bucket(s)."
  }

  assert {
    condition     = alltrue([for k in values(module.environment.bucket_sse_kms_keys) : k == module.environment.kms_key_arn])
    error_message = "Every staging bucket must be encrypted with the staging environment's own KMS key."
  }

  assert {
    condition     = strcontains(module.environment.kms_key_arn, ":222222222222:") && module.environment.kms_key_rotation
    error_message = "The staging key must live in the staging account and rotate."
  }

  assert {
    condition     = alltrue([for d in values(module.environment.bucket_expiration_days) : d == 90])
    error_message = "staging data buckets must expire objects after exactly 90 days."
  }

  assert {
    condition     = module.environment.access_log_bucket_expiration_days == 90
    error_message = "staging access-log bucket must follow the 90-day retention."
  }

  assert {
    condition     = length(distinct(module.environment.private_subnet_azs)) == 2
    error_message = "staging must have private subnets in exactly 2 AZ(s)."
  }

  assert {
    condition     = module.environment.nat_gateway_count == 1
    error_message = "staging must have 1 NAT gateway(s)."
  }

  assert {
    condition     = module.environment.msk_broker_count == 2
    error_message = "staging must have 2 MSK broker(s)."
  }

  assert {
    condition     = module.environment.flow_log_group_name == "/medallion-staging/vpc-flow-logs"
    error_message = "staging VPC must ship flow logs to its own log group."
  }

  assert {
    condition     = alltrue([for n in module.environment.resource_names : strcontains(n, "staging")])
    error_message = "Every named staging resource must carry the staging name."
  }

  assert {
    condition     = alltrue([for n in module.environment.resource_names : length(regexall("(^|[^a-z])(dev|prod)([^a-z]|$)", n)) == 0])
    error_message = "No staging resource may name another environment."
  }
}
