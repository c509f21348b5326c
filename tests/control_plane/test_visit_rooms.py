"""Visits drive real LiveKit rooms: starting creates the room, ending removes it."""

from livekit import api as lk

from tests.support.stack import Api


async def _sfu_rooms(api: Api) -> dict[str, lk.Room]:
    sfu = api.stack.sfu
    client = lk.LiveKitAPI(sfu.url, sfu.api_key, sfu.api_secret, session=api.session)
    resp = await client.room.list_rooms(lk.ListRoomsRequest())
    return {r.name: r for r in resp.rooms}


async def test_starting_a_visit_creates_the_room_and_ending_removes_it(api: Api) -> None:
    visit = await api.eligible_visit()
    vid = visit["id"]

    started = await api.ok("POST", f"/api/v1/visits/{vid}/start", who="alice")

    assert started["status"] == "waiting"
    rooms = await _sfu_rooms(api)
    room = rooms[started["room_name"]]
    assert room.metadata == f'{{"visit_id": "{vid}"}}'
    assert "CR/2026" not in room.metadata  # no crime reference or personal data on the SFU
    assert room.empty_timeout == api.stack.settings.rooms.empty_timeout
    assert room.departure_timeout == api.stack.settings.rooms.departure_timeout
    assert room.max_participants == api.stack.settings.rooms.max_participants

    ended = await api.ok(
        "POST", f"/api/v1/visits/{vid}/end", who="alice", json={"reason": "statement taken"}
    )

    assert ended["status"] == "ended"
    assert started["room_name"] not in await _sfu_rooms(api)


async def test_a_visit_cannot_start_until_every_eligibility_item_is_recorded(api: Api) -> None:
    visit = await api.new_visit()
    vid = visit["id"]
    await api.ok("POST", f"/api/v1/visits/{vid}/choice", who="alice", json={"choice": "video"})
    await api.ok(
        "PUT",
        f"/api/v1/visits/{vid}/eligibility/risk_assessment_clear",
        who="alice",
        json={"value": True},
    )

    status, body = await api.call("POST", f"/api/v1/visits/{vid}/start", who="alice")

    assert status == 409
    assert set(body["error"]["details"]["missing"]) == {
        "adult_or_guardian",
        "offender_not_present",
        "smartphone_with_video",
        "network_adequate",
    }
    assert f"evr-{vid}" not in await _sfu_rooms(api)


async def test_each_eligibility_item_is_recorded_with_who_and_when(api: Api) -> None:
    visit = await api.eligible_visit()
    got = await api.ok("GET", f"/api/v1/visits/{visit['id']}", who="alice")
    entries = got["eligibility"]["entries"]
    assert len(entries) == 5
    for entry in entries:
        assert entry["value"] is True
        assert entry["recorded_by"] == "officer:local:1001"
        assert entry["recorded_at"].endswith("+00:00")
    assert got["eligibility"]["missing"] == []


async def test_in_person_is_always_a_valid_choice_and_closes_any_room(api: Api) -> None:
    visit = await api.eligible_visit()
    vid = visit["id"]
    started = await api.ok("POST", f"/api/v1/visits/{vid}/start", who="alice")

    chose = await api.ok(
        "POST", f"/api/v1/visits/{vid}/choice", who="alice", json={"choice": "in_person"}
    )

    assert chose["status"] == "chose_in_person"
    assert started["room_name"] not in await _sfu_rooms(api)
    events = await api.ok("GET", f"/api/v1/visits/{vid}/events", who="alice")
    assert events["events"][-1]["detail"]["to"] == "chose_in_person"
