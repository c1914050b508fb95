"""A small IAM policy evaluator for the proof (deploy/tests/proof): enough for the statements
of deploy/terraform/modules/lake. Used by moto_iam.py (bucket policies, live) and by
check_lake.py (key and bucket policies, offline). Standard library only.
"""
import fnmatch


# Enough of IAM's evaluation for the statements of modules/lake: Effect/Action/Resource/
# Principal and the condition operators used there (StringEquals, StringNotEqualsIfExists,
# Bool, ArnLike, ArnEquals). An explicit Deny wins; otherwise an Allow is needed. A principal
# `arn:aws:iam::<account>:root` in a resource policy stands for every principal of that account
# (their own IAM policies must allow the request too); `aws:PrincipalArn` is the principal's ARN.
def _as_list(v):
    return v if isinstance(v, list) else [v]


def _cond_holds(op, key, want, ctx):
    want = [str(w) for w in _as_list(want)]
    if_exists = op.endswith("IfExists")
    base = op[:-len("IfExists")] if if_exists else op
    if key not in ctx:
        return if_exists or base.startswith("StringNot")
    got = str(ctx[key])
    if base == "StringEquals":
        return got in want
    if base == "StringNotEquals":
        return got not in want
    if base == "Bool":
        return got.lower() in [w.lower() for w in want]
    if base in ("ArnLike", "StringLike", "ArnEquals"):
        return any(fnmatch.fnmatchcase(got, w) for w in want)
    raise ValueError(f"condition operator {op} is not evaluated by policy_eval.py")


def evaluate(policy, action, resource, ctx, principal=None):
    """'Allow', 'Deny' or 'implicit deny' for one request against one policy document."""
    allowed = False
    if principal is not None and not principal.endswith(":root"):
        ctx = dict({"aws:PrincipalArn": principal}, **ctx)
    for st in _as_list(policy["Statement"]):
        if not any(fnmatch.fnmatchcase(action.lower(), a.lower()) for a in _as_list(st.get("Action", []))):
            continue
        if not any(fnmatch.fnmatchcase(resource, r) for r in _as_list(st.get("Resource", "*"))):
            continue
        if principal is not None and "Principal" in st:
            p = st["Principal"]
            aws = _as_list(p.get("AWS", [])) if isinstance(p, dict) else [p]
            account_root = ":".join(principal.split(":")[:5]) + ":root" if principal.startswith("arn:aws:iam::") else None
            if p != "*" and principal not in aws and "*" not in aws and account_root not in aws:
                continue
        conds = st.get("Condition", {})
        if not all(_cond_holds(op, k, v, ctx) for op, kv in conds.items() for k, v in kv.items()):
            continue
        if st["Effect"] == "Deny":
            return "Deny"
        allowed = True
    return "Allow" if allowed else "implicit deny"


