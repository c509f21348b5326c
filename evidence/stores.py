"""Choose the evidence store a deployment configured: local filesystem, or S3 Object Lock."""

from __future__ import annotations

from core.custody import CustodyLog
from core.recording_settings import RecordingSettings
from evidence.store import EvidenceStore, LocalEvidenceStore


def open_store(settings: RecordingSettings, custody: CustodyLog) -> EvidenceStore:
    """The configured store, writing custody to ``custody`` (the database chain)."""
    if settings.s3 is not None:
        from evidence.s3store import S3EvidenceStore  # noqa: PLC0415 - optional backend

        return S3EvidenceStore(
            settings.s3,
            cache_dir=settings.store_dir,
            custody=custody,
            review_minimum_years=settings.review_minimum_years,
        )
    return LocalEvidenceStore(
        settings.store_dir, custody=custody, review_minimum_years=settings.review_minimum_years
    )
