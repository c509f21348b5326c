"""The `[recording]` settings: evidence store, recorder spool, signing key, timings, S3.

Parsed once by `core.settings.load_settings`; relative paths are taken from the
settings file's folder, so a deployment's files stay together.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any


class RecordingSettingsError(ValueError):
    """A `[recording]` setting is unknown or has the wrong type."""


@dataclass(frozen=True, kw_only=True)
class S3Settings:
    """An S3-compatible evidence store with Object Lock (e.g. MinIO)."""

    endpoint: str
    """host:port of the S3 API, e.g. "minio.evidence.internal:9000"."""
    bucket: str
    access_key: str
    secret_key: str = field(repr=False)
    secure: bool = True
    region: str = "eu-west-2"
    lock_mode: str = "COMPLIANCE"
    """Object Lock mode for masters: COMPLIANCE (nobody can shorten it) or GOVERNANCE."""
    min_retention_days: int = 2555
    """Retention set on every master at upload (7 years by default, a common MoPI minimum)."""


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
    metrics_host: str = "127.0.0.1"
    metrics_port: int = 9465
    heartbeat_interval: float = 1.0
    """Seconds between a recorder's heartbeats on each job it holds."""
    stale_after: float = 5.0
    """A job whose heartbeat is older than this is taken over by another recorder."""
    start_timeout: float = 10.0
    """A statement no recorder has joined within this many seconds is shown as not secured."""
    poll_interval: float = 0.5
    max_concurrent: int = 4
    """Statements one recorder process writes at once (one writer thread each)."""
    lag_alarm: float = 5.0
    """A recorder further behind real time than this reports the statement as not secured."""
    segment_seconds: float = 300.0
    retry_backoff: float = 3.0
    """Seconds before a job that could not start is tried again."""
    consent_text_version: str = "evr-recording-consent-v1"
    """Version of the recording notice read to / shown to participants."""
    worker_id: str | None = None
    """Name of this recorder in jobs and custody; default host:pid."""
    s3: S3Settings | None = None


_KINDS: dict[str, type] = {
    "metrics_host": str,
    "metrics_port": int,
    "heartbeat_interval": float,
    "stale_after": float,
    "start_timeout": float,
    "poll_interval": float,
    "max_concurrent": int,
    "lag_alarm": float,
    "segment_seconds": float,
    "retry_backoff": float,
    "consent_text_version": str,
    "worker_id": str,
}
_PATHS = ("store_dir", "spool_dir", "export_dir", "signing_key")


def _typed(name: str, value: Any, kind: type, where: str) -> Any:
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise RecordingSettingsError(f"{where}.{name} must be a {kind.__name__}")
    return value


def _s3(raw: Any, base: Path) -> S3Settings:
    if not isinstance(raw, dict):
        raise RecordingSettingsError("[recording.s3] must be a table")
    data = dict(raw)
    secret_file = data.pop("secret_key_file", None)
    if secret_file is not None:
        data["secret_key"] = (base / str(secret_file)).read_text(encoding="utf-8").strip()
    names = {f.name for f in fields(S3Settings)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise RecordingSettingsError(f"unknown setting(s) in [recording.s3]: {', '.join(unknown)}")
    try:
        return S3Settings(**data)
    except TypeError as exc:
        raise RecordingSettingsError(f"[recording.s3]: {exc}") from exc


def parse_recording(
    raw: Mapping[str, Any], base: Path, environ: Mapping[str, str]
) -> RecordingSettings:
    """Build RecordingSettings from the `[recording]` table and `EVR_RECORDING_*` overrides."""
    data = dict(raw)
    kwargs: dict[str, Any] = {}
    for name in _PATHS:
        value = environ.get(f"EVR_RECORDING_{name.upper()}", data.pop(name, None))
        if value is not None:
            kwargs[name] = base / _typed(name, value, str, "recording")
    for name, kind in _KINDS.items():
        if name in data:
            kwargs[name] = _typed(name, data.pop(name), kind, "recording")
    if "s3" in data:
        kwargs["s3"] = _s3(data.pop("s3"), base)
    if data:
        raise RecordingSettingsError(
            f"unknown setting(s) in [recording]: {', '.join(sorted(data))}"
        )
    if "EVR_RECORDING_METRICS_PORT" in environ:
        try:
            kwargs["metrics_port"] = int(environ["EVR_RECORDING_METRICS_PORT"])
        except ValueError as exc:
            raise RecordingSettingsError("EVR_RECORDING_METRICS_PORT must be an int") from exc
    return RecordingSettings(**kwargs)
