#!/usr/bin/env bash
# Installs what is needed, builds medallion and runs the example pipelines on the embedded
# default (local lake under ./lake/dev, embedded catalog). Safe to run again: a re-run ingests
# only new files.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash deploy/local/setup.sh
. deploy/local/env.sh
echo "== building medallion (the first build takes several minutes on 2 cores)"
cargo build -p medallion-cli
M="$CARGO_TARGET_DIR/debug/medallion"
echo "== medallion validate jobs/"
"$M" validate jobs/
echo "== medallion run jobs/ --env dev"
"$M" run jobs/ --env dev
echo "== medallion tables --env dev"
"$M" tables --env dev
echo "== medallion sql --env dev \"SELECT * FROM gold.daily_revenue ORDER BY day\""
"$M" sql --env dev "SELECT * FROM gold.daily_revenue ORDER BY day"
echo
echo "The binary is $M; try: $M sql --env dev \"SELECT * FROM silver.orders_quarantine\""
