#!/usr/bin/env bash
# deploy/ci/release.sh for real: a local three-environment project (dev -> staging -> prod, local
# lakes) built from a temporary copy of jobs/ schemas/ testdata/, with the prebuilt engine.
#
# staging and prod get the repository's promote_from and gates (environments.yaml), so the
# example data is checked against the gates the platform deploys. The streaming job is left out
# (it needs a Kafka broker; the proof, deploy/tests/proof/run.sh, promotes it).
#
#   1. plan without runs in dev: exit 1 at dev -> staging (tested upstream), prod not planned;
#   2. plan with the tests hook running the release in dev: dev -> staging passes and its hash
#      is written; staging -> prod fails (never ran in staging): exit 1;
#   3. apply with a wrong hash: exit 1, nothing promoted; without a reviewed hash: exit 2;
#   4. apply with the reviewed hashes: dev -> staging promoted, then stops at staging -> prod's
#      failed gate (exit 1); staging runs the release;
#   5. plan again: dev -> staging already promoted (skipped), staging -> prod passes; apply with
#      that hash: prod promoted, prod runs it; a second apply promotes nothing;
#   6. a reviewed hash that no longer matches (staging's entry changed since) is refused.
#
# Needs MEDALLION_BIN (the prebuilt engine; this test never builds it), python3, and PyYAML in
# MEDALLION_PYTHON (default python3; check.sh passes the checkov venv's Python).
# Prints `release: N passed, M failed` last; exit 1 on failure.
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../../.." && pwd)"
RELEASE="$REPO/deploy/ci/release.sh"
START=$(date +%s)
PASSED=0
FAILED=0
pass() { PASSED=$((PASSED + 1)); echo "PASS  $*"; }
fail() { FAILED=$((FAILED + 1)); echo "FAIL  $*"; }
finish() {
  echo "release test logs: $WORK ($(($(date +%s) - START))s)"
  echo "release: $PASSED passed, $FAILED failed"
  [ "$FAILED" -eq 0 ]
  exit
}

BIN="${MEDALLION_BIN:-}"
if [ -z "$BIN" ] || [ ! -x "$BIN" ]; then
  echo "release: MEDALLION_BIN must name the prebuilt medallion binary (got '${BIN}'); this test does not build it"
  echo "release: 0 passed, 1 failed"
  exit 1
fi
export MEDALLION_BIN="$BIN"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/medallion-release-test.XXXXXX")"
P="$WORK/project"
mkdir -p "$P/jobs"
cp -r "$REPO/schemas" "$REPO/testdata" "$P/"
cp -r "$REPO/jobs/shop" "$REPO/jobs/iot" "$P/jobs/"
"${MEDALLION_PYTHON:-python3}" - "$REPO/environments.yaml" "$P/environments.yaml" <<'PYEOF' || { fail "environments.yaml of the test project"; finish; }
import sys, yaml
repo = yaml.safe_load(open(sys.argv[1]))["environments"]
envs = {"dev": {"lake": "./lake/dev", "retention_days": repo["dev"]["retention_days"]}}
for name in ("staging", "prod"):
    e = repo[name]
    assert e.get("promote_from") and e.get("gates"), f"environments.yaml: {name} has no promote_from/gates"
    envs[name] = {"lake": f"./lake/{name}", "retention_days": e["retention_days"],
                  "promote_from": e["promote_from"], "gates": e["gates"]}
yaml.safe_dump({"environments": envs}, open(sys.argv[2], "w"), sort_keys=False)
PYEOF
cd "$P" || exit 1
export MEDALLION_ENVIRONMENTS="$P/environments.yaml" MEDALLION_LOG=warn
echo "project: $P (staging/prod promote_from and gates from the repository's environments.yaml)"
sed 's/^/      | /' "$P/environments.yaml"
DEV_RUN="\"\$MEDALLION_BIN\" run jobs/ --env dev"

# rel LOG ARGS...: release.sh, its output in LOG; returns its exit code
rel() {
  local log="$WORK/$1"
  shift
  bash "$RELEASE" "$@" >"$log" 2>&1
}
show() { tail -n "${2:-12}" "$WORK/$1" | cut -c1-220 | sed 's/^/      | /'; }
promotions() { # ENV: number of release_promoted records in its trail
  "$BIN" audit --env "$1" --format json | python3 -c '
import json, sys; print(sum(1 for r in json.load(sys.stdin) if r["action"] == "release_promoted"))'
}

# 1. nothing ran in dev yet
rel 1-plan.log plan
rc=$?
if [ "$rc" -eq 1 ] && grep -q "FAIL tested upstream" "$WORK/1-plan.log" && ! grep -q "== staging -> prod" "$WORK/1-plan.log"; then
  pass "plan without runs in dev: exit 1 at dev -> staging (tested upstream fails), staging -> prod not planned"
else
  show 1-plan.log
  fail "plan without runs in dev: exit $rc (expected 1, stopping at dev -> staging)"
fi

# 2. the tests hook runs the release in dev
rel 2-plan.log plan --tests "$DEV_RUN" --hashes "$WORK/reviewed-1.txt"
rc=$?
H1="$(awk '$1 == "dev" && $2 == "staging" {print $3}' "$WORK/reviewed-1.txt" 2>/dev/null)"
if [ "$rc" -eq 1 ] && [ -n "$H1" ] && [ "$(wc -l <"$WORK/reviewed-1.txt")" -eq 1 ] &&
  grep -q "all gates pass" "$WORK/2-plan.log" &&
  sed -n '/== staging -> prod/,$p' "$WORK/2-plan.log" | grep -q "no successful run in staging"; then
  pass "plan with the tests hook: dev -> staging passes (hash $H1 written for review), staging -> prod fails (never ran in staging): exit 1"
  grep -E "quarantined|FAIL|^release: plan" "$WORK/2-plan.log" | cut -c1-200 | sed 's/^/      | /'
else
  show 2-plan.log 40
  fail "plan with the tests hook: exit $rc, reviewed hash '$H1'"
fi

# 3. the plan-hash flow: a wrong hash and a missing hash are refused
rel 3-wrong.log apply --to staging --plan-hash dev:staging=0123456789abcdef
rc=$?
if [ "$rc" -eq 1 ] && grep -q "not the reviewed 0123456789abcdef" "$WORK/3-wrong.log" && [ "$(promotions staging)" = 0 ]; then
  pass "apply with a hash that is not the plan's: refused (exit 1), nothing promoted"
else
  show 3-wrong.log
  fail "apply with a wrong hash: exit $rc, staging promotions $(promotions staging)"
fi
rel 3-missing.log apply --to staging
rc=$?
if [ "$rc" -eq 2 ] && grep -q "no reviewed plan hash for dev -> staging" "$WORK/3-missing.log" && [ "$(promotions staging)" = 0 ]; then
  pass "apply without a reviewed hash: the plan is shown, nothing promoted (exit 2)"
else
  show 3-missing.log
  fail "apply without a reviewed hash: exit $rc"
fi

# 4. apply the reviewed plan: staging promoted, then the first failed gate stops it
rel 4-apply.log apply --tests "$DEV_RUN" --hashes "$WORK/reviewed-1.txt"
rc=$?
if [ "$rc" -eq 1 ] && grep -q "Promoted release .* to staging" "$WORK/4-apply.log" &&
  grep -q "stopped: the plan staging -> prod failed" "$WORK/4-apply.log" &&
  [ "$(promotions staging)" = 1 ] && [ "$(promotions prod)" = 0 ]; then
  pass "apply with the reviewed hash: dev -> staging promoted, then stops at staging -> prod's failed gate (exit 1), prod untouched"
else
  show 4-apply.log 30
  fail "apply dev -> staging: exit $rc, promotions staging $(promotions staging), prod $(promotions prod)"
fi
if "$BIN" run jobs/ --env staging >"$WORK/4-staging-run.log" 2>&1; then
  pass "staging runs the promoted release"
else
  show 4-staging-run.log
  fail "staging run of the promoted release"
fi

# 5. after staging ran it: prod
rel 5-plan.log plan --tests "$DEV_RUN" --hashes "$WORK/reviewed-2.txt"
rc=$?
H2="$(awk '$1 == "staging" && $2 == "prod" {print $3}' "$WORK/reviewed-2.txt" 2>/dev/null)"
if [ "$rc" -eq 0 ] && [ -n "$H2" ] && grep -q "already promoted: this release is staging.s newest promotion" "$WORK/5-plan.log" &&
  ! grep -q "^dev staging" "$WORK/reviewed-2.txt"; then
  pass "plan after staging's run: dev -> staging already promoted (skipped), staging -> prod passes (hash $H2): exit 0"
else
  show 5-plan.log 30
  fail "plan after staging's run: exit $rc, hash '$H2'"
fi
rel 5-apply.log apply --tests "$DEV_RUN" --hashes "$WORK/reviewed-2.txt"
rc=$?
if [ "$rc" -eq 0 ] && grep -q "Promoted release .* to prod" "$WORK/5-apply.log" && [ "$(promotions prod)" = 1 ] &&
  [ "$(promotions staging)" = 1 ] && "$BIN" run jobs/ --env prod >"$WORK/5-prod-run.log" 2>&1; then
  pass "apply in order: dev -> staging skipped (already promoted), staging -> prod promoted with the reviewed hash; prod runs it"
else
  show 5-apply.log 30
  tail -n 5 "$WORK/5-prod-run.log" 2>/dev/null | sed 's/^/      | /'
  fail "apply staging -> prod: exit $rc, promotions prod $(promotions prod)"
fi
rel 5-again.log apply --hashes "$WORK/reviewed-2.txt"
rc=$?
if [ "$rc" -eq 0 ] && [ "$(grep -c "already promoted: this release is" "$WORK/5-again.log")" = 2 ] && [ "$(promotions prod)" = 1 ]; then
  pass "a second apply promotes nothing (both targets already run the release)"
else
  show 5-again.log
  fail "second apply: exit $rc, promotions prod $(promotions prod)"
fi

# 6. the reviewed plan no longer matches: staging's entry changed after the review
sed -i 's/^\(    retention_days: \)90$/\1120/' "$P/environments.yaml"
if grep -q "retention_days: 120" "$P/environments.yaml"; then
  rel 6-stale.log apply --to staging --tests "$DEV_RUN" --hashes "$WORK/reviewed-1.txt"
  rc=$?
  if [ "$rc" -eq 1 ] && grep -q "not the reviewed $H1" "$WORK/6-stale.log" && [ "$(promotions staging)" = 1 ]; then
    pass "a reviewed hash whose plan changed since (staging's entry edited) is refused (exit 1), nothing promoted"
  else
    show 6-stale.log 20
    fail "stale reviewed hash: exit $rc"
  fi
else
  fail "could not edit staging's retention_days in the test project"
fi
finish
