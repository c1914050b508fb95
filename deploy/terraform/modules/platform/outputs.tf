output "project_name" {
  value = local.d.project_name
}

output "organization" {
  value = local.d.organization
}

output "region" {
  value = local.d.region
}

output "backup_region" {
  value = local.d.backup_region
}

output "account_id" {
  description = "The root's own account (the provider's allowed_account_ids and deploy role)."
  value       = local.is_env ? local.own.account_id : local.d.shared.account_id
}

# ---------------------------------------------------------------- environment roots
output "settings" {
  description = "Environment roots: their own entry of the definition (modules/environment `settings`); null for shared."
  value       = local.is_env ? { for k, v in local.own : k => v if k != "peering_connection_id" } : null
}

output "promotion_readers" {
  description = "Environment roots: the release roles of the environments promoting from this one across accounts."
  value       = local.promotion_readers
}

output "promotion_source" {
  description = "Environment roots: the environment this one promotes from across accounts (null: none)."
  value       = local.promotion_source
}

output "shared_services" {
  description = "Environment roots: the shared VPC to peer with ({ vpc_id, cidr, account_id }; null: no peering)."
  value       = local.is_env ? local.shared_services : null
}

output "log_archive_bucket" {
  description = "Environment roots: the shared log archive their AWS Config delivers to (null without the shared VPC)."
  value       = local.is_env && local.shared_services != null ? "${local.d.project_name}-shared-log-archive-${local.d.shared.account_id}" : null
}

# ---------------------------------------------------------------- the shared root
output "shared" {
  description = "The shared root: its own settings (account, VPC, log archive, budget, conformance packs); null for the environment roots."
  value       = local.is_env ? null : local.d.shared
}

output "environment_accounts" {
  description = "The shared root: env => account id (Security Hub members, state deployers); null for the environment roots."
  value       = local.is_env ? null : { for k, e in local.envs : k => e.account_id }
}

output "environment_peerings" {
  description = "The shared root: env => { connection_id, cidr } of the peering requests to accept; null for the environment roots."
  value = local.is_env ? null : { for k, e in local.envs : k => {
    connection_id = e.peering_connection_id
    cidr          = e.cidr
  } if e.peering_connection_id != null }
}
