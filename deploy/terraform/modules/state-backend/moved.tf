# The state bucket moved into modules/secure-bucket (one hardened pattern for every bucket of the
# platform): existing state follows it, nothing is destroyed or created.
moved {
  from = aws_s3_bucket.state
  to   = module.bucket.aws_s3_bucket.this
}
moved {
  from = aws_s3_bucket_ownership_controls.state
  to   = module.bucket.aws_s3_bucket_ownership_controls.this
}
moved {
  from = aws_s3_bucket_public_access_block.state
  to   = module.bucket.aws_s3_bucket_public_access_block.this
}
moved {
  from = aws_s3_bucket_versioning.state
  to   = module.bucket.aws_s3_bucket_versioning.this
}
moved {
  from = aws_s3_bucket_server_side_encryption_configuration.state
  to   = module.bucket.aws_s3_bucket_server_side_encryption_configuration.this
}
moved {
  from = aws_s3_bucket_logging.state
  to   = module.bucket.aws_s3_bucket_logging.this
}
moved {
  from = aws_s3_bucket_lifecycle_configuration.state
  to   = module.bucket.aws_s3_bucket_lifecycle_configuration.this
}
moved {
  from = aws_s3_bucket_policy.state
  to   = module.bucket.aws_s3_bucket_policy.this
}
