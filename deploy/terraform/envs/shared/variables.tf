# The shared account's values and the environments' accounts, CIDRs and peerings are not
# variables: they live in deploy/terraform/platform.yaml (the one environments definition).

variable "offline_plan" {
  description = "CI only: skip AWS credential/account look-ups so plans run offline with fake credentials."
  type        = bool
  default     = false
}

variable "deploy_role_name" {
  description = "Name of the role Terraform runs as in each account (the same name in every account; null: <project_name>-deploy). The state bucket grants each root's role only its own state."
  type        = string
  default     = null
}
