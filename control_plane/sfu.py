"""The control plane's client of LiveKit's server API (rooms and participants)."""

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import aiohttp
from livekit import api
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer

from control_plane.errors import DependencyUnavailable
from control_plane.metrics import Metrics
from core.livekit_nodes import NodeList
from core.settings import LiveKitSettings, RoomSettings

log = logging.getLogger(__name__)
T = TypeVar("T")

CALL_TIMEOUT = 5.0
"""Seconds one API call may take on one node (connecting included) before the next node is
tried. LiveKit's client sets no timeout of its own on an injected session (it passes
`timeout=None` to aiohttp, which means none at all), so without this a lost host that never
answers the SYN, or a wedged node, would hold the officer's request indefinitely."""


@dataclass(frozen=True)
class SfuParticipant:
    identity: str
    joined_at: int
    metadata: str = ""


@dataclass(frozen=True)
class SfuNode:
    """One LiveKit node's server API: its URL (the metric label) and a client for it."""

    url: str
    client: api.LiveKitAPI


class Sfu:
    """Thin typed wrapper that counts every call and maps failures to `DependencyUnavailable`.

    Given several nodes of a cluster (each routes any call through Redis to the node hosting
    the room), a call that cannot reach one node (connection refused or reset, timeout) is
    tried on the next; the node that answered is where the next call starts.
    """

    def __init__(
        self,
        client: api.LiveKitAPI | Sequence[SfuNode],
        metrics: Metrics,
        *,
        tracer: Tracer | None = None,
        call_timeout: float = CALL_TIMEOUT,
    ) -> None:
        self._call_timeout = call_timeout
        nodes = [SfuNode("", client)] if isinstance(client, api.LiveKitAPI) else list(client)
        if not nodes:
            raise ValueError("Sfu needs at least one node")
        self._clients = {node.url: node.client for node in nodes}
        self._nodes = NodeList([node.url for node in nodes])
        self._metrics = metrics
        self._tracer = tracer or trace.NoOpTracer()

    @property
    def current_url(self) -> str:
        """The node the next call goes to first (the last one that answered)."""
        return self._nodes.current

    @property
    def nodes(self) -> NodeList:
        """The node list these calls move along; the connection check's observer joins
        through it too, so it starts at the node that just answered (core.livekit_nodes)."""
        return self._nodes

    async def _call(self, name: str, call: Callable[[api.LiveKitAPI], Awaitable[T]]) -> T:
        # One client span per Twirp call, named as RPC spans are: service/Method.
        method = "".join(word.capitalize() for word in name.split("_"))
        with self._tracer.start_as_current_span(
            f"livekit.RoomService/{method}",
            kind=SpanKind.CLIENT,
            attributes={
                "rpc.system": "twirp",
                "rpc.service": "livekit.RoomService",
                "rpc.method": method,
            },
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            try:
                result = await self._on_some_node(name, call, span)
            except api.TwirpError as exc:
                self._metrics.sfu_api_requests.labels(call=name, outcome="error").inc()
                span.set_attribute("rpc.twirp.error_code", str(exc.code))
                span.set_attribute("http.response.status_code", exc.status)
                if exc.code == api.TwirpErrorCode.NOT_FOUND:
                    raise  # an answer, not a failure: callers treat it as "already gone"
                # LiveKit refuses a bad token with an empty message: say what it was.
                why = exc.message or f"HTTP {exc.status} ({exc.code})"
                span.set_status(Status(StatusCode.ERROR, why))
                raise DependencyUnavailable(f"SFU refused {name}: {why}") from exc
            except (aiohttp.ClientError, TimeoutError) as exc:
                self._metrics.sfu_api_requests.labels(call=name, outcome="error").inc()
                self._metrics.sfu_reachable.set(0)
                span.record_exception(exc)
                span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
                raise DependencyUnavailable(f"SFU unreachable during {name}: {exc}") from exc
        self._metrics.sfu_api_requests.labels(call=name, outcome="ok").inc()
        self._metrics.sfu_reachable.set(1)
        return result

    async def _on_some_node(
        self, name: str, call: Callable[[api.LiveKitAPI], Awaitable[T]], span: Span
    ) -> T:
        """`call` on the current node, then on each other node in turn while it cannot be
        reached (core.livekit_nodes); the last node's error propagates. Every call the
        control plane makes is safe to repeat when a first try may have landed: CreateRoom
        returns the room if it exists, deletes and removals repeated answer not-found (taken
        as "already gone")."""
        count = len(self._nodes.urls)
        before = self._nodes.current

        async def attempt(url: str) -> T:
            async with asyncio.timeout(self._call_timeout):
                return await call(self._clients[url])

        def unreachable(url: str, exc: BaseException, last: bool) -> None:
            self._metrics.sfu_node_failures.labels(node=url).inc()
            if count == 1:
                return
            span.add_event("sfu_node_unreachable", {"node": url, "error": type(exc).__name__})
            log.warning(
                "LiveKit node %s unreachable during %s (%s: %s)%s",
                url,
                name,
                type(exc).__name__,
                exc,
                "; no node left to try" if last else "; trying the next node",
            )

        result = await self._nodes.first_answer(
            attempt, unreachable=(aiohttp.ClientError, TimeoutError), on_unreachable=unreachable
        )
        if self._nodes.current != before:
            log.warning("LiveKit API calls now go to node %s", self._nodes.current)
        return result

    async def create_room(self, name: str, *, visit_id: str, rooms: RoomSettings) -> None:
        request = api.CreateRoomRequest(
            name=name,
            empty_timeout=rooms.empty_timeout,
            departure_timeout=rooms.departure_timeout,
            max_participants=rooms.max_participants,
            # The visit id only: crime references and personal data never reach the SFU.
            metadata=json.dumps({"visit_id": visit_id}),
        )
        await self._call("create_room", lambda c: c.room.create_room(request))

    async def set_recording_flag(self, name: str, *, visit_id: str, recording: bool) -> None:
        """Tell every participant, through the room metadata, whether recording is on."""
        request = api.UpdateRoomMetadataRequest(
            room=name, metadata=json.dumps({"visit_id": visit_id, "recording": recording})
        )
        try:
            await self._call("update_room_metadata", lambda c: c.room.update_room_metadata(request))
        except api.TwirpError as exc:
            if exc.code != api.TwirpErrorCode.NOT_FOUND:
                raise
            # The room is gone from the SFU (a lost node, or Redis restarted empty) until the
            # room watch creates it again, and sets the flag then if a statement is on.
            raise DependencyUnavailable(
                "the call's room is not on the media server at the moment (it is being set up "
                "again); try again in a few seconds"
            ) from exc

    async def create_probe_room(self, name: str, *, empty_timeout: int) -> None:
        """A throw-away room for one connection check: the phone and the hidden observer."""
        request = api.CreateRoomRequest(
            name=name, empty_timeout=empty_timeout, departure_timeout=1, max_participants=2
        )
        await self._call("create_room", lambda c: c.room.create_room(request))

    async def delete_room(self, name: str) -> None:
        """Delete the room, disconnecting everyone. A room already gone is not an error."""
        try:
            await self._call(
                "delete_room",
                lambda c: c.room.delete_room(api.DeleteRoomRequest(room=name)),
            )
        except api.TwirpError as exc:
            if exc.code != api.TwirpErrorCode.NOT_FOUND:
                raise

    async def remove_participant(self, room: str, identity: str) -> bool:
        """Disconnect one participant from the room (RoomService.RemoveParticipant). Return
        False when they were not there (or the room is gone), which is not an error."""
        request = api.RoomParticipantIdentity(room=room, identity=identity)
        try:
            await self._call("remove_participant", lambda c: c.room.remove_participant(request))
        except api.TwirpError as exc:
            if exc.code != api.TwirpErrorCode.NOT_FOUND:
                raise
            return False
        return True

    async def room_names(self) -> set[str]:
        resp = await self._call("list_rooms", lambda c: c.room.list_rooms(api.ListRoomsRequest()))
        return {room.name for room in resp.rooms}

    async def participants(self, room: str) -> list[SfuParticipant] | None:
        """Participants in the room, or None when the SFU has no such room."""
        # LiveKit lists an unknown room as empty rather than failing, so ask for the room first.
        rooms = await self._call(
            "list_rooms", lambda c: c.room.list_rooms(api.ListRoomsRequest(names=[room]))
        )
        if not any(r.name == room for r in rooms.rooms):
            return None
        resp = await self._call(
            "list_participants",
            lambda c: c.room.list_participants(api.ListParticipantsRequest(room=room)),
        )
        return [
            SfuParticipant(identity=p.identity, joined_at=p.joined_at, metadata=p.metadata)
            for p in resp.participants
        ]

    async def ping(self) -> None:
        await self.room_names()


def make_livekit_client(
    settings: LiveKitSettings, session: aiohttp.ClientSession, url: str | None = None
) -> api.LiveKitAPI:
    # The session is injected and owned by the app: LiveKitAPI must not close it.
    return api.LiveKitAPI(
        url=url or settings.api_url,
        api_key=settings.api_key,
        api_secret=settings.api_secret,
        session=session,
        # Failover consults LiveKit Cloud's region list: never wanted for a self-hosted SFU.
        failover=False,
    )


def make_sfu_nodes(settings: LiveKitSettings, session: aiohttp.ClientSession) -> list[SfuNode]:
    """A client for every configured node (`livekit.api_urls`, or the one `api_url`)."""
    return [SfuNode(url, make_livekit_client(settings, session, url)) for url in settings.node_urls]
