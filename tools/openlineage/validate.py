#!/usr/bin/env python3
"""Validate OpenLineage events (NDJSON, one event per line) offline.

Every event is checked
  1. against the OpenLineage 2-0-2 core schema (OpenLineage.json), using the $defs of its kind
     (RunEvent, DatasetEvent or JobEvent) for precise messages, then the root oneOf;
  2. facet by facet: each facet found under run.facets, job.facets, inputs[].facets,
     inputs[].inputFacets, outputs[].facets, outputs[].outputFacets or dataset.facets is validated
     against its own facet schema (found by its facet key, or by its `_schemaURL`);
  3. unless --no-profile: against the checks of the medallion profile that the JSON schemas do
     not express (see PROFILE below), e.g. columnLineage transformation types.

The schemas are read from a spec folder (see find_spec_dir) and never fetched: every $ref is
resolved against that folder, keyed by each schema's `$id`. The folder's files must match
spec/SHA256SUMS beside this script.

Output: one line per invalid event, `FILE:LINE: JSONPATH: reason`, then `N events, M invalid`.
Exit status: 0 all valid, 1 some event invalid or no event found, 2 usage error.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

try:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import ValidationError, best_match
    from referencing import Registry, Resource
    from referencing.exceptions import NoSuchResource, Unresolvable
except ImportError as exc:  # pragma: no cover - exercised only without the requirements
    sys.exit(f"validate.py: {exc}; install with: pip install -r tools/openlineage/requirements.txt")

HERE = Path(__file__).resolve().parent
CORE_ID = "https://openlineage.io/spec/2-0-2/OpenLineage.json"
EVENT_SUFFIXES = (".ndjson", ".jsonl")

# Where each facet container sits in an event, and which base facet its facets extend.
FACET_KINDS = ("RunFacet", "JobFacet", "DatasetFacet", "InputDatasetFacet", "OutputDatasetFacet")

# --- medallion profile: rules the JSON schemas leave to prose ----------------------------------
# ColumnLineageDatasetFacet 1-2-0 says "Allowed values are: DIRECT, INDIRECT" only in a
# description; the subtypes are those of the OpenLineage Java client's TransformationInfo.
TRANSFORMATION_SUBTYPES = {
    "DIRECT": {"IDENTITY", "TRANSFORMATION", "AGGREGATION"},
    "INDIRECT": {"JOIN", "GROUP_BY", "FILTER", "SORT", "WINDOW", "CONDITIONAL"},
}
S3_NAMESPACE = re.compile(r"^s3://[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$")
KAFKA_NAMESPACE = re.compile(r"^kafka://[^/:\s]+:\d+$")


class UsageError(Exception):
    """A problem with the command line or the spec folder (exit 2)."""


# --- the spec folder -----------------------------------------------------------------------------

def find_spec_dir(explicit: str | None) -> Path:
    """The folder holding OpenLineage.json and facets/*.json.

    In order: --spec-dir; $OPENLINEAGE_SPEC_DIR; tools/openlineage/spec/ (beside this script);
    shared/openlineage/spec/ beside the repository (the layout of CI's shared/ copy).
    """
    candidates: list[Path] = []
    if explicit:
        candidates.append(Path(explicit))
    elif os.environ.get("OPENLINEAGE_SPEC_DIR"):
        candidates.append(Path(os.environ["OPENLINEAGE_SPEC_DIR"]))
    else:
        repo = HERE.parent.parent
        candidates += [HERE / "spec", repo.parent / "shared" / "openlineage" / "spec"]
    for c in candidates:
        if (c / "OpenLineage.json").is_file():
            return c
    tried = ", ".join(str(c) for c in candidates)
    raise UsageError(
        f"no OpenLineage.json found in: {tried}. Put the schema files listed in "
        f"{HERE / 'spec' / 'SHA256SUMS'} there (see spec/SOURCE.md) or pass --spec-dir"
    )


def expected_hashes() -> dict[str, str]:
    sums = HERE / "spec" / "SHA256SUMS"
    out: dict[str, str] = {}
    for line in sums.read_text().splitlines():
        if line.strip():
            digest, rel = line.split(None, 1)
            out[rel.strip()] = digest
    return out


@dataclass
class Spec:
    registry: Registry
    core: dict[str, Any]
    # facet kind -> facet key -> (schema $id, $defs name)
    facets_by_key: dict[str, dict[str, tuple[str, str]]]
    # schema $id (no fragment) -> file name, for messages
    files_by_id: dict[str, str]


def load_spec(spec_dir: Path, verify: bool = True) -> Spec:
    hashes = expected_hashes()
    if verify:
        for rel, digest in sorted(hashes.items()):
            p = spec_dir / rel
            if not p.is_file():
                raise UsageError(f"{p}: missing (listed in spec/SHA256SUMS)")
            actual = hashlib.sha256(p.read_bytes()).hexdigest()
            if actual != digest:
                raise UsageError(f"{p}: sha256 {actual} is not the recorded {digest}")
    files = [spec_dir / "OpenLineage.json"] + sorted((spec_dir / "facets").glob("*.json"))
    resources = []
    facets_by_key: dict[str, dict[str, tuple[str, str]]] = {k: {} for k in FACET_KINDS}
    files_by_id: dict[str, str] = {}
    core = None
    for path in files:
        try:
            contents = json.loads(path.read_text())
        except ValueError as exc:
            raise UsageError(f"{path}: not JSON: {exc}") from exc
        sid = contents.get("$id")
        if not sid:
            raise UsageError(f"{path}: no $id")
        files_by_id[sid] = path.name
        resources.append((sid, Resource.from_contents(contents)))
        if sid == CORE_ID:
            core = contents
            continue
        # A facet file: {"$defs": {Name: {allOf: [{$ref: core#/$defs/<Kind>}, ...]}},
        #                "properties": {facetKey: {$ref: "#/$defs/Name"}}}
        for key, prop in contents.get("properties", {}).items():
            ref = prop.get("$ref", "")
            name = ref.rsplit("/", 1)[-1]
            definition = contents.get("$defs", {}).get(name, {})
            kind = None
            for part in definition.get("allOf", []):
                base = part.get("$ref", "")
                if base.startswith(CORE_ID + "#/$defs/"):
                    kind = base.rsplit("/", 1)[-1]
            if kind in facets_by_key:
                facets_by_key[kind][key] = (sid, name)
    if core is None:
        raise UsageError(f"{spec_dir}/OpenLineage.json: $id is not {CORE_ID}")
    registry = Registry(retrieve=_refuse_retrieval).with_resources(resources)
    return Spec(registry, core, facets_by_key, files_by_id)


def _refuse_retrieval(uri: str):
    # Offline by design: a $ref that is not one of the vendored files is an error, not a download.
    raise NoSuchResource(ref=uri)


def _format_checker():
    checker = Draft202012Validator.FORMAT_CHECKER
    # jsonschema only checks "date-time" and "uri" if optional packages are installed; without
    # them such formats pass silently, so refuse to run rather than give false passes.
    missing = [f for f, bad in (("date-time", "not-a-time"), ("uri", "no scheme")) if checker.conforms(bad, f)]
    if missing:
        raise UsageError(
            f"format checkers for {', '.join(missing)} are not active; "
            "pip install -r tools/openlineage/requirements.txt (rfc3339-validator, rfc3986-validator)"
        )
    return checker


# --- validating one event ------------------------------------------------------------------------

@dataclass
class Problem:
    path: str
    reason: str
    source: str  # "spec", "facet <File>" or "profile"

    def render(self) -> str:
        return f"{self.path}: {self.reason} [{self.source}]"


@dataclass
class Result:
    problems: list[Problem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _key(path: str, part: Any) -> str:
    """path extended by an array index or an object key, JSONPath style."""
    if isinstance(part, int):
        return f"{path}[{part}]"
    return f"{path}.{part}" if re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", str(part)) else f"{path}[{json.dumps(part)}]"


def _join(prefix: str, error: ValidationError) -> str:
    path = prefix
    for part in error.absolute_path:
        path = _key(path, part)
    return path


def _leaf(error: ValidationError) -> ValidationError:
    # anyOf / oneOf / allOf failures carry their sub-errors in .context: report the most relevant one.
    while error.context:
        error = best_match(error.context)
    return error


def _short(value: Any, limit: int = 80) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class Validator:
    def __init__(self, spec: Spec, profile: bool = True, strict: bool = False):
        self.spec = spec
        self.profile = profile
        self.strict = strict
        self._checker = _format_checker()
        self._cache: dict[str, Draft202012Validator] = {}

    def _validator(self, ref: str) -> Draft202012Validator:
        if ref not in self._cache:
            self._cache[ref] = Draft202012Validator(
                {"$ref": ref}, registry=self.spec.registry, format_checker=self._checker
            )
        return self._cache[ref]

    def _errors(self, ref: str, instance: Any, prefix: str, source: str) -> list[Problem]:
        out = []
        try:
            errors = sorted(self._validator(ref).iter_errors(instance), key=lambda e: list(map(str, e.absolute_path)))
            for e in errors:
                leaf = _leaf(e)  # its absolute_path runs from the instance root
                out.append(Problem(_join(prefix, leaf), leaf.message, source))
        except Unresolvable as exc:  # a $ref outside the vendored files
            out.append(Problem(prefix, f"cannot resolve schema reference: {exc}", source))
        return out

    def validate(self, event: Any) -> Result:
        res = Result()
        if not isinstance(event, dict):
            res.problems.append(Problem("$", f"{_short(event)} is not a JSON object", "spec"))
            return res
        kind = "RunEvent" if "run" in event else "DatasetEvent" if "dataset" in event else "JobEvent"
        res.problems += self._errors(f"{CORE_ID}#/$defs/{kind}", event, "$", "spec")
        if not res.problems:
            res.problems += self._errors(CORE_ID, event, "$", "spec")
        for container, kind_name, path in _facet_containers(event):
            self._check_facets(container, kind_name, path, res)
        if self.profile:
            res.problems += profile_problems(event)
        # The same fault can be found by the core schema and a facet schema: report it once.
        seen, unique = set(), []
        for p in res.problems:
            if (p.path, p.reason) not in seen:
                seen.add((p.path, p.reason))
                unique.append(p)
        res.problems = unique
        return res

    def _check_facets(self, container: Any, kind: str, path: str, res: Result) -> None:
        if not isinstance(container, dict):
            return  # the core schema reports it
        known = self.spec.facets_by_key[kind]
        for key, facet in container.items():
            fpath = _key(path, key)
            url = facet.get("_schemaURL") if isinstance(facet, dict) else None
            base, _, fragment = url.partition("#") if isinstance(url, str) else ("", "", "")
            if key in known:
                sid, name = known[key]
                if base and base != sid:
                    msg = f"{fpath}: _schemaURL names {base}; validated against the vendored {sid}"
                    if base in self.spec.files_by_id:
                        res.problems.append(Problem(f"{fpath}._schemaURL", f"facet key {key!r} is a {name}, but _schemaURL names {url}", f"facet {self.spec.files_by_id[sid]}"))
                    else:
                        res.warnings.append(msg)
                res.problems += self._errors(f"{sid}#/$defs/{name}", facet, fpath, f"facet {self.spec.files_by_id[sid]}")
            elif base in self.spec.files_by_id and fragment:
                res.problems += self._errors(url, facet, fpath, f"facet {self.spec.files_by_id[base]}")
            else:
                msg = f"{fpath}: no vendored schema for this {kind} (key {key!r}, _schemaURL {url!r}); checked as a {kind} only"
                if self.strict:
                    res.problems.append(Problem(fpath, f"no vendored schema for facet {key!r} (--strict)", "facet"))
                else:
                    res.warnings.append(msg)


def _facet_containers(event: dict) -> Iterator[tuple[Any, str, str]]:
    run, job = event.get("run"), event.get("job")
    if isinstance(run, dict) and "facets" in run:
        yield run["facets"], "RunFacet", "$.run.facets"
    if isinstance(job, dict) and "facets" in job:
        yield job["facets"], "JobFacet", "$.job.facets"
    for side, extra, kind in (("inputs", "inputFacets", "InputDatasetFacet"), ("outputs", "outputFacets", "OutputDatasetFacet")):
        datasets = event.get(side)
        if not isinstance(datasets, list):
            continue
        for i, ds in enumerate(datasets):
            if not isinstance(ds, dict):
                continue
            if "facets" in ds:
                yield ds["facets"], "DatasetFacet", f"$.{side}[{i}].facets"
            if extra in ds:
                yield ds[extra], kind, f"$.{side}[{i}].{extra}"
    ds = event.get("dataset")
    if isinstance(ds, dict) and "facets" in ds:
        yield ds["facets"], "DatasetFacet", "$.dataset.facets"


# --- medallion profile ---------------------------------------------------------------------------

def profile_problems(event: dict) -> list[Problem]:
    """Checks beyond the JSON schemas, for what medallion emits (README: "Profile checks")."""
    out: list[Problem] = []

    def add(path: str, reason: str) -> None:
        out.append(Problem(path, reason, "profile"))

    inputs = [d for d in event.get("inputs") or [] if isinstance(d, dict)]
    input_ids = {(d.get("namespace"), d.get("name")) for d in inputs}
    for side in ("inputs", "outputs"):
        for i, ds in enumerate(event.get(side) or []):
            if not isinstance(ds, dict):
                continue
            ns, name = ds.get("namespace"), ds.get("name")
            base = f"$.{side}[{i}]"
            if isinstance(ns, str) and isinstance(name, str):
                if ns == "file" and not name.startswith("/"):
                    add(f"{base}.name", f"{_short(name)}: a dataset in namespace 'file' is named by its absolute path")
                elif ns.startswith("s3://") and (not S3_NAMESPACE.match(ns) or name.startswith("/")):
                    add(f"{base}.namespace", f"{_short(ns)} / {_short(name)}: S3 is namespace s3://bucket and name = key prefix without a leading '/'")
                elif ns.startswith("kafka://") and not KAFKA_NAMESPACE.match(ns):
                    add(f"{base}.namespace", f"{_short(ns)}: Kafka is namespace kafka://host:port")
            facets = ds.get("facets") if isinstance(ds.get("facets"), dict) else {}
            sym = facets.get("symlinks")
            if isinstance(sym, dict):
                for j, ident in enumerate(sym.get("identifiers") or []):
                    if isinstance(ident, dict) and str(ident.get("namespace", "")).startswith("medallion://"):
                        if ident.get("type") != "TABLE":
                            add(f"{base}.facets.symlinks.identifiers[{j}].type", f"{_short(ident.get('type'))}: a medallion catalog identifier has type TABLE")
                        if not re.match(r"^[a-z0-9_]+\.[A-Za-z0-9_]+$", str(ident.get("name", ""))):
                            add(f"{base}.facets.symlinks.identifiers[{j}].name", f"{_short(ident.get('name'))}: a catalog name is <layer>.<table>")
            cl = facets.get("columnLineage")
            if side == "outputs" and isinstance(cl, dict):
                out += _column_lineage_problems(cl, f"{base}.facets.columnLineage", input_ids, facets.get("schema"))
    return out


def _column_lineage_problems(cl: dict, path: str, input_ids: set, schema: Any) -> list[Problem]:
    out: list[Problem] = []
    schema_fields = None
    if isinstance(schema, dict) and isinstance(schema.get("fields"), list):
        schema_fields = {f.get("name") for f in schema["fields"] if isinstance(f, dict)}

    def check_input(ifield: Any, ipath: str) -> None:
        if not isinstance(ifield, dict):
            return
        if input_ids and (ifield.get("namespace"), ifield.get("name")) not in input_ids:
            out.append(Problem(ipath, f"input dataset {ifield.get('namespace')}:{ifield.get('name')} is not among the event's inputs", "profile"))
        for k, t in enumerate(ifield.get("transformations") or []):
            if not isinstance(t, dict):
                continue
            ttype, sub = t.get("type"), t.get("subtype")
            if "type" not in t:
                continue  # the facet schema reports it
            if ttype not in TRANSFORMATION_SUBTYPES:
                out.append(Problem(f"{ipath}.transformations[{k}].type", f"{_short(ttype)} is not one of ['DIRECT', 'INDIRECT']", "profile"))
            elif sub is not None and sub not in TRANSFORMATION_SUBTYPES[ttype]:
                out.append(Problem(f"{ipath}.transformations[{k}].subtype", f"{_short(sub)} is not a subtype of {ttype} {sorted(TRANSFORMATION_SUBTYPES[ttype])}", "profile"))

    fields = cl.get("fields")
    if isinstance(fields, dict):
        for col, spec in fields.items():
            cpath = _key(f"{path}.fields", col)
            if schema_fields is not None and col not in schema_fields:
                out.append(Problem(cpath, f"column {col!r} is not in the output's schema facet", "profile"))
            if isinstance(spec, dict):
                for n, ifield in enumerate(spec.get("inputFields") or []):
                    check_input(ifield, f"{cpath}.inputFields[{n}]")
    for n, ifield in enumerate(cl.get("dataset") or []):
        check_input(ifield, f"{path}.dataset[{n}]")
        if isinstance(ifield, dict):
            for k, t in enumerate(ifield.get("transformations") or []):
                if isinstance(t, dict) and t.get("type") == "DIRECT":
                    out.append(Problem(f"{path}.dataset[{n}].transformations[{k}].type", "dataset-level lineage is INDIRECT, not DIRECT", "profile"))
    return out


# --- files ---------------------------------------------------------------------------------------

def event_files(paths: Iterable[str]) -> list[Path]:
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            files += sorted(f for f in p.rglob("*") if f.is_file() and f.name.endswith(EVENT_SUFFIXES))
        elif p.is_file():
            files.append(p)
        else:
            raise UsageError(f"{p}: no such file or folder")
    return files


def read_events(path: Path) -> Iterator[tuple[int, Any, str | None]]:
    """(line number, event or None, JSON error or None) for each non-blank line."""
    with path.open("r", encoding="utf-8", errors="replace") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                yield n, json.loads(line), None
            except ValueError as exc:
                yield n, None, f"not JSON: {exc}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("paths", nargs="+", help="NDJSON files, or folders searched for *.ndjson / *.jsonl")
    ap.add_argument("--spec-dir", help="folder with OpenLineage.json and facets/ (default: see find_spec_dir)")
    ap.add_argument("--no-profile", action="store_true", help="only the JSON schemas, not the medallion profile checks")
    ap.add_argument("--strict", action="store_true", help="a facet with no vendored schema makes its event invalid")
    ap.add_argument("--all-errors", action="store_true", help="one line per problem instead of one per event")
    ap.add_argument("-v", "--verbose", action="store_true", help="print warnings (facets checked only as BaseFacet, ...)")
    args = ap.parse_args(argv)
    try:
        spec = load_spec(find_spec_dir(args.spec_dir))
        validator = Validator(spec, profile=not args.no_profile, strict=args.strict)
        files = event_files(args.paths)
    except UsageError as exc:
        print(f"validate.py: {exc}", file=sys.stderr)
        return 2
    total = invalid = warned = 0
    for path in files:
        for line, event, json_error in read_events(path):
            total += 1
            if json_error:
                problems, warnings = [Problem("$", json_error, "json")], []
            else:
                r = validator.validate(event)
                problems, warnings = r.problems, r.warnings
            warned += len(warnings)
            if args.verbose:
                for w in warnings:
                    print(f"{path}:{line}: warning: {w}", file=sys.stderr)
            if problems:
                invalid += 1
                if args.all_errors:
                    for p in problems:
                        print(f"{path}:{line}: {p.render()}")
                else:
                    more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
                    print(f"{path}:{line}: {problems[0].render()}{more}")
    print(f"{total} events, {invalid} invalid")
    if warned and not args.verbose:
        print(f"validate.py: {warned} warnings (facets without a vendored schema, ...); -v lists them", file=sys.stderr)
    if total == 0:
        print("validate.py: no event found", file=sys.stderr)
        return 1
    return 1 if invalid else 0


if __name__ == "__main__":
    sys.exit(main())
