output "vpc_id" {
  value = module.shared_services.vpc_id
}

output "vpc_cidr" {
  value = module.shared_services.vpc_cidr
}

output "log_archive_bucket" {
  value = module.shared_services.log_archive_bucket
}

output "trail" {
  value = module.shared_services.trail
}

output "security_alerts_topic_arn" {
  value = module.shared_services.security_alerts_topic_arn
}

output "config_rules" {
  value = module.shared_services.config_rules
}

output "accepted_peerings" {
  value = module.shared_services.accepted_peerings
}

output "peer_routes" {
  value = module.shared_services.peer_routes
}

output "state_backend" {
  description = "Remote state: bucket, key ARN and each root's key, for the roots' backend.hcl (deploy/README.md, \"Remote state\")."
  value       = module.shared_services.state_backend
}
