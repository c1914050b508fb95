locals {
  az_index = { for i, az in var.azs : az => i }
  # Peered networks: the shared-services VPC (environment side) or the environments
  # (shared side). HTTPS in from them, replies out to them; nothing else.
  peer_cidrs = sort(concat(var.peer_cidr != null && var.peer_vpc_id != null ? [var.peer_cidr] : [], [for p in values(var.accept_peerings) : p.cidr]))
  # Private /20s from the bottom of the VPC range, public /24s from the top.
  private_cidrs = { for az, i in local.az_index : az => cidrsubnet(var.cidr, 4, i) }
  public_cidrs  = { for az, i in local.az_index : az => cidrsubnet(var.cidr, 8, 240 + i) }
  nat_azs       = var.enable_nat ? (var.nat_per_az ? var.azs : [var.azs[0]]) : []
  public_azs    = var.enable_nat ? var.azs : []
  peering       = var.peer_vpc_id != null
}

resource "aws_vpc" "this" {
  cidr_block           = var.cidr
  enable_dns_support   = true
  enable_dns_hostnames = true
  tags                 = merge(var.tags, { Name = var.name })
}

# Lock down the default security group and default NACL: nothing may use them.
resource "aws_default_security_group" "this" {
  vpc_id = aws_vpc.this.id
  tags   = merge(var.tags, { Name = "${var.name}-default-deny" })
}

resource "aws_default_network_acl" "this" {
  default_network_acl_id = aws_vpc.this.default_network_acl_id
  tags                   = merge(var.tags, { Name = "${var.name}-default-deny" })
  lifecycle {
    ignore_changes = [subnet_ids]
  }
}

resource "aws_subnet" "private" {
  for_each                = local.private_cidrs
  vpc_id                  = aws_vpc.this.id
  availability_zone       = each.key
  cidr_block              = each.value
  map_public_ip_on_launch = false
  tags                    = merge(var.tags, { Name = "${var.name}-private-${each.key}", tier = "private" })
}

resource "aws_subnet" "public" {
  for_each                = { for az in local.public_azs : az => local.public_cidrs[az] }
  vpc_id                  = aws_vpc.this.id
  availability_zone       = each.key
  cidr_block              = each.value
  map_public_ip_on_launch = false
  tags                    = merge(var.tags, { Name = "${var.name}-public-${each.key}", tier = "public" })
}

resource "aws_internet_gateway" "this" {
  count  = var.enable_nat ? 1 : 0
  vpc_id = aws_vpc.this.id
  tags   = merge(var.tags, { Name = var.name })
}

resource "aws_eip" "nat" {
  for_each = toset(local.nat_azs)
  domain   = "vpc"
  tags     = merge(var.tags, { Name = "${var.name}-nat-${each.key}" })
}

resource "aws_nat_gateway" "this" {
  for_each      = toset(local.nat_azs)
  allocation_id = aws_eip.nat[each.key].id
  subnet_id     = aws_subnet.public[each.key].id
  tags          = merge(var.tags, { Name = "${var.name}-nat-${each.key}" })
}

resource "aws_route_table" "public" {
  count  = var.enable_nat ? 1 : 0
  vpc_id = aws_vpc.this.id
  tags   = merge(var.tags, { Name = "${var.name}-public" })
}

resource "aws_route" "public_internet" {
  count                  = var.enable_nat ? 1 : 0
  route_table_id         = aws_route_table.public[0].id
  destination_cidr_block = "0.0.0.0/0"
  gateway_id             = aws_internet_gateway.this[0].id
}

resource "aws_route_table_association" "public" {
  for_each       = aws_subnet.public
  subnet_id      = each.value.id
  route_table_id = aws_route_table.public[0].id
}

resource "aws_route_table" "private" {
  for_each = local.az_index
  vpc_id   = aws_vpc.this.id
  tags     = merge(var.tags, { Name = "${var.name}-private-${each.key}" })
}

resource "aws_route" "private_nat" {
  for_each               = var.enable_nat ? local.az_index : {}
  route_table_id         = aws_route_table.private[each.key].id
  destination_cidr_block = "0.0.0.0/0"
  nat_gateway_id         = aws_nat_gateway.this[var.nat_per_az ? each.key : var.azs[0]].id
}

resource "aws_route_table_association" "private" {
  for_each       = local.az_index
  subnet_id      = aws_subnet.private[each.key].id
  route_table_id = aws_route_table.private[each.key].id
}

# ---------------------------------------------------------------- NACLs
# Private subnets: HTTPS and Kafka (IAM/TLS, 9098) inside the VPC, HTTPS out,
# and return traffic on 1024-65535 (NAT gateways and AWS endpoints use source ports from 1024).
resource "aws_network_acl" "private" {
  #checkov:skip=CKV_AWS_231:the 0.0.0.0/0 ingress is return traffic on 1024-65535 for outbound connections (NAT and endpoints reply from any port >= 1024); no listener or security group admits new inbound connections, and carving out 3389 would drop replies on that port (MED-008)
  vpc_id     = aws_vpc.this.id
  subnet_ids = [for s in aws_subnet.private : s.id]
  tags       = merge(var.tags, { Name = "${var.name}-private" })

  ingress {
    rule_no    = 100
    protocol   = "tcp"
    action     = "allow"
    cidr_block = var.cidr
    from_port  = 443
    to_port    = 443
  }
  ingress {
    rule_no    = 110
    protocol   = "tcp"
    action     = "allow"
    cidr_block = var.cidr
    from_port  = 9098
    to_port    = 9098
  }
  ingress {
    rule_no    = 120
    protocol   = "tcp"
    action     = "allow"
    cidr_block = "0.0.0.0/0"
    from_port  = 1024
    to_port    = 65535
  }
  egress {
    rule_no    = 100
    protocol   = "tcp"
    action     = "allow"
    cidr_block = "0.0.0.0/0"
    from_port  = 443
    to_port    = 443
  }
  egress {
    rule_no    = 110
    protocol   = "tcp"
    action     = "allow"
    cidr_block = var.cidr
    from_port  = 9098
    to_port    = 9098
  }
  egress {
    rule_no    = 120
    protocol   = "tcp"
    action     = "allow"
    cidr_block = var.cidr
    from_port  = 1024
    to_port    = 65535
  }
  dynamic "ingress" {
    for_each = local.peer_cidrs
    content {
      rule_no    = 200 + ingress.key
      protocol   = "tcp"
      action     = "allow"
      cidr_block = ingress.value
      from_port  = 443
      to_port    = 443
    }
  }
  dynamic "egress" {
    for_each = local.peer_cidrs
    content {
      rule_no    = 200 + egress.key
      protocol   = "tcp"
      action     = "allow"
      cidr_block = egress.value
      from_port  = 1024
      to_port    = 65535
    }
  }
}

# Public subnets only host the NAT gateways.
resource "aws_network_acl" "public" {
  #checkov:skip=CKV_AWS_231:the 0.0.0.0/0 ingress is return traffic on 1024-65535 for outbound connections (NAT and endpoints reply from any port >= 1024); no listener or security group admits new inbound connections, and carving out 3389 would drop replies on that port (MED-008)
  count      = var.enable_nat ? 1 : 0
  vpc_id     = aws_vpc.this.id
  subnet_ids = [for s in aws_subnet.public : s.id]
  tags       = merge(var.tags, { Name = "${var.name}-public" })

  ingress {
    rule_no    = 100
    protocol   = "tcp"
    action     = "allow"
    cidr_block = var.cidr
    from_port  = 443
    to_port    = 443
  }
  ingress {
    rule_no    = 110
    protocol   = "tcp"
    action     = "allow"
    cidr_block = "0.0.0.0/0"
    from_port  = 1024
    to_port    = 65535
  }
  egress {
    rule_no    = 100
    protocol   = "tcp"
    action     = "allow"
    cidr_block = "0.0.0.0/0"
    from_port  = 443
    to_port    = 443
  }
  egress {
    rule_no    = 110
    protocol   = "tcp"
    action     = "allow"
    cidr_block = var.cidr
    from_port  = 1024
    to_port    = 65535
  }
}

# ---------------------------------------------------------------- flow logs
resource "aws_cloudwatch_log_group" "flow" {
  #checkov:skip=CKV_AWS_158:kms_key_id is var.kms_key_arn, unknown in a plan before the key exists; MED-004 checks the flow log group is KMS-encrypted
  name              = "/${var.name}/vpc-flow-logs"
  retention_in_days = var.flow_log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
}

resource "aws_iam_role" "flow" {
  name = "${var.name}-vpc-flow-logs"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "vpc-flow-logs.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })
  tags = var.tags
}

resource "aws_iam_role_policy" "flow" {
  name = "write-flow-logs"
  role = aws_iam_role.flow.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect   = "Allow"
      Action   = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
      Resource = ["${aws_cloudwatch_log_group.flow.arn}:*"]
    }]
  })
}

resource "aws_flow_log" "this" {
  vpc_id                   = aws_vpc.this.id
  traffic_type             = "ALL"
  log_destination_type     = "cloud-watch-logs"
  log_destination          = aws_cloudwatch_log_group.flow.arn
  iam_role_arn             = aws_iam_role.flow.arn
  max_aggregation_interval = 60
  tags                     = var.tags
}

# ---------------------------------------------------------------- endpoints
resource "aws_security_group" "endpoints" {
  count       = length(var.interface_endpoints) > 0 ? 1 : 0
  name        = "${var.name}-vpc-endpoints"
  description = "HTTPS from inside the VPC to the interface endpoints"
  vpc_id      = aws_vpc.this.id
  tags        = var.tags

  ingress {
    description = "HTTPS from the VPC"
    protocol    = "tcp"
    from_port   = 443
    to_port     = 443
    cidr_blocks = [var.cidr]
  }
}

resource "aws_vpc_endpoint" "s3" {
  vpc_id            = aws_vpc.this.id
  service_name      = "com.amazonaws.${var.region}.s3"
  vpc_endpoint_type = "Gateway"
  route_table_ids   = [for rt in aws_route_table.private : rt.id]
  # Only this account's buckets, plus the bucket ECR serves image layers from.
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "OwnAccountBucketsOnly"
        Effect    = "Allow"
        Principal = "*"
        Action    = "s3:*"
        Resource  = "*"
        Condition = { StringEquals = { "aws:ResourceAccount" = var.account_id } }
      },
      {
        Sid       = "EcrImageLayers"
        Effect    = "Allow"
        Principal = "*"
        Action    = "s3:GetObject"
        Resource  = "arn:aws:s3:::prod-${var.region}-starport-layer-bucket/*"
      },
    ]
  })
  tags = merge(var.tags, { Name = "${var.name}-s3" })
}

resource "aws_vpc_endpoint" "interface" {
  for_each            = toset(var.interface_endpoints)
  vpc_id              = aws_vpc.this.id
  service_name        = "com.amazonaws.${var.region}.${each.key}"
  vpc_endpoint_type   = "Interface"
  private_dns_enabled = true
  subnet_ids          = [for s in aws_subnet.private : s.id]
  security_group_ids  = [aws_security_group.endpoints[0].id]
  # Only principals of this account may use the endpoints (no path out for foreign credentials).
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "OwnAccountPrincipalsOnly"
      Effect    = "Allow"
      Principal = "*"
      Action    = "*"
      Resource  = "*"
      Condition = { StringEquals = { "aws:PrincipalAccount" = var.account_id } }
    }]
  })
  tags = merge(var.tags, { Name = "${var.name}-${each.key}" })
}

# ---------------------------------------------------------------- peering
# The only peering this module can create is to the shared-services VPC.
resource "aws_vpc_peering_connection" "shared" {
  count         = local.peering ? 1 : 0
  vpc_id        = aws_vpc.this.id
  peer_vpc_id   = var.peer_vpc_id
  peer_owner_id = var.peer_owner_id
  tags          = merge(var.tags, { Name = "${var.name}-to-shared-services" })
}

resource "aws_route" "private_shared" {
  for_each                  = local.peering ? local.az_index : {}
  route_table_id            = aws_route_table.private[each.key].id
  destination_cidr_block    = var.peer_cidr
  vpc_peering_connection_id = aws_vpc_peering_connection.shared[0].id
}

# Shared-services side: accept each environment's request and route back to it.
resource "aws_vpc_peering_connection_accepter" "env" {
  for_each                  = var.accept_peerings
  vpc_peering_connection_id = each.value.connection_id
  auto_accept               = true
  tags                      = merge(var.tags, { Name = "${var.name}-from-${each.key}" })
}

resource "aws_route" "private_to_peer" {
  for_each = { for pair in setproduct(keys(local.az_index), keys(var.accept_peerings)) :
  "${pair[0]}-${pair[1]}" => { az = pair[0], peer = pair[1] } }
  route_table_id            = aws_route_table.private[each.value.az].id
  destination_cidr_block    = var.accept_peerings[each.value.peer].cidr
  vpc_peering_connection_id = aws_vpc_peering_connection_accepter.env[each.value.peer].vpc_peering_connection_id
}
