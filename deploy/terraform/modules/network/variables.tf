variable "name" {
  description = "Name prefix for every network resource (e.g. medallion-dev)."
  type        = string
}

variable "region" {
  description = "AWS region, used for VPC endpoint service names."
  type        = string
}

variable "cidr" {
  description = "VPC CIDR block."
  type        = string
}

variable "azs" {
  description = "Availability zones for the private subnets (one subnet per AZ)."
  type        = list(string)
}

variable "enable_nat" {
  description = "Create public subnets, an internet gateway and NAT gateway(s) for egress."
  type        = bool
  default     = true
}

variable "nat_per_az" {
  description = "One NAT gateway per AZ (HA) instead of a single shared one."
  type        = bool
  default     = false
}

variable "interface_endpoints" {
  description = "Interface VPC endpoint services to create (S3 is always a gateway endpoint)."
  type        = list(string)
  default     = ["glue", "kms", "sts", "logs", "ecr.api", "ecr.dkr"]
}

variable "account_id" {
  description = "The VPC's account: the endpoint policies admit only this account's principals and buckets."
  type        = string
}

variable "flow_log_retention_days" {
  description = "Retention of the VPC flow log group (must be a CloudWatch-allowed value)."
  type        = number
}

variable "kms_key_arn" {
  description = "KMS key that encrypts the flow log group."
  type        = string
}

variable "peer_vpc_id" {
  description = "Optional: shared-services VPC to peer with (the only peering allowed)."
  type        = string
  default     = null
}

variable "peer_cidr" {
  description = "CIDR of the shared-services VPC (required when peer_vpc_id is set)."
  type        = string
  default     = null
}

variable "peer_owner_id" {
  description = "Account id that owns the shared-services VPC."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags applied to every resource."
  type        = map(string)
  default     = {}
}

variable "accept_peerings" {
  description = "Shared-services side: the environments' peering requests to accept, name => { connection_id, cidr }. Routes back and NACL rules for HTTPS from those CIDRs follow."
  type = map(object({
    connection_id = string
    cidr          = string
  }))
  default = {}
}
