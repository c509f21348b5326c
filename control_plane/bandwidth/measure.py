"""Server-side measurement state for one check: RTT rounds, the download ledger, the upload.

Every time is the server's monotonic clock and every byte count is what the server itself
wrote or read, so the client's only influence is to make a figure worse.
"""

import hmac
import os
import secrets
import statistics
from dataclasses import dataclass, field

from control_plane.errors import BadRequest, Conflict

NONCE_BYTES = 32
"""Hex characters of a nonce (128 random bits)."""
CHUNK_BYTES = 16 * 1024
"""Download chunk size. Each chunk ends with its nonce, so seeing it means having the chunk."""
RATE_QUANTILE = 0.5
"""Which of the kernel's delivery-rate samples is the link's rate: the median. A stall in
loss recovery lowers a sample, and acknowledgements bunched up by a busy receiver (or the
shaper's burst) can raise one above the link's rate; the middle is neither."""
MIN_RATE_SAMPLES = 10
"""Fewer samples than this (a very short stream) and the proven rate is used."""
FRAMING_SLACK = 2048
"""Bytes of HTTP headers and chunked framing the kernel counts beside the chunks' own."""
PROOF_FACTOR = 2.0
"""How far the kernel-timed rate may exceed the rate the phone proved by its nonce; beyond
this the proven rate is used (a buffering proxy, or a forged acknowledgement clock)."""


def new_nonce() -> str:
    return secrets.token_hex(NONCE_BYTES // 2)


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


@dataclass
class RttRounds:
    """Server-issued nonces, each timed from its response leaving to the request carrying it."""

    rounds: int
    samples_ms: list[float] = field(default_factory=list)
    requests: int = 0
    _nonce: str | None = None
    _sent_at: float | None = None

    @property
    def done(self) -> bool:
        return len(self.samples_ms) >= self.rounds

    def answer(self, nonce: str | None, arrived_at: float) -> str | None:
        """Take one request (`nonce` from the previous answer, or None to begin); return the
        next nonce, or None once enough rounds were timed."""
        self.requests += 1
        if self.requests > 3 * self.rounds + 2:
            raise Conflict("too many RTT requests for this check; start a new check")
        if nonce is not None:
            if self._nonce is None or self._sent_at is None or not _same(nonce, self._nonce):
                raise BadRequest("that RTT nonce was not the last one this server sent")
            self.samples_ms.append((arrived_at - self._sent_at) * 1000)
        self._nonce = self._sent_at = None
        if self.done:
            return None
        self._nonce = new_nonce()
        return self._nonce

    def mark_sent(self, at: float) -> None:
        """Record when the response carrying the current nonce left."""
        if self._nonce is not None:
            self._sent_at = at

    @property
    def median_ms(self) -> float | None:
        return statistics.median(self.samples_ms) if self.samples_ms else None


@dataclass
class DownloadLedger:
    """The chunks the server sent: nonce -> bytes sent up to and including that chunk."""

    max_bytes: int
    max_seconds: float
    started_at: float | None = None
    sent_bytes: int = 0
    stopped: bool = False
    result: tuple[int, float] | None = None
    """(bytes acknowledged, seconds from the stream's start to the ack's arrival)."""
    delivered: list[tuple[int, float | None]] = field(default_factory=list)
    """Readings of the connection: (bytes of the stream the phone's TCP stack had
    acknowledged, the kernel's latest delivery-rate sample in kbit/s or None)."""
    _through: dict[str, int] = field(default_factory=dict)

    def start(self, now: float) -> None:
        if self.started_at is not None:
            raise Conflict("the download for this check was already run; start a new check")
        self.started_at = now

    def more(self, now: float) -> bool:
        assert self.started_at is not None
        return (
            not self.stopped
            and self.sent_bytes + CHUNK_BYTES <= self.max_bytes
            and now - self.started_at < self.max_seconds
        )

    def next_chunk(self) -> bytes:
        """Incompressible padding ending in a fresh nonce; the chunk is booked before it is sent."""
        nonce = new_nonce()
        self.sent_bytes += CHUNK_BYTES
        self._through[nonce] = self.sent_bytes
        return os.urandom(CHUNK_BYTES - NONCE_BYTES) + nonce.encode()

    def ack(self, nonce: str, arrived_at: float) -> tuple[int, float]:
        if self.started_at is None:
            raise Conflict("no download has been sent for this check yet")
        if self.result is not None:
            raise Conflict("the download was already acknowledged")
        through = next((n for k, n in self._through.items() if _same(k, nonce)), None)
        if through is None:
            raise BadRequest("that nonce was never sent: acknowledge the last one you received")
        self.stopped = True
        self.result = (through, arrived_at - self.started_at)
        return self.result

    def note_delivered(self, acked: int, rate_kbps: float | None) -> None:
        """Record a reading of the kernel's figures for the stream (see tcpinfo)."""
        if self.result is None:
            self.delivered.append((acked, rate_kbps))

    @property
    def proven_kbps(self) -> float | None:
        """The rate the nonce proves: bytes through the acknowledged chunk over the time from
        the stream's start to the ack's arrival. A floor: it counts the ack's own trip."""
        if self.result is None or self.result[1] <= 0:
            return None
        acked, seconds = self.result
        return acked * 8 / seconds / 1000

    @property
    def kbps(self) -> float | None:
        """The link's rate as the kernel saw the phone acknowledge the bytes it then proved
        it got; the proven rate where that cannot be read, or is implausible."""
        proven = self.proven_kbps
        if proven is None or self.result is None:
            return None
        timed = delivery_kbps(self.delivered, self.result[0] + FRAMING_SLACK)
        if timed is None or timed > PROOF_FACTOR * proven:
            return proven
        return max(timed, proven)


def delivery_kbps(readings: list[tuple[int, float | None]], proven: int) -> float | None:
    """The RATE_QUANTILE of the delivery-rate samples taken while the phone had acknowledged
    no more than `proven` bytes; None with fewer than MIN_RATE_SAMPLES of them."""
    rates = sorted(r for n, r in readings if r is not None and n <= proven)
    if len(rates) < MIN_RATE_SAMPLES:
        return None
    return rates[min(len(rates) - 1, int(RATE_QUANTILE * len(rates)))]


@dataclass
class UploadMeter:
    """Bytes the server read, timed from the moment it issued the upload ticket.

    The clock starts before the phone sends its first byte, so nothing queued before the
    window (in socket buffers, or a request-buffering proxy) can shorten it.
    """

    max_bytes: int
    max_seconds: float
    ticket: str | None = None
    ticket_at: float | None = None
    started: bool = False
    received: int = 0
    last_at: float | None = None
    done: bool = False

    def issue(self, now: float) -> str:
        if self.started:
            raise Conflict("the upload for this check was already run; start a new check")
        self.ticket, self.ticket_at = new_nonce(), now
        return self.ticket

    def begin(self, ticket: str | None) -> float:
        """Check the ticket; return the server time at which the upload must stop."""
        if self.ticket is None or self.ticket_at is None:
            raise Conflict("ask for an upload ticket first")
        if ticket is None or not _same(ticket, self.ticket):
            raise BadRequest("the upload ticket does not match the one this server issued")
        if self.started:
            raise Conflict("the upload for this check was already run; start a new check")
        self.started = True
        return self.ticket_at + self.max_seconds

    def observe(self, total: int, now: float) -> bool:
        """Account for `total` body bytes received so far, seen at `now`; return False once a
        cap is reached. Bytes past the byte cap are never counted."""
        assert self.ticket_at is not None
        total = min(total, self.max_bytes)
        if total > self.received:
            self.received, self.last_at = total, now
        return self.received < self.max_bytes and now - self.ticket_at < self.max_seconds

    @property
    def seconds(self) -> float:
        if self.ticket_at is None or self.last_at is None:
            return 0.0
        return self.last_at - self.ticket_at

    @property
    def kbps(self) -> float | None:
        if not self.done:
            return None
        if self.seconds <= 0:
            return 0.0
        return self.received * 8 / self.seconds / 1000
