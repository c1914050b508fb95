"""Assertions of the proof (run.sh): what `medallion run jobs/ --env staging` left in the
lake Terraform applied, read back through the AWS API, plus an offline evaluation of the
bucket and key policies for the calls moto does not authorise itself.

Usage: check_lake.py OUTPUTS_JSON ENDPOINT
Prints one `ok:` line per proven fact; exits 1 with `FAIL:` lines otherwise.
"""
import json
import sys

import boto3

from policy_eval import evaluate

FAILS = []


def ok(cond, msg):
    print(("ok:   " if cond else "FAIL: ") + msg)
    if not cond:
        FAILS.append(msg)


def main(outputs_path, endpoint):
    outs = json.load(open(outputs_path))
    lake = outs["lake"]["value"]
    st = lake["staging"]
    admin = boto3.session.Session(region_name="eu-west-1")
    s3 = admin.client("s3", endpoint_url=endpoint)
    glue = admin.client("glue", endpoint_url=endpoint)
    iam = admin.client("iam", endpoint_url=endpoint)
    kms = admin.client("kms", endpoint_url=endpoint)

    # 1. every object of the staging lake is SSE-KMS with the staging key's ARN
    keys = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=st["bucket"]):
        keys += [o["Key"] for o in page.get("Contents", [])]
    # the layers' tables (`_medallion/ingested/<db>.<table>`, maintain's ledger of retired
    # sources, is a Delta table of the engine's own, never registered in Glue)
    tables = {k.split("/")[0] + "." + k.split("/")[1] for k in keys if "/_delta_log/" in k and not k.startswith("_medallion/")}
    ok(len(keys) > 20, f"staging lake holds {len(keys)} objects, Delta tables {sorted(tables)}")
    bad = []
    for k in keys:
        h = s3.head_object(Bucket=st["bucket"], Key=k)
        if h.get("ServerSideEncryption") != "aws:kms" or h.get("SSEKMSKeyId") != st["kms_key_arn"]:
            bad.append((k, h.get("ServerSideEncryption"), h.get("SSEKMSKeyId")))
    ok(not bad, f"all {len(keys)} objects are SSE-KMS with {st['kms_key_arn']}" + (f"; not: {bad[:3]}" if bad else ""))
    ok(not any(k.split("/")[0] not in ("bronze", "silver", "gold", "_medallion") for k in keys),
       "objects only under the layer prefixes bronze/ silver/ gold/ (and _medallion/: environments.yaml, audit/)")

    # 2. tables are registered in the Glue databases Terraform created, and nowhere else
    tf_dbs = set(st["glue_databases"].values())
    all_dbs = {d["Name"] for d in glue.get_databases()["DatabaseList"]}
    ok(not {d for d in all_dbs if d.startswith("medallion_staging_")} - tf_dbs,
       f"no Glue database beyond Terraform's {sorted(tf_dbs)}")
    registered = set()
    for layer, db in st["glue_databases"].items():
        for t in glue.get_tables(DatabaseName=db)["TableList"]:
            registered.add(f"{layer}.{t['Name']}")
            params = t.get("Parameters", {})
            ok(params.get("table_type") == "DELTA" and t["StorageDescriptor"]["Location"].startswith(f"s3://{st['bucket']}/{layer}/"),
               f"{db}.{t['Name']}: Delta table at {t['StorageDescriptor']['Location']}")
    ok(tables <= registered and len(registered) >= 8,
       f"every Delta table of the lake is in Terraform's Glue databases ({len(registered)} registered)")

    # 3. offline: the bucket policy admits the engine's PUTs and refuses an alias / no SSE-KMS
    bucket_policy = json.loads(s3.get_bucket_policy(Bucket=st["bucket"])["Policy"])
    obj = f"arn:aws:s3:::{st['bucket']}/silver/orders/part-0.parquet"
    engine_ctx = {"aws:SecureTransport": "true", "s3:x-amz-server-side-encryption": "aws:kms",
                  "s3:x-amz-server-side-encryption-aws-kms-key-id": st["kms_key_arn"]}
    ok(evaluate(bucket_policy, "s3:PutObject", obj, engine_ctx) != "Deny",
       "bucket policy: a PUT with the headers the engine sent (aws:kms + key ARN, TLS) is not denied")
    for what, ctx in [
        ("the key alias", dict(engine_ctx, **{"s3:x-amz-server-side-encryption-aws-kms-key-id": st["kms_alias"]})),
        ("another environment's key", dict(engine_ctx, **{"s3:x-amz-server-side-encryption-aws-kms-key-id": lake["prod"]["kms_key_arn"]})),
        ("SSE-S3", dict(engine_ctx, **{"s3:x-amz-server-side-encryption": "AES256"})),
        ("plain HTTP", dict(engine_ctx, **{"aws:SecureTransport": "false"})),
    ]:
        ok(evaluate(bucket_policy, "s3:PutObject", obj, ctx) == "Deny", f"bucket policy: a PUT with {what} is denied")

    # 4. offline: KMS calls S3 makes on the role's behalf are allowed by the role policy AND
    # the key policy; the dev role's are not.
    key_policy = json.loads(kms.get_key_policy(KeyId=st["kms_key_arn"], PolicyName="default")["Policy"])
    role_policy = iam.get_role_policy(RoleName=st["batch_role"], PolicyName="medallion-batch-data-access")["PolicyDocument"]
    dev_policy = iam.get_role_policy(RoleName=lake["dev"]["batch_role"], PolicyName="medallion-batch-data-access")["PolicyDocument"]
    for action in ("kms:GenerateDataKey", "kms:Decrypt"):
        ok(evaluate(role_policy, action, st["kms_key_arn"], {}) == "Allow"
           and evaluate(key_policy, action, st["kms_key_arn"], {}, principal=st["batch_role_arn"]) == "Allow",
           f"{action} on the staging key: allowed by the staging batch role policy and the key policy")
        ok(evaluate(dev_policy, action, st["kms_key_arn"], {}) != "Allow"
           and evaluate(key_policy, action, st["kms_key_arn"], {}, principal=lake["dev"]["batch_role_arn"]) != "Allow",
           f"{action} on the staging key: refused to the dev batch role (role policy and key policy)")
    # the maintain task role (retention, VACUUM) may use the staging key: its KMS policy and the key policy
    maint_policy = iam.get_role_policy(RoleName=st["maintain_role"], PolicyName="medallion-maintain-key")["PolicyDocument"]
    for action in ("kms:GenerateDataKey", "kms:Decrypt"):
        ok(evaluate(maint_policy, action, st["kms_key_arn"], {}) == "Allow"
           and evaluate(key_policy, action, st["kms_key_arn"], {}, principal=st["maintain_arn"]) == "Allow",
           f"{action} on the staging key: allowed by the staging maintain role policy and the key policy")
        ok(evaluate(key_policy, action, st["kms_key_arn"], {}, principal=lake["dev"]["maintain_arn"]) != "Allow",
           f"{action} on the staging key: refused to the dev maintain role by the key policy")
    print(f"check_lake: {len(FAILS)} failure(s)")
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
