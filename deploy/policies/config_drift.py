#!/usr/bin/env python3
"""The repository's environments.yaml entries for the AWS environments equal what Terraform
renders (one source of truth; no hand-copied names).

Usage: config_drift.py ENVIRONMENTS_YAML ENV=PLAN_JSON [ENV=PLAN_JSON ...]

For each ENV, the plan's output `engine_environment_static` (lake, Glue prefix and region,
retention, streaming, description, audit, promote_from, gates: everything known before apply)
must equal the ENV entry of ENVIRONMENTS_YAML field by field, as JSON values (an integer is not
a float, a missing field is not a null one: the engine hashes each entry as JSON with sorted
keys into every release, and a deployed engine refuses to run a release made for a different
entry), and the entry's `kms_key` must be a key ARN in the ENV account and region (the bucket
policy pins the ARN; an alias or key id is refused by S3).

`kafka` (known only in part before apply: Terraform renders `{ brokers: <the MSK cluster's IAM
bootstrap brokers>, auth: msk_iam }` with streaming): the plan's output `engine_kafka_static`
(auth, cluster_name, region, port, broker_count; null without streaming) decides. An entry's
`kafka` must have exactly `brokers` and `auth`, its auth must be the rendered one, and its
brokers exactly broker_count distinct `b-<n>.<cluster_name>.<...>.kafka.<region>.amazonaws.com:<port>`
(n = 1..broker_count); an entry with `kafka` where Terraform renders none fails. An entry without
`kafka` where Terraform renders one is reported (NOTE) but passes: its brokers exist only after
apply, and the repository's example entries carry none (a local run of that entry reads no
brokers from it).
Prints one line per environment; exit 1 on any difference.
"""
import json
import re
import sys

import yaml


def canonical(value):
    """The value as the engine hashes it (JSON, keys sorted; 900 and 900.0 differ)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def kafka_problems(env, entry, static, notes):
    """The entry's `kafka` against what Terraform renders (output engine_kafka_static)."""
    k = entry.get("kafka")
    if static is None:
        return [] if k is None else [f"environments.{env}.kafka = {canonical(k)}, but Terraform renders no kafka entry "
                                     f"(the environment does not stream: enable_streaming in platform.yaml)"]
    if k is None:
        notes.append(f"environments.{env} has no kafka entry; Terraform renders {{ brokers: <{static.get('cluster_name')}'s "
                     f"IAM bootstrap brokers, known after apply>, auth: {static.get('auth')} }}")
        return []
    if not isinstance(k, dict):
        return [f"environments.{env}.kafka = {canonical(k)}: must be {{ brokers, auth }}"]
    problems = []
    for f in sorted(set(k) - {"brokers", "auth"}):
        problems.append(f"environments.{env}.kafka.{f} is not rendered by Terraform (it renders brokers and auth)")
    if canonical(k.get("auth")) != canonical(static.get("auth")):
        problems.append(f"environments.{env}.kafka.auth = {canonical(k.get('auth')) if 'auth' in k else '(missing)'}, "
                        f"Terraform renders {canonical(static.get('auth'))}")
    brokers = k.get("brokers")
    pattern = (rf"b-(\d+)\.{re.escape(str(static.get('cluster_name')))}\.(?:[a-z0-9-]+\.)*kafka\."
               rf"{re.escape(str(static.get('region')))}\.amazonaws\.com:{static.get('port')}")
    listed = brokers.split(",") if isinstance(brokers, str) else []
    numbers = [m.group(1) for m in (re.fullmatch(pattern, b) for b in listed) if m]
    want = [str(i) for i in range(1, int(static.get("broker_count") or 0) + 1)]
    if not isinstance(brokers, str) or len(numbers) != len(listed) or sorted(numbers, key=int) != want:
        problems.append(f"environments.{env}.kafka.brokers = {canonical(brokers) if 'brokers' in k else '(missing)'}: Terraform "
                        f"renders the {static.get('broker_count')} IAM bootstrap brokers of MSK cluster {static.get('cluster_name')} "
                        f"(b-1..b-{static.get('broker_count')}.{static.get('cluster_name')}.<id>.kafka.{static.get('region')}"
                        f".amazonaws.com:{static.get('port')}, comma-separated)")
    return problems


def main(argv):
    if len(argv) < 2:
        print(__doc__)
        return 2
    with open(argv[0]) as fh:
        repo = (yaml.safe_load(fh) or {}).get("environments") or {}
    failed = 0
    for pair in argv[1:]:
        env, plan_path = pair.split("=", 1)
        with open(plan_path) as fh:
            plan = json.load(fh)
        outs = plan.get("planned_values", {}).get("outputs", {})
        rendered = (outs.get("engine_environment_static") or {}).get("value")
        # the environment's account and region as Terraform renders them from the one definition
        # (deploy/terraform/platform.yaml): the Glue catalog of the rendered entry
        glue = ((rendered or {}).get("catalog") or {}).get("glue") or {} if isinstance(rendered, dict) else {}
        account, region = glue.get("catalog_id"), glue.get("region")
        problems, notes = [], []
        if not isinstance(rendered, dict):
            problems.append("the plan has no known output engine_environment_static")
        entry = repo.get(env)
        if not isinstance(entry, dict):
            problems.append(f"{argv[0]} has no environment `{env}`")
        if not problems:
            for k, v in rendered.items():
                if k not in entry or canonical(entry[k]) != canonical(v):
                    problems.append(f"environments.{env}.{k} = {canonical(entry.get(k)) if k in entry else '(missing)'}, "
                                    f"Terraform renders {canonical(v)}")
            extra = set(entry) - set(rendered) - {"kms_key", "kafka"}
            if "engine_kafka_static" not in outs:
                problems.append("the plan has no output engine_kafka_static (the rendered kafka entry's known parts)")
            else:
                problems.extend(kafka_problems(env, entry, (outs.get("engine_kafka_static") or {}).get("value"), notes))
            for k in sorted(extra):
                problems.append(f"environments.{env}.{k} is not rendered by Terraform (remove it or render it in modules/lake)")
            key = str(entry.get("kms_key", ""))
            if not re.fullmatch(rf"arn:aws:kms:{re.escape(str(region))}:{account}:key/[0-9a-zA-Z-]+", key):
                problems.append(f"environments.{env}.kms_key = {key!r}: must be a key ARN in account {account}, region {region} "
                                f"(Terraform renders the key's ARN; the bucket policy refuses aliases and key ids)")
        status = "FAIL" if problems else "PASS"
        failed += bool(problems)
        print(f"CONFIG {status} [{env}] {argv[0]} matches what Terraform renders")
        for p in problems:
            print(f"    - {p}")
        for n in notes:
            print(f"    NOTE {n}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
