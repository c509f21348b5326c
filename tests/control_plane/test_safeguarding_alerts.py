"""Safeguarding alerts through the API: each raised by what the victim's page sends, shown on
the visit's progress and in the day's alert list, written to the visit's events and counted."""

from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from tests.support.stack import Api

DAY = "2026-11-28"


async def _alert_counts(api: Api) -> dict[str, float]:
    text = await api.ok("GET", "/metrics")
    return {
        s.labels["kind"]: s.value
        for f in text_string_to_metric_families(text)
        if f.name == "evr_safeguarding_alerts"
        for s in f.samples
        if s.name.endswith("_total")
    }


async def _victim(api: Api) -> tuple[str, str]:
    visit = await api.new_visit("alice")
    link = await api.ok(
        "POST", f"/api/v1/visits/{visit['id']}/links", who="alice", json={}, expect=201
    )
    joined = await api.ok("POST", "/api/v1/join/" + link["url"].rsplit("/", 1)[1], expect=201)
    return visit["id"], joined["session"]


async def _kinds(api: Api, vid: str) -> list[str]:
    progress: dict[str, Any] = await api.ok("GET", f"/api/v1/visits/{vid}/progress", who="alice")
    return [a["kind"] for a in progress["alerts"]]


async def test_each_signal_from_the_victim_raises_an_alert_the_officer_sees(api: Api) -> None:
    before = await _alert_counts(api)
    vid, session = await _victim(api)
    assert await _kinds(api, vid) == []
    await api.ok(
        "POST",
        "/api/v1/participant/eligibility",
        bearer=session,
        json={
            "adult_or_guardian": True,
            "offender_not_present": False,
            "smartphone_with_video": True,
            "safe_to_talk": False,
        },
    )
    for step, state, detail in (
        ("preview", "failed", "permission denied"),
        ("join", "started", "waiting for the officer"),
        ("quick_exit", "done", ""),
    ):
        await api.ok(
            "POST",
            "/api/v1/participant/progress",
            bearer=session,
            json={"step": step, "state": state, "detail": detail},
        )
    kinds = [
        "offender_present",
        "not_safe_to_talk",
        "quick_exit",
        "media_refused",
        "victim_waiting",
    ]
    assert await _kinds(api, vid) == kinds

    events = await api.ok("GET", f"/api/v1/visits/{vid}/events", who="alice")
    raised = [e["detail"]["alert"] for e in events["events"] if e["kind"] == "safeguarding_alert"]
    assert sorted(raised) == sorted(kinds)

    day = await api.ok("GET", f"/api/v1/alerts?date={DAY}", who="alice")
    assert [a["kind"] for a in day["alerts"][vid]] == kinds
    # Another officer's visit list shows none of them.
    other = await api.ok("GET", f"/api/v1/alerts?date={DAY}", who="bob")
    assert vid not in other["alerts"]

    after = await _alert_counts(api)
    assert {k: after[k] - before.get(k, 0) for k in kinds} == dict.fromkeys(kinds, 1)


async def test_a_later_answer_clears_its_alert(api: Api) -> None:
    vid, session = await _victim(api)
    await api.ok(
        "POST",
        "/api/v1/participant/progress",
        bearer=session,
        json={"step": "preview", "state": "failed", "detail": "permission denied"},
    )
    assert await _kinds(api, vid) == ["media_refused"]
    await api.ok(
        "POST",
        "/api/v1/participant/progress",
        bearer=session,
        json={"step": "preview", "state": "done", "detail": "camera and microphone"},
    )
    assert await _kinds(api, vid) == []


async def test_the_alert_list_wants_a_day(api: Api) -> None:
    status, body = await api.call("GET", "/api/v1/alerts?date=yesterday", who="alice")
    assert status == 400
    assert "YYYY-MM-DD" in body["error"]["message"]
