"""UTC timestamps as written into evidence: ISO 8601, microseconds, ``Z`` suffix."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


def utc_iso(moment: datetime) -> str:
    """Format an aware UTC datetime; naive or non-UTC datetimes are refused."""
    if moment.tzinfo is None or moment.utcoffset() != timedelta(0):
        raise ValueError(f"datetime must be timezone-aware UTC, got {moment!r}")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_utc(text: str) -> datetime:
    """Parse a timestamp written by :func:`utc_iso`."""
    if not text.endswith("Z"):
        raise ValueError(f"not a UTC timestamp: {text!r}")
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
