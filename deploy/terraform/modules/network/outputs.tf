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

output "accepted_peerings" {
  description = "Accepted environment peerings, name => connection id."
  value       = { for k, a in aws_vpc_peering_connection_accepter.env : k => a.vpc_peering_connection_id }
}

output "peer_routes" {
  description = "Routes to peered networks: destination CIDRs per private route table."
  value       = sort(distinct([for r in aws_route.private_to_peer : r.destination_cidr_block]))
}

output "peering_connection_id" {
  value = one(aws_vpc_peering_connection.shared[*].id)
}
