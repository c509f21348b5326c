"""The server's measurement state: only what it sent, read and timed itself counts."""

import pytest

from control_plane.bandwidth.measure import (
    CHUNK_BYTES,
    FRAMING_SLACK,
    MIN_RATE_SAMPLES,
    NONCE_BYTES,
    PROOF_FACTOR,
    DownloadLedger,
    RttRounds,
    UploadMeter,
    new_nonce,
)
from control_plane.errors import BadRequest, Conflict


def test_rtt_samples_are_timed_from_the_server_sending_each_nonce() -> None:
    rounds = RttRounds(3)
    nonce = rounds.answer(None, 0.0)
    for i in range(3):
        assert nonce is not None
        rounds.mark_sent(10.0 * i)
        nonce = rounds.answer(nonce, 10.0 * i + 0.040 + 0.010 * i)
    assert nonce is None
    assert rounds.done
    assert [round(s) for s in rounds.samples_ms] == [40, 50, 60]
    assert rounds.median_ms == pytest.approx(50)


def test_rtt_refuses_a_nonce_it_did_not_send() -> None:
    rounds = RttRounds(3)
    rounds.answer(None, 0.0)
    rounds.mark_sent(0.0)
    with pytest.raises(BadRequest):
        rounds.answer(new_nonce(), 0.001)


def test_rtt_rounds_are_bounded() -> None:
    rounds = RttRounds(2)
    for _ in range(3 * 2 + 2):
        rounds.answer(None, 0.0)
    with pytest.raises(Conflict):
        rounds.answer(None, 0.0)


def test_download_chunks_end_in_the_nonce_they_were_booked_under() -> None:
    ledger = DownloadLedger(max_bytes=10 * CHUNK_BYTES, max_seconds=2.0)
    ledger.start(0.0)
    chunks = [ledger.next_chunk() for _ in range(3)]
    assert all(len(c) == CHUNK_BYTES for c in chunks)
    nonce = chunks[1][-NONCE_BYTES:].decode()
    assert ledger.ack(nonce, 0.5) == (2 * CHUNK_BYTES, 0.5)
    assert ledger.kbps == pytest.approx(2 * CHUNK_BYTES * 8 / 0.5 / 1000)


def test_download_refuses_a_nonce_it_never_sent() -> None:
    ledger = DownloadLedger(max_bytes=10 * CHUNK_BYTES, max_seconds=2.0)
    ledger.start(0.0)
    ledger.next_chunk()
    with pytest.raises(BadRequest):
        ledger.ack(new_nonce(), 0.5)
    assert ledger.kbps is None


def test_download_stops_at_its_byte_and_time_caps() -> None:
    ledger = DownloadLedger(max_bytes=3 * CHUNK_BYTES + 5, max_seconds=2.0)
    ledger.start(0.0)
    sent = 0
    while ledger.more(0.1):
        ledger.next_chunk()
        sent += 1
    assert sent == 3
    assert not DownloadLedger(max_bytes=10**9, max_seconds=2.0, started_at=0.0).more(2.0)


def test_upload_counts_read_bytes_up_to_the_cap_from_the_ticket() -> None:
    meter = UploadMeter(max_bytes=100_000, max_seconds=2.0)
    ticket = meter.issue(10.0)
    with pytest.raises(BadRequest):
        meter.begin(new_nonce())
    assert meter.begin(ticket) == 12.0
    assert meter.observe(60_000, 10.5)
    assert not meter.observe(120_000, 11.0)  # over the cap: only 40 000 of these count
    assert not meter.observe(150_000, 11.5)
    meter.done = True
    assert meter.received == 100_000
    assert meter.kbps == pytest.approx(100_000 * 8 / 1.0 / 1000)
    with pytest.raises(Conflict):
        meter.begin(ticket)


def _acked(ledger: DownloadLedger, chunks: int, at: float) -> tuple[int, float]:
    nonce = ""
    for _ in range(chunks):
        nonce = ledger.next_chunk()[-NONCE_BYTES:].decode()
    return ledger.ack(nonce, at)


def test_download_rate_is_the_median_of_the_kernels_delivery_samples() -> None:
    ledger = DownloadLedger(max_bytes=100 * CHUNK_BYTES, max_seconds=2.0)
    ledger.start(0.0)
    # Stalls in loss recovery read low, bunched-up ACKs read high; most are the link's rate.
    for i, rate in enumerate([150.0] * 4 + [600.0] * 9 + [1500.0] * 4):
        ledger.note_delivered(i * 1000, rate)
    ledger.note_delivered(20_000, None)  # app-limited: says nothing about the link
    acked, seconds = _acked(ledger, 10, 2.5)
    assert ledger.proven_kbps == pytest.approx(acked * 8 / seconds / 1000)
    assert ledger.kbps == 600.0


def test_download_rate_counts_only_samples_of_bytes_the_phone_proved_it_got() -> None:
    ledger = DownloadLedger(max_bytes=100 * CHUNK_BYTES, max_seconds=2.0)
    ledger.start(0.0)
    for i in range(12):
        ledger.note_delivered(i * 1000, 500.0)
    for i in range(12):  # acknowledged by the kernel past the chunk the phone proves
        ledger.note_delivered(3 * CHUNK_BYTES + FRAMING_SLACK + 1 + i, 900.0)
    _acked(ledger, 3, 1.0)
    assert ledger.kbps == 500.0


def test_download_falls_back_to_the_proven_rate_without_enough_samples() -> None:
    ledger = DownloadLedger(max_bytes=100 * CHUNK_BYTES, max_seconds=2.0)
    ledger.start(0.0)
    for i in range(MIN_RATE_SAMPLES - 1):
        ledger.note_delivered(i, 5000.0)
    _acked(ledger, 4, 1.0)
    assert ledger.kbps == ledger.proven_kbps == pytest.approx(4 * CHUNK_BYTES * 8 / 1000)


def test_a_kernel_rate_far_above_what_the_phone_proved_is_not_believed() -> None:
    """A buffering proxy (or a forged ACK clock) can only leave the proven floor."""
    ledger = DownloadLedger(max_bytes=100 * CHUNK_BYTES, max_seconds=2.0)
    ledger.start(0.0)
    for i in range(MIN_RATE_SAMPLES):
        ledger.note_delivered(i, 100_000.0)
    _acked(ledger, 4, 1.0)
    proven = ledger.proven_kbps
    assert proven is not None
    assert PROOF_FACTOR * proven < 100_000.0
    assert ledger.kbps == proven


def test_download_rate_is_never_below_what_the_phone_proved() -> None:
    ledger = DownloadLedger(max_bytes=100 * CHUNK_BYTES, max_seconds=2.0)
    ledger.start(0.0)
    for i in range(MIN_RATE_SAMPLES):
        ledger.note_delivered(i, 1.0)
    _acked(ledger, 4, 1.0)
    assert ledger.kbps == ledger.proven_kbps


def test_readings_after_the_ack_are_ignored() -> None:
    ledger = DownloadLedger(max_bytes=100 * CHUNK_BYTES, max_seconds=2.0)
    ledger.start(0.0)
    _acked(ledger, 1, 1.0)
    ledger.note_delivered(1, 1.0)
    assert ledger.delivered == []
