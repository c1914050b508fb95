output "vpc_id" {
  description = "Shared-services VPC: the only peering target of the environments."
  value       = module.network.vpc_id
}

output "vpc_cidr" {
  value = module.network.vpc_cidr
}

output "log_archive_bucket" {
  value = module.archive.bucket
}

output "kms_key_arn" {
  value = aws_kms_key.logs.arn
}

output "trail" {
  value = {
    name                       = aws_cloudtrail.org.name
    multi_region               = aws_cloudtrail.org.is_multi_region_trail
    organization               = aws_cloudtrail.org.is_organization_trail
    log_file_validation        = aws_cloudtrail.org.enable_log_file_validation
    s3_bucket                  = aws_cloudtrail.org.s3_bucket_name
    cloud_watch_logs_group_arn = aws_cloudtrail.org.cloud_watch_logs_group_arn
  }
}

output "security_alerts_topic_arn" {
  value = aws_sns_topic.security_alerts.arn
}

output "config_rules" {
  value = [for r in aws_config_config_rule.managed : r.name]
}

output "accepted_peerings" {
  value = module.network.accepted_peerings
}

output "peer_routes" {
  value = module.network.peer_routes
}

output "state_backend" {
  description = "The remote state of every root: bucket, key ARN, each root's state key (its backend.hcl)."
  value = {
    bucket       = module.state_backend.bucket
    kms_key_arn  = module.state_backend.kms_key_arn
    backend_keys = module.state_backend.backend_keys
  }
}

output "state_bucket_policy" {
  value = module.state_backend.bucket_policy
}

output "access_analyzer_arn" {
  value = aws_accessanalyzer_analyzer.org.arn
}
