"""The Go media agent (loadtests/mediaagent) against the real livekit-server: two participants
publish the pre-encoded 540p VP8 and Opus files, each receives the other's, and the agent's
counters (frames, keyframes, bytes, loss) come back as JSON that parses. Tokens are narrow:
one room, join only, as the control plane mints them. A smoke test of the machinery; the
generator's cost and the SFU's capacity are measured in BENCHMARKS.md."""

import asyncio
import datetime as dt
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from livekit import api

from loadtests.asyncagent import AsyncAgent, AsyncAgentError
from tests.support.netns import TestNet, create_testnet, destroy_testnet
from tests.support.sfu import RunningSfu, start_sfu, stop_sfu

WINDOW = 3.0  # seconds measured
FILE_FPS = 25  # loadtests/mediaagent/make_media.sh


@pytest.fixture(scope="module")
def net() -> Iterator[TestNet]:
    n = create_testnet("goagent")
    try:
        yield n
    finally:
        destroy_testnet(n)


@pytest.fixture(scope="module")
def sfu(net: TestNet, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSfu]:
    # Nothing listens there: webhook deliveries fail, which the SFU only logs.
    running = start_sfu(
        net=net,
        webhook_url=f"http://{net.host_ip}:9/livekit/webhook",
        workdir=tmp_path_factory.mktemp("sfu"),
    )
    try:
        yield running
    finally:
        stop_sfu(running)


@pytest.fixture
async def agent() -> AsyncIterator[AsyncAgent]:
    a = await AsyncAgent.start()
    try:
        yield a
    finally:
        await a.close()


def _token(sfu: RunningSfu, room: str, identity: str) -> str:
    return (
        api.AccessToken(sfu.api_key, sfu.api_secret)
        .with_identity(identity)
        .with_grants(api.VideoGrants(room_join=True, room=room))
        .with_ttl(dt.timedelta(minutes=2))
        .to_jwt()
    )


async def test_two_participants_exchange_media_and_report_counts(
    sfu: RunningSfu, agent: AsyncAgent
) -> None:
    room = f"goagent-{uuid.uuid4().hex[:8]}"
    async with api.LiveKitAPI(sfu.url, sfu.api_key, sfu.api_secret) as lk:
        await lk.room.create_room(api.CreateRoomRequest(name=room))
    people = {"officer": "officer-1", "victim": "victim-1"}
    for key, identity in people.items():
        joined = await agent.call(
            "join",
            {
                "participant": key,
                "url": sfu.ws_url,
                "token": _token(sfu, room, identity),
                "height": 540,
                "timeout": 15,
            },
            timeout=40,
        )
        assert joined["identity"] == identity
        assert joined["join_s"] > 0
    # Each sees the other's first keyframe, at the file's size, read from the VP8 header.
    for key, other in (("officer", "victim"), ("victim", "officer")):
        seen = await agent.call(
            "first_frame",
            {"participant": key, "remote": people[other], "since": other, "timeout": 15},
            timeout=20,
        )
        assert seen["size"] == [960, 540]
        assert 0 < seen["first_frame_s"] < 15
    windows = await asyncio.gather(
        *(
            agent.call("measure", {"participant": key, "seconds": WINDOW}, timeout=WINDOW + 10)
            for key in people
        )
    )
    for window in windows:
        # Frames flow at about the file's rate (a loaded machine may lose some pace, not all).
        assert window["video_fps"] > FILE_FPS / 2, window
        assert window["sent_video_fps"] > FILE_FPS / 2, window
        assert window["file_fps"] == pytest.approx(FILE_FPS)
        assert 300 < window["video_kbps"] < 2000, window  # the file is ~770 kbps
        assert window["audio_kbps"] > 10, window
        assert window["packets"] > 0
        assert 0 <= window["loss_fraction"] <= 0.05, window
    for key, other in (("officer", "victim"), ("victim", "officer")):
        totals = await agent.call("stats", {"participant": key}, timeout=10)
        got = totals["remotes"][people[other]]
        assert got["video"]["keyframes"] >= 1
        assert got["video"]["frames"] > FILE_FPS * WINDOW / 2
        assert got["audio"]["frames"] > 50 * WINDOW / 2  # 20 ms Opus packets
        assert got["video"]["bytes"] > 0
        assert got["video"]["lost"] >= 0
        assert totals["sent_video_frames"] >= got["video"]["frames"] - 5
    for key in people:
        assert (await agent.call("leave", {"participant": key}, timeout=15)) == {"left": True}


async def test_bad_requests_are_answered_with_errors(agent: AsyncAgent) -> None:
    with pytest.raises(AsyncAgentError, match="join needs participant, url and token"):
        await agent.call("join", {"participant": "x"}, timeout=5)
    with pytest.raises(AsyncAgentError, match="no participant"):
        await agent.call("measure", {"participant": "nobody", "seconds": 1}, timeout=5)
    with pytest.raises(AsyncAgentError, match="unknown op"):
        await agent.call("dance", timeout=5)
    assert (await agent.call("ping", timeout=5))["kind"] == "go"


async def test_a_simulcast_publisher_is_received_at_a_layer_it_sent(
    sfu: RunningSfu, agent: AsyncAgent
) -> None:
    room = f"goagent-sc-{uuid.uuid4().hex[:8]}"
    async with api.LiveKitAPI(sfu.url, sfu.api_key, sfu.api_secret) as lk:
        await lk.room.create_room(api.CreateRoomRequest(name=room))
    for key, simulcast in (("officer", True), ("victim", False)):
        await agent.call(
            "join",
            {
                "participant": key,
                "url": sfu.ws_url,
                "token": _token(sfu, room, f"{key}-sc"),
                "height": 540,
                "simulcast": simulcast,
                "timeout": 15,
            },
            timeout=40,
        )
    seen = await agent.call(
        "first_frame",
        {"participant": "victim", "remote": "officer-sc", "since": "officer", "timeout": 15},
        timeout=20,
    )
    # The SFU forwards one of the three layers the files provide (180p, 360p, 540p).
    assert seen["size"] in ([320, 180], [640, 360], [960, 540])
    window = await agent.call(
        "measure", {"participant": "victim", "seconds": WINDOW}, timeout=WINDOW + 10
    )
    assert window["video_fps"] > FILE_FPS / 2, window
    assert window["loss_fraction"] <= 0.05, window
