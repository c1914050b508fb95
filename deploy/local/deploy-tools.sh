#!/usr/bin/env bash
# Installs and checks the tools of the deploy checks (deploy/ci/check.sh, deploy/tests/):
#   - checkov 3.3.30 in its own venv (PyPI)           MEDALLION_CHECKOV_VENV, default /opt/medallion-venvs/checkov
#   - moto[server] 5.2.5 in its own venv (PyPI)       via deploy/local/services/moto.sh (the proof test)
#   - terraform >= 1.11 and the hashicorp/aws 5.100.0 provider mirror under /opt/tf-plugins:
#     these come with the machine image (/usr/local/bin/terraform). No package registry this
#     project can reach (PyPI, crates.io, npm, Debian) ships them: PyPI's terraform wrappers
#     stop at Terraform 1.0.x (no `terraform test`), and none ships the AWS provider. So this
#     script verifies them and FAILS with instructions when they are missing.
# Idempotent. Exit 0 when everything is there, 1 otherwise (each problem on one line).
set -u
CHECKOV_VERSION="3.3.30"
VENV="${MEDALLION_CHECKOV_VENV:-/opt/medallion-venvs/checkov}"
MIRROR="/opt/tf-plugins/registry.terraform.io/hashicorp/aws/5.100.0"
status=0

if [ -x "$VENV/bin/checkov" ] && [ "$("$VENV/bin/checkov" --version 2>/dev/null)" = "$CHECKOV_VERSION" ]; then
  echo "deploy-tools: checkov $CHECKOV_VERSION in $VENV"
else
  echo "deploy-tools: installing checkov==$CHECKOV_VERSION into $VENV"
  if ! python3 -m venv --help >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
  fi
  rm -rf "$VENV" && mkdir -p "$(dirname "$VENV")" &&
    python3 -m venv "$VENV" &&
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "checkov==$CHECKOV_VERSION" &&
    [ "$("$VENV/bin/checkov" --version)" = "$CHECKOV_VERSION" ] ||
    { echo "deploy-tools: checkov could not be installed into $VENV (see pip's messages above)"; status=1; }
fi

if ! command -v terraform >/dev/null 2>&1; then
  echo "deploy-tools: terraform is NOT installed. It comes with the machine image (/usr/local/bin/terraform, >= 1.11);"
  echo "deploy-tools:   no reachable package registry ships a usable Terraform: install it from your own mirror"
  status=1
else
  v="$(terraform version -json 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["terraform_version"])' 2>/dev/null)"
  case "$v" in
  1.1[1-9].* | 1.[2-9][0-9].*) echo "deploy-tools: terraform $v" ;;
  *) echo "deploy-tools: terraform $v is too old: the checks need >= 1.11 (terraform test, override_resource)"; status=1 ;;
  esac
fi
if [ ! -x "$MIRROR/linux_amd64/terraform-provider-aws_v5.100.0_x5" ]; then
  echo "deploy-tools: the AWS provider mirror $MIRROR is MISSING (comes with the machine image;"
  echo "deploy-tools:   no reachable registry ships it; deploy/terraform/.terraformrc installs providers only from /opt/tf-plugins)"
  status=1
fi
exit $status
