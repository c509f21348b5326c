"""Enforcement: a participant's LiveKit token follows from their latest connection check.

- No check, or none within the window: 428 `connection_check_required`.
- `insufficient`: 409 `connection_insufficient`, offering only an in-person visit.
- `audio_only` and a video token asked for: 409 `video_not_available`, offering audio-only
  and in person. An audio-only token can publish the microphone only (enforced by the SFU).
- `sd`/`hd`: a video token, with the caps of the class's LiveKit preset. The SFU cannot cap
  resolution or bitrate itself, so the caps are handed to the client with the token.
"""

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from control_plane.bandwidth import records
from control_plane.bandwidth.verdict import PRESETS, PublishCaps, VerdictClass, offered_for
from control_plane.errors import EvrError
from core.settings import BandwidthSettings


class ConnectionCheckRequired(EvrError):
    status = 428
    code = "connection_check_required"


class VideoNotAvailable(EvrError):
    status = 409
    code = "video_not_available"


class ConnectionInsufficient(EvrError):
    status = 409
    code = "connection_insufficient"


class TokenMode(StrEnum):
    VIDEO = "video"
    AUDIO_ONLY = "audio_only"


CAMERA_AND_MIC = ("camera", "microphone")
MIC_ONLY = ("microphone",)


@dataclass(frozen=True)
class TokenPermit:
    mode: TokenMode
    sources: tuple[str, ...]
    caps: PublishCaps | None
    check_id: str
    verdict: VerdictClass

    def to_json(self) -> dict[str, Any]:
        return {
            "mode": self.mode.value,
            "verdict": self.verdict.value,
            "check_id": self.check_id,
            "publish_caps": self.caps.to_json() if self.caps else None,
        }


async def permit(
    conn: AsyncConnection,
    *,
    session_id: str,
    mode: TokenMode,
    settings: BandwidthSettings,
    now: datetime | None = None,
) -> TokenPermit:
    """What this participant session may publish, from its latest check; raise if nothing.
    The check is the session's own: another session of the same identity (one a newer link
    replaced) cannot lend it a verdict."""
    now = now or datetime.now(UTC)
    row = await records.latest_for_session(conn, session_id)
    window_s = int(settings.window.total_seconds())
    if row is None:
        raise ConnectionCheckRequired(
            "run the connection check before joining",
            details={"window_seconds": window_s, "last_check_at": None},
        )
    finished: datetime = row["finished_at"]
    if finished < now - settings.window:
        raise ConnectionCheckRequired(
            f"the last connection check is more than {window_s // 60} minutes old; run it again",
            details={"window_seconds": window_s, "last_check_at": finished.isoformat()},
        )
    verdict = VerdictClass(row["verdict"])
    details: dict[str, Any] = {
        "verdict": verdict.value,
        "check_id": row["id"],
        "offered": offered_for(verdict),
    }
    if verdict is VerdictClass.INSUFFICIENT:
        raise ConnectionInsufficient(
            "this connection cannot carry a call; the officer can visit in person instead",
            details=details,
        )
    if mode is TokenMode.AUDIO_ONLY:
        return TokenPermit(mode, MIC_ONLY, None, row["id"], verdict)
    if not verdict.video:
        raise VideoNotAvailable(
            "this connection is too weak for video; choose an audio-only call or an "
            "in-person visit",
            details=details,
        )
    caps = PRESETS[row["video_preset"]]
    return TokenPermit(mode, CAMERA_AND_MIC, caps, row["id"], verdict)
