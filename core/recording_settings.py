"""The `[recording]` settings: evidence store, recorder spool, signing key, timings, S3.

Validated with the rest of the file by `core.settings.load_settings`, under the same type rules
(see `core.settings.model`). Relative paths are taken from the settings file's folder, so a
deployment's files stay together; the settings sources resolve them before validation.
"""

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

from pydantic import (
    AfterValidator,
    ConfigDict,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    with_config,
)

# The rule of `core.settings.model.SECTION`, repeated here: that package imports this module.
_SECTION = ConfigDict(extra="forbid")


_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def normalise_fingerprint(text: str) -> str:
    """A key fingerprint (SHA-256 of the public key's DER, hex) in lower case without
    separators; ``sha256:`` prefixes and ``:`` or space separators are accepted."""
    value = text.strip().lower().removeprefix("sha256:").replace(":", "").replace(" ", "")
    if not _HEX64.match(value):
        raise ValueError(f"{text!r} is not a SHA-256 key fingerprint (64 hex digits)")
    return value


Fingerprint = Annotated[StrictStr, AfterValidator(normalise_fingerprint)]

# MoPI (APP Information management) review groups: the earliest review after the record was
# made. Group 1 (public protection) and 2 (sexual, violent, serious) 10 years, group 3 6 years.
DEFAULT_REVIEW_MINIMUM_YEARS = {"mopi_group_1": 10, "mopi_group_2": 10, "mopi_group_3": 6}


@with_config(_SECTION)
@dataclass(frozen=True, kw_only=True)
class S3Settings:
    """An S3-compatible evidence store with Object Lock (e.g. MinIO)."""

    endpoint: StrictStr
    """host:port of the S3 API, e.g. "minio.evidence.internal:9000"."""
    bucket: StrictStr
    access_key: StrictStr
    secret_key: StrictStr = field(repr=False)
    """In the file, usually `secret_key_file`: a file holding it, read by the settings source."""
    secure: StrictBool = True
    region: StrictStr = "eu-west-2"
    lock_mode: StrictStr = "COMPLIANCE"
    """Object Lock mode for masters: COMPLIANCE (nobody can shorten it) or GOVERNANCE."""
    min_retention_days: StrictInt = 2555
    """Retention set on every master at upload (7 years by default, a common MoPI minimum)."""


@with_config(_SECTION)
@dataclass(frozen=True, kw_only=True)
class RecordingSettings:
    store_dir: Path = Path("var/evidence")
    """Where sealed masters live (the local evidence store), or its cache when S3 is used."""
    spool_dir: Path = Path("var/recorder-spool")
    """Segments being written. Shared storage lets another recorder host resume a statement."""
    export_dir: Path = Path("var/exports")
    """Where disclosure bundles are written by the API."""
    signing_key: Path = Path("var/recorder-signing-key.pem")
    """Ed25519 key (PEM, mode 0600) that signs manifests; created on first start if absent."""
    metrics_host: StrictStr = "127.0.0.1"
    metrics_port: StrictInt = 9465
    heartbeat_interval: StrictFloat = 1.0
    """Seconds between a recorder's heartbeats on each job it holds."""
    stale_after: StrictFloat = 5.0
    """A job whose heartbeat is older than this is taken over by another recorder."""
    start_timeout: StrictFloat = 10.0
    """A statement no recorder has joined within this many seconds is shown as not secured."""
    poll_interval: StrictFloat = 0.5
    max_concurrent: StrictInt = 4
    """Statements one recorder process writes at once (one writer thread each)."""
    lag_alarm: StrictFloat = 5.0
    """A recorder further behind real time than this reports the statement as not secured."""
    segment_seconds: StrictFloat = 300.0
    retry_backoff: StrictFloat = 3.0
    """Seconds before a job that could not start is tried again."""
    consent_text_version: StrictStr = "evr-recording-consent-v1"
    """Version of the recording notice read to / shown to participants."""
    worker_id: StrictStr | None = None
    """Name of this recorder in jobs and custody; default host:pid."""
    s3: S3Settings | None = None
    trusted_key_fingerprints: tuple[Fingerprint, ...] = ()
    """Fingerprints of the signing keys the force publishes (`evr evidence verify` and the
    API's exports accept no other). Empty: only the key in `signing_key` is trusted."""
    export_roles: tuple[StrictStr, ...] = ("evidence_manager", "supervisor")
    """Officer roles that may export (disclose) evidence."""
    review_minimum_years: dict[StrictStr, StrictInt] = field(
        default_factory=lambda: dict(DEFAULT_REVIEW_MINIMUM_YEARS)
    )
    """Per MoPI category, the earliest review date allowed, in years after sealing."""
