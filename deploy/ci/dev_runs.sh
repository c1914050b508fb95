#!/usr/bin/env bash
# Runs the release in dev the way the promotion gates need it (the tests hook of
# deploy/ci/release.sh; the proof runs it too): every pipeline must have a successful run of
# exactly this spec and schema in dev, and runs that read rows (the quality gate).
#
#   1. `medallion run jobs/ --env dev`: the batch pipelines read testdata/ (incremental: a
#      later run reads only new files, which is fine, the gate counts every run of the release);
#   2. the stream job (default jobs/streaming/clickstream.yaml, topic web.clicks): N generated
#      page views are produced to its topic on MEDALLION_KAFKA_BROKERS with Tansu's `cat
#      produce`, then `medallion stream <job> --env dev` runs until they are committed to
#      Bronze and stops on SIGTERM (a `medallion run` of a Kafka job reads no rows).
#
# Usage: dev_runs.sh [--env dev] [--stream-job FILE] [--topic TOPIC] [--messages N]
#                    [--no-stream]
# Environment: MEDALLION_BIN (default medallion on PATH), MEDALLION_ENVIRONMENTS (its dev must
# allow streaming: the repository's dev says `streaming: false`; compose the promotion's file
# with `compose_environments.py ... --set dev.streaming=true`), MEDALLION_KAFKA_BROKERS and
# TANSU (default: the broker deploy/local/services/kafka.sh installs). Run from the project
# folder (jobs/ schemas/ testdata/). Exit 0 when both steps worked.
set -uo pipefail

BIN="${MEDALLION_BIN:-medallion}"
ENV=dev
JOB=jobs/streaming/clickstream.yaml
TOPIC=web.clicks
MESSAGES=20
STREAM=1
while [ $# -gt 0 ]; do
  case "$1" in
  --env) ENV="$2"; shift 2 ;;
  --stream-job) JOB="$2"; shift 2 ;;
  --topic) TOPIC="$2"; shift 2 ;;
  --messages) MESSAGES="$2"; shift 2 ;;
  --no-stream) STREAM=0; shift ;;
  *) echo "dev_runs: unknown argument $1" >&2; exit 2 ;;
  esac
done
say() { echo "dev_runs: $*"; }

say "medallion run jobs/ --env $ENV"
"$BIN" run jobs/ --env "$ENV" || { rc=$?; say "the batch run failed (exit $rc)"; exit "$rc"; }
[ "$STREAM" = 1 ] || exit 0

BROKERS="${MEDALLION_KAFKA_BROKERS:-}"
[ -n "$BROKERS" ] || { say "MEDALLION_KAFKA_BROKERS is not set (start a broker: . deploy/local/services/kafka.sh)"; exit 2; }
TANSU="${TANSU:-}"
for t in "$TANSU" "${MEDALLION_KAFKA_DIR:-/opt/medallion-kafka}/tansu" "$HOME/.cache/medallion-kafka/tansu"; do
  [ -n "$t" ] && [ -x "$t" ] && TANSU="$t" && break
done
[ -x "$TANSU" ] || { say "no Tansu binary to produce messages with (TANSU; deploy/local/services/kafka.sh installs it)"; exit 2; }
WORK="$(mktemp -d "${TMPDIR:-/tmp}/medallion-dev-runs.XXXXXX")"
SPID=""
cleanup() {
  [ -z "$SPID" ] || kill -TERM "$SPID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

# Page views with ids unique to this run (the stream reads what is new since its last commit).
python3 - "$MESSAGES" >"$WORK/clicks.json" <<'PYEOF'
import datetime, json, sys, uuid
n, run = int(sys.argv[1]), uuid.uuid4().hex[:12]
now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
print(json.dumps([{"value": {
    "event_id": f"{run}-{i}", "user_id": f"u{i % 7}", "session_id": f"{run}-s{i % 3}",
    "page": f"/p/{i % 5}", "referrer": None,
    "viewed_at": (now - datetime.timedelta(seconds=30 * i)).strftime("%Y-%m-%dT%H:%M:%SZ"),
    "duration_ms": 1000 + 37 * i}} for i in range(n)]))
PYEOF
"$TANSU" topic create "$TOPIC" --partitions 1 --broker "tcp://$BROKERS" >/dev/null 2>&1 || true # exists already: fine
"$TANSU" cat produce "$TOPIC" "$WORK/clicks.json" --broker "tcp://$BROKERS" ||
  { say "could not produce to $TOPIC on $BROKERS"; exit 2; }
say "$MESSAGES page views produced to $TOPIC on $BROKERS; medallion stream $JOB --env $ENV"

MEDALLION_LOG=info MEDALLION_KAFKA_OPTIONS="${MEDALLION_KAFKA_OPTIONS:-session.timeout.ms=6000,heartbeat.interval.ms=1000}" \
  "$BIN" stream "$JOB" --env "$ENV" --metrics-addr 127.0.0.1:0 >"$WORK/stream.log" 2>&1 &
SPID=$!
committed=0
for _ in $(seq 1 240); do
  grep -q "Committed Bronze rows" "$WORK/stream.log" && committed=1 && break
  kill -0 "$SPID" 2>/dev/null || break
  sleep 0.5
done
sleep 2 # let Silver and Gold follow the commit
kill -TERM "$SPID" 2>/dev/null || true
wait "$SPID"
rc=$?
SPID=""
grep -E "^medallion stream|Committed Bronze rows" "$WORK/stream.log" | cut -c1-200
if [ "$committed" = 1 ] && [ "$rc" -eq 0 ]; then
  say "the stream committed rows to Bronze and stopped cleanly"
  exit 0
fi
tail -n 15 "$WORK/stream.log" | cut -c1-300
say "the stream run in $ENV did not commit rows (exit $rc)"
exit 1
