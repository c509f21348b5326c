"""A room the SFU no longer has (a lost node, or Redis restarted empty, until the room watch
creates it again) makes the recording flag's update a clear 503 or a logged warning, never a
500: seen in the fault suite, where stopping a statement after a Redis restart answered 500."""

import pytest
from livekit import api as lk

from control_plane.sfu_events import SfuEvents
from tests.support.stack import Api


async def _drop_room(api: Api, vid: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Delete the visit's room the way a lost node loses it: without its room_finished
    webhook, which would otherwise end the visit (and, if it came first, make the request
    a 409 for an ended visit instead of reaching the missing room)."""
    room = f"evr-{vid}"
    apply = SfuEvents.apply_webhook

    async def losing_room_finished(self: SfuEvents, event: lk.WebhookEvent) -> bool:
        if event.event == "room_finished" and event.room.name == room:
            return True
        return await apply(self, event)

    monkeypatch.setattr(SfuEvents, "apply_webhook", losing_room_finished)
    sfu = api.stack.sfu
    client = lk.LiveKitAPI(sfu.url, sfu.api_key, sfu.api_secret, session=api.session)
    await client.room.delete_room(lk.DeleteRoomRequest(room=room))


async def test_starting_a_statement_while_the_room_is_gone_is_a_503_that_says_why(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    vid, _ = await api.consented_live_visit()
    await _drop_room(api, vid, monkeypatch)

    status, body = await api.call("POST", f"/api/v1/visits/{vid}/recording/start", who="alice")

    assert status == 503, body
    assert body["error"]["code"] == "dependency_unavailable"
    assert "not on the media server" in body["error"]["message"]
    state = await api.ok("GET", f"/api/v1/visits/{vid}/recording", who="alice")
    assert state.get("recording") is None  # nothing was half started


async def test_stopping_a_statement_while_the_room_is_gone_still_stops_it(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    vid, _ = await api.consented_live_visit()
    await api.ok("POST", f"/api/v1/visits/{vid}/recording/start", who="alice", expect=202)
    await _drop_room(api, vid, monkeypatch)

    stopped = await api.ok("POST", f"/api/v1/visits/{vid}/recording/stop", who="alice", expect=202)

    assert stopped["recording"]["status"] == "stopping"
