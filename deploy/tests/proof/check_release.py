"""The staging release role (modules/lake, iam.tf) after it promoted the release (run.sh): it
can read what a promotion reads and append to the audit trail, nothing else.

Usage: check_release.py OUTPUTS_JSON ENDPOINT ROLE_ENV_FILE
  (deployer credentials in the environment; ROLE_ENV_FILE: the release role's
  `export AWS_ACCESS_KEY_ID=… AWS_SECRET_ACCESS_KEY=… AWS_SESSION_TOKEN=…` line)
Prints one `ok:` line per proven fact; exits 1 with `FAIL:` lines otherwise.

moto's IAM checks the S3 and Glue requests below against the role's real policies (Glue on the
resource ARNs moto_iam.py adds). KMS is evaluated offline (policy_eval.py): moto authorises KMS
on `*` and never evaluates conditions such as kms:ViaService.
"""
import json
import re
import sys

import boto3
import botocore

from policy_eval import evaluate

FAILS = []
AUDIT = "_medallion/audit/"
RECORD = re.compile(r"^_medallion/audit/\d{20}\.json$")


def ok(cond, msg):
    print(("ok:   " if cond else "FAIL: ") + msg)
    if not cond:
        FAILS.append(msg)


def error_code(fn):
    try:
        fn()
    except botocore.exceptions.ClientError as e:
        return e.response["Error"]["Code"]
    return None


def main(outputs_path, endpoint, role_env):
    lake = json.load(open(outputs_path))["lake"]["value"]
    st = lake["staging"]
    bucket, key_arn = st["bucket"], st["kms_key_arn"]
    creds = dict(re.findall(r"(AWS_[A-Z_]+)=(\S+)", open(role_env).read()))
    role = boto3.session.Session(aws_access_key_id=creds["AWS_ACCESS_KEY_ID"], aws_secret_access_key=creds["AWS_SECRET_ACCESS_KEY"],
                                 aws_session_token=creds["AWS_SESSION_TOKEN"], region_name="eu-west-1")
    s3 = role.client("s3", endpoint_url=endpoint)
    glue = role.client("glue", endpoint_url=endpoint)
    admin = boto3.session.Session(region_name="eu-west-1")
    a3 = admin.client("s3", endpoint_url=endpoint)
    iam = admin.client("iam", endpoint_url=endpoint)
    kms = admin.client("kms", endpoint_url=endpoint)

    # 1. the promotion it recorded
    keys = [o["Key"] for p in a3.get_paginator("list_objects_v2").paginate(Bucket=bucket) for o in p.get("Contents", [])]
    records = sorted(k for k in keys if RECORD.match(k))
    promoted = [k for k in records if json.loads(a3.get_object(Bucket=bucket, Key=k)["Body"].read()).get("action") == "release_promoted"]
    ok(len(promoted) == 1, f"one release_promoted record in the staging trail ({promoted})")
    if promoted:
        rec = json.loads(a3.get_object(Bucket=bucket, Key=promoted[0])["Body"].read())
        who = rec.get("who") or {}
        ok(rec["detail"].get("from") == "dev" and sorted(p["pipeline"] for p in rec["detail"]["pipelines"])
           == ["clickstream", "customers", "orders", "sensor_readings"],
           f"it promoted the four pipelines from dev (release {rec['detail'].get('release', '')[:12]}, by {who})")
        ok(records.index(promoted[0]) == 0, "it is the first record of the trail: staging ran nothing before the promotion")

    # 2. reads: metadata yes, data no
    layer_keys = [k for k in keys if k.split("/")[0] in st["glue_databases"]]
    logs = [k for k in layer_keys if "/_delta_log/" in k and k.endswith(".json")]
    data = [k for k in layer_keys if k.endswith(".parquet") and "/_delta_log/" not in k]
    ok(logs and error_code(lambda: s3.get_object(Bucket=bucket, Key=logs[0])) is None,
       f"the role reads a Delta log ({logs[:1]})")
    ok(data and error_code(lambda: s3.get_object(Bucket=bucket, Key=data[0])) == "AccessDenied",
       f"the role cannot read a data file ({data[:1]}): AccessDenied")
    ok(error_code(lambda: s3.get_object(Bucket=bucket, Key="_medallion/environments.yaml")) is None,
       "the role reads the rendered configuration (the entry the release is made for)")

    # 3. writes: nothing but the trail
    for key in ("bronze/orders/intruder.parquet", "silver/orders/_delta_log/00000000000000000099.json", "_medallion/environments.yaml"):
        code = error_code(lambda: s3.put_object(Bucket=bucket, Key=key, Body=b"x", ServerSideEncryption="aws:kms", SSEKMSKeyId=key_arn))
        ok(code == "AccessDenied", f"the role cannot write {key}: {code}")
    if records:
        vid = a3.list_object_versions(Bucket=bucket, Prefix=records[0])["Versions"][0]["VersionId"]
        ok(error_code(lambda: s3.delete_object(Bucket=bucket, Key=records[0])) == "AccessDenied"
           and error_code(lambda: s3.delete_object(Bucket=bucket, Key=records[0], VersionId=vid)) == "AccessDenied",
           f"the role cannot delete {records[0]} (marker or version): AccessDenied")
    db = st["glue_databases"]["silver"]
    ok(error_code(lambda: glue.get_tables(DatabaseName=db)) is None, f"the role reads the Glue tables of {db}")
    code = error_code(lambda: glue.create_table(DatabaseName=db, TableInput={"Name": "intruder"}))
    ok(code in ("AccessDenied", "AccessDeniedException", "403"), f"the role cannot create a Glue table in {db}: {code}")
    code = error_code(lambda: glue.create_database(DatabaseInput={"Name": "medallion_staging_intruder"}))
    ok(code in ("AccessDenied", "AccessDeniedException", "403"), f"the role cannot create a Glue database: {code}")

    # 4. offline: the key, only through S3 and Glue, allowed by its role policy and the key policy
    pols = [iam.get_role_policy(RoleName=st["release_role"], PolicyName=n)["PolicyDocument"]
            for n in iam.list_role_policies(RoleName=st["release_role"])["PolicyNames"]]
    key_policy = json.loads(kms.get_key_policy(KeyId=key_arn, PolicyName="default")["Policy"])
    account = key_arn.split(":")[4]

    def verdict(action, ctx):
        vs = [evaluate(p, action, key_arn, ctx) for p in pols]
        return "Deny" if "Deny" in vs else ("Allow" if "Allow" in vs else "implicit deny")

    via_s3 = {"kms:ViaService": "s3.eu-west-1.amazonaws.com", "kms:CallerAccount": account}
    for action in ("kms:Decrypt", "kms:GenerateDataKey"):
        ok(verdict(action, via_s3) == "Allow"
           and evaluate(key_policy, action, key_arn, via_s3, principal=f"arn:aws:iam::{account}:root") == "Allow",
           f"{action} on the staging key through S3: allowed by the release role policy and the key policy (this account, via S3)")
        ok(verdict(action, {"kms:CallerAccount": account}) != "Allow",
           f"{action} on the staging key called directly (not through S3/Glue): not allowed by the release role policy")
    ok(verdict("kms:Decrypt", via_s3) == "Allow" and all(evaluate(p, "kms:Decrypt", lake["prod"]["kms_key_arn"], via_s3) != "Allow" for p in pols),
       "the release role has no use of another environment's key")
    print(f"check_release: {len(FAILS)} failure(s)")
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
