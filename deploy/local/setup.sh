#!/usr/bin/env bash
# Installs what building and testing medallion needs on a Debian machine (idempotent).
# Rust comes from rustup (already on the machine); this adds system packages some crates need.
set -euo pipefail

need_apt=()
command -v cmake >/dev/null 2>&1 || need_apt+=(cmake)
command -v pkg-config >/dev/null 2>&1 || need_apt+=(pkg-config)
dpkg -s libssl-dev >/dev/null 2>&1 || need_apt+=(libssl-dev)
dpkg -s zlib1g-dev >/dev/null 2>&1 || need_apt+=(zlib1g-dev)
dpkg -s libcurl4-openssl-dev >/dev/null 2>&1 || need_apt+=(libcurl4-openssl-dev)
# The docs site test loads the generated site in a real browser (headless).
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: installing ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
command -v cargo >/dev/null 2>&1 || { echo "setup: cargo not found; install Rust with rustup (https://rustup.rs) first" >&2; exit 1; }
# The deploy checks' tools: checkov (installed), terraform + the AWS provider mirror (checked;
# they come with the machine image, see deploy/local/deploy-tools.sh). A missing one is
# reported here and fails deploy/ci/check.sh; the Rust build and tests do not need them.
bash "$(dirname "$0")/deploy-tools.sh" || echo "setup: the deploy tools above are missing: deploy/ci/check.sh will FAIL until they are installed" >&2
echo "setup: ok (cargo $(cargo --version | cut -d' ' -f2))"
