#!/usr/bin/env python3
"""Writes the environments file a promotion runs with: the environments of the promotion
order, each entry copied value for value from where it is defined.

Usage: compose_environments.py OUT SOURCE[:ENV[,ENV...]] [SOURCE[:ENV...] ...] [--set ENV.FIELD=VALUE ...]

SOURCE is an environments file: the repository's environments.yaml (for dev, whose lake is
local), or a deployed environment's rendered configuration, fetched with
`aws s3 cp s3://<lake>/_medallion/environments.yaml staging.yaml` or
`terraform output -raw engine_config_yaml > staging.yaml`. Without `:ENV`, every environment
of SOURCE is taken.

Why: `medallion promote --from A --to B` needs A and B in one file, and the engine hashes B's
entry (JSON, keys sorted) into the release; a deployed engine runs only releases made for the
entry it reads (Terraform's rendering). So B's entry must be the rendered one, not the
repository's example-account copy. Each copied entry is checked to parse back to the same
value. Relative lake paths (dev's `./lake/dev`) resolve against OUT's folder.

--set ENV.FIELD=VALUE (VALUE read as YAML) changes a field of an environment that has no
promote_from, i.e. one nothing is promoted into, whose entry is in no release: e.g.
`--set dev.streaming=true` for a CI dev that streams the Kafka jobs before they are promoted
(the repository's dev has `streaming: false`). Environments with promote_from are never changed.
"""
import json
import sys

import yaml


def canonical(value):
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def main(argv):
    if len(argv) < 2 or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 2
    out, sources, sets = argv[0], [], []
    rest = argv[1:]
    while rest:
        a = rest.pop(0)
        if a == "--set" and rest:
            sets.append(rest.pop(0))
        elif a.startswith("--set="):
            sets.append(a[len("--set="):])
        else:
            sources.append(a)
    envs, origin = {}, {}
    for src in sources:
        path, _, names = src.partition(":")
        with open(path) as fh:
            defined = (yaml.safe_load(fh) or {}).get("environments") or {}
        wanted = [n for n in names.split(",") if n] or list(defined)
        for name in wanted:
            if name not in defined:
                print(f"compose_environments: {path} does not define `{name}` (it has {sorted(defined)})", file=sys.stderr)
                return 1
            if name in envs:
                print(f"compose_environments: `{name}` is taken twice ({path})", file=sys.stderr)
                return 1
            envs[name] = defined[name]
            origin[name] = path
    for spec in sets:
        target, _, value = spec.partition("=")
        name, _, field = target.partition(".")
        if not value or not field or name not in envs:
            print(f"compose_environments: --set {spec}: want ENV.FIELD=VALUE for an environment taken ({sorted(envs)})", file=sys.stderr)
            return 1
        if envs[name].get("promote_from"):
            print(f"compose_environments: --set {spec}: `{name}` has promote_from; its entry is part of every release "
                  "promoted into it and must stay exactly as rendered", file=sys.stderr)
            return 1
        envs[name] = dict(envs[name], **{field: yaml.safe_load(value)})
        origin[name] += f" with {field}={value}"
    text = ("# Composed by deploy/ci/compose_environments.py: " + "; ".join(f"{n} from {origin[n]}" for n in envs) + "\n"
            + yaml.safe_dump({"environments": envs}, sort_keys=False, default_flow_style=False, width=1000))
    back = yaml.safe_load(text)["environments"]
    for name, entry in envs.items():
        if canonical(back[name]) != canonical(entry):
            print(f"compose_environments: `{name}` does not round-trip", file=sys.stderr)
            return 1
    with open(out, "w") as fh:
        fh.write(text)
    print(f"compose_environments: {out}: " + ", ".join(f"{n} from {origin[n]}" for n in envs))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
