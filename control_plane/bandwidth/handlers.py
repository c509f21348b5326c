"""HTTP handlers of the connection check (participant-session authenticated)."""

import asyncio
import contextlib
import socket
import time
from collections.abc import Callable

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from pydantic import Field, model_validator

from control_plane.api.endpoints import ARRIVED, PARTICIPANT, narrowed
from control_plane.api.schemas import Strict
from control_plane.bandwidth import tcpinfo
from control_plane.bandwidth.loss import SenderReport
from control_plane.bandwidth.measure import CHUNK_BYTES, DownloadLedger
from control_plane.bandwidth.service import CHECKS, ActiveCheck
from control_plane.joining import ParticipantSession
from control_plane.keys import SETTINGS

_NONCE = Field(min_length=32, max_length=32, pattern=r"^[0-9a-f]{32}$")
_WRITE_GRACE = 1.0
"""Seconds past the download's time cap the server waits on a stalled reader."""
_SAMPLE_EVERY = 0.01
"""Seconds between readings of the download connection's acknowledged bytes."""


class RttRound(Strict):
    nonce: str | None = Field(
        default=None,
        min_length=32,
        max_length=32,
        pattern=r"^[0-9a-f]{32}$",
        description="The nonce of the previous answer; omit or null for the first round",
    )


class DownloadAck(Strict):
    nonce: str = _NONCE
    """The last 32 bytes of the last complete chunk received."""


class Transport(Strict):
    protocol: str | None = Field(default=None, max_length=10, description="udp or tcp")
    candidate_type: str | None = Field(
        default=None, max_length=10, description="host, srflx, prflx or relay"
    )
    relay_protocol: str | None = Field(default=None, max_length=10, description="udp, tcp, tls")


_COUNT = Field(ge=0, le=100_000_000)


class Sender(Strict):
    """The phone's WebRTC statistics for its probe video (outbound-rtp, remote-inbound-rtp)."""

    packets_sent: int = _COUNT
    retransmitted_packets_sent: int = _COUNT
    nack_count: int = _COUNT
    remote_packets_lost: int | None = Field(
        default=None, ge=-100_000_000, le=100_000_000, description="may be negative (RTCP)"
    )

    @model_validator(mode="after")
    def _consistent(self) -> "Sender":
        if self.retransmitted_packets_sent > self.packets_sent:
            raise ValueError("retransmitted_packets_sent is more than packets_sent")
        return self

    def report(self) -> SenderReport:
        return SenderReport(
            packets_sent=self.packets_sent,
            retransmitted_packets_sent=self.retransmitted_packets_sent,
            nack_count=self.nack_count,
            remote_packets_lost=self.remote_packets_lost,
        )


class FinishCheck(Strict):
    transport: Transport | None = Field(
        default=None,
        description="The selected ICE candidate pair of the probe, as the phone saw it",
    )
    sender: Sender | None = Field(
        default=None,
        description="The probe video's sender statistics, as the phone saw them: the server "
        "takes the worse of its own loss figure and the one these give",
    )


async def _own_check(request: web.Request, session: ParticipantSession) -> ActiveCheck:
    return request.app[CHECKS].get(session, request.match_info["check_id"])


CHECK = narrowed(PARTICIPANT, _own_check)
"""The participant's own connection check in progress, named by the path (404 otherwise)."""


async def start_check(request: web.Request, session: ParticipantSession) -> web.Response:
    _, plan = await request.app[CHECKS].start(session)
    return web.json_response(plan, status=201)


async def rtt_round(request: web.Request, check: ActiveCheck, body: RttRound) -> web.Response:
    arrived = request[ARRIVED]  # before authentication, so the DB lookup is not counted
    nonce = check.rtt.answer(body.nonce, arrived)
    response = web.json_response(
        {"nonce": nonce, "done": check.rtt.done, "samples": len(check.rtt.samples_ms)}
    )
    check.rtt.mark_sent(time.monotonic())
    return response


def _small_send_queue(request: web.Request) -> None:
    """Keep little unsent data queued, so the write loop follows what the network takes."""
    transport = request.transport
    if transport is None:
        return
    transport.set_write_buffer_limits(high=CHUNK_BYTES)
    sock = transport.get_extra_info("socket")
    if sock is not None and hasattr(socket, "TCP_NOTSENT_LOWAT"):
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NOTSENT_LOWAT, CHUNK_BYTES)


async def probe_status(request: web.Request, check: ActiveCheck) -> web.Response:
    return web.json_response(check.probe.status(request.app[SETTINGS].bandwidth.probe_seconds))


async def download(request: web.Request, check: ActiveCheck) -> web.StreamResponse:
    ledger = check.download
    ledger.start(time.monotonic())
    response = web.StreamResponse(
        headers={"Content-Type": "application/octet-stream", "Cache-Control": "no-store"}
    )
    _small_send_queue(request)
    written = asyncio.Event()
    follower = _follow_delivery(request, ledger, written)
    try:
        await response.prepare(request)
        try:
            async with asyncio.timeout(ledger.max_seconds + _WRITE_GRACE):
                while ledger.more(time.monotonic()):
                    await response.write(ledger.next_chunk())
            await response.write_eof()
        except (TimeoutError, ConnectionError):
            # A reader that stalled or hung up (after acknowledging) ends the stream early.
            request.protocol.force_close()
        written.set()
        if follower is not None:
            # The bytes still queued keep arriving; their acknowledgements are timed too.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(_WRITE_GRACE):
                    await follower
    finally:
        if follower is not None:
            follower.cancel()
    return response


def _follow_delivery(
    request: web.Request, ledger: DownloadLedger, written: asyncio.Event
) -> "asyncio.Task[None] | None":
    """Read the connection's delivery figures (the kernel's TCP_INFO) while the stream runs
    and until all of it is acknowledged; None where the platform does not offer them."""
    transport = request.transport
    sock = transport.get_extra_info("socket") if transport is not None else None
    first = tcpinfo.read(sock) if sock is not None else None
    if sock is None or first is None:
        return None
    base = first.bytes_acked  # what earlier requests on this connection moved

    async def follow() -> None:
        while ledger.result is None:
            now = tcpinfo.read(sock)
            if now is None:
                return
            ledger.note_delivered(now.bytes_acked - base, now.delivery_kbps)
            if written.is_set() and now.drained:
                return
            await asyncio.sleep(_SAMPLE_EVERY)

    return asyncio.create_task(follow(), name="download-delivery")


async def download_ack(request: web.Request, check: ActiveCheck, body: DownloadAck) -> web.Response:
    arrived = request[ARRIVED]
    acked, seconds = check.download.ack(body.nonce, arrived)
    return web.json_response(
        {
            "downlink_kbps": round(check.download.kbps or 0.0, 1),
            "bytes": acked,
            "seconds": round(seconds, 3),
        }
    )


async def upload_ticket(request: web.Request, check: ActiveCheck) -> web.Response:
    ticket = check.upload.issue(time.monotonic())
    return web.json_response(
        {
            "ticket": ticket,
            "max_bytes": check.upload.max_bytes,
            "max_seconds": check.upload.max_seconds,
        }
    )


async def upload(request: web.Request, check: ActiveCheck) -> web.StreamResponse:
    meter = check.upload
    stop_at = meter.begin(request.query.get("ticket"))
    content = request.content
    arrived = _body_arrived(request)
    # Count what the connection delivered, not only what was read: a body that ends early
    # still counts for the bytes that did arrive.
    try:
        async with asyncio.timeout(max(0.0, stop_at - time.monotonic())):
            while meter.observe(arrived(), time.monotonic()):
                if not await content.readany():
                    break
    except (TimeoutError, ConnectionError, HttpProcessingError):
        pass  # a stall, a hang-up or a body shorter than announced
    meter.observe(arrived(), time.monotonic())
    meter.done = True
    response = web.json_response(
        {
            "uplink_kbps": round(meter.kbps or 0.0, 1),
            "bytes": meter.received,
            "seconds": round(meter.seconds, 3),
        }
    )
    if not request.content.is_eof():
        # Past a cap the rest of the body is refused, not drained: answer, then hang up.
        response.force_close()
        with contextlib.suppress(ConnectionError):
            await response.prepare(request)
            await response.write_eof()
        request.protocol.force_close()
    return response


def _body_arrived(request: web.Request) -> Callable[[], int]:
    """A counter of the body bytes the connection has delivered: the kernel's count where it
    offers one (it does not wait for this process to get round to reading), else aiohttp's."""
    content = request.content
    transport = request.transport
    sock = transport.get_extra_info("socket") if transport is not None else None
    first = tcpinfo.read(sock) if sock is not None else None
    if sock is None or first is None:
        return lambda: content.total_raw_bytes
    # Everything the kernel had before the body's unread part: earlier requests, headers.
    before = first.bytes_received - content.total_raw_bytes

    def arrived() -> int:
        now = tcpinfo.read(sock)
        kernel = 0 if now is None else now.bytes_received - before
        return max(content.total_raw_bytes, kernel)

    return arrived


async def finish_check(
    request: web.Request, session: ParticipantSession, body: FinishCheck
) -> web.Response:
    transport = body.transport.model_dump() if body.transport else None
    sender = body.sender.report() if body.sender else None
    verdict = await request.app[CHECKS].finish(
        session, request.match_info["check_id"], transport, sender
    )
    return web.json_response(verdict)
