"""Issue 11: the recorder on a LiveKit cluster, through the loss of a node.

A real two-node cluster over Redis (tests/support/cluster.py), the control plane and the
recorder process both configured with every node (`livekit.api_urls`, node0 first), a
statement with real media from a synthetic officer and victim:

* `kill -9` of the node hosting the room while the recorder reaches it through the other
  node: the participants rejoin through the survivor with fresh tokens (as the pages do),
  LiveKit places the room there, the recorder rejoins by itself, and once stopped the
  statement seals with a gap in its manifest that covers the outage;
* with node0 dead, a recorder started afterwards joins through node1 and records the
  statement, which seals without a gap.

One cluster for the module (SQLite, as the cluster tests have it); the first test leaves
node1 dead and the second starts it again before it kills node0.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from livekit import api as lk

from core.domain import TokenRole, room_name_for
from core.tokens import identity_for, mint
from loadtests.media import SyntheticParticipant
from tests.recorder.statement import (
    OFFICER_RGB,
    OFFICER_TONE,
    VICTIM_RGB,
    VICTIM_TONE,
    Call,
    Decoded,
    consent_and_start,
    decode,
    manifest_of,
    masters,
    recording_of,
    tone_power,
    wait_recording,
)
from tests.support.cluster import (
    ClusterNode,
    SfuCluster,
    kill_node,
    node_hosting,
    restart_node,
    start_cluster_stack,
    stop_cluster_stack,
)
from tests.support.recorder import RunningRecorder, eventually, start_recorder, stop_recorder
from tests.support.stack import Api, Stack

BACK_WITHIN = 40.0
"""Seconds from the kill until the recorder records again, on a loaded machine: LiveKit
routes joins to the dead node until its stats are 5 s old, then the participants and the
recorder rejoin (benchmarks/failover.py --cluster measures the participants' part)."""
ROUTED_TO_DEAD = timedelta(seconds=6)
"""LiveKit's selector.AvailableSeconds (5 s) and a second to spare."""
GAP_SLACK = timedelta(seconds=3)
"""How far from the kill the gap may begin: it starts where packets were last seen arriving
(the recorder reads its receivers' counters every 0.5 s, so up to about a second before the
kill), and the segment before it ends once the loss is noticed (no packets for 2 s, or the
SDK reconnecting, whichever is first)."""


@pytest.fixture(scope="module")
async def cluster_stack(
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[tuple[Stack, SfuCluster]]:
    workdir = tmp_path_factory.mktemp("rec-nodes")
    stack, cluster = await start_cluster_stack(
        workdir, database_url=f"sqlite+aiosqlite:///{workdir / 'evr.sqlite3'}", all_nodes=True
    )
    try:
        yield stack, cluster
    finally:
        await stop_cluster_stack(stack, cluster)


@pytest.fixture
def api(http: aiohttp.ClientSession, cluster_stack: tuple[Stack, SfuCluster]) -> Api:
    return Api(http, cluster_stack[0])


@pytest.fixture
def recorders() -> Iterator[list[RunningRecorder]]:
    started: list[RunningRecorder] = []
    try:
        yield started
    finally:
        for rec in started:
            stop_recorder(rec, kill=True)


def _victim_token(api: Api, vid: str) -> tuple[str, str]:
    """The victim's token exactly as the control plane mints it (minted here, as
    tests/recorder/statement.open_call does, so that the join page's gates stay out)."""
    issued = mint(
        api.stack.settings.livekit,
        role=TokenRole.VICTIM,
        room=room_name_for(vid),
        identity=identity_for(TokenRole.VICTIM, vid),
        display_name="Victim",
        ttl=timedelta(minutes=2),
    )
    return issued.token, issued.identity


async def _join(
    url: str, token: str, rgb: tuple[int, int, int], tone: float
) -> SyntheticParticipant:
    part = SyntheticParticipant(rgb=rgb, tone_hz=tone)
    try:
        await part.connect(url, token, timeout=10)
        await part.publish()
    except BaseException:
        await part.close()
        raise
    return part


async def _call(
    api: Api, cluster: SfuCluster, *, host: ClusterNode | None, via: ClusterNode
) -> Call:
    """A started visit whose room LiveKit placed on `host` (any node if None), with the
    officer and the victim publishing through `via`."""
    visit = await api.eligible_visit()
    vid = visit["id"]
    if host is not None:
        # The control plane's own CreateRoom then finds the room where it is.
        admin = lk.LiveKitAPI(via.sfu.url, cluster.api_key, cluster.api_secret, session=api.session)
        rooms = api.stack.settings.rooms
        await admin.room.create_room(
            lk.CreateRoomRequest(
                name=room_name_for(vid),
                node_id=host.node_id,
                empty_timeout=rooms.empty_timeout,
                departure_timeout=rooms.departure_timeout,
                max_participants=rooms.max_participants,
            )
        )
    link = await api.ok("POST", f"/api/v1/visits/{vid}/links", who="alice", json={}, expect=201)
    joined = await api.ok("POST", f"/api/v1/join/{link['url'].rsplit('/', 1)[1]}", expect=201)
    t0 = time.monotonic()
    while True:  # a start refused while LiveKit still places rooms on a dead node is a 503
        status, body = await api.call("POST", f"/api/v1/visits/{vid}/start", who="alice")
        if status == 200:
            break
        assert status == 503, body
        assert time.monotonic() - t0 < BACK_WITHIN, body
        await asyncio.sleep(0.5)
    officer_tok = await api.ok("POST", f"/api/v1/visits/{vid}/token", who="alice")
    victim_token, victim_identity = _victim_token(api, vid)
    officer = await _join(via.sfu.ws_url, officer_tok["token"], OFFICER_RGB, OFFICER_TONE)
    try:
        victim = await _join(via.sfu.ws_url, victim_token, VICTIM_RGB, VICTIM_TONE)
    except BaseException:
        await officer.close()
        raise
    call = Call(vid, joined["session"], officer, victim, victim_identity)
    try:
        await officer.wait_for_media(victim_identity, video=5, audio=5)
    except BaseException:
        await call.close()
        raise
    return call


async def _rejoin(api: Api, call: Call, via: ClusterNode) -> None:
    """As the pages do once LiveKit's own reconnect gives up: leave, then a fresh token each
    try until a join through `via` succeeds (a join in progress is never cancelled: the SDK
    aborts the process if it completes after Python gave up on it)."""
    await call.close()
    deadline = time.monotonic() + BACK_WITHIN
    errors: list[str] = []

    async def until_in(
        token: Callable[[], Awaitable[str]], rgb: tuple[int, int, int], tone: float
    ) -> SyntheticParticipant:
        while True:
            try:
                return await _join(via.sfu.ws_url, await token(), rgb, tone)
            except Exception as exc:  # routed to the dead node until LiveKit gives it up
                errors.append(f"{type(exc).__name__}: {exc}")
                assert time.monotonic() < deadline, errors[-5:]
                await asyncio.sleep(0.25)

    async def officer_token() -> str:
        tok = await api.ok("POST", f"/api/v1/visits/{call.visit_id}/token", who="alice")
        return str(tok["token"])

    async def victim_token() -> str:
        return _victim_token(api, call.visit_id)[0]

    call.officer, call.victim = await asyncio.gather(
        until_in(officer_token, OFFICER_RGB, OFFICER_TONE),
        until_in(victim_token, VICTIM_RGB, VICTIM_TONE),
    )
    print(f"rejoined after {len(errors)} refused tries: {errors[-3:]}")
    await call.officer.wait_for_media(call.victim_identity, video=5, audio=5, timeout=BACK_WITHIN)


async def _end(api: Api, call: Call) -> None:
    await call.close()
    await api.call(
        "POST", f"/api/v1/visits/{call.visit_id}/end", who="alice", json={"reason": "test"}
    )


async def test_the_node_hosting_the_room_dies_the_recorder_rejoins_and_the_gap_is_recorded(
    api: Api,
    cluster_stack: tuple[Stack, SfuCluster],
    tmp_path: Path,
    recorders: list[RunningRecorder],
) -> None:
    stack, cluster = cluster_stack
    survivor, host = cluster.nodes
    rec = start_recorder(stack, tmp_path, name="rec-nodes", segment_seconds=4.0)
    recorders.append(rec)
    call = await _call(api, cluster, host=host, via=survivor)
    try:
        await consent_and_start(api, call)
        await wait_recording(api, call.visit_id, status="recording", secured=True)
        assert node_hosting(cluster, room_name_for(call.visit_id)) is host
        await asyncio.sleep(3.0)  # media recorded before the fault

        killed_at = datetime.now(UTC)
        kill_node(host)
        # Loud while it is out: the visit shows the statement as not secured.
        lost = await eventually(
            lambda: _not_secured(api, call.visit_id), timeout=BACK_WITHIN, interval=0.3
        )
        assert lost["problem"], lost
        # LiveKit routes joins to the dead node until its stats are 5 s old; a join sent there
        # hangs past the SDK's own timeout, and giving up on it aborts this process (the
        # SDK's FFI). The pages retry for longer than that anyway.
        wait = killed_at + ROUTED_TO_DEAD - datetime.now(UTC)
        await asyncio.sleep(max(0.0, wait.total_seconds()))
        await _rejoin(api, call, survivor)
        assert node_hosting(cluster, room_name_for(call.visit_id)) is survivor
        # The recorder is back by itself: recording, secured, with both participants' media.
        await wait_recording(
            api, call.visit_id, status="recording", secured=True, timeout=BACK_WITHIN
        )
        back_at = datetime.now(UTC)
        await asyncio.sleep(3.0)  # media recorded after the fault
        await api.ok(
            "POST", f"/api/v1/visits/{call.visit_id}/recording/stop", who="alice", expect=202
        )
        sealed = await wait_recording(api, call.visit_id, status="sealed", secured=True, timeout=60)
    finally:
        await _end(api, call)

    manifest = manifest_of(api, sealed["evidence_id"])
    print(f"killed at {killed_at}, back at {back_at}; gaps: {manifest.gaps}")
    print([(s.name, s.start, s.end) for s in manifest.segments])
    [gap] = manifest.gaps
    # The gap covers the outage: it starts within moments of the kill and ends no earlier
    # than the recorder's return, where the next segment begins.
    assert killed_at - GAP_SLACK <= gap.start <= killed_at + GAP_SLACK, (killed_at, gap)
    assert gap.end > killed_at
    assert gap.end <= back_at
    names = [s.name for s in manifest.segments]
    before = [s for s in manifest.segments if s.name <= gap.after_segment]
    after = [s for s in manifest.segments if s.name > gap.after_segment]
    assert before
    assert after, names
    assert max(s.end for s in before) <= gap.start + GAP_SLACK
    assert min(s.start for s in after) >= gap.end - timedelta(seconds=0.1)
    for path in masters(api, sealed["evidence_id"]):
        assert decode(path).video_seconds > 0
    # What was recorded after the rejoin decodes (each return of a participant starts a new
    # segment; which parties each one shows depends on the order they came back in).
    later = [m for m in masters(api, sealed["evidence_id"]) if m.name > gap.after_segment]
    assert later


def _both_parties(decoded: Decoded) -> None:
    """The officer's red tile and the victim's blue one, and both tones in the mix."""
    assert any(left > 120 and right > 120 for left, right in decoded.tiles), decoded.tiles[:5]
    assert tone_power(decoded.audio, decoded.sample_rate, OFFICER_TONE) > 0.1
    assert tone_power(decoded.audio, decoded.sample_rate, VICTIM_TONE) > 0.1


async def _not_secured(api: Api, vid: str) -> dict[str, object] | None:
    rec = await recording_of(api, vid)
    return rec if rec and rec["secured"] is False else None


async def test_with_the_first_node_dead_a_recorder_joins_through_the_next_and_records(
    api: Api,
    cluster_stack: tuple[Stack, SfuCluster],
    tmp_path: Path,
    recorders: list[RunningRecorder],
) -> None:
    stack, cluster = cluster_stack
    first, second = cluster.nodes
    if not second.alive:  # the test above killed it
        await asyncio.to_thread(restart_node, cluster, second)
    kill_node(first)
    rec = start_recorder(stack, tmp_path, name="rec-next", segment_seconds=30.0)
    recorders.append(rec)
    # Until the dead node's stats are 5 s old LiveKit may still place the new room on it.
    await asyncio.sleep(ROUTED_TO_DEAD.total_seconds())
    call = await _call(api, cluster, host=None, via=second)
    try:
        await consent_and_start(api, call)
        await wait_recording(api, call.visit_id, status="recording", secured=True, timeout=40)
        await asyncio.sleep(3.0)
        await api.ok(
            "POST", f"/api/v1/visits/{call.visit_id}/recording/stop", who="alice", expect=202
        )
        sealed = await wait_recording(api, call.visit_id, status="sealed", secured=True, timeout=60)
    finally:
        await _end(api, call)
    # It went past node0 (logged once, for this process's first join) and stayed on node1.
    passed = [
        line
        for line in rec.log_lines()
        if line.get("msg", "").startswith("could not join the room through this LiveKit node")
    ]
    assert [line["node"] for line in passed] == [first.sfu.url], passed
    manifest = manifest_of(api, sealed["evidence_id"])
    assert manifest.gaps == ()
    [master] = masters(api, sealed["evidence_id"])
    decoded = decode(master)
    assert decoded.video_seconds >= 2.0, decoded.video_seconds
    _both_parties(decoded)
