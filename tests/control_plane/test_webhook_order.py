"""Webhooks are applied in the order LiveKit created them, not the order they arrive, and a
join under a revoked participant session does not count (issue 12, findings 11 and 1)."""

import base64
import hashlib
import json
import time
import uuid

from google.protobuf.json_format import MessageToJson
from livekit import api as lk
from sqlalchemy import select

from control_plane.keys import ENGINE
from core import schema
from tests.support.stack import Api

WEBHOOK = "/api/v1/livekit/webhook"


def _event(
    kind: str, vid: str, *, created_at: int, metadata: str = "", identity: str = ""
) -> lk.WebhookEvent:
    ev = lk.WebhookEvent(event=kind, id=f"EV_{uuid.uuid4().hex}", created_at=created_at)
    ev.room.name = f"evr-{vid}"
    ev.participant.identity = identity or f"victim:{vid}"
    ev.participant.metadata = metadata
    return ev


async def _post(api: Api, ev: lk.WebhookEvent) -> None:
    sfu = api.stack.sfu
    body = MessageToJson(ev)
    digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
    auth = lk.AccessToken(sfu.api_key, sfu.api_secret).with_sha256(digest).to_jwt()
    await api.ok("POST", WEBHOOK, data=body, headers={"Authorization": auth})


async def _status(api: Api, vid: str) -> str:
    return str((await api.ok("GET", f"/api/v1/visits/{vid}", who="alice"))["status"])


async def test_a_late_join_after_the_leave_does_not_leave_the_visit_live(api: Api) -> None:
    vid, _ = await api.live_ready_visit()
    now = int(time.time())
    joined = _event("participant_joined", vid, created_at=now - 5)
    left = _event("participant_left", vid, created_at=now - 2)

    await _post(api, left)
    await _post(api, joined)  # delivered late, after the departure it preceded

    assert await _status(api, vid) == "waiting"
    events = (await api.ok("GET", f"/api/v1/visits/{vid}/events", who="alice"))["events"]
    late = [e for e in events if e["kind"] == "participant_joined"]
    assert [e["detail"].get("ignored") for e in late] == [True]


async def test_joins_in_order_still_drive_the_visit(api: Api) -> None:
    vid, _ = await api.live_ready_visit()
    now = int(time.time())
    await _post(api, _event("participant_left", vid, created_at=now - 5))
    await _post(api, _event("participant_joined", vid, created_at=now - 2))

    assert await _status(api, vid) == "live"


async def test_a_join_under_a_revoked_session_does_not_make_the_visit_live(api: Api) -> None:
    vid, _ = await api.live_ready_visit()
    link = await api.ok("POST", f"/api/v1/visits/{vid}/links", who="alice", json={}, expect=201)
    await api.ok("POST", f"/api/v1/join/{link['url'].rsplit('/', 1)[1]}", expect=201)
    p = schema.participant_sessions
    async with api.stack.app[ENGINE].connect() as conn:
        revoked = await conn.scalar(
            select(p.c.id).where(p.c.visit_id == vid, p.c.revoked_at.is_not(None))
        )
    assert revoked is not None
    metadata = json.dumps({"role": "victim", "session": revoked})

    await _post(
        api, _event("participant_joined", vid, created_at=int(time.time()), metadata=metadata)
    )

    assert await _status(api, vid) == "waiting"
