"""The lines of a log that a CloudWatch Logs JSON metric filter pattern counts (the proof checks the
backup alarm's pattern, Terraform's `taken_pattern`, against what the engine really logs).

Usage: log_pattern.py PATTERN LOGFILE
  Prints each line the pattern matches; exit 0 when at least one does, 1 when none does, 2 when
  the pattern is not of the form this evaluates: `{ ($.a = "x") && ($.b = "y*") ... }` (string
  equality of top-level fields, `*` as a wildcard as CloudWatch reads it; a line that is not a
  JSON object never matches, as in CloudWatch).
"""
import fnmatch
import json
import re
import sys

TERM = re.compile(r'^\(?\s*\$\.([A-Za-z_][A-Za-z0-9_]*)\s*=\s*"([^"]*)"\s*\)?$')


def parse(pattern):
    p = pattern.strip()
    if not (p.startswith("{") and p.endswith("}")):
        return None
    terms = []
    for part in p[1:-1].split("&&"):
        m = TERM.match(part.strip())
        if not m:
            return None
        terms.append((m.group(1), m.group(2)))
    return terms or None


def matches(terms, line):
    try:
        event = json.loads(line)
    except ValueError:
        return False
    if not isinstance(event, dict):
        return False
    return all(isinstance(event.get(k), str) and fnmatch.fnmatchcase(event[k], v.replace("[", "[[]")) for k, v in terms)


def main(argv):
    if len(argv) != 2:
        print(__doc__)
        return 2
    terms = parse(argv[0])
    if terms is None:
        print(f"not a pattern this evaluates: {argv[0]}")
        return 2
    hits = [l.rstrip("\n") for l in open(argv[1], errors="replace") if matches(terms, l)]
    for h in hits:
        print(h)
    return 0 if hits else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
