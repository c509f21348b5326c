"""The kernel's TCP_INFO, parsed from a hand-built answer and read from a real connection."""

import socket
import struct
import time

from control_plane.bandwidth import tcpinfo


def _raw(*, acked: int, unacked: int, notsent: int, rate: int, app_limited: bool) -> bytes:
    raw = bytearray(232)
    raw[7] = 1 if app_limited else 0
    struct.pack_into("=I", raw, 24, unacked)
    struct.pack_into("=Q", raw, 120, acked)
    struct.pack_into("=Q", raw, 128, 777)
    struct.pack_into("=I", raw, 144, notsent)
    struct.pack_into("=Q", raw, 160, rate)
    return bytes(raw)


def test_parse_reads_the_acknowledged_bytes_and_the_delivery_rate() -> None:
    d = tcpinfo.parse(_raw(acked=123_456, unacked=3, notsent=10, rate=75_000, app_limited=False))
    assert d == tcpinfo.Delivery(
        bytes_acked=123_456,
        bytes_received=777,
        unacked_segments=3,
        notsent_bytes=10,
        delivery_kbps=600.0,
    )
    assert not d.drained


def test_an_app_limited_sample_says_nothing_about_the_link() -> None:
    d = tcpinfo.parse(_raw(acked=1, unacked=0, notsent=0, rate=75_000, app_limited=True))
    assert d is not None
    assert d.delivery_kbps is None
    assert d.drained


def test_an_answer_from_a_kernel_without_the_fields_is_none() -> None:
    assert tcpinfo.parse(bytes(104)) is None


def test_a_real_connection_counts_what_its_peer_acknowledged_and_received() -> None:
    server = socket.create_server(("127.0.0.1", 0))
    with server, socket.create_connection(server.getsockname()) as client:
        peer, _ = server.accept()
        with peer:
            sent_before, got_before = tcpinfo.read(peer), tcpinfo.read(client)
            peer.sendall(b"x" * 50_000)
            got = 0
            while got < 50_000:
                got += len(client.recv(65536))
            got_after = tcpinfo.read(client)
            # The receiver's ACKs may trail its reading by a moment.
            sent_after = tcpinfo.read(peer)
            for _ in range(100):
                if sent_after is not None and sent_after.drained:
                    break
                time.sleep(0.01)
                sent_after = tcpinfo.read(peer)
    assert sent_before is not None
    assert sent_after is not None
    assert sent_after.bytes_acked - sent_before.bytes_acked == 50_000
    assert got_before is not None
    assert got_after is not None
    assert got_after.bytes_received - got_before.bytes_received == 50_000


def test_a_closed_socket_reads_as_none() -> None:
    sock = socket.socket()
    sock.close()
    assert tcpinfo.read(sock) is None
