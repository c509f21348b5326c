"""Tokens by round trip: mint, verify with LiveKit's own verifier, then assert the claims."""

import time
from datetime import timedelta

import jwt
import pytest
from livekit import api

from core.domain import TokenRole
from core.settings import LiveKitSettings
from core.tokens import RECORDER_IDENTITY, mint, recorder_identity, role_of_identity

LK = LiveKitSettings(api_url="http://sfu", client_url="ws://sfu", api_key="k", api_secret="s" * 40)
TTL = timedelta(minutes=2)


def _claims(role: TokenRole, identity: str) -> api.access_token.Claims:
    issued = mint(LK, role=role, room="evr-1", identity=identity, display_name="x", ttl=TTL)
    return api.TokenVerifier(LK.api_key, LK.api_secret).verify(issued.token)


def _video(role: TokenRole, identity: str) -> api.VideoGrants:
    video = _claims(role, identity).video
    assert video is not None
    return video


def _assert_no_admin(v: api.VideoGrants) -> None:
    for grant in (v.room_create, v.room_admin, v.room_list, v.room_record):
        assert not grant


@pytest.mark.parametrize("role", [TokenRole.VICTIM, TokenRole.GUARDIAN, TokenRole.INTERPRETER])
def test_people_joining_by_link_get_camera_and_mic_in_one_room(role: TokenRole) -> None:
    claims = _claims(role, f"{role.value}:1")
    v = _video(role, f"{role.value}:1")
    assert v.room == "evr-1"
    assert v.room_join
    assert sorted(v.can_publish_sources or []) == ["camera", "microphone"]
    _assert_no_admin(v)
    assert not v.can_publish_data
    assert claims.identity == f"{role.value}:1"


def test_the_officer_may_also_share_a_screen() -> None:
    v = _video(TokenRole.OFFICER, "officer:local:1")
    assert sorted(v.can_publish_sources or []) == [
        "camera",
        "microphone",
        "screen_share",
        "screen_share_audio",
    ]
    _assert_no_admin(v)


def test_the_recorder_is_hidden_and_cannot_publish() -> None:
    v = _video(TokenRole.RECORDER, RECORDER_IDENTITY)
    assert v.hidden
    assert v.recorder
    assert not v.can_publish
    assert v.can_subscribe


def test_the_recorder_identities_are_reserved() -> None:
    for identity in (RECORDER_IDENTITY, recorder_identity("host-a:41", "rec-1")):
        with pytest.raises(ValueError, match="reserved"):
            _claims(TokenRole.VICTIM, identity)


def test_each_recorder_and_statement_joins_under_its_own_identity() -> None:
    # LiveKit disconnects the older connection of a repeated identity: a takeover or the next
    # statement must not cut off a recorder that is still leaving.
    a, b = recorder_identity("host-a:41", "rec-1"), recorder_identity("host-b:7", "rec-1")
    nxt = recorder_identity("host-a:41", "rec-2")
    assert len({a, b, nxt}) == 3
    assert {role_of_identity(i) for i in (a, b, nxt)} == {TokenRole.RECORDER}


def test_the_ttl_is_short() -> None:
    before = int(time.time())
    issued = mint(
        LK, role=TokenRole.VICTIM, room="r", identity="victim:1", display_name="x", ttl=TTL
    )
    after = int(time.time()) + 1
    # The JWT's own expiry, checked with its signature, not the figure mint() reports.
    claims = jwt.decode(issued.token, LK.api_secret, algorithms=["HS256"])
    assert before + 120 <= claims["exp"] <= after + 120
    assert claims["exp"] - claims["nbf"] == 120
    assert issued.expires_in == 120


def test_identities_carry_their_role() -> None:
    assert role_of_identity("victim:abc") is TokenRole.VICTIM
    assert role_of_identity("officer:local:1") is TokenRole.OFFICER
    assert role_of_identity(RECORDER_IDENTITY) is TokenRole.RECORDER
    assert role_of_identity("evr-recorderx:1") is None
    assert role_of_identity("stranger") is None
    assert role_of_identity("pirate:1") is None
