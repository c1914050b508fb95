output "bucket" {
  description = "The state bucket (backend.hcl: bucket)."
  value       = module.bucket.bucket
}

output "bucket_arn" {
  value = module.bucket.arn
}

output "kms_key_arn" {
  description = "The state key (backend.hcl: kms_key_id; an ARN, as the roots run in other accounts)."
  value       = aws_kms_key.state.arn
}

output "bucket_policy" {
  value = module.bucket.policy
}

output "backend_keys" {
  description = "Per root: its state key (backend.hcl: key)."
  value       = { for k in keys(var.deployers) : k => "envs/${k}/terraform.tfstate" }
}
