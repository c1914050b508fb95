# The buckets moved into modules/secure-bucket and modules/access-log-bucket (one hardened pattern
# for every bucket of the platform): existing state follows them, nothing is destroyed or created.
moved {
  from = aws_s3_bucket.lake
  to   = module.lake_bucket.aws_s3_bucket.this
}
moved {
  from = aws_s3_bucket_object_lock_configuration.lake
  to   = module.lake_bucket.aws_s3_bucket_object_lock_configuration.this[0]
}
moved {
  from = aws_s3_bucket_ownership_controls.lake
  to   = module.lake_bucket.aws_s3_bucket_ownership_controls.this
}
moved {
  from = aws_s3_bucket_public_access_block.lake
  to   = module.lake_bucket.aws_s3_bucket_public_access_block.this
}
moved {
  from = aws_s3_bucket_versioning.lake
  to   = module.lake_bucket.aws_s3_bucket_versioning.this
}
moved {
  from = aws_s3_bucket_server_side_encryption_configuration.lake
  to   = module.lake_bucket.aws_s3_bucket_server_side_encryption_configuration.this
}
moved {
  from = aws_s3_bucket_logging.lake
  to   = module.lake_bucket.aws_s3_bucket_logging.this
}
moved {
  from = aws_s3_bucket_lifecycle_configuration.lake
  to   = module.lake_bucket.aws_s3_bucket_lifecycle_configuration.this
}
moved {
  from = aws_s3_bucket_policy.lake
  to   = module.lake_bucket.aws_s3_bucket_policy.this
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
