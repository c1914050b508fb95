# Offline plan-mode tests for the prod root. The real AWS provider runs with
# fake credentials (skip_* options via var.offline_plan); only the KMS key is
# overridden so that its ARN is known at plan time and can be compared.

variables {
  offline_plan = true
}

override_resource {
  target          = module.environment.aws_kms_key.this
  override_during = plan
  values = {
    arn    = "arn:aws:kms:eu-west-1:333333333333:key/00000000-0000-0000-0000-00000000prod"
    key_id = "00000000-0000-0000-0000-00000000prod"
  }
}

run "prod_plan" {
  command = plan

  assert {
    condition     = length(module.environment.bucket_sse_kms_keys) == 3
    error_message = "prod must have 3 data bucket(s)."
  }

  assert {
    condition     = alltrue([for k in values(module.environment.bucket_sse_kms_keys) : k == module.environment.kms_key_arn])
    error_message = "Every prod bucket must be encrypted with the prod environment's own KMS key."
  }

  assert {
    condition     = strcontains(module.environment.kms_key_arn, ":333333333333:") && module.environment.kms_key_rotation
    error_message = "The prod key must live in the prod account and rotate."
  }

  assert {
    condition     = alltrue([for d in values(module.environment.bucket_expiration_days) : d == 2555])
    error_message = "prod data buckets must expire objects after exactly 2555 days."
  }

  assert {
    condition     = module.environment.access_log_bucket_expiration_days == 2555
    error_message = "prod access-log bucket must follow the 2555-day retention."
  }

  assert {
    condition     = length(distinct(module.environment.private_subnet_azs)) == 3
    error_message = "prod must have private subnets in exactly 3 AZ(s)."
  }

  assert {
    condition     = module.environment.nat_gateway_count == 3
    error_message = "prod must have 3 NAT gateway(s)."
  }

  assert {
    condition     = module.environment.msk_broker_count == 3
    error_message = "prod must have 3 MSK broker(s)."
  }

  assert {
    condition     = module.environment.flow_log_group_name == "/medallion-prod/vpc-flow-logs"
    error_message = "prod VPC must ship flow logs to its own log group."
  }

  assert {
    condition     = alltrue([for n in module.environment.resource_names : strcontains(n, "prod")])
    error_message = "Every named prod resource must carry the prod name."
  }

  assert {
    condition     = alltrue([for n in module.environment.resource_names : length(regexall("(^|[^a-z])(dev|staging)([^a-z]|$)", n)) == 0])
    error_message = "No prod resource may name another environment."
  }
}

run "prod_is_multi_az" {
  command = plan

  assert {
    condition     = module.environment.workload_subnet_count == 3 && length(distinct(module.environment.private_subnet_azs)) >= 2
    error_message = "prod workloads must run across several AZs."
  }
}
