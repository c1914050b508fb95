output "kms_key_arn" {
  value = module.environment.kms_key_arn
}

output "bucket_names" {
  value = module.environment.bucket_names
}

output "bucket_sse_kms_keys" {
  value = module.environment.bucket_sse_kms_keys
}

output "bucket_expiration_days" {
  value = module.environment.bucket_expiration_days
}

output "private_subnet_azs" {
  value = module.environment.private_subnet_azs
}

output "resource_names" {
  value = module.environment.resource_names
}
