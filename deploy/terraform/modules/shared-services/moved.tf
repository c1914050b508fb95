# The buckets moved into modules/secure-bucket and modules/access-log-bucket (one hardened pattern
# for every bucket of the platform): existing state follows them, nothing is destroyed or created.
moved {
  from = aws_s3_bucket.archive
  to   = module.archive.aws_s3_bucket.this
}
moved {
  from = aws_s3_bucket_object_lock_configuration.archive
  to   = module.archive.aws_s3_bucket_object_lock_configuration.this[0]
}
moved {
  from = aws_s3_bucket_ownership_controls.archive
  to   = module.archive.aws_s3_bucket_ownership_controls.this
}
moved {
  from = aws_s3_bucket_public_access_block.archive
  to   = module.archive.aws_s3_bucket_public_access_block.this
}
moved {
  from = aws_s3_bucket_versioning.archive
  to   = module.archive.aws_s3_bucket_versioning.this
}
moved {
  from = aws_s3_bucket_server_side_encryption_configuration.archive
  to   = module.archive.aws_s3_bucket_server_side_encryption_configuration.this
}
moved {
  from = aws_s3_bucket_logging.archive
  to   = module.archive.aws_s3_bucket_logging.this
}
moved {
  from = aws_s3_bucket_lifecycle_configuration.archive
  to   = module.archive.aws_s3_bucket_lifecycle_configuration.this
}
moved {
  from = aws_s3_bucket_policy.archive
  to   = module.archive.aws_s3_bucket_policy.this
}

moved {
  from = aws_s3_bucket.access_logs
  to   = module.access_logs.aws_s3_bucket.access_logs
}
moved {
  from = aws_s3_bucket_ownership_controls.access_logs
  to   = module.access_logs.aws_s3_bucket_ownership_controls.this
}
moved {
  from = aws_s3_bucket_public_access_block.access_logs
  to   = module.access_logs.aws_s3_bucket_public_access_block.this
}
moved {
  from = aws_s3_bucket_versioning.access_logs
  to   = module.access_logs.aws_s3_bucket_versioning.this
}
moved {
  from = aws_s3_bucket_server_side_encryption_configuration.access_logs
  to   = module.access_logs.aws_s3_bucket_server_side_encryption_configuration.this
}
moved {
  from = aws_s3_bucket_lifecycle_configuration.access_logs
  to   = module.access_logs.aws_s3_bucket_lifecycle_configuration.this
}
moved {
  from = aws_s3_bucket_policy.access_logs
  to   = module.access_logs.aws_s3_bucket_policy.this
}
