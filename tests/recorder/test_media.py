"""request_tile_layer: which subscribed videos the recorder asks the SFU to send at the
simulcast layer that fills a tile of the composite (a hand-written fake publication), and
what the real recorder on the real SFU then records of a 720p simulcast camera whose three
layers each have a colour of their own (published by the Go media agent)."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import av
import pytest
from livekit import rtc

from core.domain import TokenRole, room_name_for
from core.tokens import identity_for, mint
from loadtests.agentkinds import GO_AGENT, MEDIA_DIR
from loadtests.asyncagent import AsyncAgent
from recorder.media import request_tile_layer
from tests.recorder.statement import masters, wait_recording
from tests.support.recorder import RunningRecorder, start_recorder, stop_recorder
from tests.support.stack import Api, Stack


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


# The Go agent publishes its three highest files under `height`; at 720p these slots are its
# layers (low, medium, high), given here LiveKit's preset sizes under 720p and a colour each.
LAYERS = (
    ("vp8-360p.ivf", "320x180", "red"),
    ("vp8-540p.ivf", "640x360", "lime"),
    ("vp8-720p.ivf", "1280x720", "blue"),
)


@pytest.fixture(scope="module")
def coloured_layers(tmp_path_factory: pytest.TempPathFactory) -> Path:
    media = tmp_path_factory.mktemp("layers")
    for name, size, colour in (("vp8-180p.ivf", "320x180", "red"), *LAYERS):
        subprocess.run(
            [
                *("ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "lavfi"),
                *("-i", f"color=c={colour}:s={size}:r=25:d=2"),
                *("-c:v", "libvpx", "-deadline", "realtime", "-g", "25", "-b:v", "200k"),
                *("-f", "ivf", str(media / name)),
            ],
            check=True,
        )
    (media / "opus.ogg").symlink_to(MEDIA_DIR / "opus.ogg")
    return media


@pytest.fixture
async def agent(coloured_layers: Path) -> AsyncIterator[AsyncAgent]:
    proc = await asyncio.create_subprocess_exec(
        *(str(GO_AGENT), "-media", str(coloured_layers)),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        limit=1 << 20,
    )
    a = AsyncAgent(proc)
    try:
        await a.call("ping", timeout=60)
        yield a
    finally:
        await a.close()


@pytest.fixture
def recorder(stack: Stack, tmp_path: Path) -> Iterator[RunningRecorder]:
    rec = start_recorder(stack, tmp_path / "recorder", name="rec-layers")
    try:
        yield rec
    finally:
        stop_recorder(rec)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # no database question
async def test_a_720p_simulcast_camera_is_recorded_from_the_layer_that_fills_its_tile(
    api: Api, agent: AsyncAgent, recorder: RunningRecorder
) -> None:
    vid, _session = await api.consented_live_visit("alice")
    officer = await api.ok("POST", f"/api/v1/visits/{vid}/token", who="alice")
    victim = mint(
        api.stack.settings.livekit,
        role=TokenRole.VICTIM,
        room=room_name_for(vid),
        identity=identity_for(TokenRole.VICTIM, vid),
        display_name="Victim",
        ttl=timedelta(minutes=2),
    )
    for key, url, token in (
        ("officer", officer["url"], officer["token"]),
        ("victim", victim.url, victim.token),
    ):
        args = {"participant": key, "url": url, "token": token, "height": 720, "simulcast": True}
        await agent.call("join", args, timeout=60)
    await api.ok("POST", f"/api/v1/visits/{vid}/recording/start", who="alice", expect=202)
    await wait_recording(api, vid, status="recording", secured=True, timeout=60)
    await asyncio.sleep(4)  # the SFU switches layer at a keyframe (every second in these files)
    await api.ok("POST", f"/api/v1/visits/{vid}/recording/stop", who="alice", expect=202)
    sealed = await wait_recording(api, vid, status="sealed", timeout=60)
    with av.open(str(masters(api, sealed["evidence_id"])[-1])) as container:
        last = list(container.decode(video=0))[-12:]  # the statement's last half second
    for frame in last:
        rgb = frame.to_ndarray(format="rgb24").astype(float)
        assert rgb.shape == (360, 1280, 3)
        # Both tiles wholly the 360p layer's green (edge to edge: it fills the tile): not
        # the 720p layer's blue the SFU forwards unless asked, nor the 180p layer's red.
        for x0 in (0, 640):
            for x in (x0 + 8, x0 + 320, x0 + 631):
                r, g, b = rgb[20:340, x].mean(axis=0)
                assert g > 180, (x, r, g, b)
                assert r < 60, (x, r, g, b)
                assert b < 60, (x, r, g, b)
