"""Received-media rates from WebRTC stats, built from the SDK's own protobuf messages."""

import pytest
from livekit import rtc
from livekit.rtc._proto import stats_pb2

from loadtests.rtcstats import Counters, counters, rates


def _inbound(
    sid: str, kind: str, *, packets: int, lost: int, nbytes: int, frames: int = 0
) -> stats_pb2.RtcStats:
    m = stats_pb2.RtcStats()
    m.inbound_rtp.rtc.id = sid
    m.inbound_rtp.stream.kind = kind
    m.inbound_rtp.received.packets_received = packets
    m.inbound_rtp.received.packets_lost = lost
    m.inbound_rtp.inbound.bytes_received = nbytes
    m.inbound_rtp.inbound.frames_decoded = frames
    return m


def _outbound() -> stats_pb2.RtcStats:
    m = stats_pb2.RtcStats()
    m.outbound_rtp.rtc.id = "out"
    m.outbound_rtp.stream.kind = "video"
    return m


def test_counters_sum_inbound_streams_of_both_peer_connections_once() -> None:
    video = _inbound("v", "video", packets=900, lost=9, nbytes=1_000_000, frames=250)
    audio = _inbound("a", "audio", packets=500, lost=-2, nbytes=40_000)
    # Single peer connection lists received streams under publisher_stats; the same stream
    # repeated under subscriber_stats must not count twice.
    stats = rtc.RtcStats(publisher_stats=[video, _outbound(), audio], subscriber_stats=[video])
    c = counters(stats, taken_at=1.0)
    assert c == Counters(
        taken_at=1.0,
        video_bytes=1_000_000,
        video_frames=250,
        audio_bytes=40_000,
        packets_received=1400,
        packets_lost=9,  # a negative packetsLost (duplicates) is not a gain
    )


def test_rates_over_a_window() -> None:
    before = Counters(taken_at=10.0, video_bytes=0, video_frames=0, packets_received=0)
    after = Counters(
        taken_at=12.0,
        video_bytes=200_000,
        video_frames=50,
        audio_bytes=8_000,
        packets_received=990,
        packets_lost=10,
    )
    r = rates(before, after)
    assert (r.video_kbps, r.video_fps, r.audio_kbps) == (800.0, 25.0, 32.0)
    assert r.packets == 990
    assert r.loss_fraction == pytest.approx(0.01)


def test_an_empty_window_is_refused_and_silence_is_no_loss() -> None:
    c = Counters(taken_at=5.0)
    with pytest.raises(ValueError, match="after the first"):
        rates(c, c)
    assert rates(c, Counters(taken_at=6.0)).loss_fraction == 0.0
