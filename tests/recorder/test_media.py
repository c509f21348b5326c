"""request_tile_layer: which subscribed videos the recorder asks the SFU to send at the
simulcast layer that fills a tile of the composite (a hand-written fake publication; the
real SFU's answer is measured in BENCHMARKS.md, recorder at 720p)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from livekit import rtc

from recorder.media import request_tile_layer


@dataclass
class FakePublication:
    width: int
    height: int
    simulcasted: bool = True
    kind: rtc.TrackKind.ValueType = rtc.TrackKind.KIND_VIDEO
    asked: list[rtc.VideoQuality.ValueType] = field(default_factory=list)

    def set_video_quality(self, quality: rtc.VideoQuality.ValueType) -> None:
        self.asked.append(quality)


@pytest.mark.parametrize(
    ("width", "height"),
    [(1280, 720), (720, 1280), (960, 540), (640, 480)],  # 16:9, a phone upright, 540p, 4:3
)
def test_a_simulcast_camera_taller_than_a_tile_is_asked_for_its_middle_layer(
    width: int, height: int
) -> None:
    pub = FakePublication(width, height)
    assert request_tile_layer(pub, tile_height=360) is True
    assert pub.asked == [rtc.VideoQuality.VIDEO_QUALITY_MEDIUM]


@pytest.mark.parametrize(
    "pub",
    [
        FakePublication(1280, 720, simulcasted=False),  # one layer: nothing to choose
        FakePublication(640, 360),  # the top already fits the tile
        FakePublication(320, 240),
        FakePublication(0, 0, kind=rtc.TrackKind.KIND_AUDIO),
    ],
)
def test_others_are_left_at_what_the_sfu_sends(pub: FakePublication) -> None:
    assert request_tile_layer(pub, tile_height=360) is False
    assert pub.asked == []


def test_the_default_tile_is_the_composites_height() -> None:
    pub = FakePublication(640, 360)
    assert request_tile_layer(pub) is False  # 360 px: the 1280x360 composite's height
    pub = FakePublication(1280, 720)
    assert request_tile_layer(pub) is True
