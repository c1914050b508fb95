#!/usr/bin/env bash
# Runs the example pipelines into a temporary lake with the built binary, then reads the Gold
# tables with Polars and DuckDB (deploy/local/readers/check.py). Installs its own venv.
set -euo pipefail
cd "$(dirname "$0")/../../.."
. deploy/local/env.sh
VENV="${MEDALLION_READERS_VENV:-/opt/medallion-venvs/readers}"
if [ ! -e "$VENV/.ok-1" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "polars==1.*" "deltalake==1.*" "duckdb" "pyarrow"
  touch "$VENV/.ok-1"
fi
M="$CARGO_TARGET_DIR/debug/medallion"
[ -x "$M" ] || cargo build -p medallion-cli
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp -r jobs schemas testdata environments.yaml "$work/"
(cd "$work" && "$M" run jobs/ --env dev >/dev/null)
"$VENV/bin/python" deploy/local/readers/check.py "$work/lake/dev" testdata/golden
