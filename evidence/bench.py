"""Benchmark (not a test): recorder CPU per concurrent statement, and sealing throughput.

    .venv/bin/python -m evidence.bench [--seconds 10] [--concurrency 1,2,4] [--seal-mb 128]

Part 1 feeds StatementWriter exactly what the recorder's writer thread gets from the SFU for
a two-person call (decoded 640x480 I420 video, officer 25 fps and victim 15 fps with camera-
like noise, and 48 kHz mono audio in 20 ms chunks), for N statements at once, one writer
thread each in one process, as the recorder runs them, as fast as they go. It reports CPU
seconds per second of statement (the real-time factor: below 1.0 one core keeps up with one
statement) and wall time per second of media for the N together. The WebRTC receive and VP8
decode that libwebrtc does before this are not included.

Part 2 seals a statement of --seal-mb of Master (one real segment from part 1, padded with
a large segment of random bytes) with the real seal_statement into a LocalEvidenceStore, and
verifies it, beside a plain copy + fsync of the same bytes: the ratios say what the
re-hashing, read-only store and signing cost over just moving the bytes.

Part 3 (``--live N``, root only) measures the real thing: N two-person calls of synthetic
participants on the real livekit-server (in a test network namespace, as the tests run it),
recorded at once by one real ``evr recorder`` process for --seconds; the recorder process's
CPU time (from /proc, WebRTC receive and decode included) per second of statement.

All figures come from one run, side by side, on this machine.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import numpy.typing as npt

from core.custody import JsonlCustodyLog
from evidence.hashing import HashingFileWriter, fsync_directory
from evidence.keys import generate_signing_key, key_id
from evidence.manifest import ConsentRecord, Officer, Participant
from evidence.seal import StatementDetails, seal_statement
from evidence.store import LocalEvidenceStore
from evidence.verify import verify_store_entry
from evidence.writer import SegmentInfo, StatementWriter, WriterConfig

WIDTH, HEIGHT = 640, 480
SAMPLE_RATE, CHUNK = 48_000, 960
STARTED_AT = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)


def _noisy_i420(
    level: int, seed: int, size: tuple[int, int] = (WIDTH, HEIGHT), count: int = 8
) -> list[npt.NDArray[np.uint8]]:
    """A few camera-like frames (a level plus noise), packed I420 as the recorder gets them."""
    width, height = size
    rng = np.random.default_rng(seed)
    frames = []
    for _ in range(count):
        y = np.clip(level + rng.integers(-12, 13, (height, width)), 16, 235).astype(np.uint8)
        uv = np.full((height // 2, width), 128, np.uint8)
        frames.append(np.concatenate([y, uv]).reshape(height * 3 // 2, width))
    return frames


def _feed(writer: StatementWriter, seconds: float, size: tuple[int, int]) -> None:
    officer, victim = _noisy_i420(90, 1, size), _noisy_i420(150, 2, size)
    tone = (6000 * np.sin(2 * np.pi * 440 * np.arange(CHUNK) / SAMPLE_RATE)).astype(np.int16)
    events: list[tuple[float, int]] = []
    events += [(i / 25, 0) for i in range(round(seconds * 25))]
    events += [(i / 15, 1) for i in range(round(seconds * 15))]
    events += [(i * CHUNK / SAMPLE_RATE, 2) for i in range(round(seconds * SAMPLE_RATE / CHUNK))]
    for n, (ts, kind) in enumerate(sorted(events)):
        if kind == 0:
            writer.push_video("officer", officer[n % len(officer)], ts)
        elif kind == 1:
            writer.push_video("victim", victim[n % len(victim)], ts)
        else:
            writer.push_audio("officer", tone, SAMPLE_RATE, ts)
            writer.push_audio("victim", tone, SAMPLE_RATE, ts)


@dataclass
class WriterRun:
    concurrency: int
    media_seconds: float
    cpu_seconds: float
    wall_seconds: float
    bytes: int

    @property
    def rtf(self) -> float:
        """CPU seconds per second of one statement."""
        return self.cpu_seconds / (self.concurrency * self.media_seconds)


def run_writers(
    concurrency: int, seconds: float, root: Path, size: tuple[int, int] = (WIDTH, HEIGHT)
) -> tuple[WriterRun, list[SegmentInfo]]:
    config = WriterConfig(segment_seconds=max(seconds, 1.0))
    results: list[list[SegmentInfo]] = [[] for _ in range(concurrency)]

    def one(i: int) -> None:
        writer = StatementWriter(
            root / f"c{concurrency}-s{i}",
            participants=["officer", "victim"],
            started_at=STARTED_AT,
            config=config,
        )
        _feed(writer, seconds, size)
        results[i] = writer.close()

    threads = [threading.Thread(target=one, args=(i,)) for i in range(concurrency)]
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    written = sum(s.bytes for segs in results for s in segs)
    return WriterRun(concurrency, seconds, cpu, wall, written), results[0]


def _copy_fsync(sources: Sequence[Path], target: Path) -> None:
    target.mkdir(parents=True)
    for src in sources:
        dst = target / src.name
        shutil.copyfile(src, dst)
        fd = os.open(dst, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    fsync_directory(target)


def run_sealing(segment: SegmentInfo, megabytes: int, root: Path) -> dict[str, float]:
    """Seal/verify vs plain copy of the same bytes; MB/s of each."""
    big = root / "segment-00002.mp4"
    with HashingFileWriter(big) as out:
        rng = np.random.default_rng(3)
        for _ in range(megabytes):
            out.write(rng.integers(0, 256, 1 << 20, dtype=np.uint8).tobytes())
    digest = out.close()
    pad = SegmentInfo(2, big, digest.sha256, digest.size, segment.end, segment.end)
    segments = [segment, pad]
    total_mb = (segment.bytes + digest.size) / 1e6
    key = generate_signing_key(root / "bench-key.pem")
    store = LocalEvidenceStore(root / "store", custody=JsonlCustodyLog(root / "custody"))
    details = StatementDetails(
        evidence_id="BENCH-1",
        visit_id="bench",
        crime_reference="BENCH/1",
        officer=Officer("bench", "0000"),
        participants=[
            Participant("officer", "officer", "bench"),
            Participant("victim", "victim", "bench"),
        ],
        consents=[ConsentRecord("victim", STARTED_AT, "bench")],
    )
    t0 = time.perf_counter()
    _copy_fsync([s.path for s in segments], root / "plain-copy")
    copy_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    seal_statement(
        store,
        details=details,
        segments=segments,
        signing_key=key,
        actor="bench",
        recorder_version="bench",
    )
    seal_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    report = verify_store_entry(store, "BENCH-1", trusted_key_ids={key_id(key.public_key())})
    verify_s = time.perf_counter() - t0
    if not report.ok:
        raise SystemExit(f"benchmark item did not verify: {report.failures}")
    return {
        "mb": total_mb,
        "copy_mb_s": total_mb / copy_s,
        "seal_mb_s": total_mb / seal_s,
        "verify_mb_s": total_mb / verify_s,
    }


async def _live(
    statements: int, seconds: float, root: Path, size: tuple[int, int] | None = None
) -> tuple[float, float]:
    """(recorder CPU s per statement-s, wall s) for ``statements`` live calls at once; the
    synthetic participants send `size` video (their default, 320x240, if None)."""
    # The test harness is the one way this project runs the real SFU on one machine.
    import aiohttp  # noqa: PLC0415

    from tests.recorder.statement import consent_and_start, open_call, wait_recording  # noqa: PLC0415
    from tests.support.netns import create_testnet, destroy_testnet  # noqa: PLC0415
    from tests.support.recorder import start_recorder, stop_recorder  # noqa: PLC0415
    from tests.support.stack import Api, start_stack, stop_stack  # noqa: PLC0415

    net = create_testnet("bench")
    try:
        stack = await start_stack(
            net=net,
            database_url=f"sqlite+aiosqlite:///{root / 'bench.sqlite3'}",
            workdir=root / "stack",
            http_port=18880,
        )
        recorder = start_recorder(stack, root / "recorder", name="rec-bench")
        try:
            async with aiohttp.ClientSession() as session:
                api = Api(session, stack)
                calls = [await open_call(api, size=size) for _ in range(statements)]
                try:
                    for call in calls:
                        await consent_and_start(api, call)
                    for call in calls:
                        await wait_recording(api, call.visit_id, status="recording", secured=True)
                    cpu0, wall0 = _process_cpu(recorder.process.pid), time.perf_counter()
                    await asyncio.sleep(seconds)
                    cpu, wall = (
                        _process_cpu(recorder.process.pid) - cpu0,
                        time.perf_counter() - wall0,
                    )
                    for call in calls:
                        await api.ok(
                            "POST",
                            f"/api/v1/visits/{call.visit_id}/recording/stop",
                            who="alice",
                            expect=202,
                        )
                    for call in calls:
                        await wait_recording(api, call.visit_id, status="sealed", timeout=120)
                finally:
                    for call in calls:
                        await call.close()
        finally:
            stop_recorder(recorder)
            await stop_stack(stack)
    finally:
        destroy_testnet(net)
    return cpu / (statements * wall), wall


def _process_cpu(pid: int) -> float:
    """User + system CPU seconds of a process (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="media seconds per statement")
    parser.add_argument("--concurrency", default="1,2,4", help="statements at once, e.g. 1,2,4")
    parser.add_argument("--seal-mb", type=int, default=128, help="Master size to seal (MB)")
    parser.add_argument(
        "--live", default="", help="also record real calls on the real SFU, e.g. 1,2 (root)"
    )
    parser.add_argument(
        "--input",
        default=None,
        help="participants' video size, e.g. 1280x720 (default: 640x480 writer-only, "
        "the synthetic participants' 320x240 live)",
    )
    args = parser.parse_args(argv)
    levels = [int(c) for c in args.concurrency.split(",")]
    size: tuple[int, int] | None = None
    if args.input:
        w, _, h = args.input.partition("x")
        size = (int(w), int(h))
    print(f"recorder benchmark: {os.cpu_count()} CPUs, {args.seconds:.0f} s statements")
    print(f"input video: {args.input or 'default'}")
    print("concurrent  CPU s per statement-s (RTF)  wall s per media-s  MB written")
    with tempfile.TemporaryDirectory(prefix="evr-bench-") as tmp:
        root = Path(tmp)
        first: SegmentInfo | None = None
        runs = []
        for level in levels:
            run, segments = run_writers(level, args.seconds, root, size or (WIDTH, HEIGHT))
            runs.append(run)
            first = first or segments[0]
            print(
                f"{level:>10}  {run.rtf:>27.3f}  {run.wall_seconds / args.seconds:>18.3f}"
                f"  {run.bytes / 1e6:>10.1f}"
            )
        base = runs[0].rtf
        print(
            "RTF relative to one statement: "
            + ", ".join(f"x{r.concurrency}: {r.rtf / base:.2f}" for r in runs)
        )
        assert first is not None
        sealing = run_sealing(first, args.seal_mb, root)
        print(
            f"sealing {sealing['mb']:.0f} MB: plain copy+fsync {sealing['copy_mb_s']:.0f} MB/s, "
            f"seal {sealing['seal_mb_s']:.0f} MB/s "
            f"({sealing['seal_mb_s'] / sealing['copy_mb_s']:.2f}x copy), "
            f"verify {sealing['verify_mb_s']:.0f} MB/s "
            f"({sealing['verify_mb_s'] / sealing['copy_mb_s']:.2f}x copy)"
        )
        live = [int(n) for n in args.live.split(",") if n]
        if live:
            print("live: calls  recorder CPU s per statement-s (RTF, incl. WebRTC decode)")
        for n in live:
            rtf, _ = asyncio.run(_live(n, args.seconds, root / f"live-{n}", size))
            print(f"{n:>11}  {rtf:>56.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
