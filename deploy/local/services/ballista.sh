# Sourced by deploy/local/test.sh (after the build): a real local Ballista cluster for the
# cluster tests — one scheduler on 127.0.0.1:50050 and two executors (Flight 51051/52051, gRPC
# 51052/52052), all `medallion cluster ...` of the binary just built (Ballista 55, the
# release line of our DataFusion). Executors keep their shuffle files under
# $MEDALLION_BALLISTA_WORK/executor-{1,2} (the tests check that they did the work).
# The nodes read S3 lakes from the local S3 API (moto, deploy/local/services/moto.sh) with its
# test credentials, as ECS tasks read the real one with their task role.
# Restarts the nodes when the binary changed since they started. Exports
# MEDALLION_BALLISTA_SCHEDULER and MEDALLION_BALLISTA_WORK for the tests.
_medallion_ballista() {
  local bin="${MEDALLION_BIN:-${CARGO_TARGET_DIR:-target}/debug/medallion}"
  local work="${MEDALLION_BALLISTA_WORK:-/tmp/medallion-ballista}"
  if [ ! -x "$bin" ]; then
    echo "ballista: $bin is not built yet (build first: cargo build --workspace --tests)" >&2
    return 1
  fi
  mkdir -p "$work"
  local stamp="$work/binary.sha256" sum
  sum=$(sha256sum "$bin" | cut -d' ' -f1)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" != "$sum" ]; then
    echo "ballista: the binary changed; restarting the cluster"
    local f
    for f in "$work"/*.pid; do
      [ -e "$f" ] && kill "$(cat "$f")" 2>/dev/null
      rm -f "$f"
    done
    sleep 1
  fi
  echo "$sum" >"$stamp"
  _medallion_ballista_node scheduler 50050 "$bin" cluster scheduler --port 50050 || return 1
  local i
  for i in 1 2; do
    mkdir -p "$work/executor-$i"
    _medallion_ballista_node "executor-$i" "5${i}051" "$bin" cluster executor \
      --scheduler-host 127.0.0.1 --scheduler-port 50050 --external-host 127.0.0.1 \
      --port "5${i}051" --grpc-port "5${i}052" --work-dir "$work/executor-$i" --vcores 2 || return 1
  done
  export MEDALLION_BALLISTA_SCHEDULER="df://127.0.0.1:50050"
  export MEDALLION_BALLISTA_WORK="$work"
  echo "ballista: scheduler at $MEDALLION_BALLISTA_SCHEDULER, 2 executors (logs: $work/*.log)"
}

# Starts one node unless its port answers; waits until it does.
_medallion_ballista_node() {
  local name="$1" port="$2"
  shift 2
  local work="${MEDALLION_BALLISTA_WORK:-/tmp/medallion-ballista}"
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    return 0
  fi
  RUST_LOG="${RUST_LOG:-warn}" \
    AWS_ENDPOINT_URL="${MEDALLION_MOTO_ENDPOINT:-http://127.0.0.1:5000}" AWS_ALLOW_HTTP=true \
    AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 \
    AWS_EC2_METADATA_DISABLED=true \
    nohup "$@" >"$work/$name.log" 2>&1 </dev/null &
  echo $! >"$work/$name.pid"
  local i
  for i in $(seq 1 150); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
    sleep 0.2
  done
  echo "ballista: $name did not start; see $work/$name.log" >&2
  return 1
}
_medallion_ballista || echo "ballista: not available; the cluster tests will fail" >&2
unset -f _medallion_ballista _medallion_ballista_node
