#!/usr/bin/env bash
# OpenLineage checks of the engine's events (deploy/local/test.sh runs this):
# 1. the tools' own tests (they prove the validator and the cross-check can fail);
# 2. the example pipelines run into a temporary lake with the built binary;
# 3. their column lineage cross-checked with openlineage-sql (an independent SQL parser),
#    re-extracted here with the pinned version: differences must be explained;
# 4. every event validated against the OpenLineage JSON schemas when the schema files are
#    available (see README.md, "The schema files"); otherwise a SKIPPED line says so.
set -euo pipefail
cd "$(dirname "$0")/../.."
. deploy/local/env.sh
VENV="${MEDALLION_OL_VENV:-/opt/medallion-venvs/openlineage}"
if [ ! -e "$VENV/.ok-1" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -r tools/openlineage/requirements.txt
  touch "$VENV/.ok-1"
fi
PY="$VENV/bin/python"
"$PY" -m pytest -q tools/openlineage
M="$CARGO_TARGET_DIR/debug/medallion"
[ -x "$M" ] || cargo build -p medallion-cli
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp -r jobs schemas testdata environments.yaml "$work/"
(cd "$work" && "$M" run jobs/ --env dev >/dev/null)
events="$work/lake/dev/_medallion/lineage"
"$PY" tools/openlineage/extract_sql.py --check tools/openlineage/examples.json
"$PY" tools/openlineage/sql_lineage.py tools/openlineage/examples.json -o "$work/extracted.json"
"$PY" tools/openlineage/cross_check.py --extracted "$work/extracted.json" --lineage "$events" \
  --aliases-from tools/openlineage/examples.json --explained tools/openlineage/examples.explained.json \
  --kinds direct,indirect 2> >(grep -v "explanation not used" >&2)
spec="${OPENLINEAGE_SPEC_DIR:-}"
for d in "$spec" tools/openlineage/spec ../shared/openlineage/spec; do
  if [ -n "$d" ] && [ -f "$d/OpenLineage.json" ]; then
    "$PY" tools/openlineage/validate.py --spec-dir "$d" "$events"
    exit 0
  fi
done
echo "SKIPPED: OpenLineage JSON schema validation (no schema files here; see tools/openlineage/README.md)"
