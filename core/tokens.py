"""Least-privilege LiveKit tokens: one room, only the sources the role needs, a short TTL.

Every token names exactly one room and never carries room_create, room_admin or room_list,
so no token opens another room or manages this one.
"""

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from livekit import api

from core.domain import TokenRole
from core.settings import LiveKitSettings

RECORDER_IDENTITY = "evr-recorder"
"""Reserved, with every identity under it (`recorder_identity`), for the hidden evidential
recorders; never issued to a person."""

_CAMERA_MIC = ["camera", "microphone"]
# Screen share lets the officer show documents, e.g. a statement to read back.
_OFFICER_SOURCES = ["camera", "microphone", "screen_share", "screen_share_audio"]


@dataclass(frozen=True)
class IssuedToken:
    token: str
    identity: str
    room: str
    url: str
    expires_in: int


def _grants(role: TokenRole, room: str, sources: Sequence[str] | None = None) -> api.VideoGrants:
    if role is TokenRole.RECORDER:
        return api.VideoGrants(
            room_join=True,
            room=room,
            can_publish=False,
            can_publish_data=False,
            can_subscribe=True,
            hidden=True,
            recorder=True,
        )
    if sources is None:
        sources = _OFFICER_SOURCES if role is TokenRole.OFFICER else _CAMERA_MIC
    return api.VideoGrants(
        room_join=True,
        room=room,
        can_publish=True,
        can_publish_sources=list(sources),
        can_subscribe=True,
        can_publish_data=False,
        can_update_own_metadata=False,
    )


def mint(
    livekit: LiveKitSettings,
    *,
    role: TokenRole,
    room: str,
    identity: str,
    display_name: str,
    ttl: timedelta,
    sources: Sequence[str] | None = None,
    session_id: str | None = None,
) -> IssuedToken:
    """Mint a LiveKit access token for one participant of one room.

    `sources` narrows what may be published (e.g. the microphone only for an audio-only call);
    by default the role's own sources. `session_id`, the participant session the token was
    minted for, rides in the metadata so a join under a since-revoked session is recognised."""
    if role is not TokenRole.RECORDER and is_recorder_identity(identity):
        raise ValueError("the recorder identity is reserved")
    token = (
        api.AccessToken(livekit.api_key, livekit.api_secret)
        .with_identity(identity)
        .with_name(display_name)
        .with_metadata(json.dumps(_metadata(role, session_id)))
        .with_grants(_grants(role, room, sources))
        .with_ttl(ttl)
        .to_jwt()
    )
    return IssuedToken(
        token=token,
        identity=identity,
        room=room,
        url=livekit.client_url,
        expires_in=int(ttl.total_seconds()),
    )


def _metadata(role: TokenRole, session_id: str | None) -> dict[str, str]:
    meta = {"role": role.value}
    if session_id is not None:
        meta["session"] = session_id
    return meta


def session_of_metadata(metadata: str) -> str | None:
    """The participant session a token was minted for, from the participant's metadata."""
    try:
        value = json.loads(metadata) if metadata else None
    except ValueError:
        return None
    session = value.get("session") if isinstance(value, dict) else None
    return session if isinstance(session, str) else None


def identity_for(role: TokenRole, subject: str) -> str:
    """Identities encode the role so webhooks can tell the victim from everyone else."""
    return f"{role.value}:{subject}"


def recorder_identity(worker_id: str, recording_id: str) -> str:
    """One identity per recorder and statement. LiveKit disconnects the older of two
    connections with the same identity, so with one shared identity a recorder taking a
    statement over, or starting the next one, cut off a recorder that was still leaving."""
    return f"{RECORDER_IDENTITY}:{worker_id}:{recording_id}"


def is_recorder_identity(identity: str) -> bool:
    return identity == RECORDER_IDENTITY or identity.startswith(RECORDER_IDENTITY + ":")


def role_of_identity(identity: str) -> TokenRole | None:
    if is_recorder_identity(identity):
        return TokenRole.RECORDER
    prefix, sep, _ = identity.partition(":")
    if not sep:
        return None
    try:
        return TokenRole(prefix)
    except ValueError:
        return None
