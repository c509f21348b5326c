"""Officer and victim on the real SFU with the tokens the API issued; LiveKit enforces them."""

import asyncio

import pytest
from livekit import api as lk
from livekit import rtc

from loadtests.media import SyntheticParticipant
from tests.support.sfu import sfu_log_text
from tests.support.stack import Api

OFFICER_RGB = (200, 40, 40)
VICTIM_RGB = (40, 40, 200)


def _close(a: tuple[int, int, int] | None, b: tuple[int, int, int], tol: int = 40) -> bool:
    return a is not None and all(abs(x - y) <= tol for x, y in zip(a, b, strict=True))


async def _wait_status(api: Api, vid: str, status: str, timeout: float = 15) -> dict[str, object]:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        visit: dict[str, object] = await api.ok("GET", f"/api/v1/visits/{vid}", who="alice")
        if visit["status"] == status or asyncio.get_running_loop().time() > deadline:
            return visit
        await asyncio.sleep(0.2)


async def test_officer_and_victim_receive_each_others_audio_and_video(api: Api) -> None:
    vid, session = await api.live_ready_visit()
    await api.passed_check(session)
    officer_tok = await api.ok("POST", f"/api/v1/visits/{vid}/token", who="alice")
    victim_tok = await api.ok("POST", "/api/v1/participant/token", bearer=session)
    officer = SyntheticParticipant(rgb=OFFICER_RGB, tone_hz=440)
    victim = SyntheticParticipant(rgb=VICTIM_RGB, tone_hz=660)
    try:
        await officer.connect(officer_tok["url"], officer_tok["token"])
        await victim.connect(victim_tok["url"], victim_tok["token"])
        await officer.publish()
        await victim.publish()

        from_victim = await officer.wait_for_media(victim_tok["identity"], video=10, audio=20)
        from_officer = await victim.wait_for_media(officer_tok["identity"], video=10, audio=20)

        assert _close(from_victim.last_rgb, VICTIM_RGB), from_victim
        assert _close(from_officer.last_rgb, OFFICER_RGB), from_officer
        # The victim joining is reported by LiveKit's webhook and makes the visit live.
        visit = await _wait_status(api, vid, "live")
        assert visit["status"] == "live"
        assert visit["victim_joined_at"] is not None
    finally:
        await victim.close()
        await officer.close()
    # Leaving is reported too: the visit goes back to waiting for the victim.
    assert (await _wait_status(api, vid, "waiting"))["status"] == "waiting"


async def test_livekit_refuses_the_victims_token_for_screen_share(api: Api) -> None:
    vid, session = await api.live_ready_visit()
    await api.passed_check(session)
    victim_tok = await api.ok("POST", "/api/v1/participant/token", bearer=session)
    victim = SyntheticParticipant(rgb=VICTIM_RGB)
    try:
        await victim.connect(victim_tok["url"], victim_tok["token"])
        log_before = len(sfu_log_text(api.stack.sfu))
        # LiveKit answers NOT_ALLOWED; this SDK version never completes the publish on it.
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(
                victim.publish(audio=False, source=rtc.TrackSource.SOURCE_SCREENSHARE), timeout=8
            )
        refusal = sfu_log_text(api.stack.sfu)[log_before:]
        assert "no permission to publish track" in refusal
        assert '"reason": "NOT_ALLOWED"' in refusal
        await victim.publish(audio=False)  # the camera, which the grant allows, still works
        sfu = api.stack.sfu
        client = lk.LiveKitAPI(sfu.url, sfu.api_key, sfu.api_secret, session=api.session)
        sources: set[int] = set()
        for _ in range(50):
            resp = await client.room.list_participants(
                lk.ListParticipantsRequest(room=f"evr-{vid}")
            )
            (p,) = [p for p in resp.participants if p.identity == victim_tok["identity"]]
            sources = {t.source for t in p.tracks}
            if lk.TrackSource.CAMERA in sources:
                break
            await asyncio.sleep(0.2)
        assert lk.TrackSource.CAMERA in sources
        assert lk.TrackSource.SCREEN_SHARE not in sources
    finally:
        await victim.close()


async def test_no_token_opens_another_room(api: Api) -> None:
    vid_a, session_a = await api.live_ready_visit()
    vid_b, _ = await api.live_ready_visit()
    await api.passed_check(session_a)
    victim_tok = await api.ok("POST", "/api/v1/participant/token", bearer=session_a)
    officer_tok = await api.ok("POST", f"/api/v1/visits/{vid_a}/token", who="alice")
    sfu = api.stack.sfu

    for tok in (victim_tok["token"], officer_tok["token"]):
        # The token names room A only; asking LiveKit about room B with it is refused.
        client = lk.LiveKitAPI(sfu.url, token=tok, session=api.session)
        with pytest.raises(lk.TwirpError) as refused:
            await client.room.list_participants(lk.ListParticipantsRequest(room=f"evr-{vid_b}"))
        assert refused.value.code in (
            lk.TwirpErrorCode.PERMISSION_DENIED,
            lk.TwirpErrorCode.UNAUTHENTICATED,
        )
        with pytest.raises(lk.TwirpError):
            await client.room.create_room(lk.CreateRoomRequest(name="evr-not-a-visit"))

    # And a participant joining with it lands in room A, never B.
    victim = SyntheticParticipant(rgb=VICTIM_RGB)
    try:
        await victim.connect(victim_tok["url"], victim_tok["token"])
        assert victim.room.name == f"evr-{vid_a}"
    finally:
        await victim.close()
    assert vid_a != vid_b
