module "network" {
  source                  = "../network"
  name                    = local.name
  region                  = local.region
  cidr                    = var.settings.cidr
  azs                     = var.settings.azs
  enable_nat              = true
  nat_per_az              = var.settings.multi_az
  flow_log_retention_days = var.settings.log_retention_days
  # The engine's APIs (Glue, KMS, STS, Logs, ECR); with a bastion also Session Manager's (SSM,
  # SSM messages, EC2 messages), so the bastion reaches SSM without the NAT gateway.
  interface_endpoints = concat(
    ["glue", "kms", "sts", "logs", "ecr.api", "ecr.dkr"],
    var.settings.bastion_instance_type != null ? ["ssm", "ssmmessages", "ec2messages"] : [],
  )
  kms_key_arn   = module.lake.kms_key_arn
  account_id    = local.account
  peer_vpc_id   = try(var.shared_services.vpc_id, null)
  peer_cidr     = try(var.shared_services.cidr, null)
  peer_owner_id = try(var.shared_services.account_id, null)
  tags          = local.tags
}

locals {
  # Workloads run in every private subnet in prod (multi-AZ) and in the first
  # one elsewhere; MSK always needs one subnet per broker AZ.
  workload_subnet_ids = var.settings.multi_az ? module.network.private_subnet_ids : [module.network.private_subnet_ids[0]]
}

# Engine tasks: no inbound at all; HTTPS out (endpoints / NAT) and Kafka to MSK.
resource "aws_security_group" "tasks" {
  name        = "${local.name}-engine-tasks"
  description = "Engine ECS tasks: no ingress, HTTPS and Kafka IAM egress only"
  vpc_id      = module.network.vpc_id
  tags        = local.tags
}

resource "aws_vpc_security_group_egress_rule" "tasks_https" {
  security_group_id = aws_security_group.tasks.id
  description       = "HTTPS to AWS APIs via endpoints or NAT"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_vpc_security_group_egress_rule" "tasks_kafka" {
  count                        = var.settings.enable_streaming ? 1 : 0
  security_group_id            = aws_security_group.tasks.id
  description                  = "Kafka (TLS + IAM) to the MSK brokers"
  ip_protocol                  = "tcp"
  from_port                    = 9098
  to_port                      = 9098
  referenced_security_group_id = aws_security_group.msk[0].id
}

resource "aws_security_group" "msk" {
  count       = var.settings.enable_streaming ? 1 : 0
  name        = "${local.name}-msk"
  description = "MSK brokers: Kafka TLS + IAM from the engine tasks only"
  vpc_id      = module.network.vpc_id
  tags        = local.tags
}

resource "aws_vpc_security_group_ingress_rule" "msk_from_tasks" {
  count                        = var.settings.enable_streaming ? 1 : 0
  security_group_id            = aws_security_group.msk[0].id
  description                  = "Kafka (TLS + IAM) from the engine tasks"
  ip_protocol                  = "tcp"
  from_port                    = 9098
  to_port                      = 9098
  referenced_security_group_id = aws_security_group.tasks.id
}
