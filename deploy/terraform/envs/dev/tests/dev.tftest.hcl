# Offline plan-mode tests for the dev root. The real AWS provider runs with
# fake credentials (skip_* options via var.offline_plan); only the KMS key is
# overridden so that its ARN is known at plan time and can be compared.

variables {
  offline_plan = true
}

override_resource {
  target          = module.environment.aws_kms_key.this
  override_during = plan
  values = {
    arn    = "arn:aws:kms:eu-west-1:111111111111:key/00000000-0000-0000-0000-00000000dev"
    key_id = "00000000-0000-0000-0000-00000000dev"
  }
}

run "dev_plan" {
  command = plan

  assert {
    condition     = length(module.environment.bucket_sse_kms_keys) == 1
    error_message = "dev must have 1 data bucket(s)."
  }

  assert {
    condition     = alltrue([for k in values(module.environment.bucket_sse_kms_keys) : k == module.environment.kms_key_arn])
    error_message = "Every dev bucket must be encrypted with the dev environment's own KMS key."
  }

  assert {
    condition     = strcontains(module.environment.kms_key_arn, ":111111111111:") && module.environment.kms_key_rotation
    error_message = "The dev key must live in the dev account and rotate."
  }

  assert {
    condition     = alltrue([for d in values(module.environment.bucket_expiration_days) : d == 30])
    error_message = "dev data buckets must expire objects after exactly 30 days."
  }

  assert {
    condition     = module.environment.access_log_bucket_expiration_days == 30
    error_message = "dev access-log bucket must follow the 30-day retention."
  }

  assert {
    condition     = length(distinct(module.environment.private_subnet_azs)) == 1
    error_message = "dev must have private subnets in exactly 1 AZ(s)."
  }

  assert {
    condition     = module.environment.nat_gateway_count == 1
    error_message = "dev must have 1 NAT gateway(s)."
  }

  assert {
    condition     = module.environment.msk_broker_count == 0
    error_message = "dev must have 0 MSK broker(s)."
  }

  assert {
    condition     = module.environment.flow_log_group_name == "/medallion-dev/vpc-flow-logs"
    error_message = "dev VPC must ship flow logs to its own log group."
  }

  assert {
    condition     = alltrue([for n in module.environment.resource_names : strcontains(n, "dev")])
    error_message = "Every named dev resource must carry the dev name."
  }

  assert {
    condition     = alltrue([for n in module.environment.resource_names : length(regexall("(^|[^a-z])(staging|prod)([^a-z]|$)", n)) == 0])
    error_message = "No dev resource may name another environment."
  }
}

run "dev_rejects_invalid_log_retention" {
  command = plan

  variables {
    environments = {
      dev = {
        account_id         = "111111111111"
        cidr               = "10.10.0.0/16"
        azs                = ["eu-west-1a"]
        multi_az           = false
        retention_days     = 30
        log_retention_days = 2555
        layers             = ["bronze"]
        enable_streaming   = false
        monthly_budget_usd = 150
      }
    }
  }

  expect_failures = [var.environments]
}
