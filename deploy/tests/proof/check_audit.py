"""The audit trail's storage, proven against the lake Terraform applied (run.sh): Object Lock on
every lake bucket without a default retention, and what the staging batch task role can and
cannot do under `_medallion/audit/` with the requests the engine makes there.

Usage: check_audit.py OUTPUTS_JSON ENDPOINT ROLE_ENV_FILE
  (deployer credentials in the environment; ROLE_ENV_FILE: the staging batch role's
  `export AWS_ACCESS_KEY_ID=… AWS_SECRET_ACCESS_KEY=… AWS_SESSION_TOKEN=…` line)
Prints one `ok:` line per proven fact (`note:` for what moto cannot show); exits 1 with
`FAIL:` lines otherwise.

What moto 5.2.5 does and does not do here (so the proof claims no more than it shows):
- it creates Object Lock buckets, stores per-object mode/retain-until from the PUT headers and
  refuses to delete a locked version (governance without bypass, compliance always);
- its IAM enforcement maps a PUT with lock headers to s3:PutObject only, and never checks
  s3:PutObjectRetention or s3:BypassGovernanceRetention: those grants and denies are
  evaluated offline (policy_eval.py) on the role's real policies;
- it wants Content-MD5 or x-amz-sdk-checksum-algorithm on a PUT with lock headers and never
  verifies checksums, where AWS accepts an x-amz-checksum-* header ("Content-MD5 OR
  x-amz-checksum- HTTP header is required") and verifies it: moto_iam.py applies AWS's rule,
  and the checks below show a lock PUT without checksum and one with a wrong SHA-256 refused;
- GetObjectRetention is not implemented (HTTP 500): retention is read with HeadObject
  (x-amz-object-lock-mode / -retain-until-date), as `medallion audit verify` may also do.
"""
import base64
import datetime
import hashlib
import json
import re
import sys

import boto3
import botocore
import botocore.config

from policy_eval import evaluate

FAILS = []
AUDIT = "_medallion/audit/"


def ok(cond, msg):
    print(("ok:   " if cond else "FAIL: ") + msg)
    if not cond:
        FAILS.append(msg)


def note(msg):
    print("note: " + msg)


def error_code(fn):
    try:
        fn()
    except botocore.exceptions.ClientError as e:
        return e.response["Error"]["Code"]
    return None


def role_session(env_file):
    creds = dict(re.findall(r"(AWS_[A-Z_]+)=(\S+)", open(env_file).read()))
    return boto3.session.Session(aws_access_key_id=creds["AWS_ACCESS_KEY_ID"],
                                 aws_secret_access_key=creds["AWS_SECRET_ACCESS_KEY"],
                                 aws_session_token=creds["AWS_SESSION_TOKEN"], region_name="eu-west-1")


def record_put(s3, bucket, key, key_arn, mode, days, body, checksum="right"):
    """A PUT of an audit record with the headers the engine sends: SSE-KMS with the key ARN,
    x-amz-object-lock-mode / -retain-until-date, x-amz-checksum-sha256 (nothing else)."""
    until = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0) + datetime.timedelta(days=days)
    kw = dict(Bucket=bucket, Key=key, Body=body, ServerSideEncryption="aws:kms", SSEKMSKeyId=key_arn,
              ObjectLockMode=mode.upper(), ObjectLockRetainUntilDate=until)
    if checksum != "none":
        digest = hashlib.sha256(body if checksum == "right" else body + b"tampered").digest()
        kw["ChecksumSHA256"] = base64.b64encode(digest).decode()
    return s3.put_object(**kw), until


RECORD = re.compile(r"^_medallion/audit/\d{20}\.json$")


def main(outputs_path, endpoint, role_env):
    lake = json.load(open(outputs_path))["lake"]["value"]
    st = lake["staging"]
    bucket, key_arn = st["bucket"], st["kms_key_arn"]
    mode, days = st["audit_lock"]["mode"], st["audit_lock"]["days"]
    # no automatic SDK checksums: every request carries exactly the headers written below
    cfg = botocore.config.Config(request_checksum_calculation="when_required")
    admin = boto3.session.Session(region_name="eu-west-1").client("s3", endpoint_url=endpoint, config=cfg)
    s3 = role_session(role_env).client("s3", endpoint_url=endpoint, config=cfg)
    iam = boto3.session.Session(region_name="eu-west-1").client("iam", endpoint_url=endpoint)

    # 1. every lake bucket: Object Lock enabled, versioning on, no default retention
    for env, m in sorted(lake.items()):
        conf = admin.get_object_lock_configuration(Bucket=m["bucket"])["ObjectLockConfiguration"]
        ver = admin.get_bucket_versioning(Bucket=m["bucket"]).get("Status")
        ok(conf.get("ObjectLockEnabled") == "Enabled" and "Rule" not in conf and ver == "Enabled",
           f"{m['bucket']}: Object Lock enabled, versioning {ver}, no default retention ({conf})")

    # 2. the audit trail `medallion run` wrote as the staging batch role (run.sh, before this)
    keys = []
    for page in admin.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=AUDIT):
        keys += [o["Key"] for o in page.get("Contents", [])]
    records = sorted(k for k in keys if RECORD.match(k))
    ok(len(records) >= 1, f"the engine's runs wrote {len(records)} audit record(s) under {AUDIT} ({records[:1]} … {records[-1:]})")
    bad = []
    for k in records:
        h = admin.head_object(Bucket=bucket, Key=k)
        until, written = h.get("ObjectLockRetainUntilDate"), h.get("LastModified")
        span = (until - written).total_seconds() / 86400 if until and written else None
        if (h.get("ObjectLockMode") != mode.upper() or span is None or abs(span - days) > 1
                or h.get("ServerSideEncryption") != "aws:kms" or h.get("SSEKMSKeyId") != key_arn):
            bad.append((k, h.get("ObjectLockMode"), until, written, h.get("SSEKMSKeyId")))
    ok(records and not bad, f"every engine record is {mode.upper()} until its write time + {days} days, SSE-KMS with the key ARN"
       + (f"; not: {bad[:3]}" if bad else ""))
    others = [k for k in keys if not RECORD.match(k)]
    unlocked = [k for k in others if "ObjectLockMode" not in admin.head_object(Bucket=bucket, Key=k)]
    ok(unlocked == others, f"the engine's other audit objects carry no lock: {others}")
    note(f"open/ run markers left after the runs: {[k for k in others if k.startswith(AUDIT + 'open/')]}")

    # 3. the role, with the engine's request shapes, on keys that are not part of the chain
    body = json.dumps({"proof": "check_audit.py"}).encode()
    rec = f"{AUDIT}proof-check-record.json"
    ok(error_code(lambda: record_put(s3, bucket, rec, key_arn, mode, days, body, checksum="none"))
       == "MissingUploadObjectWithObjectLockHeaders", "a lock PUT without any checksum header is refused (as by AWS)")
    ok(error_code(lambda: record_put(s3, bucket, rec, key_arn, mode, days, body, checksum="wrong")) == "BadDigest",
       "a lock PUT whose x-amz-checksum-sha256 does not match the body is refused: BadDigest (as by AWS)")
    put, until = record_put(s3, bucket, rec, key_arn, mode, days, body)
    head = s3.head_object(Bucket=bucket, Key=rec)
    got_until = head.get("ObjectLockRetainUntilDate")
    ok(head.get("ObjectLockMode") == mode.upper() and got_until is not None and abs((got_until - until).total_seconds()) < 5,
       f"the role PUTs a record with x-amz-checksum-sha256 + lock headers: {head.get('ObjectLockMode')} until {got_until}")
    overwrite = f"{AUDIT}proof-check-HEAD.json"
    for _ in range(2):
        s3.put_object(Bucket=bucket, Key=overwrite, Body=b'{"seq": 1}', ServerSideEncryption="aws:kms", SSEKMSKeyId=key_arn)
    ok("ObjectLockMode" not in s3.head_object(Bucket=bucket, Key=overwrite), "the role overwrites an unlocked object (as HEAD.json)")
    marker = f"{AUDIT}open/proof-check.json"
    s3.put_object(Bucket=bucket, Key=marker, Body=b"{}", ServerSideEncryption="aws:kms", SSEKMSKeyId=key_arn)
    ok(error_code(lambda: s3.delete_object(Bucket=bucket, Key=marker)) is None, "the role deletes an open/ run marker")
    # the engine removes markers with DeleteObjects, which IAM authorises per key
    s3.put_object(Bucket=bucket, Key=marker, Body=b"{}", ServerSideEncryption="aws:kms", SSEKMSKeyId=key_arn)
    res = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": marker}, {"Key": rec}]})
    ok([d["Key"] for d in res.get("Deleted", [])] == [marker]
       and [(e["Key"], e["Code"]) for e in res.get("Errors", [])] == [(rec, "AccessDenied")],
       f"DeleteObjects by the role: {marker} deleted, {rec} AccessDenied (authorised per key)")

    # 4. what the role cannot do to records (moto's IAM checks DeleteObject, DeleteObjectVersion)
    targets = [(rec, put["VersionId"])]
    if records:
        v = admin.list_object_versions(Bucket=bucket, Prefix=records[0])["Versions"][0]["VersionId"]
        targets.append((records[0], v))
    for key, vid in targets:
        ok(error_code(lambda: s3.delete_object(Bucket=bucket, Key=key)) == "AccessDenied",
           f"the role cannot put a delete marker over {key} (DeleteObject only on open/*): AccessDenied")
        ok(error_code(lambda: s3.delete_object(Bucket=bucket, Key=key, VersionId=vid)) == "AccessDenied"
           and error_code(lambda: s3.delete_object(Bucket=bucket, Key=key, VersionId=vid, BypassGovernanceRetention=True)) == "AccessDenied",
           f"the role cannot delete version {vid} of {key}, with or without bypass (explicit Deny): AccessDenied")
        ok(error_code(lambda: admin.delete_object(Bucket=bucket, Key=key, VersionId=vid)) == "AccessDenied",
           f"Object Lock: not even the deployer (Action *) deletes that {mode.upper()} version without bypass: AccessDenied")

    # 5. prod is COMPLIANCE: not even the deployer with bypass can remove a record version
    pr = lake["prod"]
    pput, _ = record_put(admin, pr["bucket"], rec, pr["kms_key_arn"], pr["audit_lock"]["mode"], pr["audit_lock"]["days"], body)
    ok(pr["audit_lock"]["mode"] == "compliance"
       and error_code(lambda: admin.delete_object(Bucket=pr["bucket"], Key=rec, VersionId=pput["VersionId"],
                                                  BypassGovernanceRetention=True)) == "AccessDenied",
       f"prod: a COMPLIANCE record version cannot be deleted even by the deployer with bypass ({pr['audit_lock']['days']} days)")

    # 6. offline, what moto's IAM does not check: retention only on the audit prefix, no bypass
    pols = [iam.get_role_policy(RoleName=st["batch_role"], PolicyName=n)["PolicyDocument"]
            for n in iam.list_role_policies(RoleName=st["batch_role"])["PolicyNames"]]

    def verdict(action, arn):
        vs = [evaluate(p, action, arn, {}) for p in pols]
        return "Deny" if "Deny" in vs else ("Allow" if "Allow" in vs else "implicit deny")

    rec_arn = f"arn:aws:s3:::{bucket}/{AUDIT}00000000000000000001.json"
    table_arn = f"arn:aws:s3:::{bucket}/silver/orders/part-0.parquet"
    ok(verdict("s3:PutObjectRetention", rec_arn) == "Allow" and verdict("s3:GetObjectRetention", rec_arn) == "Allow",
       "role policies: s3:PutObjectRetention and s3:GetObjectRetention allowed on audit records")
    ok(verdict("s3:PutObjectRetention", table_arn) != "Allow",
       "role policies: s3:PutObjectRetention NOT allowed on Delta files (silver/…)")
    ok(verdict("s3:BypassGovernanceRetention", rec_arn) == "Deny" and verdict("s3:BypassGovernanceRetention", table_arn) == "Deny",
       "role policies: s3:BypassGovernanceRetention explicitly denied on the whole lake")
    ok(verdict("s3:DeleteObjectVersion", rec_arn) == "Deny" and verdict("s3:DeleteObject", rec_arn) != "Allow"
       and verdict("s3:DeleteObject", f"arn:aws:s3:::{bucket}/{AUDIT}open/x.json") == "Allow",
       "role policies: DeleteObjectVersion denied under _medallion/audit/, DeleteObject only on open/ markers")
    bucket_policy = json.loads(admin.get_bucket_policy(Bucket=bucket)["Policy"])
    ctx = {"aws:SecureTransport": "true", "s3:x-amz-server-side-encryption": "aws:kms",
           "s3:x-amz-server-side-encryption-aws-kms-key-id": key_arn}
    ok(evaluate(bucket_policy, "s3:PutObject", rec_arn, ctx) != "Deny",
       "bucket policy: the record PUT (aws:kms + key ARN, TLS) is not denied")
    print(f"check_audit: {len(FAILS)} failure(s)")
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
