"""The verdict classifier, at and around each threshold of the default settings."""

import pytest

from control_plane.bandwidth.verdict import (
    H360,
    H540,
    H720,
    Figures,
    ProbeFigures,
    VerdictClass,
    classify,
    offered_for,
)
from core.settings import BandwidthSettings

S = BandwidthSettings()
GOOD_PROBE = ProbeFigures(connected=True, video_frames=50, fps=20.0, kbps=400, packet_loss=0.0)


def _figures(
    up: float | None = 10_000,
    down: float | None = 10_000,
    rtt: float | None = 40,
    probe: ProbeFigures = GOOD_PROBE,
) -> Figures:
    return Figures(uplink_kbps=up, downlink_kbps=down, rtt_ms=rtt, probe=probe)


@pytest.mark.parametrize(
    ("kbps", "verdict", "caps"),
    [
        (S.hd_kbps + 1, VerdictClass.HD, H720),
        (S.hd_kbps, VerdictClass.HD, H720),
        (S.hd_kbps - 1, VerdictClass.SD, H540),
        (S.sd_540_kbps, VerdictClass.SD, H540),
        (S.sd_540_kbps - 1, VerdictClass.SD, H360),
        (S.sd_kbps, VerdictClass.SD, H360),
        (S.sd_kbps - 1, VerdictClass.AUDIO_ONLY, None),
        (S.audio_kbps, VerdictClass.AUDIO_ONLY, None),
        (S.audio_kbps - 1, VerdictClass.INSUFFICIENT, None),
        (0, VerdictClass.INSUFFICIENT, None),
    ],
)
def test_throughput_thresholds(kbps: float, verdict: VerdictClass, caps: object) -> None:
    result = classify(_figures(up=kbps), S)
    assert (result.verdict, result.caps) == (verdict, caps)
    # The downlink counts the same way: the worse direction decides.
    assert classify(_figures(down=kbps), S).verdict is verdict


def test_the_defaults_carry_headroom_over_the_livekit_presets() -> None:
    audio = 64
    assert S.hd_kbps >= 1.3 * (H720.max_bitrate / 1000 + audio)
    assert S.sd_540_kbps >= 1.3 * (H540.max_bitrate / 1000 + audio)
    assert S.sd_kbps >= 1.3 * (H360.max_bitrate / 1000 + audio)
    assert S.audio_kbps >= 1.3 * 76  # just under the 80 kbps top of the audio range


@pytest.mark.parametrize(
    ("rtt", "verdict"),
    [
        (S.video_max_rtt_ms, VerdictClass.HD),
        (S.video_max_rtt_ms + 1, VerdictClass.AUDIO_ONLY),
        (S.audio_max_rtt_ms, VerdictClass.AUDIO_ONLY),
        (S.audio_max_rtt_ms + 1, VerdictClass.INSUFFICIENT),
    ],
)
def test_round_trip_time_thresholds(rtt: float, verdict: VerdictClass) -> None:
    assert classify(_figures(rtt=rtt), S).verdict is verdict


@pytest.mark.parametrize(
    ("probe", "verdict"),
    [
        (ProbeFigures(connected=False), VerdictClass.INSUFFICIENT),
        (ProbeFigures(connected=True, video_frames=0), VerdictClass.AUDIO_ONLY),
        (ProbeFigures(connected=True, fps=S.video_min_fps - 0.1), VerdictClass.AUDIO_ONLY),
        (ProbeFigures(connected=True, fps=S.video_min_fps), VerdictClass.HD),
        (
            ProbeFigures(connected=True, fps=20, packet_loss=S.video_max_loss),
            VerdictClass.HD,
        ),
        (
            ProbeFigures(connected=True, fps=20, packet_loss=S.video_max_loss + 0.001),
            VerdictClass.AUDIO_ONLY,
        ),
    ],
)
def test_the_webrtc_leg_decides_whether_media_and_video_flow(
    probe: ProbeFigures, verdict: VerdictClass
) -> None:
    assert classify(_figures(probe=probe), S).verdict is verdict


@pytest.mark.parametrize("missing", ["up", "down", "rtt"])
def test_an_unmeasured_figure_never_passes(missing: str) -> None:
    result = classify(_figures(**{missing: None}), S)  # type: ignore[arg-type]
    assert result.verdict is VerdictClass.INSUFFICIENT
    assert "not measured" in result.reasons[0]


def test_reasons_say_what_fell_short() -> None:
    result = classify(_figures(up=500, rtt=400), S)
    assert result.verdict is VerdictClass.AUDIO_ONLY
    assert any("500 kbps is below the 700 kbps video minimum" in r for r in result.reasons)
    assert any("400 ms" in r for r in result.reasons)


def test_in_person_is_always_offered() -> None:
    assert offered_for(VerdictClass.HD) == ["video", "audio_only", "in_person"]
    assert offered_for(VerdictClass.SD) == ["video", "audio_only", "in_person"]
    assert offered_for(VerdictClass.AUDIO_ONLY) == ["audio_only", "in_person"]
    assert offered_for(VerdictClass.INSUFFICIENT) == ["in_person"]
