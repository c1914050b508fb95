#!/usr/bin/env bash
# CI check of the end-to-end comparison at a tiny scale: SF 0.01 through medallion (debug
# binary is fine), DuckDB and Polars, from NDJSON and from CSV input, asserting that their Gold
# results, Silver row counts and quarantine counts per rule agree, that each engine kept the
# newer version of every corrected line and the original of every stale replay (the expected
# values come from the data generator, not from an engine), and that medallion gives the same
# answers from both formats. Then the incremental check at the same scale: 1% new input
# files after a full medallion run, the second run reading only them, Silver gaining exactly
# their lines, and both Gold tables (refreshed from their kept partial aggregates) equal to
# their SQL recomputed from Silver. Timings are never asserted (the incremental check prints
# its CPU share; it is not a measurement at this scale).
#
# Idempotent: creates/updates the Python venv it needs. Bounded: BENCH_CI_TIMEOUT seconds
# (default 900) for the whole check. Spark is left out (its install takes minutes); set
# BENCH_CI_SPARK=1 to include it.
#
#   MEDALLION_BIN=/path/to/medallion benches/ci.sh      (default: cargo build -p medallion-cli, debug)
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/cache/medallion/target}"
if [ -z "${MEDALLION_BIN:-}" ]; then
  (cd "$HERE/.." && cargo build -q -p medallion-cli)
  export MEDALLION_BIN="$CARGO_TARGET_DIR/debug/medallion"
fi
engines="medallion,duckdb,polars"
[ "${BENCH_CI_SPARK:-0}" = 1 ] && engines="$engines,spark"
timeout --kill-after=30 "${BENCH_CI_TIMEOUT:-900}" bash "$HERE/bench.sh" check 0.01 "$engines" --format both
timeout --kill-after=30 "${BENCH_CI_TIMEOUT:-900}" bash "$HERE/bench.sh" incremental 0.01 --format both
