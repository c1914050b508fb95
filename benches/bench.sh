#!/usr/bin/env bash
# medallion benchmarks: the end-to-end comparison against the tools users pick instead
# (DuckDB, Polars, PySpark), the micro benchmarks, and the streaming hook.
#
#   benches/bench.sh setup [--spark]        Python venv with tpchgen-cli, duckdb, polars, pyarrow, psutil (+ pyspark)
#   benches/bench.sh data SF [--format F]   TPC-H lineitem + orders at scale factor SF, with defects and re-sent
#                                           lines → benches/data/sfSF/{lineitem,orders}/*.{ndjson,csv}
#   benches/bench.sh run SF [ENGINES] [--format F]
#                                           the end-to-end suite (default engines: medallion,duckdb,polars,spark);
#                                           checks that every engine's results agree, then prints the tables
#                                           (one per format) and writes benches/results/{<stamp>,latest}-sfSF.json
#   benches/bench.sh compare [FILE]         re-print a results file (default: the newest), per format
#   benches/bench.sh check SF [ENGINES] [--format F]
#                                           agreement only, no timings (what CI runs at SF 0.01)
#   benches/bench.sh incremental SF [--format F]
#                                           medallion only: a full run, then +1% new input files, then a second
#                                           run; the second run's CPU share of the first (and checks)
#   benches/bench.sh micro [FILTER]         divan micro benchmarks (cargo bench -p medallion-benches)
#   benches/bench.sh limits                 the machine's memcpy and memchr rates and random-load latency
#                                           (benches/tools/limits.c), next to which the micro numbers are read
#   benches/bench.sh stream [N] [RATE] [BYTES]  Kafka → Bronze throughput, latency p50/p99 at RATE msgs/s, memory (BYTES per message, default 1024)
#                     STREAM_BENCH_CEILING=1: the broker's ceiling instead (a plain consumer reads the backlog)
#
# --format F: the input format(s) every engine reads: ndjson, csv or both (default both; each
# format is a separate round over the same records).
#
# Environment: MEDALLION_BIN (default: build the release binary once), BENCH_VENV
# (default /opt/medallion-venvs/bench), CARGO_TARGET_DIR (default /var/cache/medallion/target),
# BENCH_THREADS (default: nproc), SPARK_DRIVER_MEMORY (default 2g), BENCH_MEMORY_LIMIT_MIB (medallion's
# --memory-limit in `run` and `incremental`; default: the engine's own, half the machine's memory).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(dirname "$HERE")"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/cache/medallion/target}"
VENV="${BENCH_VENV:-/opt/medallion-venvs/bench}"
PY="$VENV/bin/python"
export SPARK_LOCAL_IP="${SPARK_LOCAL_IP:-127.0.0.1}"

setup() {
  local spark=0
  [ "${1:-}" = "--spark" ] && spark=1
  if [ ! -x "$PY" ]; then
    mkdir -p "$(dirname "$VENV")"
    python3 -m venv "$VENV"
  fi
  if ! "$PY" -c "import duckdb, polars, pyarrow, psutil" 2>/dev/null || [ ! -x "$VENV/bin/tpchgen-cli" ]; then
    echo "bench: installing tpchgen-cli duckdb polars pyarrow psutil into $VENV" >&2
    "$VENV/bin/pip" install --quiet tpchgen-cli duckdb polars pyarrow psutil
  fi
  if [ $spark = 1 ] && ! "$PY" -c "import pyspark" 2>/dev/null; then
    command -v java >/dev/null || { echo "bench: PySpark needs Java 17+ on PATH" >&2; exit 2; }
    echo "bench: installing pyspark (ships Spark; takes a few minutes)" >&2
    "$VENV/bin/pip" install --quiet --no-cache-dir pyspark
  fi
}

medallion_bin() {
  if [ -n "${MEDALLION_BIN:-}" ]; then
    echo "$MEDALLION_BIN"
    return
  fi
  echo "bench: building the release medallion binary (MEDALLION_BIN unset)" >&2
  (cd "$ROOT" && cargo build --release -p medallion-cli >&2)
  echo "$CARGO_TARGET_DIR/release/medallion"
}

engines_need_spark() { case "$1" in *spark*) return 0 ;; *) return 1 ;; esac; }

cmd="${1:-help}"
shift || true
# --format ndjson|csv|both (anywhere after the command) → $formats; the rest stays positional.
formats="ndjson,csv"
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --format | --format=*)
      if [ "$1" = --format ]; then
        [ $# -ge 2 ] || { echo "bench: --format needs a value: ndjson, csv or both" >&2; exit 2; }
        f="$2"
        shift
      else
        f="${1#--format=}"
      fi
      case "$f" in
        ndjson | csv) formats="$f" ;;
        both) formats="ndjson,csv" ;;
        *) echo "bench: --format $f: expected ndjson, csv or both" >&2; exit 2 ;;
      esac
      ;;
    *) args+=("$1") ;;
  esac
  shift
done
set -- ${args[@]+"${args[@]}"}
case "$cmd" in
  setup) setup "$@" ;;
  data)
    setup
    "$PY" "$HERE/tools/gen_data.py" --sf "${1:?scale factor}" --out "$HERE/data" --formats "$formats"
    ;;
  run | check)
    sf="${1:?scale factor}"
    engines="${2:-medallion,duckdb,polars,spark}"
    if engines_need_spark "$engines"; then setup --spark; else setup; fi
    extra=()
    [ "$cmd" = check ] && extra+=(--check-only)
    bin=""
    case "$engines" in *medallion*) bin="$(medallion_bin)" ;; esac
    "$PY" "$HERE/tools/suite.py" --sf "$sf" --engines "$engines" --formats "$formats" \
      --medallion-bin "$bin" --threads "${BENCH_THREADS:-$(nproc)}" "${extra[@]}"
    ;;
  incremental)
    setup
    "$PY" "$HERE/tools/incremental.py" --sf "${1:?scale factor}" --medallion-bin "$(medallion_bin)" \
      --formats "$formats"
    ;;
  compare)
    setup
    file="${1:-$(ls -t "$HERE"/results/2*.json 2>/dev/null | head -1)}"
    [ -n "$file" ] || { echo "bench: no results yet; run benches/bench.sh run SF" >&2; exit 2; }
    "$PY" "$HERE/tools/suite.py" --show "$file"
    ;;
  micro)
    cd "$ROOT"
    cargo bench -p medallion-benches --bench micro -- "$@"
    ;;
  limits)
    cc -O2 -o "${TMPDIR:-/tmp}/medallion-limits" "$HERE/tools/limits.c"
    "${TMPDIR:-/tmp}/medallion-limits"
    ;;
  stream)
    # Kafka → Bronze throughput (msgs/s, MB/s, msgs per CPU-second), produce → visible
    # latency p50/p99 and VmHWM of a real `medallion stream` against the local broker
    # (deploy/local/services/kafka.sh). The measuring program is the kafka crate's
    # example: it times from the first committed rows to the commit of the last message and
    # reads commit timestamps from the Delta log.
    bin="$(medallion_bin)"
    if [ -z "${MEDALLION_KAFKA_BROKERS:-}" ]; then
      . "$ROOT/deploy/local/services/kafka.sh"
    fi
    mkdir -p "$HERE/results"
    out="$HERE/results/latest-stream-${3:-1024}B.json"
    # Built together with medallion-cli so that features unify as in the release binary's
    # build (built alone, medallion-kafka would compile the datafusion stack a second time).
    (cd "$ROOT" && cargo build --release -q -p medallion-cli -p medallion-kafka --example stream_bench)
    MEDALLION_BIN="$bin" STREAM_BENCH_JSON="$out" \
      "$CARGO_TARGET_DIR/release/examples/stream_bench" "${1:-1000000}" "${2:-2000}" "${3:-1024}"
    echo "bench: results in $out"
    ;;
  *)
    sed -n '2,30p' "$0" | sed 's/^# \{0,1\}//'
    [ "$cmd" = help ] || exit 2
    ;;
esac
