"""An :class:`evidence.store.EvidenceStore` on S3-compatible storage with Object Lock.

For scaled deployments: several recorder hosts and control planes share one bucket (MinIO,
or any S3 with Object Lock). The bucket is created with Object Lock, so it is versioned and
every Master, manifest, signature and public key is stored with a retention date in the
configured mode (COMPLIANCE by default: nobody, not even the storage admin, can delete or
shorten it before that date). The layout mirrors :class:`evidence.store.LocalEvidenceStore`::

    evidence/<id>/masters/segment-00001.mp4, evidence/<id>/manifest.json, .../manifest.sig,
    evidence/<id>/recorder-public.pem   (object-locked)
    (retention state is the custody chain, in the database; an old retention.json is ignored)

Custody goes to the injected :class:`core.custody.CustodyLog` (the database chain).

* a name that exists is never written again (checked before upload; Object Lock makes an
  overwrite a new version at most, and verification reads the version it sealed against);
  putting the identical content again (by its recorded SHA-256) is accepted as already done,
  sealed or not, so a retried seal finishes;
* Masters are re-hashed before upload and again whenever they are fetched;
* a review date later than the lock extends the lock (it can never be shortened);
* a legal hold sets the S3 legal hold on every object of the item;
* deletion follows the retention policy (:mod:`evidence.retention`) and is also refused
  while any version is still locked.

:meth:`directory_of` fetches the item into ``cache_dir`` (verifying nothing itself:
verification and export re-hash what was fetched), so the same verify and export code serves
both stores.
"""

from __future__ import annotations

import contextlib
import hmac
import io
import shutil
import stat
from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

from minio import Minio
from minio.commonconfig import COMPLIANCE, GOVERNANCE
from minio.error import MinioException, S3Error, ServerError
from minio.retention import Retention as LockRetention

# The minio client's transport; its errors are what an unreachable server raises.
from urllib3.exceptions import HTTPError as TransportError

from core.canonical import sha256_hex
from core.custody import CustodyEntry, CustodyEvent, CustodyLog
from core.custody import validate_evidence_id as _valid_id
from core.evidence_errors import (
    EvidenceError,
    IntegrityError,
    JustificationRequiredError,
    ObjectExistsError,
    RetentionError,
    StoreUnavailableError,
)
from core.recording_settings import DEFAULT_REVIEW_MINIMUM_YEARS, S3Settings
from evidence import retention as policy
from evidence.hashing import FileDigest, hash_file, private_directory
from evidence.retention import DEFAULT_DELETE_ROLES, RETENTION_NAME, Retention, RetentionAction
from evidence.store import MASTERS_DIR, SIGNATURE_NAME, StoreCapacity

_MISSING = frozenset({"NoSuchKey", "NoSuchObject", "NoSuchVersion"})
# S3 answers that mean "not now" rather than "no": the server is starting or overloaded.
_TRANSIENT = frozenset({"XMinioServerNotInitialized", "ServiceUnavailable", "SlowDown"})


@contextlib.contextmanager
def _reachable(what: str) -> Iterator[None]:
    """Turn "the store did not answer" into StoreUnavailableError, so a caller can tell a
    write to retry from a write refused (ObjectExistsError, IntegrityError, ...)."""
    try:
        yield
    except S3Error as exc:
        if exc.code in _TRANSIENT:
            raise StoreUnavailableError(f"{what}: S3 {exc.code}") from exc
        raise
    except (TransportError, ServerError, ConnectionError) as exc:
        # The client's own retries (urllib3, about 6 s) are spent by now.
        raise StoreUnavailableError(f"{what}: {type(exc).__name__}: {exc}") from exc
    except MinioException as exc:
        raise StoreUnavailableError(f"{what}: {type(exc).__name__}: {exc}") from exc


class S3EvidenceStore(policy.RetentionRequests):
    """See module docstring."""

    def __init__(
        self,
        settings: S3Settings,
        *,
        cache_dir: Path,
        custody: CustodyLog,
        delete_roles: frozenset[str] = DEFAULT_DELETE_ROLES,
        review_minimum_years: Mapping[str, int] = DEFAULT_REVIEW_MINIMUM_YEARS,
        client: Minio | None = None,
    ) -> None:
        self._review_minimum_years = review_minimum_years
        if settings.lock_mode not in (COMPLIANCE, GOVERNANCE):
            raise ValueError(f"lock_mode must be {COMPLIANCE} or {GOVERNANCE}")
        self.settings = settings
        self.bucket = settings.bucket
        self.cache_dir = cache_dir
        self._custody = custody
        self._delete_roles = delete_roles
        self.client = client or Minio(
            settings.endpoint,
            access_key=settings.access_key,
            secret_key=settings.secret_key,
            secure=settings.secure,
            region=settings.region,
        )
        if not self.client.bucket_exists(self.bucket):
            try:
                self.client.make_bucket(self.bucket, location=settings.region, object_lock=True)
            except S3Error as exc:
                # Two recorders or replicas starting at once both see no bucket; the one that
                # loses the race finds it made, and the Object Lock check below still holds.
                if exc.code != "BucketAlreadyOwnedByYou":
                    raise
        if self.client.get_object_lock_config(self.bucket) is None:
            raise EvidenceError(f"bucket {self.bucket} has no Object Lock; evidence needs it")

    @property
    def custody(self) -> CustodyLog:
        return self._custody

    # -- keys and state ------------------------------------------------------------------------

    def _key(self, evidence_id: str, *parts: str) -> str:
        return "/".join(("evidence", _valid_id(evidence_id), *parts))

    def _exists(self, key: str) -> bool:
        try:
            self.client.stat_object(self.bucket, key)
        except S3Error as exc:
            if exc.code in _MISSING:
                return False
            raise
        return True

    def _keys(self, evidence_id: str) -> list[str]:
        objects = self.client.list_objects(
            self.bucket, prefix=self._key(evidence_id) + "/", recursive=True
        )
        return sorted(str(o.object_name) for o in objects if o.object_name)

    def is_sealed(self, evidence_id: str) -> bool:
        return self._exists(self._key(evidence_id, SIGNATURE_NAME))

    def _lock(self, until: date | None = None) -> LockRetention:
        floor = datetime.now(UTC) + timedelta(days=self.settings.min_retention_days)
        if until is not None:
            floor = max(floor, datetime.combine(until, time.min, tzinfo=UTC))
        return LockRetention(self.settings.lock_mode, floor)

    def _stored_sha256(self, key: str) -> str | None:
        """The SHA-256 an existing object was uploaded with, or None if there is none."""
        try:
            stat_ = self.client.stat_object(self.bucket, key)
        except S3Error as exc:
            if exc.code in _MISSING:
                return None
            raise
        meta = {k.lower(): v for k, v in (stat_.metadata or {}).items()}
        return str(meta.get("x-amz-meta-sha256", ""))

    def _writable(self, evidence_id: str, key: str, sha256: str) -> bool:
        """False if ``key`` may be written; True if the item holds exactly this content there
        already (a seal retried after the store went away part way, even after the signature
        was stored: that write is done, and nothing changes). Raises ObjectExistsError for
        anything else: other content under the name, or a new name once sealed."""
        if not self._keys(evidence_id) and self._custody.entries_for(evidence_id):
            raise ObjectExistsError(f"evidence id {evidence_id} was used before; not reusing it")
        stored = self._stored_sha256(key)
        if stored is not None and hmac.compare_digest(stored, sha256):
            return True
        if self.is_sealed(evidence_id):
            raise ObjectExistsError(f"evidence {evidence_id} is sealed; nothing can be added")
        if stored is None:
            return False
        raise ObjectExistsError(f"{key} exists")

    # -- writing -------------------------------------------------------------------------------

    def put_master(self, evidence_id: str, source: Path, *, sha256: str) -> FileDigest:
        """Upload a Master segment with Object Lock, after re-hashing it against ``sha256``."""
        key = self._key(evidence_id, MASTERS_DIR, source.name)
        digest = hash_file(source)
        if not hmac.compare_digest(digest.sha256, sha256.lower()):
            raise IntegrityError(
                f"file {source.name}", f"SHA-256 {digest.sha256} does not match recorded {sha256}"
            )
        with _reachable(f"storing {key}"):
            if self._writable(evidence_id, key, digest.sha256):
                return digest
            with source.open("rb") as fh:
                self.client.put_object(
                    self.bucket,
                    key,
                    fh,
                    digest.size,
                    content_type="video/mp4",
                    metadata={"sha256": digest.sha256},
                    retention=self._lock(),
                )
        return digest

    def put_object(self, evidence_id: str, name: str, data: bytes) -> FileDigest:
        """Upload a small sealed object (manifest, signature, key) with Object Lock."""
        key = self._key(evidence_id, name)
        digest = sha256_hex(data)
        with _reachable(f"storing {key}"):
            if not self._writable(evidence_id, key, digest):
                self.client.put_object(
                    self.bucket,
                    key,
                    io.BytesIO(data),
                    len(data),
                    metadata={"sha256": digest},
                    retention=self._lock(),
                )
        return FileDigest(Path(key), digest, len(data))

    def seal(self, evidence_id: str) -> None:
        """Objects are immutable once uploaded; sealing only checks the signature is there."""
        with _reachable(f"checking the seal of {evidence_id}"):
            sealed = self.is_sealed(evidence_id)
        if not sealed:
            raise EvidenceError(f"{evidence_id} has no {SIGNATURE_NAME}; sign before sealing")

    # -- access --------------------------------------------------------------------------------

    def directory_of(self, evidence_id: str) -> Path:
        """Fetch the item into a fresh cache folder and return it (for verify and export)."""
        keys = [k for k in self._keys(evidence_id) if not k.endswith("/" + RETENTION_NAME)]
        target = self.cache_dir / "evidence" / _valid_id(evidence_id)
        if target.exists():
            for path in (target, *target.rglob("*")):
                path.chmod(0o700 if path.is_dir() else 0o600)
            shutil.rmtree(target)
        private_directory(self.cache_dir / "evidence")
        if not keys:
            return target
        prefix = self._key(evidence_id) + "/"
        for key in keys:
            path = target / key.removeprefix(prefix)
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            self.client.fget_object(self.bucket, key, str(path))
            path.chmod(stat.S_IRUSR)
        return target

    def view(self, evidence_id: str, *, actor: str, justification: str) -> Path:
        if not justification.strip():
            raise JustificationRequiredError("viewing evidence requires a justification")
        if not self._keys(evidence_id):
            raise EvidenceError(f"no evidence {evidence_id}")
        self._custody.append(
            evidence_id=evidence_id, event=CustodyEvent.VIEWED, actor=actor, reason=justification
        )
        return self.directory_of(evidence_id)

    # -- retention -----------------------------------------------------------------------------

    def retention(self, evidence_id: str) -> Retention:
        """Current retention state, from the custody chain (never from an object)."""
        return policy.retention_of(self._custody.entries_for(evidence_id))

    def _require_item(self, evidence_id: str, reason: str, what: str) -> Retention:
        policy.require_reason(reason, what)
        if not self._keys(evidence_id):
            raise EvidenceError(f"no evidence {evidence_id}")
        return self.retention(evidence_id)

    def _locked_keys(self, evidence_id: str) -> list[str]:
        return [k for k in self._keys(evidence_id) if not k.endswith("/" + RETENTION_NAME)]

    def set_review_date(
        self, evidence_id: str, review_date: date, *, category: str, actor: str, reason: str
    ) -> None:
        """Record the review date; the Object Lock is extended to it (never shortened)."""
        current = self._require_item(evidence_id, reason, "changing retention")
        policy.record_review_date(
            self._custody,
            evidence_id,
            current,
            review_date,
            category=category,
            actor=actor,
            reason=reason,
            minimum_years=self._review_minimum_years,
        )
        wanted = datetime.combine(review_date, time.min, tzinfo=UTC)
        for key in self._locked_keys(evidence_id):
            lock = self.client.get_object_retention(self.bucket, key)
            if lock is None or lock.retain_until_date < wanted:
                self.client.set_object_retention(
                    self.bucket, key, LockRetention(self.settings.lock_mode, wanted)
                )

    def set_legal_hold(self, evidence_id: str, hold: bool, *, actor: str, reason: str) -> None:
        """Place a legal hold, or lift one as the second person (see :meth:`request`), on the
        record and as an S3 legal hold on each object."""
        current = self._require_item(evidence_id, reason, "a legal hold decision")
        policy.record_legal_hold(
            self._custody, evidence_id, current, hold, actor=actor, reason=reason
        )
        for key in self._locked_keys(evidence_id):
            if hold:
                self.client.enable_object_legal_hold(self.bucket, key)
            else:
                self.client.disable_object_legal_hold(self.bucket, key)

    def delete(
        self, evidence_id: str, *, actor: str, role: str, reason: str, today: date | None = None
    ) -> CustodyEntry:
        """Delete every version of the item's objects, as :mod:`evidence.retention` allows.

        Also refused (:class:`RetentionError`) while Object Lock still protects any object.
        """
        policy.check_delete_role(role, self._delete_roles)
        current = self._require_item(evidence_id, reason, "deletion")
        policy.check_deletable(evidence_id, current, today=today)
        request = policy.approved_request(evidence_id, current, RetentionAction.DELETE, actor=actor)
        now = datetime.now(UTC)
        for key in self._locked_keys(evidence_id):
            lock = self.client.get_object_retention(self.bucket, key)
            if lock is not None and lock.retain_until_date > now:
                raise RetentionError(
                    f"{key} is object-locked until {lock.retain_until_date.isoformat()}"
                )
        keys = self._keys(evidence_id)
        entry = self._custody.append(
            evidence_id=evidence_id,
            event=CustodyEvent.DELETED,
            actor=actor,
            reason=reason,
            details={
                "role": role,
                "removed": [k.split("/", 2)[2] for k in keys],
                "request_seq": request.seq,
                "requested_by": request.actor,
            },
        )
        versions = self.client.list_objects(
            self.bucket, prefix=self._key(evidence_id) + "/", recursive=True, include_version=True
        )
        for obj in versions:
            self.client.remove_object(self.bucket, str(obj.object_name), version_id=obj.version_id)
        return entry

    def capacity(self) -> StoreCapacity:
        """S3 reports no capacity; the store's free-space metrics are not exported for it."""
        raise NotImplementedError("an S3 bucket has no fixed capacity to report")
