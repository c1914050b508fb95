output "vpc_id" {
  value = aws_vpc.this.id
}

output "vpc_cidr" {
  value = aws_vpc.this.cidr_block
}

output "private_subnet_ids" {
  value = [for az in var.azs : aws_subnet.private[az].id]
}

output "private_subnet_azs" {
  value = [for az in var.azs : aws_subnet.private[az].availability_zone]
}

output "flow_log_group_name" {
  value = aws_cloudwatch_log_group.flow.name
}

output "flow_log_traffic_type" {
  value = aws_flow_log.this.traffic_type
}

output "nat_gateway_count" {
  value = length(aws_nat_gateway.this)
}
