resource "aws_cloudwatch_log_group" "msk" {
  count             = var.settings.enable_streaming ? 1 : 0
  name              = "${local.log_group_prefix}/msk-brokers"
  retention_in_days = var.settings.log_retention_days
  kms_key_id        = module.lake.kms_key_arn
  tags              = local.tags
}

resource "aws_msk_configuration" "this" {
  count          = var.settings.enable_streaming ? 1 : 0
  name           = "${local.name}-kafka"
  kafka_versions = ["3.6.0"]
  server_properties = join("\n", [
    "auto.create.topics.enable=false",
    "default.replication.factor=${var.settings.multi_az ? 3 : 2}",
    "min.insync.replicas=${var.settings.multi_az ? 2 : 1}",
    "unclean.leader.election.enable=false",
  ])
}

resource "aws_msk_cluster" "this" {
  count                  = var.settings.enable_streaming ? 1 : 0
  cluster_name           = local.msk_name
  kafka_version          = "3.6.0"
  number_of_broker_nodes = length(var.settings.azs)
  enhanced_monitoring    = var.settings.multi_az ? "PER_TOPIC_PER_PARTITION" : "PER_BROKER"

  broker_node_group_info {
    instance_type   = var.settings.kafka_instance_type
    client_subnets  = module.network.private_subnet_ids
    security_groups = [aws_security_group.msk[0].id]
    storage_info {
      ebs_storage_info {
        volume_size = var.settings.multi_az ? 1000 : 100
      }
    }
    connectivity_info {
      public_access {
        type = "DISABLED"
      }
    }
  }

  configuration_info {
    arn      = aws_msk_configuration.this[0].arn
    revision = aws_msk_configuration.this[0].latest_revision
  }

  encryption_info {
    encryption_at_rest_kms_key_arn = module.lake.kms_key_arn
    encryption_in_transit {
      client_broker = "TLS"
      in_cluster    = true
    }
  }

  client_authentication {
    unauthenticated = false
    sasl {
      iam = true
    }
  }

  logging_info {
    broker_logs {
      cloudwatch_logs {
        enabled   = true
        log_group = aws_cloudwatch_log_group.msk[0].name
      }
    }
  }

  tags = merge(local.tags, { Name = local.msk_name })
}
