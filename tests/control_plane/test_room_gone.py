"""A room the SFU no longer has (a lost node, or Redis restarted empty, until the room watch
creates it again) makes the recording flag's update a clear 503 or a logged warning, never a
500: seen in the fault suite, where stopping a statement after a Redis restart answered 500."""

from livekit import api as lk

from tests.support.stack import Api


async def _drop_room(api: Api, vid: str) -> None:
    sfu = api.stack.sfu
    client = lk.LiveKitAPI(sfu.url, sfu.api_key, sfu.api_secret, session=api.session)
    await client.room.delete_room(lk.DeleteRoomRequest(room=f"evr-{vid}"))


async def test_starting_a_statement_while_the_room_is_gone_is_a_503_that_says_why(
    api: Api,
) -> None:
    vid, _ = await api.consented_live_visit()
    await _drop_room(api, vid)

    status, body = await api.call("POST", f"/api/v1/visits/{vid}/recording/start", who="alice")

    assert status == 503, body
    assert body["error"]["code"] == "dependency_unavailable"
    assert "not on the media server" in body["error"]["message"]
    state = await api.ok("GET", f"/api/v1/visits/{vid}/recording", who="alice")
    assert state.get("recording") is None  # nothing was half started


async def test_stopping_a_statement_while_the_room_is_gone_still_stops_it(api: Api) -> None:
    vid, _ = await api.consented_live_visit()
    await api.ok("POST", f"/api/v1/visits/{vid}/recording/start", who="alice", expect=202)
    await _drop_room(api, vid)

    stopped = await api.ok("POST", f"/api/v1/visits/{vid}/recording/stop", who="alice", expect=202)

    assert stopped["recording"]["status"] == "stopping"
