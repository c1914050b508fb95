# moto: a real AWS API server (Glue Data Catalog, S3, KMS, STS ...) on loopback for the
# integration tests. SOURCED by deploy/local/test.sh before `cargo test --workspace`; source it
# yourself before running the Glue tests by hand:
#
#   . deploy/local/services/moto.sh && cargo test -p medallion-glue
#
# Idempotent and quick when moto is already running: installs moto[server] into its own venv only
# when missing, starts it only when nothing listens on the port, waits until it answers, and
# exports the endpoint and fake credentials. Tests use unique database prefixes / bucket names and
# never reset the server (other tests run against it in parallel).
# Must not `exit` (it runs inside the caller's shell, which may use `set -euo pipefail`).

MEDALLION_MOTO_VERSION="5.2.5"
MEDALLION_MOTO_VENV="${MEDALLION_MOTO_VENV:-/opt/medallion-venvs/moto}"
MEDALLION_MOTO_HOST="127.0.0.1"
MEDALLION_MOTO_PORT="${MEDALLION_MOTO_PORT:-5000}"
MEDALLION_MOTO_LOG="${MEDALLION_MOTO_LOG:-/tmp/medallion-moto.log}"

# True when a moto server answers on the port (its management API returns JSON).
_medallion_moto_answers() {
  local body
  if ! command -v curl >/dev/null 2>&1; then
    _medallion_moto_listening
    return
  fi
  body="$(curl -s --max-time 2 "http://${MEDALLION_MOTO_HOST}:${MEDALLION_MOTO_PORT}/moto-api/data.json" 2>/dev/null)" || return 1
  case "$body" in "{"*) return 0 ;; *) return 1 ;; esac
}

# True when something listens on the port (moto or not).
_medallion_moto_listening() {
  (exec 3<>"/dev/tcp/${MEDALLION_MOTO_HOST}/${MEDALLION_MOTO_PORT}") 2>/dev/null
}

_medallion_moto_start() {
  local stamp="${MEDALLION_MOTO_VENV}/.medallion-moto-${MEDALLION_MOTO_VERSION}"
  if [ ! -x "${MEDALLION_MOTO_VENV}/bin/moto_server" ] || [ ! -e "$stamp" ]; then
    echo "moto: installing moto[server]==${MEDALLION_MOTO_VERSION} into ${MEDALLION_MOTO_VENV}"
    mkdir -p "$(dirname "${MEDALLION_MOTO_VENV}")" || return 1
    [ -x "${MEDALLION_MOTO_VENV}/bin/python" ] || python3 -m venv "${MEDALLION_MOTO_VENV}" || return 1
    "${MEDALLION_MOTO_VENV}/bin/pip" install --quiet --disable-pip-version-check \
      "moto[server]==${MEDALLION_MOTO_VERSION}" || return 1
    touch "$stamp"
  fi
  if _medallion_moto_answers; then
    return 0
  fi
  if _medallion_moto_listening; then
    echo "moto: port ${MEDALLION_MOTO_PORT} is taken by something that is not moto; free it or set MEDALLION_MOTO_PORT" >&2
    return 1
  fi
  echo "moto: starting on ${MEDALLION_MOTO_HOST}:${MEDALLION_MOTO_PORT} (log: ${MEDALLION_MOTO_LOG})"
  nohup "${MEDALLION_MOTO_VENV}/bin/moto_server" -H "${MEDALLION_MOTO_HOST}" -p "${MEDALLION_MOTO_PORT}" \
    >"${MEDALLION_MOTO_LOG}" 2>&1 </dev/null &
  disown 2>/dev/null || true
  local i
  for i in $(seq 1 150); do
    if _medallion_moto_answers; then
      return 0
    fi
    sleep 0.2
  done
  echo "moto: did not answer within 30 s; see ${MEDALLION_MOTO_LOG}" >&2
  return 1
}

if _medallion_moto_start; then
  export MEDALLION_MOTO_ENDPOINT="http://${MEDALLION_MOTO_HOST}:${MEDALLION_MOTO_PORT}"
  export AWS_ACCESS_KEY_ID="test"
  export AWS_SECRET_ACCESS_KEY="test"
  export AWS_REGION="us-east-1"
  export AWS_DEFAULT_REGION="us-east-1"
  export AWS_ALLOW_HTTP="true"
  echo "moto: ready at ${MEDALLION_MOTO_ENDPOINT}"
else
  echo "moto: NOT running; the tests that need it will fail (see the messages above)" >&2
fi
