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

Bucket policies: moto evaluates them on object requests, but without any request context, so
every Deny with a condition (TLS only, SSE-KMS only, this key only) denies everything. This
wrapper evaluates them with policy_eval.py and the request's real SSE headers:
`s3:x-amz-server-side-encryption`, `s3:x-amz-server-side-encryption-aws-kms-key-id` as sent,
and `aws:SecureTransport` = true (moto listens on plain HTTP on loopback; the engine on AWS
always uses HTTPS, and check_lake.py shows offline that plain HTTP is denied).
"""
import json
import os
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from moto import settings
from moto.core.authorization import ActionAuthenticatorMixin
from moto.glue.responses import GlueResponse
from moto.iam.access_control import IAMRequest
from moto.iam.access_control import PermissionResult
from moto.s3.models import FakeBucket
from moto.s3.responses import S3Response
from moto.server import main

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


S3Response._key_response = _key_response
FakeBucket.get_permission = _bucket_permission

if __name__ == "__main__":
    main(sys.argv[1:])
