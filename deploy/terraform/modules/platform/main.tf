# Reads the platform's one environments definition (deploy/terraform/platform.yaml, passed
# decoded as var.definition) and hands each root only its own part. No resources.
locals {
  d      = var.definition
  envs   = local.d.environments
  is_env = var.root != "shared"
  own    = local.is_env ? local.envs[var.root] : null

  # Cross-account promotion (deploy/README.md, "Releases"): the environment that promotes from
  # this one with `cross_account_promotion` reads this lake with its release role (read-only
  # grants here), and this one's release role reads its `promote_from`'s lake when it has it.
  promotion_readers = local.is_env ? { for k, e in local.envs : k => {
    account_id = e.account_id
    role_arn   = "arn:aws:iam::${e.account_id}:role/${local.d.project_name}-${k}-release"
  } if e.promote_from == var.root && e.cross_account_promotion } : {}
  upstream = local.is_env ? local.own.promote_from : null
  promotion_source = local.is_env ? (local.own.cross_account_promotion && local.upstream != null ? {
    environment = local.upstream
    account_id  = local.envs[local.upstream].account_id
    layers      = local.envs[local.upstream].layers
  } : null) : null

  # The shared VPC the environments peer with (null without its vpc_id: no peering).
  shared_services = local.d.shared.vpc_id == null ? null : {
    vpc_id     = local.d.shared.vpc_id
    cidr       = local.d.shared.cidr
    account_id = local.d.shared.account_id
  }
}
