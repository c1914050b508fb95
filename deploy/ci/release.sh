#!/usr/bin/env bash
# Releases through the promotion order (GitOps): the plan on pull requests, the promotion of
# the reviewed plan on merge. Calls the engine only (`medallion validate`, `promote`,
# `release create`, `audit`); builds nothing.
#
#   deploy/ci/release.sh plan  [options] [PATHS...]   pull request: validate, test, plan each pair
#   deploy/ci/release.sh apply [options] [PATHS...]   merge: validate, test, promote each pair
#
# Both modes first run `medallion validate PATHS` and the tests hook, then go through the
# environment pairs in order (default dev:staging,staging:prod):
#   plan   `medallion promote --from A --to B PATHS` (the plan, nothing applied); appends
#          `A B <plan hash>` to --hashes FILE for the review.
#   apply  `medallion promote --from A --to B PATHS --apply --plan-hash H`, H the reviewed hash
#          of that pair (--hashes FILE written by `plan`, or --plan-hash A:B=H). The engine
#          refuses when the plan changed since it was reviewed.
# A pair whose target's newest promotion is already this release is skipped ("already
# promoted"). The first pair that fails stops the script with its exit code: 1 when a gate
# fails (or the plan changed since the review), 2 for errors; apply also stops with 2 at a
# pair that passes its gates but has no reviewed hash (it prints the hash to review).
#
# A release reaches B only after it ran in A (the "tested upstream" and quality gates read A's
# audit trail), so one merge normally promotes dev -> staging, and a later apply, after staging
# ran the release, staging -> prod (`--to` limits the pairs).
#
# Options:
#   --environments FILE   the environments file holding every environment of the pairs, with
#                         the deployed environments' entries exactly as Terraform rendered them
#                         (deploy/ci/compose_environments.py); default $MEDALLION_ENVIRONMENTS,
#                         else the engine's default (environments.yaml)
#   --pairs A:B,B:C       the promotion order (default $MEDALLION_RELEASE_PAIRS or dev:staging,staging:prod)
#   --to ENV              stop after the pair that promotes into ENV
#   --hashes FILE         plan: write `FROM TO HASH` lines; apply: read the reviewed hashes
#   --plan-hash A:B=HASH  apply: the reviewed hash of one pair (repeatable; wins over --hashes)
#   --tests CMD           the tests hook, run with bash before any promotion (default
#                         $MEDALLION_RELEASE_TESTS; empty: no tests, said so). The gates need runs
#                         of the release in the first environment: in CI the hook runs the
#                         release there (e.g. `medallion run jobs/ --env dev`).
# Environment: MEDALLION_BIN (default: medallion on PATH), and the AWS credentials of the
# target's release role (terraform output release_role_arn) for AWS environments.
# Needs bash and python3 (to read the engine's JSON output).
set -uo pipefail

usage() { sed -n '2,40p' "$0" | sed 's/^# \{0,1\}//'; }

MODE="${1:-}"
case "$MODE" in
plan | apply) shift ;;
-h | --help) usage; exit 0 ;;
*) usage >&2; exit 2 ;;
esac

BIN="${MEDALLION_BIN:-medallion}"
PAIRS="${MEDALLION_RELEASE_PAIRS:-dev:staging,staging:prod}"
TESTS="${MEDALLION_RELEASE_TESTS:-}"
TO=""
HASHES=""
declare -A REVIEWED=()
PATHS=()
while [ $# -gt 0 ]; do
  case "$1" in
  --environments) export MEDALLION_ENVIRONMENTS="$2"; shift 2 ;;
  --pairs) PAIRS="$2"; shift 2 ;;
  --to) TO="$2"; shift 2 ;;
  --hashes) HASHES="$2"; shift 2 ;;
  --plan-hash)
    case "$2" in
    *:*=*) REVIEWED["${2%%=*}"]="${2#*=}" ;;
    *) echo "release: --plan-hash wants FROM:TO=HASH, got '$2'" >&2; exit 2 ;;
    esac
    shift 2 ;;
  --tests) TESTS="$2"; shift 2 ;;
  -h | --help) usage; exit 0 ;;
  -*) echo "release: unknown option $1" >&2; exit 2 ;;
  *) PATHS+=("$1"); shift ;;
  esac
done
[ ${#PATHS[@]} -gt 0 ] || PATHS=(jobs/)
command -v "$BIN" >/dev/null 2>&1 || [ -x "$BIN" ] || { echo "release: no medallion binary ($BIN); set MEDALLION_BIN" >&2; exit 2; }
command -v python3 >/dev/null 2>&1 || { echo "release: python3 is needed" >&2; exit 2; }

if [ "$MODE" = apply ] && [ -n "$HASHES" ]; then
  [ -r "$HASHES" ] || { echo "release: cannot read the reviewed hashes $HASHES" >&2; exit 2; }
  while read -r f t h _; do
    [ -n "${f:-}" ] && [ "${f:0:1}" != "#" ] || continue
    [ -n "${REVIEWED[$f:$t]:-}" ] || REVIEWED["$f:$t"]="$h"
  done <"$HASHES"
fi
if [ "$MODE" = plan ] && [ -n "$HASHES" ]; then
  : >"$HASHES" || exit 2
fi

say() { echo "release: $*"; }
stop() { # CODE WHAT
  say "stopped: $2 (exit $1)"
  exit "$1"
}

# ------------------------------------------------------------------ checks before any pair
say "medallion validate ${PATHS[*]}"
"$BIN" validate "${PATHS[@]}" || stop $? "medallion validate failed"
if [ -n "$TESTS" ]; then
  say "tests hook: $TESTS"
  bash -c "$TESTS" || stop $? "the tests hook failed"
else
  say "tests hook: none (set --tests or MEDALLION_RELEASE_TESTS)"
fi

# already_promoted FROM TO: the target's newest promotion is this release of PATHS
already_promoted() {
  local release newest
  release="$("$BIN" release create "${PATHS[@]}" --env "$2" | sed -n 's/^release \([0-9a-f]\{64\}\)$/\1/p')" || return 1
  [ -n "$release" ] || return 1
  newest="$("$BIN" audit --env "$2" --format json | python3 -c '
import json, sys
promoted = [r for r in json.load(sys.stdin) if r.get("action") == "release_promoted"]
print(promoted[-1]["detail"]["release"] if promoted else "")')" || return 1
  [ "$release" = "$newest" ]
}

# plan_hash OUTPUT: the hash on the plan's `Plan <hash> (...)` line
plan_hash() { sed -n 's/^Plan \([0-9a-f]\{16\}\) .*/\1/p' "$1" | tail -n 1; }

WORK="$(mktemp -d "${TMPDIR:-/tmp}/medallion-release.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
IFS=',' read -r -a ORDER <<<"$PAIRS"
for pair in "${ORDER[@]}"; do
  from="${pair%%:*}"
  to="${pair#*:}"
  echo
  say "== $from -> $to"
  if already_promoted "$from" "$to"; then
    say "already promoted: this release is $to's newest promotion; nothing to do"
  elif [ "$MODE" = plan ]; then
    "$BIN" promote --from "$from" --to "$to" "${PATHS[@]}" | tee "$WORK/plan.txt"
    rc=${PIPESTATUS[0]}
    [ "$rc" -eq 0 ] || stop "$rc" "the plan $from -> $to failed (a gate, or an error)"
    h="$(plan_hash "$WORK/plan.txt")"
    say "plan $from -> $to: $h (review it; apply with --plan-hash $from:$to=$h)"
    [ -z "$HASHES" ] || echo "$from $to $h" >>"$HASHES"
  else
    h="${REVIEWED[$from:$to]:-}"
    if [ -z "$h" ]; then
      # No reviewed plan: show it, and stop (a failing gate first, with its exit code).
      "$BIN" promote --from "$from" --to "$to" "${PATHS[@]}" | tee "$WORK/plan.txt"
      rc=${PIPESTATUS[0]}
      [ "$rc" -eq 0 ] || stop "$rc" "the plan $from -> $to failed (a gate, or an error)"
      stop 2 "no reviewed plan hash for $from -> $to: review the plan above, then --plan-hash $from:$to=$(plan_hash "$WORK/plan.txt")"
    fi
    "$BIN" promote --from "$from" --to "$to" "${PATHS[@]}" --apply --plan-hash "$h"
    rc=$?
    [ "$rc" -eq 0 ] || stop "$rc" "the promotion $from -> $to was refused (a gate failed, or the plan is not the reviewed $h)"
  fi
  if [ -n "$TO" ] && [ "$to" = "$TO" ]; then
    say "--to $TO: done"
    break
  fi
done
echo
say "$MODE done: ${ORDER[*]}${TO:+ (up to $TO)}"
