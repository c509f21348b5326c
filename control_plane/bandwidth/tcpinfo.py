"""The kernel's own delivery figures for a TCP connection (Linux `TCP_INFO`).

The download is timed on these. As the phone's TCP stack acknowledges what reached it, the
kernel counts the bytes (`tcpi_bytes_acked`) and takes a delivery-rate sample per
acknowledgement (`tcpi_delivery_rate`, the estimator BBR is built on: bytes delivered over
the longer of their send and their ack intervals, so a sample does not exceed what the
bottleneck carried). Neither includes the HTTP acknowledgement's own trip, nor how late the
page got round to reading its bytes. The upload counts what arrived (`tcpi_bytes_received`)
whether or not this process has read it yet, so a busy server does not under-read.
"""

import contextlib
import socket
import struct
from dataclasses import dataclass
from typing import Protocol

_TCP_INFO = getattr(socket, "TCP_INFO", 11)
_LEN = 256
# struct tcp_info (include/uapi/linux/tcp.h): offsets of the fields read here.
_FLAGS_AT = 7  # snd/rcv_wscale nibbles, then this byte: bit 0 is delivery_rate_app_limited
_UNACKED = struct.Struct("=I")  # tcpi_unacked, segments in flight
_UNACKED_AT = 24
_BYTES_ACKED = struct.Struct("=Q")  # tcpi_bytes_acked (Linux 4.1)
_BYTES_ACKED_AT = 120
_BYTES_RECEIVED = struct.Struct("=Q")  # tcpi_bytes_received (Linux 4.1)
_BYTES_RECEIVED_AT = 128
_NOTSENT = struct.Struct("=I")  # tcpi_notsent_bytes (Linux 4.6)
_NOTSENT_AT = 144
_DELIVERY_RATE = struct.Struct("=Q")  # tcpi_delivery_rate, bytes/s (Linux 4.9)
_DELIVERY_RATE_AT = 160


class _Socket(Protocol):
    def getsockopt(self, level: int, optname: int, buflen: int, /) -> bytes: ...


@dataclass(frozen=True)
class Delivery:
    bytes_acked: int
    """Bytes of this connection the peer's TCP stack has acknowledged, ever."""
    bytes_received: int
    """Bytes of this connection that arrived in order, ever, read by the process or not."""
    unacked_segments: int
    notsent_bytes: int
    delivery_kbps: float | None
    """The latest delivery-rate sample; None while the sender had too little to send
    (app-limited), when the sample says nothing about the link."""

    @property
    def drained(self) -> bool:
        """Everything written to the socket has been acknowledged."""
        return self.unacked_segments == 0 and self.notsent_bytes == 0


def parse(raw: bytes) -> Delivery | None:
    """The fields of a `TCP_INFO` answer, or None from a kernel too old to have them."""
    if len(raw) < _DELIVERY_RATE_AT + _DELIVERY_RATE.size:
        return None
    rate = _DELIVERY_RATE.unpack_from(raw, _DELIVERY_RATE_AT)[0]
    app_limited = bool(raw[_FLAGS_AT] & 1)
    return Delivery(
        bytes_acked=_BYTES_ACKED.unpack_from(raw, _BYTES_ACKED_AT)[0],
        bytes_received=_BYTES_RECEIVED.unpack_from(raw, _BYTES_RECEIVED_AT)[0],
        unacked_segments=_UNACKED.unpack_from(raw, _UNACKED_AT)[0],
        notsent_bytes=_NOTSENT.unpack_from(raw, _NOTSENT_AT)[0],
        delivery_kbps=None if app_limited or rate == 0 else rate * 8 / 1000,
    )


def read(sock: _Socket) -> Delivery | None:
    """The connection's counters now; None where the platform does not offer them."""
    with contextlib.suppress(OSError):
        return parse(sock.getsockopt(socket.IPPROTO_TCP, _TCP_INFO, _LEN))
    return None
