"""Programme outcomes: the victim's feedback, the officer's outcomes, and the figures exported.

The figures are recomputed from the database at each scrape, so these tests compare the
scraped values before and after (the session's database holds other tests' visits too, and
the timeout rules may end one of those meanwhile: see `_delta`).
"""

import asyncio
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from control_plane.keys import ENGINE
from core import schema
from core.domain import TokenRole, VisitState, room_name_for
from core.tokens import identity_for, mint
from loadtests.media import SyntheticParticipant
from tests.support.stack import Api

FEEDBACK = "/api/v1/participant/feedback"


@dataclass(frozen=True)
class Figures:
    values: dict[str, float]  # the programme figures from /metrics, `name{label=value}` -> value
    by_video: frozenset[str]  # the ids of visits ended after the victim joined, at that scrape


async def _ended_by_video(api: Api) -> frozenset[str]:
    v = schema.visits
    query = select(v.c.id).where(
        v.c.status == VisitState.ENDED.value, v.c.victim_joined_at.is_not(None)
    )
    async with api.stack.app[ENGINE].connect() as conn:
        return frozenset((await conn.execute(query)).scalars())


async def _scrape(api: Api) -> Figures:
    while True:  # the ids read on both sides of the scrape agree, so they match its figures
        ids = await _ended_by_video(api)
        text = await api.ok("GET", "/metrics")
        if await _ended_by_video(api) == ids:
            break
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        if not family.name.startswith("evr_programme"):
            continue
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            out[f"{sample.name}{{{labels}}}"] = sample.value
    return Figures(out, ids)


def _delta(before: Figures, after: Figures, ours: str | None = None) -> dict[str, float]:
    """What changed between two scrapes, less other tests' visits that ended by video meanwhile
    (the timeout rules end them in the background; each adds one to two figures)."""
    others = len(after.by_video - before.by_video - {ours})
    values = dict(after.values)
    for key in ("evr_programme_visits{mode=video}", "evr_programme_travel_avoided_total{}"):
        values[key] = values.get(key, 0) - others
    old = before.values
    return {k: values[k] - old.get(k, 0) for k in values if values[k] != old.get(k, 0)}


async def _wait_status(api: Api, vid: str, status: str) -> None:
    for _ in range(100):
        visit = await api.ok("GET", f"/api/v1/visits/{vid}", who="alice")
        if visit["status"] == status:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"visit {vid} never became {status}: {visit['status']}")


async def _video_visit_ended(api: Api) -> tuple[str, str]:
    """A visit the victim joined on the real SFU, then ended by the officer."""
    vid, session = await api.live_ready_visit()
    # The victim's token as the control plane mints it (its connection-check gate is
    # tested with the check itself).
    token = mint(
        api.stack.settings.livekit,
        role=TokenRole.VICTIM,
        room=room_name_for(vid),
        identity=identity_for(TokenRole.VICTIM, vid),
        display_name="Victim",
        ttl=timedelta(minutes=2),
    )
    victim = SyntheticParticipant(rgb=(0, 0, 0))
    try:
        await victim.connect(token.url, token.token)
        await _wait_status(api, vid, "live")  # LiveKit's webhook says the victim joined
        await api.ok("POST", f"/api/v1/visits/{vid}/end", who="alice", json={"reason": "done"})
    finally:
        await victim.close()
    return vid, session


async def test_feedback_opens_when_the_call_ends_and_is_taken_once(api: Api) -> None:
    before = await _scrape(api)
    vid, session = await api.live_ready_visit()
    answer = {"recommend": True, "satisfaction": 4, "comment": "  Quicker than waiting in.  "}

    assert await api.ok("GET", FEEDBACK, bearer=session) == {"state": "not_open", "feedback": None}
    status, body = await api.call("POST", FEEDBACK, bearer=session, json=answer)
    assert (status, body["error"]["code"]) == (409, "conflict")
    assert "once the call has ended" in body["error"]["message"]

    await api.ok("POST", f"/api/v1/visits/{vid}/end", who="alice", json={"reason": "done"})
    assert (await api.ok("GET", FEEDBACK, bearer=session))["state"] == "open"
    given = await api.ok("POST", FEEDBACK, bearer=session, json=answer, expect=201)
    expected = {"recommend": True, "satisfaction": 4, "comment": "Quicker than waiting in."}
    assert given == {"state": "given", "feedback": expected}
    assert await api.ok("GET", FEEDBACK, bearer=session) == given

    again, body = await api.call(
        "POST", FEEDBACK, bearer=session, json={**answer, "satisfaction": 1}
    )
    assert again == 409
    assert "already given" in body["error"]["message"]
    assert (await api.ok("GET", FEEDBACK, bearer=session))["feedback"]["satisfaction"] == 4

    audit = await api.ok("GET", f"/api/v1/visits/{vid}/audit", who="alice")
    (entry,) = [e for e in audit["entries"] if e["subject"] == "visit.feedback"]
    assert entry["action"] == "collection"
    assert "Quicker" not in str(entry), "the victim's words are not copied into the audit log"
    assert _delta(before, await _scrape(api)) == {
        "evr_programme_feedback{recommend=yes}": 1,
        "evr_programme_satisfaction_sum{}": 4,
        "evr_programme_satisfaction_count{}": 1,
    }


async def test_concurrent_feedback_is_recorded_once(api: Api) -> None:
    before = await _scrape(api)
    vid, session = await api.live_ready_visit()
    await api.ok("POST", f"/api/v1/visits/{vid}/end", who="alice", json={"reason": "done"})
    answers = [{"recommend": i % 2 == 0, "satisfaction": 1 + i} for i in range(4)]
    results = await asyncio.gather(
        *(api.call("POST", FEEDBACK, bearer=session, json=a) for a in answers)
    )
    assert sorted(status for status, _ in results) == [201, 409, 409, 409]

    (winner,) = [answers[i] for i, (status, _) in enumerate(results) if status == 201]
    stored = await api.ok("GET", FEEDBACK, bearer=session)
    assert stored == {"state": "given", "feedback": {**winner, "comment": None}}
    audit = await api.ok("GET", f"/api/v1/visits/{vid}/audit", who="alice")
    assert len([e for e in audit["entries"] if e["subject"] == "visit.feedback"]) == 1
    recommend = "yes" if winner["recommend"] else "no"
    assert _delta(before, await _scrape(api)) == {
        f"evr_programme_feedback{{recommend={recommend}}}": 1,
        "evr_programme_satisfaction_sum{}": winner["satisfaction"],
        "evr_programme_satisfaction_count{}": 1,
    }


async def test_only_the_victim_gives_feedback(api: Api) -> None:
    vid, _ = await api.live_ready_visit()
    link = await api.ok(
        "POST", f"/api/v1/visits/{vid}/links", who="alice", json={"role": "guardian"}, expect=201
    )
    guardian = await api.ok("POST", f"/api/v1/join/{link['url'].rsplit('/', 1)[1]}", expect=201)
    await api.ok("POST", f"/api/v1/visits/{vid}/end", who="alice", json={"reason": "done"})
    answer = {"recommend": False, "satisfaction": 2}
    # Ending the visit revoked every session but the victim's newest (issue 12).
    status, body = await api.call("POST", FEEDBACK, bearer=guardian["session"], json=answer)
    assert (status, body["error"]["code"]) == (401, "unauthenticated")
    status, _ = await api.call("POST", FEEDBACK, json=answer)
    assert status == 401


async def test_feedback_values_are_checked(api: Api) -> None:
    vid, session = await api.live_ready_visit()
    await api.ok("POST", f"/api/v1/visits/{vid}/end", who="alice", json={"reason": "done"})
    for bad, field in [
        ({"recommend": True, "satisfaction": 0}, "satisfaction"),
        ({"recommend": True, "satisfaction": 6}, "satisfaction"),
        ({"recommend": "maybe", "satisfaction": 3}, "recommend"),
        ({"recommend": True, "satisfaction": 3, "comment": "x" * 501}, "comment"),
        ({"recommend": True}, "satisfaction"),
    ]:
        status, body = await api.call("POST", FEEDBACK, bearer=session, json=bad)
        assert status == 422, (bad, body)
        assert body["error"]["details"][0]["field"] == field
    # An empty comment is no comment.
    empty = {"recommend": True, "satisfaction": 5, "comment": " "}
    given = await api.ok("POST", FEEDBACK, bearer=session, json=empty, expect=201)
    assert given["feedback"]["comment"] is None


async def test_outcomes_are_recorded_after_the_visit_corrected_and_audited(api: Api) -> None:
    before = await _scrape(api)
    vid, _ = await _video_visit_ended(api)
    path = f"/api/v1/visits/{vid}/outcomes"
    none = {"arrest_or_interview": False, "charge_or_caution": False, "victim_withdrew": False}
    assert (await api.ok("GET", path, who="alice"))["outcomes"] is None

    first = await api.ok("PUT", path, who="alice", json={**none, "arrest_or_interview": True})
    assert first["outcomes"] == {**none, "arrest_or_interview": True}
    assert first["recorded_by"].endswith("1001")
    # Weeks later the suspect is charged: the same visit's outcomes are corrected.
    later = {**none, "arrest_or_interview": True, "charge_or_caution": True}
    second = await api.ok("PUT", path, who="sarge", json=later)
    assert second["outcomes"] == later
    assert await api.ok("GET", path, who="alice") == second

    audit = await api.ok("GET", f"/api/v1/visits/{vid}/audit", who="alice")
    changes = [e["detail"] for e in audit["entries"] if e["subject"] == "visit.outcomes"]
    assert changes == [
        {"from": None, "to": first["outcomes"]},
        {"from": first["outcomes"], "to": later},
    ]
    assert _delta(before, await _scrape(api), ours=vid) == {
        "evr_programme_visits{mode=video}": 1,
        "evr_programme_travel_avoided_total{}": 1,
        "evr_programme_outcomes{outcome=arrest_or_interview}": 1,
        "evr_programme_outcomes{outcome=charge_or_caution}": 1,
    }


async def test_outcomes_wait_for_the_visit_to_close_and_stay_private(api: Api) -> None:
    vid, _ = await api.live_ready_visit()
    path = f"/api/v1/visits/{vid}/outcomes"
    body: dict[str, Any] = {
        "arrest_or_interview": False,
        "charge_or_caution": False,
        "victim_withdrew": True,
    }
    status, error = await api.call("PUT", path, who="alice", json=body)
    assert (status, error["error"]["code"]) == (409, "conflict")
    assert "once it is closed" in error["error"]["message"]
    # Another unit's officer cannot see the visit at all.
    assert (await api.call("GET", path, who="carol"))[0] == 404
    assert (await api.call("PUT", path, who="carol", json=body))[0] == 404
    status, error = await api.call("PUT", path, who="alice", json={"victim_withdrew": True})
    assert status == 422


async def test_a_visit_chosen_in_person_counts_as_in_person(api: Api) -> None:
    before = await _scrape(api)
    visit = await api.new_visit()
    await api.ok(
        "POST", f"/api/v1/visits/{visit['id']}/choice", who="alice", json={"choice": "in_person"}
    )
    # An in-person visit's outcomes count too: they are what video is compared against.
    await api.ok(
        "PUT",
        f"/api/v1/visits/{visit['id']}/outcomes",
        who="alice",
        json={"arrest_or_interview": False, "charge_or_caution": False, "victim_withdrew": True},
    )
    assert _delta(before, await _scrape(api)) == {
        "evr_programme_visits{mode=in_person}": 1,
        "evr_programme_outcomes{outcome=victim_withdrew}": 1,
    }
