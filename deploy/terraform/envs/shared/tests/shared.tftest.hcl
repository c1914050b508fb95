# Offline plan-mode tests for the shared-services root (fake credentials).

variables {
  offline_plan = true
}

run "shared_plan" {
  command = plan

  assert {
    condition     = toset(keys(output.accepted_peerings)) == toset(["dev", "staging", "prod"]) && tolist(output.peer_routes) == tolist(["10.10.0.0/16", "10.20.0.0/16", "10.30.0.0/16"])
    error_message = "The shared VPC must accept each environment's peering request and route back to exactly those CIDRs."
  }

  assert {
    condition     = output.trail.multi_region && output.trail.organization && output.trail.log_file_validation
    error_message = "The organisation trail must be multi-region with log file validation."
  }

  assert {
    condition     = output.trail.s3_bucket == output.log_archive_bucket
    error_message = "The trail must deliver into the central log archive bucket."
  }

  assert {
    condition     = length(output.config_rules) >= 4
    error_message = "AWS Config must evaluate at least the four required managed rules."
  }
}
