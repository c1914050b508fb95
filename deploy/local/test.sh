#!/usr/bin/env bash
# The whole test suite: installs its needs, starts the local test services, runs every test.
# Idempotent; used by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash deploy/local/setup.sh
. deploy/local/env.sh
# Built first: the local Ballista cluster runs the binary built here.
echo "== cargo build --workspace --tests"
cargo build --workspace --tests
# Local services (real servers on loopback) used by integration tests, when present.
for svc in deploy/local/services/*.sh; do
  [ -e "$svc" ] || continue
  echo "== starting $(basename "$svc" .sh)"
  . "$svc"
done
status=0
echo "== cargo test --workspace"
cargo test --workspace --no-fail-fast || status=1
# The micro benchmarks build against the engine's API and must not rot: each runs once.
echo "== micro benchmarks, each run once (test mode: no timings)"
cargo test --workspace --bench micro || status=1
echo "== OpenLineage events: cross-check with openlineage-sql, schema validation"
bash tools/openlineage/check.sh || status=1
echo "== other readers of our Delta tables (Polars, DuckDB)"
bash deploy/local/readers/check.sh || status=1
if [ -f deploy/ci/check.sh ]; then
  echo "== deploy checks"
  bash deploy/ci/check.sh || status=1
fi
echo "== benchmark agreement (SF 0.01: medallion, DuckDB, Polars; timings are not asserted)"
MEDALLION_BIN="$CARGO_TARGET_DIR/debug/medallion" bash benches/ci.sh || status=1
exit $status
