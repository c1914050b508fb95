#!/usr/bin/env bash
# Offline checks for deploy/ (Terraform platform). Idempotent; installs its own
# needs (checkov in a pinned venv). Called by the main CI as `bash deploy/ci/check.sh`.
#
#   1. checkov venv (pinned)           6. checkov per root + on deploy/ (zero failures)
#   2. terraform fmt -check            7. every inline checkov skip is listed in .checkov.yaml
#   3. init -backend=false + validate  8. project policies MED-001..004 on each root's plan JSON
#   4. terraform test (plan mode)      9. each policy FAILS on its deliberately bad fixture
#   5. offline plan -> plan JSON
#
# Ends with the line `deploy: N passed, M failed`; exits non-zero if anything failed.
# Steps that need terraform (or its provider mirror) are reported as SKIPPED, loudly,
# when it is missing; everything else still runs.
set -u -o pipefail

DEPLOY="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TF_ROOT="$DEPLOY/terraform"
ROOTS=(shared dev staging prod)
CHECKOV_VERSION="3.3.30"
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
SKIPPED=0
FAILED_NAMES=()

log_name() { echo "$OUT/$(echo "$1" | tr -c 'A-Za-z0-9\n' '_').log"; }

# step NAME CMD...: run CMD, count it, show the tail of its log on failure.
step() {
  local name="$1"
  shift
  local log
  log="$(log_name "$name")"
  if "$@" >"$log" 2>&1; then
    PASSED=$((PASSED + 1))
    echo "PASS  $name"
  else
    FAILED=$((FAILED + 1))
    FAILED_NAMES+=("$name")
    echo "FAIL  $name"
    tail -n 40 "$log" | sed 's/^/      | /'
  fi
}

skip() {
  SKIPPED=$((SKIPPED + 1))
  echo "SKIP  $1 ($2)"
}

# ------------------------------------------------------------------ tools
HAVE_TF=1
if ! command -v terraform >/dev/null 2>&1; then
  HAVE_TF=0
  echo "!! terraform is NOT installed: fmt/validate/test/plan/policy/fixture steps will be SKIPPED"
elif [ ! -d "$MIRROR" ]; then
  HAVE_TF=0
  echo "!! AWS provider mirror $MIRROR is MISSING: terraform steps will be SKIPPED (no provider can be downloaded)"
else
  echo "terraform: $(terraform version | head -n 1), provider mirror: $MIRROR"
fi

PY="$(command -v python3 || true)"

install_checkov() {
  if [ -x "$VENV/bin/checkov" ] && [ "$("$VENV/bin/checkov" --version 2>/dev/null)" = "$CHECKOV_VERSION" ]; then
    echo "checkov $CHECKOV_VERSION already in $VENV"
    return 0
  fi
  [ -n "$PY" ] || { echo "python3 not found"; return 1; }
  if ! "$PY" -m venv --help >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq && apt-get install -y -qq python3-venv
  fi
  rm -rf "$VENV"
  mkdir -p "$(dirname "$VENV")"
  "$PY" -m venv "$VENV" &&
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "checkov==$CHECKOV_VERSION" &&
    [ "$("$VENV/bin/checkov" --version)" = "$CHECKOV_VERSION" ]
}
step "install checkov==$CHECKOV_VERSION" install_checkov
HAVE_CHECKOV=0
[ -x "$VENV/bin/checkov" ] && HAVE_CHECKOV=1

# ------------------------------------------------------------------ terraform
tf_init() { (cd "$1" && rm -f .terraform.lock.hcl && terraform init -backend=false -input=false -no-color); }
tf_validate() { tf_init "$1" && (cd "$1" && terraform validate -no-color); }
tf_test() { (cd "$1" && terraform test -no-color); }
tf_plan_json() {
  local dir="$1" name="$2"
  shift 2
  (cd "$dir" &&
    terraform plan -refresh=false -lock=false -input=false -no-color "$@" -out="$OUT/$name.tfplan" &&
    terraform show -json "$OUT/$name.tfplan" >"$OUT/$name.json")
}

if [ "$HAVE_TF" = 1 ]; then
  step "terraform fmt -check -recursive" terraform fmt -check -recursive -diff "$DEPLOY"
  for r in "${ROOTS[@]}"; do
    step "init+validate envs/$r" tf_validate "$TF_ROOT/envs/$r"
  done
  for r in "${ROOTS[@]}"; do
    step "terraform test envs/$r" tf_test "$TF_ROOT/envs/$r"
  done
  for r in "${ROOTS[@]}"; do
    # planned with the committed terraform.tfvars.example: proves it matches the variables
    step "offline plan envs/$r (tfvars.example)" tf_plan_json "$TF_ROOT/envs/$r" "$r" \
      -var-file=terraform.tfvars.example -var offline_plan=true
  done
else
  skip "terraform fmt/validate/test/plan for ${ROOTS[*]}" "terraform or provider mirror missing"
fi

# ------------------------------------------------------------------ checkov
checkov_run() {
  local target="$1" name="$2"
  "$VENV/bin/checkov" -d "$target" --config-file "$DEPLOY/.checkov.yaml" -o json \
    >"$OUT/checkov-$name.json" 2>"$OUT/checkov-$name.err"
  local rc=$?
  "$PY" - "$OUT/checkov-$name.json" <<'PYEOF'
import json, sys
d = json.load(open(sys.argv[1]))
for r in (d if isinstance(d, list) else [d]):
    s = r["summary"]
    print(f"{r.get('check_type')}: passed={s['passed']} failed={s['failed']} skipped={s['skipped']} resources={s.get('resource_count')}")
    for f in r.get("results", {}).get("failed_checks", []):
        print(f"  FAILED {f['check_id']} {f['resource']} ({f['file_path']})")
PYEOF
  return $rc
}
if [ "$HAVE_CHECKOV" = 1 ]; then
  for r in "${ROOTS[@]}"; do
    step "checkov envs/$r (zero failures)" checkov_run "$TF_ROOT/envs/$r" "$r"
  done
  step "checkov deploy/ (zero failures)" checkov_run "$DEPLOY" deploy
else
  skip "checkov" "checkov could not be installed"
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
  local r="$1" out
  out="$("$PY" "$DEPLOY/policies/plan_policies.py" --env "$r" "$OUT/$r.json" 2>&1)"
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
  if ! echo "$out" | grep -q '^MED-'; then
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
  tf_init "$dir" >/dev/null || return 1
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
    step "policy $(cut -d' ' -f1 "$d/expect") catches tests/fixtures/$(basename "$d")" fixture_must_fail "$d"
  done
else
  skip "project policies MED-001..004 and bad fixtures" "need terraform (plan JSON) and python3"
fi

# ------------------------------------------------------------------ summary
echo
echo "logs and plans: $OUT"
echo "elapsed: $(($(date +%s) - START))s"
[ "$SKIPPED" -gt 0 ] && echo "skipped steps: $SKIPPED (see SKIP lines above)"
if [ "$FAILED" -gt 0 ]; then
  printf 'failed: %s\n' "${FAILED_NAMES[@]}"
fi
echo "deploy: $PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
