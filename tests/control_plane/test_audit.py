"""DPA 2018 Part 3 s.62: collection, alteration and consultation are logged, append-only."""

import pytest
from sqlalchemy import delete, text, update
from sqlalchemy.exc import DBAPIError

from control_plane.keys import ENGINE
from core import schema
from tests.support.stack import Api


async def test_every_collection_alteration_and_consultation_is_logged(api: Api) -> None:
    visit = await api.new_visit()
    vid = visit["id"]
    await api.ok("POST", f"/api/v1/visits/{vid}/choice", who="alice", json={"choice": "video"})
    await api.ok(
        "GET", f"/api/v1/visits/{vid}", who="sarge", headers={"X-Justification": "welfare check"}
    )

    entries = (await api.ok("GET", f"/api/v1/visits/{vid}/audit", who="alice"))["entries"]

    actions = [(e["action"], e["subject"], e["actor"]) for e in entries]
    assert actions[0] == ("collection", "visit.contact", "officer:local:1001")
    assert ("alteration", "visit.status", "officer:local:1001") in actions
    consult = [e for e in entries if e["action"] == "consultation"]
    assert consult[-1]["actor"] == "officer:local:2001"
    assert consult[-1]["justification"] == "welfare check"
    for e in entries:
        assert e["at"].endswith("+00:00")


async def test_the_victims_own_view_is_logged_as_the_participant(api: Api) -> None:
    vid, session = await api.live_ready_visit()
    await api.ok("GET", "/api/v1/participant/visit", bearer=session)
    entries = (await api.ok("GET", f"/api/v1/visits/{vid}/audit", who="alice"))["entries"]
    assert entries[-1]["actor"] == f"participant:victim:{vid}"
    assert entries[-1]["action"] == "consultation"


@pytest.mark.parametrize("statement", ["update", "delete"])
async def test_the_audit_log_is_append_only_in_the_database(api: Api, statement: str) -> None:
    await api.new_visit()
    a = schema.audit_log
    stmt = update(a).values(actor="someone else") if statement == "update" else delete(a)
    with pytest.raises(DBAPIError, match=r"append-only|permission denied"):
        async with api.stack.app[ENGINE].begin() as conn:
            await conn.execute(stmt)
    async with api.stack.app[ENGINE].connect() as conn:
        assert await conn.scalar(text("SELECT count(*) FROM audit_log")) > 0
