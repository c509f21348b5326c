"""Give EVR its own MinIO user: read and write evidence, never delete it or bypass a lock.

Run by the evr_app role with the release venv's Python (it has the `minio` package). Reads one
JSON object on stdin (the root credentials never touch the host's disk or a command line):
endpoint, secure, region, admin_user, admin_password, bucket, policy_name, policy, user,
password. Creates the
Object Lock bucket if it is missing, the policy, the user and the attachment; changes only
what differs, and prints {"changed": [...]} naming what it changed.
"""

import json
import sys
from typing import Any

from minio import Minio
from minio.credentials.providers import StaticProvider
from minio.error import MinioAdminException, S3Error
from minio.minioadmin import MinioAdmin


def statements(policy: dict[str, Any]) -> list[tuple[Any, ...]]:
    """A policy's statements, order-free, for comparison with what MinIO hands back."""
    out = []
    for st in policy.get("Statement", []):
        actions = st.get("Action", [])
        resources = st.get("Resource", [])
        out.append(
            (
                st.get("Effect"),
                tuple(sorted([actions] if isinstance(actions, str) else actions)),
                tuple(sorted([resources] if isinstance(resources, str) else resources)),
            )
        )
    return sorted(out)


def main() -> None:
    cfg = json.loads(sys.stdin.read())
    changed = []
    endpoint, bucket = cfg["endpoint"], cfg["bucket"]
    secure = cfg["secure"] in (True, "True", "true")
    region = cfg["region"]
    root = Minio(endpoint, cfg["admin_user"], cfg["admin_password"], secure=secure, region=region)
    if not root.bucket_exists(bucket):
        root.make_bucket(bucket, location=region, object_lock=True)
        changed.append("bucket")
    admin = MinioAdmin(
        endpoint=endpoint,
        credentials=StaticProvider(cfg["admin_user"], cfg["admin_password"]),
        secure=secure,
    )
    name = cfg["policy_name"]
    current: dict[str, Any] | None
    try:
        found = json.loads(admin.policy_info(name))
        current = found.get("Policy", found)
    except MinioAdminException:
        current = None
    if current is None or statements(current) != statements(cfg["policy"]):
        admin.policy_add(name, policy=cfg["policy"])
        changed.append("policy")
    user, password = cfg["user"], cfg["password"]
    info: dict[str, Any] | None
    try:
        info = json.loads(admin.user_info(user))
    except MinioAdminException:
        info = None
    works = False
    if info is not None:
        try:
            Minio(endpoint, user, password, secure=secure, region=region).bucket_exists(bucket)
            works = True
        except S3Error:
            works = False  # wrong secret (or no rights yet): set it again below
    if info is None or not works:
        admin.user_add(user, password)
        changed.append("user")
        info = json.loads(admin.user_info(user))
    assert info is not None
    attached = [p for p in (info.get("policyName") or "").split(",") if p]
    if attached != [name]:
        if attached:
            admin.detach_policy(attached, user=user)
        admin.attach_policy([name], user=user)
        changed.append("attachment")
    print(json.dumps({"changed": changed}))


if __name__ == "__main__":
    main()
