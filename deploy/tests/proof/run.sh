#!/usr/bin/env bash
# The proof of issue 15: Terraform's platform runs the engine.
#
#   1. starts a private moto server (the local AWS API) with IAM enforcement on
#      (INITIAL_NO_AUTH_ACTION_COUNT=3: three calls create the deployer, then every request is
#      signed and checked against the caller's IAM policies; Glue on real resource ARNs);
#   2. `terraform apply` of deploy/terraform/modules/lake (the environment module's storage,
#      KMS, Glue and IAM part) for dev, staging and prod, as the deployer;
#   3. the release flow: runs the examples in dev locally (deploy/ci/dev_runs.sh: the batch jobs,
#      and the stream job against the local Kafka broker), then, as the staging release role,
#      `medallion promote --from dev --to staging jobs/` (deploy/ci/release.sh: the plan, then
#      --apply with the reviewed plan hash) with staging's entry as Terraform rendered it;
#      staging refuses unpromoted specs, so this comes first;
#   4. assumes the staging batch task role and runs `medallion run jobs/ --env staging` with
#      MEDALLION_ENVIRONMENTS=s3://<lake>/_medallion/environments.yaml, the configuration
#      Terraform rendered and stored (no other configuration: the project has no environments.yaml);
#      then a run of an edited spec is refused (not promoted) and writes nothing;
#   5. checks (check_lake.py): every object SSE-KMS with the key ARN, tables in Terraform's Glue
#      databases, bucket and key policies evaluated offline for what moto cannot evaluate;
#      (check_audit.py): Object Lock on every lake without default retention, audit records
#      locked per object as the staging role writes them, the role cannot delete or bypass;
#      (check_release.py): the release role reads metadata and the trail, writes only the trail;
#   6. with the dev batch role: a PUT into the prod lake, and `medallion run` against the prod
#      configuration, are refused by IAM (AccessDenied) and the prod lake stays empty;
#   7. backups (modules/backup, in eu-central-1): `medallion backup` as the staging backup task
#      role (check_backup.py: every object under the backup key, the manifest, backup_taken),
#      what that role cannot do (AccessDenied), the staging lake lost (every object version, the
#      Glue tables) and `medallion restore` as the restore role, audit verify, the next run.
#
# Needs terraform + the provider mirror (deploy/local/setup.sh), moto's venv
# (deploy/local/services/moto.sh) and the medallion binary: MEDALLION_BIN, else it is built
# (`cargo build -p medallion-cli`). Prints `proof: N passed, M failed` last; exit 1 on failure.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../../.." && pwd)"
PORT="${MEDALLION_PROOF_PORT:-5101}"
ENDPOINT="http://127.0.0.1:$PORT"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/medallion-proof.XXXXXX")"
START=$(date +%s)
PASSED=0
FAILED=0
MOTO_PID=""
cleanup() {
  [ -n "$MOTO_PID" ] && kill "$MOTO_PID" 2>/dev/null || true
}
trap cleanup EXIT
pass() { PASSED=$((PASSED + 1)); echo "PASS  $*"; }
fail() { FAILED=$((FAILED + 1)); echo "FAIL  $*"; }
die() { echo "proof: $*" >&2; echo "proof: $PASSED passed, $((FAILED + 1)) failed"; exit 1; }

command -v terraform >/dev/null || die "terraform is not installed: run deploy/local/setup.sh"
[ -d /opt/tf-plugins/registry.terraform.io/hashicorp/aws ] || die "the AWS provider mirror /opt/tf-plugins is missing: run deploy/local/setup.sh"

# ------------------------------------------------------------------ moto (own server, IAM on)
# shellcheck source=/dev/null
. "$REPO/deploy/local/services/moto.sh" >/dev/null
PY="${MEDALLION_MOTO_VENV:-/opt/medallion-venvs/moto}/bin/python"
[ -x "$PY" ] || die "moto's venv is missing ($PY): deploy/local/services/moto.sh did not install it"
(exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && die "port $PORT is taken; set MEDALLION_PROOF_PORT"
INITIAL_NO_AUTH_ACTION_COUNT=3 "$PY" "$HERE/moto_iam.py" -H 127.0.0.1 -p "$PORT" >"$WORK/moto.log" 2>&1 &
MOTO_PID=$!
for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.2; done
(exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null || die "moto did not start; see $WORK/moto.log"

export AWS_REGION=eu-west-1 AWS_DEFAULT_REGION=eu-west-1 AWS_EC2_METADATA_DISABLED=true
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL
# The three unauthenticated calls: the deployer user, its admin policy, its key.
AWS_ACCESS_KEY_ID=bootstrap AWS_SECRET_ACCESS_KEY=bootstrap "$PY" - "$ENDPOINT" >"$WORK/deployer.env" <<'PYEOF'
import json, sys, boto3
iam = boto3.client("iam", endpoint_url=sys.argv[1])
iam.create_user(UserName="deployer")
iam.put_user_policy(UserName="deployer", PolicyName="admin", PolicyDocument=json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
k = iam.create_access_key(UserName="deployer")["AccessKey"]
print(f"export AWS_ACCESS_KEY_ID={k['AccessKeyId']} AWS_SECRET_ACCESS_KEY={k['SecretAccessKey']}")
PYEOF
# shellcheck source=/dev/null
. "$WORK/deployer.env"
if AWS_ACCESS_KEY_ID=unknown AWS_SECRET_ACCESS_KEY=unknown "$PY" -c "
import boto3,sys; boto3.client('s3',endpoint_url='$ENDPOINT').list_buckets()" 2>/dev/null; then
  fail "IAM enforcement: an unknown access key was accepted"
else
  pass "IAM enforcement is on (an unknown access key is refused)"
fi

# ------------------------------------------------------------------ terraform apply
export TF_CLI_CONFIG_FILE="$REPO/deploy/terraform/.terraformrc" CHECKPOINT_DISABLE=1 TF_IN_AUTOMATION=1 TF_INPUT=0
export TF_PLUGIN_CACHE_DIR="${TF_PLUGIN_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/medallion-terraform-plugins}"
export TF_PLUGIN_CACHE_MAY_BREAK_DEPENDENCY_LOCK_FILE=1 TF_DATA_DIR="$WORK/.terraform"
mkdir -p "$TF_PLUGIN_CACHE_DIR"
TF=(terraform -chdir="$HERE/tf")
if "${TF[@]}" init -backend=false -input=false -no-color >"$WORK/init.log" 2>&1 &&
  "${TF[@]}" apply -auto-approve -input=false -no-color -state="$WORK/terraform.tfstate" \
    -var endpoint="$ENDPOINT" >"$WORK/apply.log" 2>&1; then
  pass "terraform apply of modules/lake (dev, staging, prod) to the local AWS API with IAM on ($(grep -o '[0-9]* added' "$WORK/apply.log"))"
else
  tail -n 30 "$WORK/apply.log" "$WORK/init.log" 2>/dev/null | sed 's/^/      | /'
  die "terraform apply failed (logs in $WORK)"
fi
rm -f "$HERE/tf/.terraform.lock.hcl"
"${TF[@]}" output -json -state="$WORK/terraform.tfstate" >"$WORK/outputs.json"
val() { "$PY" -c "import json,sys; d=json.load(open('$WORK/outputs.json')); print(eval(sys.argv[1]))" "$1"; }
STAGING_URI="$(val 'd["engine_config_uri"]["value"]["staging"]')"
PROD_URI="$(val 'd["engine_config_uri"]["value"]["prod"]')"
PROD_BUCKET="$(val 'd["lake"]["value"]["prod"]["bucket"]')"
PROD_KEY="$(val 'd["lake"]["value"]["prod"]["kms_key_arn"]')"

# The rendered configuration stored in the lake is the Terraform output, byte for byte.
"$PY" - "$ENDPOINT" "$WORK/outputs.json" <<'PYEOF' && pass "s3://…/_medallion/environments.yaml of every environment = terraform output engine_config_yaml" || fail "stored engine configuration differs from the Terraform output"
import json, sys, boto3
s3 = boto3.client("s3", endpoint_url=sys.argv[1])
outs = json.load(open(sys.argv[2]))
for env, uri in outs["engine_config_uri"]["value"].items():
    b, k = uri[5:].split("/", 1)
    body = s3.get_object(Bucket=b, Key=k)["Body"].read().decode()
    assert body == outs["engine_config_yaml"]["value"][env], env
PYEOF

# ------------------------------------------------------------------ the task roles
# ECS assumes the task roles in AWS; here the deployer stands in for ECS: the test sets each
# batch role's trust policy to the deployer (the permissions are untouched) and assumes it.
assume() {
  "$PY" - "$ENDPOINT" "$1" <<'PYEOF'
import json, sys, boto3
ep, role = sys.argv[1], sys.argv[2]
iam = boto3.client("iam", endpoint_url=ep)
me = boto3.client("sts", endpoint_url=ep).get_caller_identity()["Arn"]
iam.update_assume_role_policy(RoleName=role, PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"AWS": me}, "Action": "sts:AssumeRole"}]}))
arn = iam.get_role(RoleName=role)["Role"]["Arn"]
c = boto3.client("sts", endpoint_url=ep).assume_role(RoleArn=arn, RoleSessionName="proof")["Credentials"]
print(f"export AWS_ACCESS_KEY_ID={c['AccessKeyId']} AWS_SECRET_ACCESS_KEY={c['SecretAccessKey']} AWS_SESSION_TOKEN={c['SessionToken']}")
PYEOF
}
assume "$(val 'd["lake"]["value"]["staging"]["batch_role"]')" >"$WORK/staging-role.env"
assume "$(val 'd["lake"]["value"]["dev"]["batch_role"]')" >"$WORK/dev-role.env"
assume "$(val 'd["lake"]["value"]["staging"]["stream_role"]')" >"$WORK/stream-role.env"
assume "$(val 'd["lake"]["value"]["staging"]["maintain_role"]')" >"$WORK/maintain-role.env"

# ------------------------------------------------------------------ the engine
BIN="${MEDALLION_BIN:-}"
if [ -z "$BIN" ]; then
  (cd "$REPO" && . deploy/local/env.sh && cargo build -q -p medallion-cli --bin medallion) || die "cargo build failed"
  BIN="$( . "$REPO/deploy/local/env.sh" && echo "$CARGO_TARGET_DIR")/debug/medallion"
fi
[ -x "$BIN" ] || die "no medallion binary at $BIN"
# The image's layout and process settings (Dockerfile): /app with jobs/ schemas/ testdata/,
# read-only, user 10001, MEDALLION_SCHEMAS=/app/schemas, TMPDIR on the writable task volume.
# The engine runs here exactly so: in a read-only copy of that layout, as uid 10001, with
# TMPDIR as the only folder it may write.
command -v setpriv >/dev/null || die "setpriv (util-linux) is needed to run the engine as uid 10001"
chmod 755 "$WORK"
mkdir -p "$WORK/app" "$WORK/tmp"
cp -r "$REPO/jobs" "$REPO/schemas" "$REPO/testdata" "$WORK/app/"
chmod -R a-w "$WORK/app"
chown 10001:10001 "$WORK/tmp"
engine() { # ROLE_ENV ARGS...: medallion as that role and as the image runs it
  local role_env="$1"
  shift
  (
    # shellcheck source=/dev/null
    . "$role_env"
    cd "$WORK/app" &&
      setpriv --reuid=10001 --regid=10001 --clear-groups \
        env AWS_ENDPOINT_URL="$ENDPOINT" AWS_ALLOW_HTTP=true MEDALLION_SCHEMAS="$WORK/app/schemas" \
        TMPDIR="$WORK/tmp" HOME="$WORK/tmp" MEDALLION_LOG="${ENGINE_LOG:-warn}" ${ENGINE_LOG_FORMAT:+MEDALLION_LOG_FORMAT=$ENGINE_LOG_FORMAT} "$BIN" "$@"
  )
}
# ------------------------------------------------------------------ the release: dev -> staging
# staging has promote_from: dev, so it runs only what was tested in dev and promoted. As the
# platform does it: the examples run in dev (CI, local lake), then the release role records the
# promotion in staging's trail. The promotion's environments file holds dev (the repository's
# entry, with streaming on for the stream job) and staging exactly as Terraform rendered it (the
# release hashes that entry; the deployed engine reads the rendered one).
# shellcheck source=/dev/null
. "$REPO/deploy/local/services/kafka.sh" >"$WORK/kafka.log" 2>&1 || true
# The release role as the CI's principal: the test sets its trust policy to the deployer
# (standing in for CI; moto does not treat the account root principal Terraform sets as "any
# principal of the account"), its permissions are untouched.
assume "$(val 'd["lake"]["value"]["staging"]["release_role"]')" >"$WORK/release-role.env"
REL="$WORK/release"
mkdir -p "$REL"
cp -r "$REPO/jobs" "$REPO/schemas" "$REPO/testdata" "$REL/"
as_release() { # CMD...: as the staging release role, in the release project
  (
    # shellcheck source=/dev/null
    . "$WORK/release-role.env"
    cd "$REL" && env AWS_ENDPOINT_URL="$ENDPOINT" AWS_ALLOW_HTTP=true MEDALLION_BIN="$BIN" \
      MEDALLION_ENVIRONMENTS="$REL/environments.yaml" MEDALLION_SCHEMAS="$REL/schemas" MEDALLION_LOG=warn "$@"
  )
}
if as_release "$PY" -c "
import boto3, sys; b, k = sys.argv[1][5:].split('/', 1)
sys.stdout.write(boto3.client('s3').get_object(Bucket=b, Key=k)['Body'].read().decode())" "$STAGING_URI" >"$REL/staging.rendered.yaml" &&
  "$PY" "$REPO/deploy/ci/compose_environments.py" "$REL/environments.yaml" "$REPO/environments.yaml:dev" \
    "$REL/staging.rendered.yaml:staging" --set dev.streaming=true >"$WORK/compose.log" 2>&1; then
  pass "the promotion's environments file: dev from environments.yaml (streaming on), staging as rendered (read by the release role from $STAGING_URI)"
else
  cat "$WORK/compose.log" 2>/dev/null | sed 's/^/      | /'
  fail "the promotion's environments file (compose_environments.py)"
fi
if [ -z "${MEDALLION_KAFKA_BROKERS:-}" ]; then
  tail -n 5 "$WORK/kafka.log" | sed 's/^/      | /'
  fail "the local Kafka broker (deploy/local/services/kafka.sh) did not start: the stream job cannot be tested in dev"
fi
if (cd "$REL" && MEDALLION_BIN="$BIN" MEDALLION_ENVIRONMENTS="$REL/environments.yaml" MEDALLION_SCHEMAS="$REL/schemas" \
  MEDALLION_LOG=warn bash "$REPO/deploy/ci/dev_runs.sh") >"$WORK/dev-runs.log" 2>&1; then
  pass "the examples ran in dev, locally (deploy/ci/dev_runs.sh: medallion run jobs/ --env dev; clickstream streamed from Kafka)"
  grep -E '^pipeline |^dev_runs: the stream' "$WORK/dev-runs.log" | cut -c1-160 | sed 's/^/      | /'
else
  tail -n 20 "$WORK/dev-runs.log" | sed 's/^/      | /'
  fail "the examples in dev (deploy/ci/dev_runs.sh)"
fi
set +e
engine "$WORK/staging-role.env" run jobs/ --env staging --environments "$STAGING_URI" >"$WORK/unpromoted.log" 2>&1
rc=$?
set -e
if [ "$rc" -eq 1 ] && grep -q "was never promoted here" "$WORK/unpromoted.log"; then
  pass "before the promotion, staging refuses to run jobs/ as the batch role (exit 1: never promoted)"
else
  tail -n 5 "$WORK/unpromoted.log" | sed 's/^/      | /'
  fail "staging ran (or failed otherwise) before any promotion: exit $rc"
fi
# Pull request: the plan, its hash for the review; merge: --apply with the reviewed hash.
if as_release bash "$REPO/deploy/ci/release.sh" plan --to staging --hashes "$WORK/reviewed.txt" jobs/ >"$WORK/release-plan.log" 2>&1 &&
  as_release bash "$REPO/deploy/ci/release.sh" apply --to staging --hashes "$WORK/reviewed.txt" jobs/ >"$WORK/release-apply.log" 2>&1 &&
  grep -q "Promoted release .* to staging" "$WORK/release-apply.log"; then
  pass "as the staging release role: medallion promote --from dev --to staging jobs/ (plan $(cut -d' ' -f3 "$WORK/reviewed.txt"), then --apply --plan-hash) via deploy/ci/release.sh"
  grep -E '^  (PASS|FAIL|SKIP) |quarantined \(|^Promoted' "$WORK/release-plan.log" "$WORK/release-apply.log" | sed 's/^[^:]*://' | sort -u | cut -c1-160 | sed 's/^/      | /'
else
  tail -n 40 "$WORK/release-plan.log" "$WORK/release-apply.log" 2>/dev/null | cut -c1-300 | sed 's/^/      | /'
  fail "the promotion dev -> staging as the release role"
fi

if engine "$WORK/staging-role.env" run jobs/ --env staging --environments "$STAGING_URI" >"$WORK/run.log" 2>&1; then
  pass "medallion run jobs/ --env staging as the staging batch task role (uid 10001, read-only /app, TMPDIR only), configuration from $STAGING_URI"
  grep -E '^pipeline ' "$WORK/run.log" | sed 's/^/      | /'
else
  tail -n 20 "$WORK/run.log" | sed 's/^/      | /'
  if grep -q 'unknown field `audit`' "$WORK/run.log"; then
    echo "      | the medallion binary ($BIN) predates the environments field audit.object_lock that Terraform"
    echo "      | renders: build the engine with it (MEDALLION_BIN) - the rendered configuration is not changed here"
  fi
  fail "medallion run jobs/ --env staging as the staging batch task role"
fi
if engine "$WORK/staging-role.env" run jobs/ --env staging --environments "$STAGING_URI" >"$WORK/rerun.log" 2>&1 &&
  grep -q "0 new" "$WORK/rerun.log"; then
  pass "a second run as the role ingests nothing new (it can read back its Bronze/Silver/Gold)"
else
  tail -n 10 "$WORK/rerun.log" | sed 's/^/      | /'
  fail "second run as the staging batch task role"
fi

# An edited spec (one rule changed), not promoted: refused as the batch role, nothing written.
EDITED="$WORK/app-edited"
cp -r "$WORK/app" "$EDITED"
chmod -R u+w "$EDITED"
sed -i 's/values: \[EUR\] } }, on_fail: quarantine }/values: [EUR] } }, on_fail: drop }/' "$EDITED/jobs/shop/orders.yaml"
chmod -R a-w "$EDITED"
STAGING_BUCKET="$(val 'd["lake"]["value"]["staging"]["bucket"]')"
objects() { # object versions (and delete markers) in the staging lake, as the deployer
  (. "$WORK/deployer.env" && "$PY" -c "
import boto3; p=boto3.client('s3',endpoint_url='$ENDPOINT').get_paginator('list_object_versions')
print(sum(len(r.get('Versions',[]))+len(r.get('DeleteMarkers',[])) for r in p.paginate(Bucket='$STAGING_BUCKET')))")
}
BEFORE="$(objects)"
set +e
(
  # shellcheck source=/dev/null
  . "$WORK/staging-role.env"
  cd "$EDITED" &&
    setpriv --reuid=10001 --regid=10001 --clear-groups \
      env AWS_ENDPOINT_URL="$ENDPOINT" AWS_ALLOW_HTTP=true MEDALLION_SCHEMAS="$EDITED/schemas" \
      TMPDIR="$WORK/tmp" HOME="$WORK/tmp" MEDALLION_LOG=warn "$BIN" run jobs/ --env staging --environments "$STAGING_URI"
) >"$WORK/edited.log" 2>&1
rc=$?
set -e
AFTER="$(objects)"
if ! cmp -s "$WORK/app/jobs/shop/orders.yaml" "$EDITED/jobs/shop/orders.yaml" && [ "$rc" -eq 1 ] &&
  grep -q "not promoted" "$WORK/edited.log" && grep -q "orders (jobs/shop/orders.yaml): spec " "$WORK/edited.log" &&
  [ "$BEFORE" = "$AFTER" ]; then
  pass "a run of an edited spec (orders: one rule's on_fail) as the batch role is refused: exit 1, not promoted; the staging lake is unchanged ($AFTER object versions)"
  grep -E "not promoted|orders \(" "$WORK/edited.log" | head -n 2 | cut -c1-200 | sed 's/^/      | /'
else
  tail -n 8 "$WORK/edited.log" | sed 's/^/      | /'
  fail "the edited spec in staging: exit $rc (expected 1, not promoted), object versions $BEFORE -> $AFTER"
fi

# ------------------------------------------------------------------ the stream service's command
# The stream task's command line as the stream task role, against the local Kafka broker
# (deploy/local/services/kafka.sh): it must start, create its Bronze table in the lake, and stop
# cleanly (exit 0) on SIGTERM, as ECS stops it.
if [ -n "${MEDALLION_KAFKA_BROKERS:-}" ]; then
  (
    # shellcheck source=/dev/null
    . "$WORK/stream-role.env"
    cd "$WORK/app" &&
      exec setpriv --reuid=10001 --regid=10001 --clear-groups \
        env AWS_ENDPOINT_URL="$ENDPOINT" AWS_ALLOW_HTTP=true MEDALLION_SCHEMAS="$WORK/app/schemas" \
        TMPDIR="$WORK/tmp" HOME="$WORK/tmp" MEDALLION_LOG=warn MEDALLION_KAFKA_BROKERS="$MEDALLION_KAFKA_BROKERS" \
        MEDALLION_ENVIRONMENTS="$STAGING_URI" \
        "$BIN" stream jobs/streaming/clickstream.yaml --env staging --metrics-addr 127.0.0.1:0
  ) >"$WORK/stream.log" 2>&1 &
  SPID=$!
  sleep 8
  # The metric names and types the platform's alarms and the agent sidecar rely on (MED-013 reads
  # them from engine/kafka/src/metrics.rs) are what this binary serves on /metrics.
  METRICS_URL="$(grep -o 'metrics on http://[0-9.:]*/metrics' "$WORK/stream.log" | head -n 1 | cut -d' ' -f3 || true)"
  if [ -n "$METRICS_URL" ] && "$PY" "$REPO/deploy/policies/engine_metrics.py" --compare "$METRICS_URL" "$REPO" >"$WORK/metrics-compare.log" 2>&1; then
    pass "the running stream's /metrics declares exactly the metrics (names, types) MED-013 reads from metrics.rs: $(cat "$WORK/metrics-compare.log")"
  else
    sed 's/^/      | /' "$WORK/metrics-compare.log" 2>/dev/null
    fail "the running stream's /metrics ($METRICS_URL) differs from the metric names MED-013 reads from metrics.rs"
  fi
  kill -TERM "$SPID" 2>/dev/null || true
  set +e
  wait "$SPID"
  src=$?
  set -e
  if [ "$src" -eq 0 ] && grep -q "pipeline clickstream in \`staging\`" "$WORK/stream.log"; then
    pass "medallion stream jobs/streaming/clickstream.yaml --env staging as the stream task role: started, stopped on SIGTERM with exit 0"
    grep "medallion stream" "$WORK/stream.log" | cut -c1-200 | sed 's/^/      | /'
  else
    tail -n 10 "$WORK/stream.log" | sed 's/^/      | /'
    fail "medallion stream as the stream task role (exit $src)"
  fi
else
  tail -n 5 "$WORK/kafka.log" | sed 's/^/      | /'
  fail "the local Kafka broker (deploy/local/services/kafka.sh) did not start: stream command not tested"
fi

# ------------------------------------------------------------------ retention: medallion maintain
# The scheduled maintenance task's command (modules/environment: `medallion maintain --env
# <env> --jobs jobs/`) as the maintain task role: a dry run changes nothing; a run today finds
# nothing past staging's 90 days; a run with the clock 100 days ahead (MEDALLION_MAINTAIN_NOW,
# honoured by debug builds) removes the Bronze and quarantine files past retention, VACUUMs them
# (DeleteObject: the proof's staging renders retention.vacuum_hours 0, since VACUUM keeps removed
# files 168 hours of the real clock by default) and writes the retired-sources ledger; then the batch role's next run reads that ledger and
# ingests nothing again. S3 lifecycle expires no live object (MED-003): this is the retention.
maint() { # ARGS...: medallion maintain as the staging maintain task role
  engine "$WORK/maintain-role.env" maintain --env staging --jobs jobs/ --environments "$STAGING_URI" "$@"
}
BEFORE="$(objects)"
set +e
maint --dry-run >"$WORK/maintain-dry.log" 2>&1
rc=$?
set -e
AFTER="$(objects)"
if [ "$rc" -eq 0 ] && grep -q "dry run: nothing is changed" "$WORK/maintain-dry.log" && [ "$BEFORE" = "$AFTER" ]; then
  pass "medallion maintain --env staging --jobs jobs/ --dry-run as the maintain task role: exit 0, the lake unchanged ($AFTER object versions)"
  grep -E ' d \(' "$WORK/maintain-dry.log" | cut -c1-160 | sed 's/^/      | /'
else
  tail -n 10 "$WORK/maintain-dry.log" | cut -c1-300 | sed 's/^/      | /'
  fail "medallion maintain --dry-run as the maintain task role: exit $rc, object versions $BEFORE -> $AFTER"
fi
set +e
maint >"$WORK/maintain-today.log" 2>&1
rc=$?
set -e
if [ "$rc" -eq 0 ] && ! grep -q "retention NOT applied" "$WORK/maintain-today.log"; then
  pass "medallion maintain --env staging --jobs jobs/ as the maintain task role: exit 0 (nothing past 90 days yet)"
else
  tail -n 10 "$WORK/maintain-today.log" | cut -c1-300 | sed 's/^/      | /'
  fail "medallion maintain as the maintain task role: exit $rc"
fi
LATER="$("$PY" -c "import datetime as d; print((d.datetime.now(d.timezone.utc)+d.timedelta(days=100)).strftime('%Y-%m-%dT%H:%M:%SZ'))")"
set +e
MEDALLION_MAINTAIN_NOW="$LATER" maint --format json >"$WORK/maintain-later.json" 2>"$WORK/maintain-later.err"
rc=$?
set -e
LEDGER="$(. "$WORK/deployer.env" && "$PY" -c "
import boto3; r=boto3.client('s3',endpoint_url='$ENDPOINT').list_objects_v2(Bucket='$STAGING_BUCKET', Prefix='_medallion/ingested/')
print(len(r.get('Contents',[])))")"
if SUMMARY="$("$PY" - "$WORK/maintain-later.json" "$LATER" <<'PYEOF'
import datetime as d, json, sys
reports = json.load(open(sys.argv[1]))
later = d.datetime.strptime(sys.argv[2], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=d.timezone.utc)
cutoffs = {r["cutoff"] for r in reports if r["retention_days"] == 90}
want = (later - d.timedelta(days=90)).strftime("%Y-%m-%dT%H:%M:%SZ")
if cutoffs != {want}:
    sys.exit(f"cutoffs {cutoffs}, expected {want}: the binary ignores MEDALLION_MAINTAIN_NOW (a release build?)")
refused = [r["table"] for r in reports if r.get("refused")]
removed = sum(r["files_removed"] for r in reports)
rows = sum(r["rows_deleted"] for r in reports)
vacuumed = sum(r["files_vacuumed"] for r in reports)
if refused or not removed or not vacuumed:
    sys.exit(f"refused {refused}, files removed {removed}, files vacuumed {vacuumed}")
print(f"{len(reports)} tables, {removed} files ({rows} rows) past retention removed, {vacuumed} files vacuumed")
PYEOF
2>&1)" && [ "$rc" -eq 0 ] && [ "$LEDGER" -gt 0 ]; then
  pass "100 days later, medallion maintain as the maintain task role: exit 0, $SUMMARY; the retired-sources ledger written ($LEDGER objects under _medallion/ingested/)"
else
  echo "      | ${SUMMARY:-}" ; tail -n 10 "$WORK/maintain-later.err" | cut -c1-300 | sed 's/^/      | /'
  fail "medallion maintain 100 days later as the maintain task role: exit $rc, ledger objects $LEDGER"
fi
if engine "$WORK/staging-role.env" run jobs/ --env staging --environments "$STAGING_URI" >"$WORK/after-maintain.log" 2>&1 &&
  grep -q "0 new" "$WORK/after-maintain.log"; then
  pass "after the retention, medallion run jobs/ --env staging as the batch task role reads the ledger and ingests nothing again"
  grep -E '^pipeline ' "$WORK/after-maintain.log" | cut -c1-160 | sed 's/^/      | /'
else
  tail -n 10 "$WORK/after-maintain.log" | cut -c1-300 | sed 's/^/      | /'
  fail "medallion run jobs/ --env staging after the retention, as the batch task role"
fi

# ------------------------------------------------------------------ the audit trail's storage
# `medallion audit verify` as the batch role: reads the records the runs above wrote (and their
# retention), re-computes the chain and cross-checks the Delta logs.
if engine "$WORK/staging-role.env" audit verify --env staging --environments "$STAGING_URI" >"$WORK/verify.log" 2>&1; then
  pass "medallion audit verify --env staging as the staging batch task role"
  tail -n 3 "$WORK/verify.log" | cut -c1-200 | sed 's/^/      | /'
else
  tail -n 10 "$WORK/verify.log" | cut -c1-400 | sed 's/^/      | /'
  fail "medallion audit verify --env staging as the staging batch task role"
fi
# Object Lock on every lake bucket (no default retention), and the staging batch role under
# _medallion/audit/ with the requests the engine makes there (check_audit.py says what moto
# enforces and what is evaluated offline).
if AWS_ENDPOINT_URL="$ENDPOINT" "$PY" "$HERE/check_audit.py" "$WORK/outputs.json" "$ENDPOINT" "$WORK/staging-role.env" >"$WORK/audit.log" 2>&1; then
  pass "audit trail: Object Lock on the lakes, records locked per object, the role cannot delete or bypass (check_audit.py)"
else
  fail "audit trail: Object Lock on the lakes, records locked per object, the role cannot delete or bypass (check_audit.py)"
fi
sed 's/^/      | /' "$WORK/audit.log"

if AWS_ENDPOINT_URL="$ENDPOINT" "$PY" "$HERE/check_release.py" "$WORK/outputs.json" "$ENDPOINT" "$WORK/release-role.env" >"$WORK/release-check.log" 2>&1; then
  pass "the release role reads what a promotion reads and writes only the audit trail (check_release.py)"
else
  fail "the release role reads what a promotion reads and writes only the audit trail (check_release.py)"
fi
sed 's/^/      | /' "$WORK/release-check.log"

# Cross-account promotion staging -> prod: prod's release role reads staging's trail, Delta logs,
# configuration and Glue tables (with staging's catalog id), nothing else (in AWS, staging's
# bucket, catalog and key policies grant it: offline).
assume "$(val 'd["lake"]["value"]["prod"]["release_role"]')" >"$WORK/prod-release-role.env"
if AWS_ENDPOINT_URL="$ENDPOINT" "$PY" "$HERE/check_promotion.py" "$WORK/outputs.json" "$ENDPOINT" "$WORK/prod-release-role.env" >"$WORK/promotion-check.log" 2>&1; then
  pass "prod's release role reads what a promotion from staging reads there (lake and Glue catalog), and nothing else (check_promotion.py)"
else
  fail "prod's release role reads what a promotion from staging reads there (lake and Glue catalog), and nothing else (check_promotion.py)"
fi
sed 's/^/      | /' "$WORK/promotion-check.log"

# ------------------------------------------------------------------ what landed
if AWS_ENDPOINT_URL="$ENDPOINT" "$PY" "$HERE/check_lake.py" "$WORK/outputs.json" "$ENDPOINT" >"$WORK/check.log" 2>&1; then
  pass "lake contents, Glue registration and policy evaluation (check_lake.py)"
else
  fail "lake contents, Glue registration and policy evaluation (check_lake.py)"
fi
sed 's/^/      | /' "$WORK/check.log"

# ------------------------------------------------------------------ dev cannot write prod
if (. "$WORK/dev-role.env" && "$PY" - "$ENDPOINT" "$PROD_BUCKET" "$PROD_KEY" <<'PYEOF'); then
import sys, boto3, botocore
s3 = boto3.client("s3", endpoint_url=sys.argv[1])
try:
    s3.put_object(Bucket=sys.argv[2], Key="bronze/orders/intruder.parquet", Body=b"x",
                  ServerSideEncryption="aws:kms", SSEKMSKeyId=sys.argv[3])
except botocore.exceptions.ClientError as e:
    print(f"      | {e.response['Error']['Code']}: {e}")
    sys.exit(0 if e.response["Error"]["Code"] == "AccessDenied" else 1)
sys.exit(1)
PYEOF
  pass "IAM refuses a PUT by the dev batch role into the prod lake (AccessDenied)"
else
  fail "the dev batch role could write to the prod lake (or the error was not AccessDenied)"
fi
# The engine itself, as the dev role, given the prod configuration as a local file: medallion's
# own isolation check cannot help (the file says prod), IAM must refuse.
"$PY" -c "import json; print(json.load(open('$WORK/outputs.json'))['engine_config_yaml']['value']['prod'])" >"$WORK/prod-environments.yaml"
MOTO_LINES=$(wc -l <"$WORK/moto.log")
set +e
engine "$WORK/dev-role.env" run jobs/shop/orders.yaml --env prod --environments "$WORK/prod-environments.yaml" >"$WORK/intrude.log" 2>&1
rc=$?
set -e
COUNT="$(. "$WORK/deployer.env" && "$PY" -c "
import boto3; r=boto3.client('s3',endpoint_url='$ENDPOINT').list_objects_v2(Bucket='$PROD_BUCKET')
print(len([o for o in r.get('Contents',[]) if not o['Key'].startswith('_medallion/')]))")"
# moto answers Glue's JSON protocol with an XML AccessDenied body, which the SDK reports as
# UnknownError; the server log shows the 403s it answered during this run.
DENIED=$(tail -n +"$((MOTO_LINES + 1))" "$WORK/moto.log" | grep -c '" 403 -' || true)
if [ "$rc" -ne 0 ] && [ "$DENIED" -gt 0 ] && [ "$COUNT" = 0 ]; then
  pass "medallion run --env prod as the dev batch role is refused by IAM ($DENIED request(s) answered 403, exit $rc) and the prod lake stays empty"
  tail -n 1 "$WORK/intrude.log" | cut -c1-300 | sed 's/^/      | /'
else
  tail -n 5 "$WORK/intrude.log" | sed 's/^/      | /'
  fail "medallion run --env prod as the dev role: exit $rc, prod lake objects $COUNT (expected a failure on IAM and 0)"
fi

# ------------------------------------------------------------------ backups and disaster recovery
# The scheduled backup task's command (modules/environment: `medallion backup --env <env> --to
# s3://<backup bucket>/<env>/<generation> --kms-key <backup key>`) as the staging backup task
# role, into the backup bucket Terraform created in the second region (modules/backup); what that
# role cannot do; then the disaster: the staging lake loses every object version and its Glue
# tables, and a person restores it as the restore role (`medallion restore`), before anything
# else touches the environment; `medallion audit verify` and the next run as the batch role.
# The engine signs the backup bucket's requests for its region (`--region`, from Terraform);
# moto does not check which region a request is signed for, so that part is NOT shown here
# (deploy/README.md, "Backups and disaster recovery").
BK_LOC="$(val 'd["backup"]["value"]["staging"]["locations"]["d01"]')"
BK_KEY="$(val 'd["backup"]["value"]["staging"]["kms_key_arn"]')"
BK_REGION="$(val 'd["backup"]["value"]["staging"]["region"]')"
PROD_BK_LOC="$(val 'd["backup"]["value"]["prod"]["locations"]["m1"]')"
PROD_BK_BUCKET="$(val 'd["backup"]["value"]["prod"]["bucket"]')"
assume "$(val 'd["lake"]["value"]["staging"]["backup_role"]')" >"$WORK/backup-role.env"
assume "$(val 'd["lake"]["value"]["staging"]["restore_role"]')" >"$WORK/restore-role.env"
DEPLOYER_KEY="$(sed -n 's/.*AWS_ACCESS_KEY_ID=\([^ ]*\).*/\1/p' "$WORK/deployer.env")"
DEPLOYER_SECRET="$(sed -n 's/.*AWS_SECRET_ACCESS_KEY=\([^ ]*\).*/\1/p' "$WORK/deployer.env")"
export DEPLOYER_KEY DEPLOYER_SECRET
backup_check() { # as the deployer
  (. "$WORK/deployer.env" && AWS_ENDPOINT_URL="$ENDPOINT" "$PY" "$HERE/check_backup.py" "$1" "$WORK/outputs.json" "$ENDPOINT" "${@:2}")
}
set +e
# logging as the task definitions set it (MEDALLION_LOG=info, MEDALLION_LOG_FORMAT=json)
ENGINE_LOG=info ENGINE_LOG_FORMAT=json engine "$WORK/backup-role.env" backup --env staging --to "$BK_LOC" --kms-key "$BK_KEY" --region "$BK_REGION" --environments "$STAGING_URI" >"$WORK/backup.log" 2>&1
rc=$?
set -e
# the event the backup_missing alarm counts: the metric filter pattern Terraform renders
# (modules/backup taken_pattern) evaluated on what the engine logged
TAKEN_PATTERN="$(val 'd["backup"]["value"]["staging"]["taken_pattern"]')"
if [ "$rc" -eq 0 ] && "$PY" "$HERE/log_pattern.py" "$TAKEN_PATTERN" "$WORK/backup.log" >"$WORK/backup-event.log" 2>&1 &&
  [ "$(wc -l <"$WORK/backup-event.log")" -eq 1 ]; then
  pass "medallion backup --env staging --to $BK_LOC --kms-key <backup key> as the backup task role: exit 0, one JSON backup_taken event the backup_missing alarm's pattern counts"
  echo "pattern: $TAKEN_PATTERN" | sed 's/^/      | /'
  cut -c1-260 "$WORK/backup-event.log" | sed 's/^/      | /'
else
  cat "$WORK/backup-event.log" 2>/dev/null | sed 's/^/      | pattern: /'

  tail -n 10 "$WORK/backup.log" | cut -c1-300 | sed 's/^/      | /'
  fail "medallion backup as the staging backup task role: exit $rc"
fi
if backup_check landed staging "$BK_LOC" >"$WORK/backup-landed.log" 2>&1; then
  pass "the backup landed in the second region's bucket, SSE-KMS under the backup key only, a finished manifest, backup_taken in the trail (check_backup.py)"
else
  fail "the backup in the backup bucket (check_backup.py landed)"
fi
sed 's/^/      | /' "$WORK/backup-landed.log"
if (. "$WORK/backup-role.env" && AWS_ENDPOINT_URL="$ENDPOINT" "$PY" "$HERE/check_backup.py" denied "$WORK/outputs.json" "$ENDPOINT" staging prod) >"$WORK/backup-denied.log" 2>&1; then
  pass "the staging backup role cannot delete lake objects or audit records, write a table, touch prod's backup bucket or delete a backup (AccessDenied)"
else
  fail "what the staging backup role must not do (check_backup.py denied)"
fi
sed 's/^/      | /' "$WORK/backup-denied.log"
# the engine itself, as the staging backup role, aimed at prod's backup bucket: IAM refuses
set +e
engine "$WORK/backup-role.env" backup --env staging --to "s3://$PROD_BK_BUCKET/staging" --kms-key "$BK_KEY" --region "$BK_REGION" --environments "$STAGING_URI" >"$WORK/backup-intrude.log" 2>&1
rc=$?
set -e
PROD_BK_COUNT="$(. "$WORK/deployer.env" && "$PY" -c "
import boto3; print(boto3.client('s3',endpoint_url='$ENDPOINT').list_objects_v2(Bucket='$PROD_BK_BUCKET').get('KeyCount',0))")"
if [ "$rc" -ne 0 ] && [ "$PROD_BK_COUNT" = 0 ]; then
  pass "medallion backup --env staging into prod's backup bucket as the staging backup role: refused by IAM (exit $rc), prod's backup bucket stays empty"
  tail -n 1 "$WORK/backup-intrude.log" | cut -c1-220 | sed 's/^/      | /'
else
  tail -n 5 "$WORK/backup-intrude.log" | cut -c1-300 | sed 's/^/      | /'
  fail "the staging backup role wrote prod's backup bucket: exit $rc, $PROD_BK_COUNT objects there"
fi
# The disaster, then the restore (the runbook: Terraform recreates the bucket, its
# configuration object and the Glue databases; restore before anything else runs).
if backup_check snapshot staging "$WORK/before-loss.json" >"$WORK/loss.log" 2>&1 && backup_check lose staging >>"$WORK/loss.log" 2>&1; then
  pass "the disaster: the staging lake lost every object version (its audit records' governance retention bypassed by the deployer) and every Glue table"
else
  fail "emptying the staging lake for the restore"
fi
sed 's/^/      | /' "$WORK/loss.log"
set +e
engine "$WORK/restore-role.env" restore --env staging --from "$BK_LOC" --region "$BK_REGION" --environments "$STAGING_URI" >"$WORK/restore.log" 2>&1
rc=$?
set -e
if [ "$rc" -eq 0 ] && backup_check restored staging "$WORK/before-loss.json" >"$WORK/restored.log" 2>&1; then
  pass "medallion restore --env staging --from $BK_LOC as the restore role: exit 0, the tables, their Glue entries and the trail are back (check_backup.py restored)"
  tail -n 2 "$WORK/restore.log" | cut -c1-220 | sed 's/^/      | /'
else
  tail -n 10 "$WORK/restore.log" | cut -c1-300 | sed 's/^/      | /'
  fail "medallion restore as the restore role: exit $rc"
fi
sed 's/^/      | /' "$WORK/restored.log" 2>/dev/null || true
if engine "$WORK/staging-role.env" audit verify --env staging --environments "$STAGING_URI" >"$WORK/verify-restored.log" 2>&1 &&
  ! grep -q ": 0 records" "$WORK/verify-restored.log"; then
  pass "after the restore, medallion audit verify --env staging as the batch task role"
  tail -n 2 "$WORK/verify-restored.log" | cut -c1-200 | sed 's/^/      | /'
else
  tail -n 10 "$WORK/verify-restored.log" | cut -c1-300 | sed 's/^/      | /'
  fail "medallion audit verify after the restore (or an empty trail)"
fi
if engine "$WORK/staging-role.env" run jobs/ --env staging --environments "$STAGING_URI" >"$WORK/after-restore.log" 2>&1 &&
  grep -q "0 new" "$WORK/after-restore.log"; then
  pass "after the restore, medallion run jobs/ --env staging as the batch task role ingests nothing twice (the ledger and bookmarks came back)"
  grep -E '^pipeline ' "$WORK/after-restore.log" | cut -c1-160 | sed 's/^/      | /'
else
  tail -n 10 "$WORK/after-restore.log" | cut -c1-300 | sed 's/^/      | /'
  fail "medallion run jobs/ --env staging after the restore, as the batch task role"
fi

echo "proof logs: $WORK ($(($(date +%s) - START))s)"
echo "proof: $PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
