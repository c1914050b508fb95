"""moto in server mode with IAM enforcement, and Glue authorised on real resource ARNs.

Run with the Python of moto's venv (deploy/local/services/moto.sh installs it):

    INITIAL_NO_AUTH_ACTION_COUNT=3 python moto_iam.py -H 127.0.0.1 -p 5101

With INITIAL_NO_AUTH_ACTION_COUNT=N, moto answers the first N requests without checking
anything (run.sh uses them to create the deployer user and its key) and then checks, for
every request, the signature and the caller's identity policies (users, assumed roles).

moto authorises S3 on the bucket/object ARN, but every other service only on `*`, so a
policy scoped to Glue databases and tables (ours) could never allow anything. This wrapper
gives Glue the resource model AWS documents ("Specifying AWS Glue resource ARNs"): an action
on a table needs the catalog, the database and the table; on a database the catalog and the
database; GetDatabases the catalog and `database/*`. Each must be allowed. KMS is still
authorised on `*` by moto; the engine never calls KMS itself (S3 does, for SSE-KMS), and
check_lake.py evaluates the key policy for those calls offline.

Object Lock PUTs: AWS wants "Content-MD5 OR x-amz-checksum- HTTP header" on a PUT with
x-amz-object-lock-* headers (its error says so) and verifies the checksum against the body;
moto 5.2.5 accepts only Content-MD5 or x-amz-sdk-checksum-algorithm (an SDK hint) and never
verifies the value. The engine sends x-amz-checksum-sha256 on its audit records, so this
wrapper applies AWS's rule: an x-amz-checksum-<algorithm> header counts, a SHA-256 value must
match the body (BadDigest otherwise), and a lock PUT with neither header is still refused.

DeleteObjects (the engine removes its audit run markers with it): AWS authorises it as
s3:DeleteObject on each key's ARN and answers AccessDenied per key; moto authorises it once on
the bucket ARN, so a role allowed to delete only `_medallion/audit/open/*` (ours) could delete
nothing. This wrapper authorises each key, as AWS does.

Bucket policies: moto evaluates them on object requests, but without any request context, so
every Deny with a condition (TLS only, SSE-KMS only, this key only) denies everything. This
wrapper evaluates them with policy_eval.py and the request's real SSE headers:
`s3:x-amz-server-side-encryption`, `s3:x-amz-server-side-encryption-aws-kms-key-id` as sent,
and `aws:SecureTransport` = true (moto listens on plain HTTP on loopback; the engine on AWS
always uses HTTPS, and check_lake.py shows offline that plain HTTP is denied).
"""
import base64
import hashlib
import json
import os
import sys
import threading
from xml.sax.saxutils import escape

import xmltodict

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from moto import settings
from moto.core.authorization import ActionAuthenticatorMixin
from moto.glue.responses import GlueResponse
from moto.iam.access_control import IAMRequest
from moto.iam.access_control import PermissionResult
from moto.s3.exceptions import S3AccessDeniedError
from moto.s3.exceptions import S3ClientError
from moto.s3.models import FakeBucket
from moto.s3.responses import S3Response
from moto.server import main
from werkzeug.datastructures import Headers

from policy_eval import evaluate


def _glue_resources(action, body, region, account):
    cat = f"arn:aws:glue:{region}:{account}:catalog"

    def db(n):
        return f"arn:aws:glue:{region}:{account}:database/{n}"

    def tb(d, t):
        return f"arn:aws:glue:{region}:{account}:table/{d}/{t}"

    if action == "CreateDatabase":
        return [cat, db((body.get("DatabaseInput") or {}).get("Name", ""))]
    if action in ("GetDatabase", "DeleteDatabase", "UpdateDatabase"):
        return [cat, db(body.get("Name", ""))]
    if action == "GetDatabases":
        return [cat, db("*")]
    if action in ("GetTable", "DeleteTable"):
        return [cat, db(body.get("DatabaseName", "")), tb(body.get("DatabaseName", ""), body.get("Name", ""))]
    if action in ("CreateTable", "UpdateTable"):
        name = (body.get("TableInput") or {}).get("Name", "")
        return [cat, db(body.get("DatabaseName", "")), tb(body.get("DatabaseName", ""), name)]
    if action in ("GetTables", "BatchDeleteTable"):
        return [cat, db(body.get("DatabaseName", "")), tb(body.get("DatabaseName", ""), "*")]
    if action in ("TagResource", "UntagResource", "GetTags"):
        return [body.get("ResourceArn", "*")]
    return ["*"]


def _glue_authorize(self, resource="*"):
    if ActionAuthenticatorMixin.request_count < settings.INITIAL_NO_AUTH_ACTION_COUNT:
        ActionAuthenticatorMixin.request_count += 1
        return
    try:
        body = json.loads(self.body or "{}")
    except ValueError:
        body = {}
    for arn in _glue_resources(self._get_action(), body, self.region, self.current_account):
        self._authenticate_and_authorize_action(IAMRequest, arn)


GlueResponse._authenticate_and_authorize_normal_action = _glue_authorize

_request = threading.local()
_original_key_response = S3Response._key_response


def _key_response(self, request, full_url):
    ctx = {"aws:SecureTransport": "true"}
    for h in ("x-amz-server-side-encryption", "x-amz-server-side-encryption-aws-kms-key-id"):
        if request.headers.get(h) is not None:
            ctx["s3:" + h] = request.headers.get(h)
    _request.ctx = ctx
    try:
        return _original_key_response(self, request, full_url)
    finally:
        _request.ctx = None


def _bucket_permission(self, action, resource):
    if self.policy is None:
        return PermissionResult.NEUTRAL
    ctx = getattr(_request, "ctx", None) or {"aws:SecureTransport": "true"}
    verdict = evaluate(json.loads(self.policy.decode()), action, resource, ctx)
    if verdict == "Deny":
        print(f"bucket policy of {self.name} denies {action} on {resource} with {ctx}", file=sys.stderr)
        return PermissionResult.DENIED
    return PermissionResult.PERMITTED if verdict == "Allow" else PermissionResult.NEUTRAL


_LOCK_HEADERS = ("x-amz-object-lock-mode", "x-amz-object-lock-retain-until-date")
_original_key_response_put = S3Response._key_response_put


def _key_response_put(self, query, key_name):
    """AWS's checksum rule for PUTs with Object Lock headers (see the module docstring)."""
    h = self.headers
    if any(h.get(x) for x in _LOCK_HEADERS) and not h.get("Content-MD5") and not h.get("x-amz-sdk-checksum-algorithm"):
        algs = [k.lower()[len("x-amz-checksum-"):] for k, _ in h.items()
                if k.lower().startswith("x-amz-checksum-") and k.lower() not in ("x-amz-checksum-algorithm", "x-amz-checksum-type")]
        if algs:
            if "sha256" in algs:  # self.body: the payload (moto has decoded aws-chunked bodies)
                body = self.body if isinstance(self.body, bytes) else (self.body or "").encode()
                if base64.b64encode(hashlib.sha256(body).digest()).decode() != h.get("x-amz-checksum-sha256"):
                    raise S3ClientError("BadDigest", "The SHA256 you specified did not match the calculated checksum.")
            patched = Headers(list(h.items()))
            patched["x-amz-sdk-checksum-algorithm"] = algs[0].upper()
            self.headers = patched
            try:
                return _original_key_response_put(self, query, key_name)
            finally:
                self.headers = h
    return _original_key_response_put(self, query, key_name)


_original_delete_keys = S3Response._bucket_response_delete_keys


def _delete_keys_per_key(self, bucket_name, authenticated=True):
    """DeleteObjects authorised as s3:DeleteObject on each key, as AWS does (module docstring)."""
    doc = xmltodict.parse(self.body, strip_whitespace=False)
    objects = doc["Delete"].get("Object", [])
    objects = objects if isinstance(objects, list) else [objects]
    allowed, denied = [], []
    for o in objects:
        self.data["Action"] = "DeleteObject"
        try:
            self._authenticate_and_authorize_s3_action(bucket_name=bucket_name, key_name=o["Key"])
            allowed.append(o)
        except S3AccessDeniedError:
            denied.append(o["Key"])
    if not denied:
        return _original_delete_keys(self, bucket_name, authenticated=True)
    errors = "".join(f"<Error><Key>{escape(k)}</Key><Code>AccessDenied</Code><Message>Access Denied</Message></Error>"
                     for k in denied)
    if not allowed:
        return 200, {}, ('<?xml version="1.0" encoding="UTF-8"?>'
                         f'<DeleteResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">{errors}</DeleteResult>')
    doc["Delete"]["Object"] = allowed
    self.body = xmltodict.unparse(doc).encode()
    status, headers, xml = _original_delete_keys(self, bucket_name, authenticated=True)
    return status, headers, xml.replace("</DeleteResult>", errors + "</DeleteResult>")


S3Response._key_response = _key_response
S3Response._bucket_response_delete_keys = _delete_keys_per_key
S3Response._key_response_put = _key_response_put
FakeBucket.get_permission = _bucket_permission

if __name__ == "__main__":
    main(sys.argv[1:])
