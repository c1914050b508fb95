#!/usr/bin/env bash
# Checks for deploy/ (Terraform platform). Idempotent; installs its own needs (checkov in a
# pinned venv, moto for the proof). Called by the main CI as `bash deploy/ci/check.sh`.
#
#   1. tools: checkov (installed), terraform + provider mirror (must be there: FAIL otherwise)
#   2. terraform fmt -check            8. project policies MED-001..019 on each root's plan JSON
#   3. init -backend=false + validate  9. each policy FAILS on its deliberately bad fixture
#      (plans: a local-backend override stands in for the roots' S3 backend)
#   4. terraform test (plan mode)     10. environments.yaml staging/prod = what Terraform renders
#   5. offline plan -> plan JSON      11. mutation tests: bad edits (mutations.py), each caught by a check
#   6. checkov on each plan JSON + on deploy/ (zero failures)
#   7. every inline checkov skip is listed in .checkov.yaml with a reason
#  12. the Dockerfile agrees with the task definitions (one engine container: user, read-only root,
#      /tmp volume; schemas, jobs) and the binary's shared libraries are in the runtime stage
#  13. the release flow: deploy/ci/release.sh on a local dev -> staging -> prod project with the
#      prebuilt engine (deploy/tests/release/run.sh)
#  14. the proof: terraform apply of modules/lake to moto with IAM enforcement, the examples run
#      in dev and promoted to staging as the release role, then `medallion run jobs/ --env
#      staging` as the batch task role, `medallion maintain` as the maintain role, `medallion
#      backup` as the backup task role into the second region's bucket, the staging lake lost and
#      `medallion restore`d as the restore role (deploy/tests/proof/run.sh)
#
# Ends with the line `deploy: N passed, M failed`; exits non-zero if anything failed. A missing
# tool is a failure, never a skip. MEDALLION_BIN: the medallion binary for the image check, the
# release test and the proof (default: $CARGO_TARGET_DIR/debug/medallion; the image check and the
# release test need it prebuilt, the proof builds it if missing).
set -u -o pipefail

DEPLOY="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TF_ROOT="$DEPLOY/terraform"
ROOTS=(shared dev staging prod)
VENV="${MEDALLION_CHECKOV_VENV:-/opt/medallion-venvs/checkov}"
MIRROR="/opt/tf-plugins/registry.terraform.io/hashicorp/aws/5.100.0"
OUT="$(mktemp -d "${TMPDIR:-/tmp}/deploy-check.XXXXXX")"
START=$(date +%s)

export CHECKPOINT_DISABLE=1
export TF_CLI_CONFIG_FILE="$TF_ROOT/.terraformrc"
export TF_IN_AUTOMATION=1
export TF_INPUT=0
# One copy of the 700 MB provider, symlinked into every root.
export TF_PLUGIN_CACHE_DIR="${TF_PLUGIN_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/medallion-terraform-plugins}"
export TF_PLUGIN_CACHE_MAY_BREAK_DEPENDENCY_LOCK_FILE=1
mkdir -p "$TF_PLUGIN_CACHE_DIR"
# Fake credentials: plans run offline with the provider's skip_* options.
export AWS_ACCESS_KEY_ID=mock-access-key AWS_SECRET_ACCESS_KEY=mock-secret-key AWS_REGION=eu-west-1
unset AWS_PROFILE AWS_SESSION_TOKEN

PASSED=0
FAILED=0
FAILED_NAMES=()

log_name() { echo "$OUT/$(echo "$1" | tr -c 'A-Za-z0-9\n' '_').log"; }

# step NAME CMD...: run CMD, count it, show the tail of its log on failure.
step() {
  local name="$1"
  shift
  local log
  log="$(log_name "$name")"
  local t0=$SECONDS
  if "$@" >"$log" 2>&1; then
    PASSED=$((PASSED + 1))
    echo "PASS  $name [$((SECONDS - t0))s]"
  else
    FAILED=$((FAILED + 1))
    FAILED_NAMES+=("$name")
    echo "FAIL  $name [$((SECONDS - t0))s]"
    tail -n 40 "$log" | sed 's/^/      | /'
  fi
}

# Steps that do not depend on each other run 2 at a time (MEDALLION_CHECK_JOBS; the machine has 2
# cores): bg_step starts one like `step` (at most that many of a group at once), bg_wait reports
# and counts the group in the order it was started, each with its own time.
CHECK_JOBS="${MEDALLION_CHECK_JOBS:-2}"
BG_NAMES=()
BG_PIDS=()
bg_step() {
  local name="$1" p n
  shift
  while :; do
    n=0
    for p in "${BG_PIDS[@]}"; do kill -0 "$p" 2>/dev/null && n=$((n + 1)); done
    [ "$n" -lt "$CHECK_JOBS" ] && break
    sleep 0.2
  done
  (
    t0=$SECONDS
    "$@" >"$(log_name "$name")" 2>&1
    echo "$? $((SECONDS - t0))" >"$(log_name "$name").rc"
  ) &
  BG_NAMES+=("$name")
  BG_PIDS+=($!)
}
# report NAME RC SECS: count and print one finished step (as `step` does)
report() {
  if [ "$2" -eq 0 ]; then
    PASSED=$((PASSED + 1))
    echo "PASS  $1 [$3s]"
  else
    FAILED=$((FAILED + 1))
    FAILED_NAMES+=("$1")
    echo "FAIL  $1 [$3s]"
    tail -n 40 "$(log_name "$1")" | sed 's/^/      | /'
  fi
}
bg_wait() {
  local i rc secs
  for i in "${!BG_NAMES[@]}"; do
    wait "${BG_PIDS[$i]}"
    read -r rc secs <"$(log_name "${BG_NAMES[$i]}").rc" || { rc=1 secs=0; }
    report "${BG_NAMES[$i]}" "$rc" "$secs"
  done
  BG_NAMES=()
  BG_PIDS=()
}
# side_step NAME CMD...: a long independent step started now, beside the others (no limit);
# side_wait NAME reports it where it used to run.
declare -A SIDE_PIDS=()
side_step() {
  local name="$1"
  shift
  (
    t0=$SECONDS
    "$@" >"$(log_name "$name")" 2>&1
    echo "$? $((SECONDS - t0))" >"$(log_name "$name").rc"
  ) &
  SIDE_PIDS["$name"]=$!
}
side_wait() {
  local rc secs
  wait "${SIDE_PIDS[$1]}"
  read -r rc secs <"$(log_name "$1").rc" || { rc=1 secs=0; }
  report "$1" "$rc" "$secs"
}

# ------------------------------------------------------------------ tools
# checkov is installed (PyPI); terraform and the provider mirror must come with the machine.
step "deploy tools (checkov installed; terraform >= 1.11 and the provider mirror present)" \
  bash "$DEPLOY/local/deploy-tools.sh"
HAVE_TF=1
if ! command -v terraform >/dev/null 2>&1 || [ ! -d "$MIRROR" ]; then
  HAVE_TF=0
  echo "!! terraform or its provider mirror is missing: every terraform step below FAILS (see deploy/local/deploy-tools.sh)"
else
  echo "terraform: $(terraform version | head -n 1), provider mirror: $MIRROR"
fi
HAVE_CHECKOV=0
[ -x "$VENV/bin/checkov" ] && HAVE_CHECKOV=1
# The policies need PyYAML (MED-005, drift check): the checkov venv has it.
PY="$VENV/bin/python"
[ -x "$PY" ] || PY="$(command -v python3 || echo python3)"

# checkov (its steps below)
checkov_summary() {
  "$PY" - "$1" <<'PYEOF'
import json, sys
d = json.load(open(sys.argv[1]))
for r in (d if isinstance(d, list) else [d]):
    s = r["summary"]
    print(f"{r.get('check_type')}: passed={s['passed']} failed={s['failed']} skipped={s['skipped']} resources={s.get('resource_count')}")
    for f in r.get("results", {}).get("failed_checks", []):
        print(f"  FAILED {f['check_id']} {f['resource']} ({f['file_path']})")
PYEOF
}
# On a root's plan JSON: the values each environment really deploys (not HCL defaults);
# inline skips are read from the sources (--repo-root-for-plan-enrichment).
checkov_plan() {
  local name="$1"
  [ -s "$OUT/$name.json" ] || { echo "no plan JSON for $name"; return 1; }
  "$VENV/bin/checkov" -f "$OUT/$name.json" --framework terraform_plan --repo-root-for-plan-enrichment "$TF_ROOT" \
    --config-file "$DEPLOY/.checkov.yaml" -o json >"$OUT/checkov-$name.json" 2>"$OUT/checkov-$name.err"
  local rc=$?
  checkov_summary "$OUT/checkov-$name.json"
  return $rc
}
checkov_dir() {
  "$VENV/bin/checkov" -d "$DEPLOY" --config-file "$DEPLOY/.checkov.yaml" -o json \
    >"$OUT/checkov-deploy.json" 2>"$OUT/checkov-deploy.err"
  local rc=$?
  checkov_summary "$OUT/checkov-deploy.json"
  return $rc
}
# Started now, reported at their place below: checkov on the deploy/ sources (it reads no plan)
# and the release flow (local lakes and the prebuilt engine, no Terraform) run beside the
# terraform steps.
if [ -z "${MEDALLION_BIN:-}" ]; then
  # shellcheck source=/dev/null
  CT="$( . "$DEPLOY/local/env.sh" && echo "$CARGO_TARGET_DIR")"
  [ -x "$CT/debug/medallion" ] && export MEDALLION_BIN="$CT/debug/medallion"
fi
RELEASE_STEP="release flow: deploy/ci/release.sh plan/apply dev -> staging -> prod, plan hashes (deploy/tests/release/run.sh)"
side_step "$RELEASE_STEP" env MEDALLION_PYTHON="$PY" bash "$DEPLOY/tests/release/run.sh"
[ "$HAVE_CHECKOV" = 1 ] && side_step "checkov deploy/ sources (zero failures)" checkov_dir

# missing NAME: a step that could not run because a tool is missing counts as failed.
missing() {
  FAILED=$((FAILED + 1))
  FAILED_NAMES+=("$1")
  echo "FAIL  $1 ($2)"
}

# ------------------------------------------------------------------ terraform
tf_init() { (cd "$1" && rm -f .terraform.lock.hcl && terraform init -backend=false -input=false -no-color); }
tf_validate() { tf_init "$1" && (cd "$1" && terraform validate -no-color); }
tf_test() { (cd "$1" && terraform test -no-color); }
# The roots keep their state in S3 (`backend "s3" {}`, configured by backend.hcl). Offline, a
# plan needs an initialised backend: a local-backend override file (gitignored, removed after)
# stands in for it; validate and test run with `init -backend=false`.
ci_backend_override() {
  printf 'terraform {\n  backend "local" {\n    path = "%s"\n  }\n}\n' "$2" >"$1/ci_backend_override.tf"
}
tf_plan_json() {
  local dir="$1" name="$2" rc
  shift 2
  ci_backend_override "$dir" "$OUT/$name.tfstate"
  (cd "$dir" &&
    terraform init -input=false -no-color -reconfigure >"$OUT/$name.init.log" &&
    terraform plan -refresh=false -lock=false -input=false -no-color "$@" -out="$OUT/$name.tfplan" &&
    terraform show -json "$OUT/$name.tfplan" >"$OUT/$name.json")
  rc=$?
  rm -f "$dir/ci_backend_override.tf"
  return $rc
}

if [ "$HAVE_TF" = 1 ]; then
  step "terraform fmt -check -recursive" terraform fmt -check -recursive -diff "$DEPLOY"
  # one init at a time (they fill the shared plugin cache); then the roots 2 at a time
  for r in "${ROOTS[@]}"; do
    step "init+validate envs/$r" tf_validate "$TF_ROOT/envs/$r"
  done
  for r in "${ROOTS[@]}"; do
    bg_step "terraform test envs/$r" tf_test "$TF_ROOT/envs/$r"
  done
  bg_wait
  for r in "${ROOTS[@]}"; do
    # the environments' values come from deploy/terraform/platform.yaml (modules/platform); the
    # environment roots' committed terraform.tfvars.example holds only the image tag
    VARFILE=()
    [ -f "$TF_ROOT/envs/$r/terraform.tfvars.example" ] && VARFILE=(-var-file=terraform.tfvars.example)
    bg_step "offline plan envs/$r (platform.yaml)" tf_plan_json "$TF_ROOT/envs/$r" "$r" \
      "${VARFILE[@]}" -var offline_plan=true
  done
  bg_wait
else
  missing "terraform fmt/validate/test/plan for ${ROOTS[*]}" "terraform or provider mirror missing"
fi

# ------------------------------------------------------------------ checkov
if [ "$HAVE_CHECKOV" = 1 ]; then
  for r in "${ROOTS[@]}"; do
    bg_step "checkov plan JSON of envs/$r (zero failures)" checkov_plan "$r"
  done
  bg_wait
  side_wait "checkov deploy/ sources (zero failures)"
else
  missing "checkov" "checkov could not be installed"
fi

inline_skips_listed() {
  local missing=0 id
  for id in $(grep -rhoE 'checkov:skip=[A-Z0-9_]+' "$TF_ROOT" | sed 's/checkov:skip=//' | sort -u); do
    if grep -qE "^\s*#?\s*(-|inline:)\s*$id\s+#\s*\S" "$DEPLOY/.checkov.yaml"; then
      echo "$id listed with a reason"
    else
      echo "$id is skipped inline but not listed (with a reason) in deploy/.checkov.yaml"
      missing=1
    fi
  done
  # and every global skip carries a reason
  if grep -E '^\s*-\s*CKV' "$DEPLOY/.checkov.yaml" | grep -vE '#\s*\S'; then
    echo "global skip without a reason (above)"
    missing=1
  fi
  return $missing
}
step "every checkov skip listed in .checkov.yaml with a reason" inline_skips_listed

# ------------------------------------------------------------------ project policies
policy_counts() {
  # run every MED check on one root's plan JSON; one counted result per check
  local r="$1" out rc=0
  out="$("$PY" "$DEPLOY/policies/plan_policies.py" --env "$r" "$OUT/$r.json" 2>&1)" || rc=$?
  echo "$out" >"$(log_name "policy $r")"
  while IFS= read -r line; do
    case "$line" in
    "MED-"*" PASS "*)
      PASSED=$((PASSED + 1))
      echo "PASS  policy ${line%% *} envs/$r"
      ;;
    "MED-"*" FAIL "*)
      FAILED=$((FAILED + 1))
      FAILED_NAMES+=("policy ${line%% *} envs/$r")
      echo "FAIL  policy ${line%% *} envs/$r"
      ;;
    "    - "*) echo "      | $line" ;;
    esac
  done <<<"$out"
  # A crash after the first checks (a traceback, or a non-zero exit with no failing check)
  # is a failure even though the checks before it printed PASS.
  if echo "$out" | grep -q '^Traceback' || { [ "$rc" -ne 0 ] && ! echo "$out" | grep -q '^MED-.* FAIL '; }; then
    FAILED=$((FAILED + 1))
    FAILED_NAMES+=("policy envs/$r (checker crashed, exit $rc)")
    echo "FAIL  policy envs/$r (checker crashed, exit $rc)"
    echo "$out" | tail -n 20 | sed 's/^/      | /'
  elif ! echo "$out" | grep -q '^MED-'; then
    FAILED=$((FAILED + 1))
    FAILED_NAMES+=("policy envs/$r")
    echo "FAIL  policy envs/$r (checker did not run)"
    echo "$out" | tail -n 20 | sed 's/^/      | /'
  fi
}

fixture_must_fail() {
  local dir="$1" id env name
  name="$(basename "$dir")"
  read -r id env <"$dir/expect"
  # one init (tf_plan_json's, with the local backend), the lock file regenerated from the mirror
  rm -f "$dir/.terraform.lock.hcl"
  tf_plan_json "$dir" "fixture-$name" >/dev/null || return 1
  local out rc
  out="$("$PY" "$DEPLOY/policies/plan_policies.py" --env "$env" --only "$id" "$OUT/fixture-$name.json")"
  rc=$?
  echo "$out"
  if [ "$rc" -ne 1 ] || ! echo "$out" | grep -q "^$id FAIL"; then
    echo "EXPECTED $id to FAIL on $name (rc=$rc)"
    return 1
  fi
  echo "ok: $id fails on $name as intended"
}

if [ "$HAVE_TF" = 1 ] && [ -n "$PY" ]; then
  for r in "${ROOTS[@]}"; do
    if [ -s "$OUT/$r.json" ]; then
      policy_counts "$r"
    else
      FAILED=$((FAILED + 1))
      FAILED_NAMES+=("policy envs/$r")
      echo "FAIL  policy envs/$r (no plan JSON)"
    fi
  done
  for d in "$DEPLOY"/tests/fixtures/bad-*/; do
    d="${d%/}"
    bg_step "policy $(cut -d' ' -f1 "$d/expect") catches tests/fixtures/$(basename "$d")" fixture_must_fail "$d"
  done
  bg_wait
  step "environments.yaml staging/prod = what Terraform renders (config_drift.py)" \
    "$PY" "$DEPLOY/policies/config_drift.py" "$DEPLOY/../environments.yaml" \
    staging="$OUT/staging.json" prod="$OUT/prod.json"
else
  missing "project policies MED-001..019, bad fixtures, environments.yaml drift" "need terraform (plan JSON)"
fi

# ------------------------------------------------------------------ the image
# No Docker engine on this machine kind: the Dockerfile is checked against the task
# definitions and MEDALLION_BIN's shared libraries here (no binary: FAIL), and the proof below
# runs the engine the way the image does.
step "Dockerfile agrees with the task definitions; the binary's libraries are in the image (deploy/image/check_image.py)" \
  "$PY" "$DEPLOY/image/check_image.py" "$DEPLOY/.."

# ------------------------------------------------------------------ the release flow
# deploy/ci/release.sh for real, against a local three-environment project and the prebuilt
# engine (never built here).
side_wait "$RELEASE_STEP"

# ------------------------------------------------------------------ mutation tests
mutations() {
  MEDALLION_CHECKOV_VENV="$VENV" "$PY" "$DEPLOY/tests/mutations/mutations.py" --jobs "${MEDALLION_MUTATION_JOBS:-2}" |
    tee "$OUT/mutations.log"
}
if [ "$HAVE_TF" = 1 ] && [ "$HAVE_CHECKOV" = 1 ]; then
  echo "mutation tests (each bad edit must be caught by a check):"
  T0=$SECONDS
  if mutations | sed 's/^/      | /'; [ "${PIPESTATUS[0]}" -eq 0 ]; then
    PASSED=$((PASSED + 1))
    echo "PASS  mutation tests: $(tail -n 1 "$OUT/mutations.log") [$((SECONDS - T0))s]"
  else
    FAILED=$((FAILED + 1))
    FAILED_NAMES+=("mutation tests")
    echo "FAIL  mutation tests: $(tail -n 1 "$OUT/mutations.log")"
  fi
else
  missing "mutation tests" "need terraform and checkov"
fi

# ------------------------------------------------------------------ the proof (apply + engine)
if [ "$HAVE_TF" = 1 ]; then
  echo "proof: terraform apply to moto with IAM enforcement, promotion dev -> staging, medallion run as the task role:"
  T0=$SECONDS
  if bash "$DEPLOY/tests/proof/run.sh" >"$OUT/proof.log" 2>&1; then
    PASSED=$((PASSED + 1))
    grep -E '^(PASS|FAIL)  ' "$OUT/proof.log" | sed 's/^/      | /'
    echo "PASS  $(tail -n 1 "$OUT/proof.log") [$((SECONDS - T0))s]"
  else
    FAILED=$((FAILED + 1))
    FAILED_NAMES+=("proof (deploy/tests/proof/run.sh)")
    tail -n 60 "$OUT/proof.log" | sed 's/^/      | /'
    echo "FAIL  proof: $(tail -n 1 "$OUT/proof.log")"
  fi
else
  missing "proof (deploy/tests/proof/run.sh)" "needs terraform"
fi

# ------------------------------------------------------------------ summary
echo
echo "logs and plans: $OUT"
echo "elapsed: $(($(date +%s) - START))s"
if [ "$FAILED" -gt 0 ]; then
  printf 'failed: %s\n' "${FAILED_NAMES[@]}"
fi
echo "deploy: $PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
