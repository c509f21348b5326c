"""Every officer read of a visit's personal data is in the audit log: what, by whom, when and
why (DPA 2018 s.62; issue 12, finding 5)."""

from typing import Any

from sqlalchemy import select

from control_plane.keys import ENGINE
from core import schema
from tests.support.stack import Api


async def _consultations(api: Api, *, visit_id: str | None = None) -> list[dict[str, Any]]:
    a = schema.audit_log
    query = select(a).where(a.c.action == "consultation").order_by(a.c.id)
    if visit_id is not None:
        query = query.where(a.c.visit_id == visit_id)
    async with api.stack.app[ENGINE].connect() as conn:
        return [dict(r) for r in (await conn.execute(query)).mappings()]


async def test_each_read_of_a_visit_is_audited_with_who_and_why(api: Api) -> None:
    visit = await api.new_visit()
    vid = visit["id"]
    why = {"X-Justification": "reviewing the call before the statement"}
    reads = {
        "visit.events": f"/api/v1/visits/{vid}/events",
        "visit.audit": f"/api/v1/visits/{vid}/audit",
        "visit.progress": f"/api/v1/visits/{vid}/progress",
        "recording.state": f"/api/v1/visits/{vid}/recording",
        "visit.outcomes.read": f"/api/v1/visits/{vid}/outcomes",
    }
    for path in reads.values():
        await api.ok("GET", path, who="alice", headers=why)

    entries = {e["subject"]: e for e in await _consultations(api, visit_id=vid)}

    for subject in reads:
        entry = entries[subject]
        assert entry["actor"] == "officer:local:1001"
        assert entry["justification"] == why["X-Justification"]
        assert entry["detail"]["justification_given"] is True
        assert entry["at"] is not None


async def test_a_read_without_a_justification_records_its_purpose_explicitly(api: Api) -> None:
    visit = await api.new_visit()
    vid = visit["id"]
    await api.ok("GET", f"/api/v1/visits/{vid}", who="alice")
    await api.ok("GET", f"/api/v1/visits/{vid}", who="sarge")  # alice's supervisor

    own, overseen = [e for e in await _consultations(api, visit_id=vid) if e["subject"] == "visit"]

    assert (
        own["justification"] == "the visit's own officer, at work on it (no X-Justification given)"
    )
    assert own["detail"]["justification_given"] is False
    assert overseen["actor"] == "officer:local:2001"
    assert overseen["justification"].startswith("supervisor overseeing the unit's visits")


async def test_the_visit_list_is_audited_with_the_visits_it_showed(api: Api) -> None:
    visit = await api.new_visit()
    before = len(await _consultations(api))
    await api.ok("GET", "/api/v1/visits", who="alice")

    (entry,) = (await _consultations(api))[before:]

    assert (entry["subject"], entry["visit_id"]) == ("visit.list", None)
    assert visit["id"] in entry["detail"]["visit_ids"]
    assert entry["justification"].endswith("(no X-Justification given)")


async def test_a_polled_view_is_recorded_once_per_spell_of_viewing(api: Api) -> None:
    visit = await api.new_visit()
    vid = visit["id"]
    for _ in range(3):
        await api.ok("GET", f"/api/v1/visits/{vid}/progress", who="alice")
    await api.ok("GET", f"/api/v1/visits/{vid}/progress", who="sarge")

    progress = [
        e for e in await _consultations(api, visit_id=vid) if e["subject"] == "visit.progress"
    ]

    assert [e["actor"] for e in progress] == ["officer:local:1001", "officer:local:2001"]
    assert progress[0]["detail"]["repeats_within_seconds"] == 300
