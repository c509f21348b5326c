"""The verdict: a class from the server's own measurements, and the publish caps it allows.

Pure functions of the measurements and `BandwidthSettings`, so the thresholds can be tested
exactly at and around each boundary.
"""

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from core.settings import BandwidthSettings


class VerdictClass(StrEnum):
    HD = "hd"
    """720p video."""
    SD = "sd"
    """360p or 540p video."""
    AUDIO_ONLY = "audio_only"
    INSUFFICIENT = "insufficient"
    """Not even audio: only an in-person visit is offered."""

    @property
    def video(self) -> bool:
        return self in (VerdictClass.HD, VerdictClass.SD)


class Offer(StrEnum):
    VIDEO = "video"
    AUDIO_ONLY = "audio_only"
    IN_PERSON = "in_person"


@dataclass(frozen=True)
class PublishCaps:
    """What the victim's client may publish: LiveKit's preset at that resolution."""

    preset: str
    max_width: int
    max_height: int
    max_bitrate: int
    max_framerate: int

    def to_json(self) -> dict[str, int]:
        return {
            "max_width": self.max_width,
            "max_height": self.max_height,
            "max_bitrate": self.max_bitrate,
            "max_framerate": self.max_framerate,
        }


# LiveKit client presets (VideoPresets.h360/h540/h720): resolution, bitrate, frame rate.
H720 = PublishCaps("h720", 1280, 720, 1_700_000, 30)
H540 = PublishCaps("h540", 960, 540, 800_000, 25)
H360 = PublishCaps("h360", 640, 360, 450_000, 20)
PRESETS = {caps.preset: caps for caps in (H720, H540, H360)}


def _share(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


@dataclass(frozen=True, kw_only=True)
class ProbeFigures:
    """What the hidden subscriber in the probe room received from the phone, via the SFU."""

    connected: bool
    """Media from the phone reached the SFU: its track was forwarded to the subscriber."""
    video_frames: int = 0
    fps: float = 0.0
    kbps: float = 0.0
    packet_loss: float | None = None
    """The loss the verdict uses: the worse of `server_loss` and `phone_loss`
    (control_plane.bandwidth.loss)."""
    server_loss: float | None = None
    """What the server's subscriber saw, after the SFU's NACK repairs."""
    phone_loss: float | None = None
    """What the phone's own counters say the link lost (client-reported; it can only raise
    `packet_loss`)."""
    jitter_ms: float | None = None
    sfu_quality: str | None = None
    """LiveKit's own connection-quality score for the phone, if the SFU sent one in time."""
    transport: dict[str, Any] | None = None
    """The candidate pair the phone reported (client-reported, informational)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "connected": self.connected,
            "video_frames": self.video_frames,
            "fps": round(self.fps, 1),
            "kbps": round(self.kbps, 1),
            "packet_loss": _share(self.packet_loss),
            "server_packet_loss": _share(self.server_loss),
            "phone_packet_loss": _share(self.phone_loss),
            "jitter_ms": None if self.jitter_ms is None else round(self.jitter_ms, 1),
            "sfu_quality": self.sfu_quality,
            "transport": self.transport,
        }


@dataclass(frozen=True, kw_only=True)
class Figures:
    """The server-measured inputs of a verdict. None means "not measured", which never passes."""

    uplink_kbps: float | None
    downlink_kbps: float | None
    rtt_ms: float | None
    probe: ProbeFigures


@dataclass(frozen=True)
class Verdict:
    verdict: VerdictClass
    caps: PublishCaps | None
    reasons: list[str] = field(default_factory=list)

    @property
    def offered(self) -> list[str]:
        return offered_for(self.verdict)


def offered_for(verdict: VerdictClass) -> list[str]:
    """The choices the victim is given: in person is always one of them."""
    if verdict.video:
        return [Offer.VIDEO.value, Offer.AUDIO_ONLY.value, Offer.IN_PERSON.value]
    if verdict is VerdictClass.AUDIO_ONLY:
        return [Offer.AUDIO_ONLY.value, Offer.IN_PERSON.value]
    return [Offer.IN_PERSON.value]


def classify(figures: Figures, settings: BandwidthSettings) -> Verdict:
    """Classify the measurements. Throughput is the worse of uplink and downlink."""
    reasons: list[str] = []
    up, down, rtt, probe = (
        figures.uplink_kbps,
        figures.downlink_kbps,
        figures.rtt_ms,
        figures.probe,
    )
    if up is None or down is None or rtt is None:
        missing = [
            name
            for name, value in (("uplink", up), ("downlink", down), ("round-trip time", rtt))
            if value is None
        ]
        reasons.append("not measured: " + ", ".join(missing))
        return Verdict(VerdictClass.INSUFFICIENT, None, reasons)
    rate = min(up, down)
    weaker = "uplink" if up <= down else "downlink"
    if rate < settings.audio_kbps:
        reasons.append(
            f"{weaker} {rate:.0f} kbps is below the {settings.audio_kbps} kbps audio minimum"
        )
    if rtt > settings.audio_max_rtt_ms:
        reasons.append(f"round-trip time {rtt:.0f} ms is above {settings.audio_max_rtt_ms:.0f} ms")
    if not probe.connected:
        reasons.append("no media from the phone reached the SFU (UDP blocked, no TCP/TURN?)")
    if reasons:
        return Verdict(VerdictClass.INSUFFICIENT, None, reasons)

    video_blockers: list[str] = []
    if rate < settings.sd_kbps:
        video_blockers.append(
            f"{weaker} {rate:.0f} kbps is below the {settings.sd_kbps} kbps video minimum"
        )
    if rtt > settings.video_max_rtt_ms:
        video_blockers.append(
            f"round-trip time {rtt:.0f} ms is above {settings.video_max_rtt_ms:.0f} ms for video"
        )
    if probe.fps < settings.video_min_fps:
        video_blockers.append(
            f"the SFU received {probe.fps:.1f} fps of video, below {settings.video_min_fps:.0f}"
        )
    if probe.packet_loss is not None and probe.packet_loss > settings.video_max_loss:
        video_blockers.append(
            f"video packet loss {probe.packet_loss:.1%} is above {settings.video_max_loss:.0%}"
        )
    if video_blockers:
        return Verdict(VerdictClass.AUDIO_ONLY, None, reasons + video_blockers)
    if rate >= settings.hd_kbps:
        return Verdict(VerdictClass.HD, H720, reasons)
    if rate >= settings.sd_540_kbps:
        reasons.append(f"{weaker} {rate:.0f} kbps is below the {settings.hd_kbps} kbps for 720p")
        return Verdict(VerdictClass.SD, H540, reasons)
    reasons.append(f"{weaker} {rate:.0f} kbps is below the {settings.sd_540_kbps} kbps for 540p")
    return Verdict(VerdictClass.SD, H360, reasons)
