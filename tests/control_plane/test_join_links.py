"""One-time join links: unguessable, expiring, single-use, exchanged for a narrow token."""

from datetime import UTC, datetime, timedelta

import jwt
from sqlalchemy import update

from control_plane.auth import hash_secret
from control_plane.keys import ENGINE
from core import schema
from tests.support.stack import Api


async def _link(api: Api, vid: str, role: str = "victim") -> str:
    link = await api.ok(
        "POST", f"/api/v1/visits/{vid}/links", who="alice", json={"role": role}, expect=201
    )
    assert link["url"].startswith(api.stack.settings.join.public_base_url + "/join/")
    return str(link["url"].rsplit("/", 1)[1])


async def test_a_join_code_is_single_use(api: Api) -> None:
    visit = await api.new_visit()
    code = await _link(api, visit["id"])
    assert len(code) >= 43  # 256 bits, url-safe

    first, body = await api.call("POST", f"/api/v1/join/{code}")
    second, again = await api.call("POST", f"/api/v1/join/{code}")

    assert first == 201
    assert body["visit"]["visit_id"] == visit["id"]
    # The phone sees its own crime reference as a trust cue (issue 13), never contact details.
    assert body["visit"]["crime_reference"] == visit["crime_reference"]
    assert not {"contact", "unit", "events"} & set(body["visit"])
    assert second == 410
    assert "already been used" in again["error"]["message"]


async def test_an_expired_join_code_is_refused(api: Api) -> None:
    visit = await api.new_visit()
    code = await _link(api, visit["id"])
    links = schema.join_links
    async with api.stack.app[ENGINE].begin() as conn:
        await conn.execute(
            update(links)
            .where(links.c.code_hash == hash_secret(code))
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )

    status, body = await api.call("POST", f"/api/v1/join/{code}")

    assert status == 410
    assert "expired" in body["error"]["message"]


async def test_resending_the_victims_link_revokes_the_old_one(api: Api) -> None:
    visit = await api.new_visit()
    old = await _link(api, visit["id"])
    new = await _link(api, visit["id"])

    status, body = await api.call("POST", f"/api/v1/join/{old}")

    assert status == 410
    assert "replaced" in body["error"]["message"]
    assert (await api.call("POST", f"/api/v1/join/{new}"))[0] == 201


async def test_an_unknown_code_is_404(api: Api) -> None:
    status, body = await api.call("POST", "/api/v1/join/not-a-real-code-at-all")
    assert status == 404
    assert body["error"]["code"] == "not_found"


async def test_the_victims_token_is_camera_and_mic_in_one_room_with_a_short_ttl(api: Api) -> None:
    vid, session = await api.live_ready_visit()
    await api.passed_check(session)
    issued = await api.ok("POST", "/api/v1/participant/token", bearer=session)

    claims = jwt.decode(
        issued["token"],
        api.stack.sfu.api_secret,
        algorithms=["HS256"],
        options={"verify_aud": False},
    )

    video = claims["video"]
    assert video["room"] == f"evr-{vid}"
    assert video["roomJoin"] is True
    assert sorted(video["canPublishSources"]) == ["camera", "microphone"]
    for admin in ("roomCreate", "roomAdmin", "roomList", "roomRecord"):
        assert not video.get(admin)
    assert claims["sub"] == f"victim:{vid}"
    assert claims["exp"] - claims["nbf"] <= api.stack.settings.join.token_ttl.total_seconds()


async def test_guardian_and_interpreter_invites_get_their_own_identity(api: Api) -> None:
    vid, _ = await api.live_ready_visit()
    for role in ("guardian", "interpreter"):
        code = await _link(api, vid, role)
        joined = await api.ok("POST", f"/api/v1/join/{code}", expect=201)
        # Each device proves its own connection before it gets a token.
        await api.passed_check(joined["session"])
        issued = await api.ok("POST", "/api/v1/participant/token", bearer=joined["session"])
        assert issued["identity"].startswith(f"{role}:")
        assert issued["room"] == f"evr-{vid}"
        # Only the victim makes the video-or-in-person choice.
        status, _ = await api.call(
            "POST",
            "/api/v1/participant/choice",
            bearer=joined["session"],
            json={"choice": "in_person"},
        )
        assert status == 403


async def test_the_officers_token_adds_screen_share(api: Api) -> None:
    vid, _ = await api.live_ready_visit()
    issued = await api.ok("POST", f"/api/v1/visits/{vid}/token", who="alice")
    claims = jwt.decode(issued["token"], api.stack.sfu.api_secret, algorithms=["HS256"])
    assert sorted(claims["video"]["canPublishSources"]) == [
        "camera",
        "microphone",
        "screen_share",
        "screen_share_audio",
    ]
    assert claims["video"]["room"] == f"evr-{vid}"


async def test_no_token_before_the_officer_opens_the_room(api: Api) -> None:
    visit = await api.new_visit()
    code = await _link(api, visit["id"])
    joined = await api.ok("POST", f"/api/v1/join/{code}", expect=201)

    status, body = await api.call("POST", "/api/v1/participant/token", bearer=joined["session"])

    assert status == 409
    assert "not opened the call" in body["error"]["message"]


async def test_the_victim_can_choose_and_declare_from_the_join_page(api: Api) -> None:
    visit = await api.new_visit()
    code = await _link(api, visit["id"])
    session = (await api.ok("POST", f"/api/v1/join/{code}", expect=201))["session"]

    await api.ok("POST", "/api/v1/participant/choice", bearer=session, json={"choice": "video"})
    declared = await api.ok(
        "POST",
        "/api/v1/participant/eligibility",
        bearer=session,
        json={
            "adult_or_guardian": True,
            "offender_not_present": True,
            "smartphone_with_video": True,
        },
    )

    assert declared["status"] == "accepted_video"
    assert sorted(declared["eligibility_missing"]) == ["network_adequate", "risk_assessment_clear"]
    officer_view = await api.ok("GET", f"/api/v1/visits/{visit['id']}", who="alice")
    by_item = {e["item"]: e for e in officer_view["eligibility"]["entries"]}
    assert by_item["offender_not_present"]["recorded_by"] == f"participant:victim:{visit['id']}"
