"""The join page's reports: progress steps, consent (with time, identity and audit), quality
changes in the call, and the officer's compact progress view of them."""

from typing import Any

from tests.support.stack import Api


async def _session(api: Api, who: str = "alice") -> tuple[str, str]:
    visit = await api.new_visit(who)
    link = await api.ok("POST", f"/api/v1/visits/{visit['id']}/links", who=who, json={}, expect=201)
    code = link["url"].rsplit("/", 1)[1]
    joined = await api.ok("POST", f"/api/v1/join/{code}", expect=201)
    return visit["id"], joined["session"]


async def _progress(api: Api, vid: str, who: str = "alice") -> dict[str, Any]:
    body: dict[str, Any] = await api.ok("GET", f"/api/v1/visits/{vid}/progress", who=who)
    return body


async def test_the_officer_sees_each_step_the_victim_reports(api: Api) -> None:
    vid, session = await _session(api)
    before = await _progress(api, vid)
    assert before["link_opened_at"] is not None
    assert [s["state"] for s in before["steps"]] == ["pending"] * 6
    assert before["current_step"] == "choice"

    for step in ("choice", "eligibility", "consent"):
        await api.ok(
            "POST",
            "/api/v1/participant/progress",
            bearer=session,
            json={"step": step, "state": "done"},
        )
    await api.ok(
        "POST",
        "/api/v1/participant/progress",
        bearer=session,
        json={"step": "preview", "state": "failed", "detail": "permission denied"},
    )

    after = await _progress(api, vid)
    states = {s["step"]: (s["state"], s["detail"]) for s in after["steps"]}
    assert states["choice"] == ("done", "")
    assert states["consent"] == ("done", "")
    assert states["preview"] == ("failed", "permission denied")
    assert states["check"] == ("pending", "")
    assert after["current_step"] == "preview"
    assert after["visit"]["id"] == vid
    events = await api.ok("GET", f"/api/v1/visits/{vid}/events", who="alice")
    progress = [e for e in events["events"] if e["kind"] == "progress"]
    assert len(progress) == 4
    assert {e["actor"] for e in progress} == {f"participant:victim:{vid}"}


async def test_consent_is_recorded_with_time_identity_and_an_audit_entry(api: Api) -> None:
    vid, session = await _session(api)

    given = await api.ok(
        "POST",
        "/api/v1/participant/consent",
        bearer=session,
        json={"consented": True, "notice_version": "2026-01"},
        expect=201,
    )

    assert given["identity"] == f"victim:{vid}"
    assert given["consented"] is True
    view = await _progress(api, vid)
    assert view["consent"]["consented"] is True
    assert view["consent"]["recorded_at"] == given["recorded_at"]
    audit = await api.ok("GET", f"/api/v1/visits/{vid}/audit", who="alice")
    consent_entries = [e for e in audit["entries"] if e["subject"] == "visit.consent"]
    assert len(consent_entries) == 1
    assert consent_entries[0]["action"] == "collection"
    assert consent_entries[0]["actor"] == f"participant:victim:{vid}"
    assert consent_entries[0]["detail"] == {"consented": True, "notice_version": "2026-01"}


async def test_safe_to_talk_goes_with_the_self_declaration(api: Api) -> None:
    vid, session = await _session(api)
    await api.ok(
        "POST",
        "/api/v1/participant/eligibility",
        bearer=session,
        json={
            "adult_or_guardian": True,
            "offender_not_present": True,
            "smartphone_with_video": True,
            "safe_to_talk": False,
        },
    )
    assert (await _progress(api, vid))["safe_to_talk"] is False


async def test_quality_changes_are_kept_in_order(api: Api) -> None:
    vid, session = await _session(api)
    reports = [
        {"quality": "poor", "action": "lower_video", "video_layer": "medium"},
        {"quality": "lost", "action": "audio_only", "video_layer": "off"},
        {"quality": "good", "action": "video_resumed", "video_layer": "low"},
    ]
    for report in reports:
        await api.ok("POST", "/api/v1/participant/quality", bearer=session, json=report)

    quality = (await _progress(api, vid))["quality"]
    assert [{k: c[k] for k in report} for c in quality["changes"]] == reports
    assert quality["current"]["action"] == "video_resumed"


async def test_quick_exit_is_shown_to_the_officer(api: Api) -> None:
    vid, session = await _session(api)
    await api.ok(
        "POST",
        "/api/v1/participant/progress",
        bearer=session,
        json={"step": "quick_exit", "state": "done"},
    )
    assert (await _progress(api, vid))["quick_exit_at"] is not None


async def test_bad_reports_are_clear_4xx(api: Api) -> None:
    vid, session = await _session(api)
    cases: list[tuple[str, Any, int, str]] = [
        ("/api/v1/participant/progress", {"step": "dance", "state": "done"}, 422, "step"),
        ("/api/v1/participant/progress", {"step": "check"}, 422, "state"),
        (
            "/api/v1/participant/progress",
            {"step": "check", "state": "done", "detail": "x" * 201},
            422,
            "detail",
        ),
        ("/api/v1/participant/consent", {"consented": "perhaps"}, 422, "consented"),
        (
            "/api/v1/participant/consent",
            {"consented": True, "notice_version": "<script>"},
            422,
            "notice_version",
        ),
        (
            "/api/v1/participant/quality",
            {"quality": "dreadful", "action": "none", "video_layer": "low"},
            422,
            "quality",
        ),
    ]
    for path, body, status, field in cases:
        got, err = await api.call("POST", path, bearer=session, json=body)
        assert got == status, (path, body, err)
        assert field in err["error"]["message"], err
    assert (await api.call("POST", "/api/v1/participant/progress", json={}))[0] == 401
    # Another officer cannot see this visit's progress; it is reported as absent.
    assert (await api.call("GET", f"/api/v1/visits/{vid}/progress", who="carol"))[0] == 404


async def test_only_the_victim_or_guardian_consents(api: Api) -> None:
    vid, _ = await _session(api)
    link = await api.ok(
        "POST",
        f"/api/v1/visits/{vid}/links",
        who="alice",
        json={"role": "interpreter"},
        expect=201,
    )
    interp = await api.ok("POST", f"/api/v1/join/{link['url'].rsplit('/', 1)[1]}", expect=201)
    status, body = await api.call(
        "POST",
        "/api/v1/participant/consent",
        bearer=interp["session"],
        json={"consented": True, "notice_version": "2026-01"},
    )
    assert status == 403, body
