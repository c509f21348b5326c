"""Participant sessions are replaced, not added to: a new link or the visit closing revokes
the earlier sessions (401), removes whoever is in the room under one, and a connection check
or recording consent belongs to the session that made it (issue 12, finding 1)."""

import asyncio

from livekit import api as lk

from loadtests.media import SyntheticParticipant
from tests.support.stack import Api

VISIT = "/api/v1/participant/visit"


async def _open_link(api: Api, vid: str, role: str = "victim") -> str:
    """Issue a link for `role` and open it; return the session secret."""
    link = await api.ok(
        "POST", f"/api/v1/visits/{vid}/links", who="alice", json={"role": role}, expect=201
    )
    joined = await api.ok("POST", f"/api/v1/join/{link['url'].rsplit('/', 1)[1]}", expect=201)
    return str(joined["session"])


async def test_a_new_link_revokes_the_earlier_session_of_the_victim(api: Api) -> None:
    visit = await api.new_visit()
    first = await _open_link(api, visit["id"])
    second = await _open_link(api, visit["id"])

    old, body = await api.call("GET", VISIT, bearer=first)
    new, _ = await api.call("GET", VISIT, bearer=second)

    assert old == 401
    assert "replaced" in body["error"]["message"]
    assert new == 200
    # Nor can the old session consent as the victim.
    status, _ = await api.call(
        "POST",
        "/api/v1/participant/consent",
        bearer=first,
        json={"consented": True, "notice_version": "v1"},
    )
    assert status == 401


async def test_a_new_guardian_link_replaces_the_older_guardian_link_and_session(api: Api) -> None:
    visit = await api.new_visit()
    vid = visit["id"]
    opened = await _open_link(api, vid, "guardian")
    unused = await api.ok(
        "POST", f"/api/v1/visits/{vid}/links", who="alice", json={"role": "guardian"}, expect=201
    )
    await _open_link(api, vid, "guardian")

    status, _ = await api.call("GET", VISIT, bearer=opened)
    spent, body = await api.call("POST", f"/api/v1/join/{unused['url'].rsplit('/', 1)[1]}")

    assert status == 401
    assert spent == 410
    assert "replaced" in body["error"]["message"]


async def test_closing_the_visit_revokes_all_but_the_victims_newest_session(api: Api) -> None:
    visit = await api.new_visit()
    vid = visit["id"]
    victim = await _open_link(api, vid)
    guardian = await _open_link(api, vid, "guardian")
    await api.ok("POST", f"/api/v1/visits/{vid}/cancel", who="alice", json={"reason": "test"})

    assert (await api.call("GET", VISIT, bearer=guardian))[0] == 401
    # The victim's newest session may still read the visit (and send the quick-exit
    # signal), but writes nothing else to a closed visit.
    view = await api.ok("GET", VISIT, bearer=victim)
    assert view["status"] == "cancelled"
    status, body = await api.call(
        "POST",
        "/api/v1/participant/progress",
        bearer=victim,
        json={"step": "preview", "state": "done"},
    )
    assert status == 409, body
    await api.ok(
        "POST",
        "/api/v1/participant/progress",
        bearer=victim,
        json={"step": "quick_exit", "state": "done"},
    )


async def test_a_connection_check_does_not_carry_over_to_the_next_session(api: Api) -> None:
    vid, first = await api.live_ready_visit()
    await api.passed_check(first)
    second = await _open_link(api, vid)

    status, body = await api.call("POST", "/api/v1/participant/token", bearer=second)

    assert status == 428, body
    assert body["error"]["code"] == "connection_check_required"


async def test_recording_consent_of_a_replaced_session_no_longer_counts(api: Api) -> None:
    vid, first = await api.live_ready_visit()
    await api.ok(
        "POST",
        "/api/v1/participant/recording/consent",
        bearer=first,
        json={"consent": True},
        expect=201,
    )
    await _open_link(api, vid)

    status, body = await api.call("POST", f"/api/v1/visits/{vid}/recording/start", who="alice")

    assert status == 409, body
    assert body["error"]["details"]["missing_consent"] == [f"victim:{vid}"]


async def _identities(client: lk.LiveKitAPI, room: str) -> set[str]:
    resp = await client.room.list_participants(lk.ListParticipantsRequest(room=room))
    return {p.identity for p in resp.participants}


async def test_a_replaced_session_in_the_room_is_removed_from_it(api: Api) -> None:
    vid, first = await api.live_ready_visit()
    await api.passed_check(first)
    token = await api.ok("POST", "/api/v1/participant/token", bearer=first)
    sfu = api.stack.sfu
    client = lk.LiveKitAPI(sfu.url, sfu.api_key, sfu.api_secret, session=api.session)
    room = f"evr-{vid}"
    intruder = SyntheticParticipant(rgb=(0, 0, 0))
    try:
        await intruder.connect(token["url"], token["token"])
        assert token["identity"] in await _identities(client, room)

        await _open_link(api, vid)  # the officer resends the link

        for _ in range(100):
            if token["identity"] not in await _identities(client, room):
                break
            await asyncio.sleep(0.1)
        assert token["identity"] not in await _identities(client, room)
    finally:
        await intruder.close()
