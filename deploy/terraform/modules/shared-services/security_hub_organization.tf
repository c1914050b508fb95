# Security Hub across the organisation: this account (the organisation's management account, where
# the shared root runs) designates the Security Hub administrator (itself: the shared root has one
# provider; a dedicated security account would need a second one, see deploy/README.md), which then
# auto-enables Security Hub with the default standards in every account that joins the
# organisation and enrols the accounts that are already in it (the environments: auto-enable
# applies to new accounts only). Their findings reach this account's Security Hub, and from there
# the CRITICAL/HIGH rule (security.tf) and the security-alerts topic. Needs the organisation's
# trusted access for securityhub.amazonaws.com (not managed here, like CloudTrail's and Config's).
# MED-007 checks all three.
resource "aws_securityhub_organization_admin_account" "this" {
  admin_account_id = local.account
  depends_on       = [aws_securityhub_account.this]
}

resource "aws_securityhub_organization_configuration" "this" {
  auto_enable           = true
  auto_enable_standards = "DEFAULT"
  organization_configuration {
    configuration_type = "LOCAL"
  }
  depends_on = [aws_securityhub_organization_admin_account.this]
}

# The environments' accounts (already in the organisation): members without an invitation;
# Security Hub and its default standards are enabled in them.
resource "aws_securityhub_member" "environments" {
  for_each   = toset([for a in var.member_account_ids : a if a != local.account])
  account_id = each.value
  invite     = false
  depends_on = [aws_securityhub_organization_configuration.this]
}
