"""Cross-account promotion staging -> prod (modules/lake: promotion_readers on staging,
promotion_source on prod): prod's release role reads what `medallion promote --from staging
--to prod` reads in staging's lake and Glue catalog, and nothing else there.

Usage: check_promotion.py OUTPUTS_JSON ENDPOINT ROLE_ENV_FILE
  (deployer credentials in the environment; ROLE_ENV_FILE: prod's release role's credentials)

The proof's three lakes share one account, so moto's IAM checks the role's own policy
(`medallion-release-upstream`) on each request (Glue on its resource ARNs: moto_iam.py; the
requests carry staging's CatalogId as the engine sends it, which moto ignores: it serves the
caller's account); staging's bucket, Glue catalog and key policies, which in AWS must grant the
other account too, are evaluated offline (policy_eval.py) for that role and for another prod
role. GetDatabases is evaluated offline only: moto_iam.py authorises it on `database/*`, which the
cross-account grant does not give (only staging's `medallion_staging_*` databases).
"""
import json
import re
import sys

import boto3
import botocore

from policy_eval import evaluate

FAILS = []


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
    st, pr = lake["staging"], lake["prod"]
    bucket, key_arn = st["bucket"], st["kms_key_arn"]
    creds = dict(re.findall(r"(AWS_[A-Z_]+)=(\S+)", open(role_env).read()))
    role = boto3.session.Session(aws_access_key_id=creds["AWS_ACCESS_KEY_ID"], aws_secret_access_key=creds["AWS_SECRET_ACCESS_KEY"],
                                 aws_session_token=creds["AWS_SESSION_TOKEN"], region_name="eu-west-1")
    s3 = role.client("s3", endpoint_url=endpoint)
    admin = boto3.session.Session(region_name="eu-west-1")
    a3 = admin.client("s3", endpoint_url=endpoint)
    iam = admin.client("iam", endpoint_url=endpoint)
    kms = admin.client("kms", endpoint_url=endpoint)
    account = key_arn.split(":")[4]
    release_arn = f"arn:aws:iam::{account}:role/{pr['release_role']}"

    keys = [o["Key"] for p in a3.get_paginator("list_objects_v2").paginate(Bucket=bucket) for o in p.get("Contents", [])]
    record = next(k for k in keys if re.match(r"^_medallion/audit/\d{20}\.json$", k))
    log = next(k for k in keys if k.split("/")[0] in st["glue_databases"] and "/_delta_log/" in k and k.endswith(".json"))
    data = next(k for k in keys if k.split("/")[0] in st["glue_databases"] and k.endswith(".parquet") and "/_delta_log/" not in k)

    # 1. as prod's release role, through moto's IAM (its identity policy)
    ok(error_code(lambda: s3.list_objects_v2(Bucket=bucket, Prefix="_medallion/audit/")) is None,
       f"prod's release role lists staging's lake ({bucket})")
    for what, k in (("an audit record", record), ("a Delta log", log), ("the configuration", "_medallion/environments.yaml")):
        ok(error_code(lambda k=k: s3.get_object(Bucket=bucket, Key=k)) is None, f"prod's release role reads {what} of staging ({k})")
    ok(error_code(lambda: s3.get_object(Bucket=bucket, Key=data)) == "AccessDenied", f"prod's release role cannot read a staging data file ({data})")
    for k in ("_medallion/audit/99999999999999999999.json", log):
        code = error_code(lambda k=k: s3.put_object(Bucket=bucket, Key=k, Body=b"x", ServerSideEncryption="aws:kms", SSEKMSKeyId=key_arn))
        ok(code == "AccessDenied", f"prod's release role cannot write staging's {k}: {code}")
    ok(error_code(lambda: s3.delete_object(Bucket=bucket, Key=record)) == "AccessDenied", "prod's release role cannot delete a staging audit record")

    # 2. offline: staging's bucket policy and key policy, as AWS evaluates them for another account
    bp = json.loads(a3.get_bucket_policy(Bucket=bucket)["Policy"])
    kp = json.loads(kms.get_key_policy(KeyId=key_arn, PolicyName="default")["Policy"])
    tls = {"aws:SecureTransport": "true"}
    arn = f"arn:aws:s3:::{bucket}"
    other = f"arn:aws:iam::{account}:role/{pr['batch_role']}"
    ok(evaluate(bp, "s3:ListBucket", arn, tls, principal=release_arn) == "Allow", "staging's bucket policy: prod's release role may list")
    for what, k in (("an audit record", record), ("a Delta log", log), ("the configuration", "_medallion/environments.yaml")):
        ok(evaluate(bp, "s3:GetObject", f"{arn}/{k}", tls, principal=release_arn) == "Allow", f"staging's bucket policy: prod's release role may read {what}")
        ok(evaluate(bp, "s3:GetObject", f"{arn}/{k}", tls, principal=other) != "Allow", f"staging's bucket policy: prod's batch role may not read {what}")
    ok(evaluate(bp, "s3:GetObject", f"{arn}/{data}", tls, principal=release_arn) != "Allow", "staging's bucket policy: prod's release role may not read a data file")
    ok(all(evaluate(bp, a, f"{arn}/{record}", tls, principal=release_arn) != "Allow" for a in ("s3:PutObject", "s3:DeleteObject", "s3:DeleteObjectVersion")),
       "staging's bucket policy: prod's release role may not write or delete")
    via = {"kms:ViaService": "s3.eu-west-1.amazonaws.com", "kms:EncryptionContext:aws:s3:arn": arn}
    ok(evaluate(kp, "kms:Decrypt", key_arn, via, principal=release_arn) == "Allow", "staging's key policy: prod's release role may decrypt through S3")
    ok(evaluate(kp, "kms:Decrypt", key_arn, {"kms:EncryptionContext:aws:s3:arn": arn}, principal=release_arn) != "Allow",
       "staging's key policy: prod's release role may not decrypt directly (not through S3)")
    ok(evaluate(kp, "kms:GenerateDataKey", key_arn, via, principal=release_arn) != "Allow"
       and evaluate(kp, "kms:Encrypt", key_arn, via, principal=release_arn) != "Allow",
       "staging's key policy: prod's release role may not encrypt (write) with the staging key")
    ok(evaluate(kp, "kms:Decrypt", key_arn, via, principal=other) != "Allow", "staging's key policy: prod's batch role may not decrypt")

    # 3. the Glue catalog: live as prod's release role (its identity policy, moto's IAM), then
    # staging's catalog resource policy and key policy offline, as AWS evaluates them cross-account
    glue_role = role.client("glue", endpoint_url=endpoint)
    glue = admin.client("glue", endpoint_url=endpoint)
    region = key_arn.split(":")[3]
    db = st["glue_databases"]["silver"]
    table = next(t["Name"] for t in glue.get_tables(CatalogId=account, DatabaseName=db)["TableList"])
    for what, fn in (("GetDatabase", lambda: glue_role.get_database(CatalogId=account, Name=db)),
                     ("GetTables", lambda: glue_role.get_tables(CatalogId=account, DatabaseName=db)),
                     ("GetTable", lambda: glue_role.get_table(CatalogId=account, DatabaseName=db, Name=table))):
        ok(error_code(fn) is None, f"prod's release role: {what} on staging's catalog ({account}, {db}.{table})")
    tin = {"Name": "intruder", "StorageDescriptor": {"Location": f"s3://{bucket}/silver/intruder"}}
    dev_db = lake["dev"]["glue_databases"]["bronze"]
    for what, fn in (("CreateTable in staging", lambda: glue_role.create_table(CatalogId=account, DatabaseName=db, TableInput=tin)),
                     ("UpdateTable in staging", lambda: glue_role.update_table(CatalogId=account, DatabaseName=db, TableInput=dict(tin, Name=table))),
                     ("DeleteTable in staging", lambda: glue_role.delete_table(CatalogId=account, DatabaseName=db, Name=table)),
                     ("CreateDatabase with staging's prefix", lambda: glue_role.create_database(CatalogId=account, DatabaseInput={"Name": f"{db}_x"})),
                     ("GetTables of dev's database", lambda: glue_role.get_tables(CatalogId=account, DatabaseName=dev_db))):
        code = error_code(fn)
        ok(code in ("AccessDenied", "AccessDeniedException", "403"), f"prod's release role: {what} is refused: {code}")
    ok(any(t["Name"] == table for t in glue.get_tables(CatalogId=account, DatabaseName=db)["TableList"])
       and not any(t["Name"] == "intruder" for t in glue.get_tables(CatalogId=account, DatabaseName=db)["TableList"]),
       "staging's catalog is unchanged (its table is there, no intruder)")
    gp = json.loads(glue.get_resource_policy()["PolicyInJson"])
    cat = f"arn:aws:glue:{region}:{account}"
    reads = (("glue:GetDatabases", f"{cat}:catalog"), ("glue:GetDatabases", f"{cat}:database/{db}"),
             ("glue:GetDatabase", f"{cat}:database/{db}"), ("glue:GetTables", f"{cat}:database/{db}"),
             ("glue:GetTable", f"{cat}:table/{db}/{table}"))
    ok(all(evaluate(gp, a, r, {}, principal=release_arn) == "Allow" for a, r in reads),
       "staging's catalog policy: prod's release role may GetDatabases, GetDatabase, GetTables, GetTable on staging's databases")
    ok(all(evaluate(gp, a, r, {}, principal=other) != "Allow" for a, r in reads),
       "staging's catalog policy: prod's batch role may read nothing")
    ok(all(evaluate(gp, a, r, {}, principal=release_arn) != "Allow" for a, r in (
        ("glue:CreateTable", f"{cat}:table/{db}/x"), ("glue:UpdateTable", f"{cat}:table/{db}/{table}"),
        ("glue:DeleteTable", f"{cat}:table/{db}/{table}"), ("glue:CreateDatabase", f"{cat}:database/{db}_x"),
        ("glue:GetTables", f"{cat}:database/{dev_db}"), ("glue:GetTable", f"{cat}:table/{dev_db}/{table}"))),
       "staging's catalog policy: prod's release role may not write, nor read another environment's databases")
    gvia = {"kms:ViaService": f"glue.{region}.amazonaws.com"}
    ok(evaluate(kp, "kms:Decrypt", key_arn, gvia, principal=release_arn) == "Allow",
       "staging's key policy: prod's release role may decrypt the catalog through Glue")
    ok(evaluate(kp, "kms:GenerateDataKey", key_arn, gvia, principal=release_arn) != "Allow"
       and evaluate(kp, "kms:Decrypt", key_arn, gvia, principal=other) != "Allow",
       "staging's key policy: through Glue, prod's release role may not encrypt, prod's batch role may not decrypt")
    pols = [iam.get_role_policy(RoleName=pr["release_role"], PolicyName=n)["PolicyDocument"]
            for n in iam.list_role_policies(RoleName=pr["release_role"])["PolicyNames"]]
    up = [p for p in pols if any(str(s.get("Sid", "")).startswith("PromotionReadFrom") for s in p["Statement"])]
    ok(len(up) == 1 and evaluate(up[0], "kms:Decrypt", key_arn, via) == "Allow"
       and evaluate(up[0], "kms:Decrypt", key_arn, dict(via, **{"kms:EncryptionContext:aws:s3:arn": f"arn:aws:s3:::{pr['bucket']}"})) != "Allow",
       "prod's release role policy: decrypt through S3 only for staging's bucket")
    ok(len(up) == 1 and evaluate(up[0], "kms:Decrypt", key_arn, gvia) == "Allow"
       and all(evaluate(up[0], a, r, {}) == "Allow" for a, r in reads)
       and evaluate(up[0], "glue:UpdateTable", f"{cat}:table/{db}/{table}", {}) != "Allow"
       and evaluate(up[0], "glue:GetTables", f"{cat}:database/{dev_db}", {}) != "Allow",
       "prod's release role policy: staging's catalog read only (its databases and tables), decrypted through Glue")
    print(f"check_promotion: {len(FAILS)} failure(s)")
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
