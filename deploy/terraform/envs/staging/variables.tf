# Environment values are not variables: they live in deploy/terraform/platform.yaml (the one
# environments definition, read in main.tf). Only what changes per apply is a variable.

variable "engine_image_tag" {
  description = "Engine image tag to run: `git-<commit>` as pushed by deploy/image/build.sh (the repository's tags are immutable)."
  type        = string
}

variable "offline_plan" {
  description = "CI only: skip AWS credential/account look-ups so plans run offline with fake credentials."
  type        = bool
  default     = false
}

variable "deploy_role_name" {
  description = "Name of the role Terraform assumes in this environment's account (null: <project_name>-deploy); the same role reads and writes this root's state (backend.hcl)."
  type        = string
  default     = null
}
