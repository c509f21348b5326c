"""Where the recorder spends its CPU at 720p input (issue 14), and the whole recorder on
the real SFU before and after the 720p work, side by side.

    .venv/bin/python -m benchmarks.recorder_parts --encoders superfast/0,ultrafast/1 --seconds 8
    sudo .venv/bin/python -m benchmarks.recorder_parts --live 3 --seconds 20

Writer only (no root): the CPU time of scaling one 720p frame into its 640x360 tile of the
composite (`evidence.writer._to_i420`, libswscale), then, in interleaved rounds, for each
x264 encoder (``PRESET/THREADS``) and input, one two-person statement written by
`StatementWriter` (officer and victim showing the Go media agent's files decoded:
camera-like testsrc2 with noise, the 720p top layer at 25 fps or the 360p layer at 20 fps;
48 kHz audio each): CPU seconds per statement-second, the bitrate written, and the luma
PSNR of the written picture against the composite the encoder was given (how much the
encoding itself took away). The WebRTC receive and VP8 decode before the writer are not
included there.

``--live N`` (root: it makes a network namespace) measures the whole ``evr recorder``
process instead: one visit on the real livekit-server whose officer and victim are the Go
media agent publishing its pre-encoded 720p VP8 (~1.7 Mbit/s, 25 fps) and Opus, with
LiveKit's preset simulcast layers under it (180p and 360p, as the join page and the officer
console publish). Each round records one statement with each recorder variant in turn (the
order reversed every other round), each variant a fresh ``evr recorder`` process run from
its own copy of the committed code (HEAD):

- ``before``: the media path as it was (commit BASE below): the SFU's top layer decoded,
  scaled into the tile, the composite rebuilt for every output frame, x264 veryfast;
- ``layer``: today's code with x264 veryfast (x264's own threads): the 360p layer that fills
  the tile (recorder.media.request_tile_layer), placed as it is;
- ``superfast``: today's code with x264 superfast (x264's own threads), as it was from the
  tile-layer change until the encoder change;
- ``after``: today's code (x264 ultrafast, one thread).

For each statement: the recorder process's CPU seconds (from /proc, WebRTC receive and
decode included) per second of statement, over --seconds from a few seconds after the
statement is secured (the SFU switches layers at a keyframe); the SFU's outgoing rate over
the same window (the agents' share is the same in every variant: the difference is what
the recorder was sent); and the 1-minute load average at its end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import math
import os
import re
import subprocess
import tarfile
import tempfile
import time
import types
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import av
import numpy as np
import numpy.typing as npt

from evidence import bench
from evidence.writer import StatementWriter, WriterConfig, _to_i420

if TYPE_CHECKING:
    from loadtests.asyncagent import AsyncAgent
    from tests.support.stack import Api

# The writer's input as the recorder gets it: the Go agent's files decoded (camera-like
# testsrc2 with noise, VP8): the 720p top layer (25 fps) or the 360p layer (20 fps, LiveKit's
# preset rate for it).
INPUTS = {"720p": ("vp8-720p.ivf", 25), "360p": ("vp8-360p.ivf", 20)}


def camera_frames(name: str, count: int = 50) -> list[npt.NDArray[np.uint8]]:
    """The first ``count`` frames of one of the Go agent's files, as packed I420."""
    from loadtests.agentkinds import MEDIA_DIR  # noqa: PLC0415

    frames = []
    with av.open(str(MEDIA_DIR / name)) as container:
        for frame in container.decode(video=0):
            frames.append(np.asarray(frame.to_ndarray(format="yuv420p"), np.uint8).copy())
            if len(frames) == count:
                break
    return frames


def scale_ms(frames: list[npt.NDArray[np.uint8]], tile: tuple[int, int], n: int = 200) -> float:
    """CPU milliseconds to scale one I420 frame to `tile`."""
    t0 = time.process_time()
    for i in range(n):
        _to_i420(frames[i % len(frames)], *tile)
    return (time.process_time() - t0) / n * 1000


@dataclass
class WriterRun:
    cpu_per_s: float
    kbps: float
    psnr_db: float


def parse_encoder(spec: str) -> tuple[str, int]:
    """``PRESET/THREADS`` (threads 0: x264 chooses) as (preset, threads)."""
    preset, _, threads = spec.partition("/")
    return preset, int(threads or 0)


def writer(
    encoder: str, frames: list[npt.NDArray[np.uint8]], fps: int, seconds: float
) -> WriterRun:
    """One two-person statement (both showing ``frames`` at ``fps``, 48 kHz audio each):
    CPU s per statement-s, kbit/s written, and the luma PSNR of what was written against
    the composite the encoder was given."""
    given: list[npt.NDArray[np.uint8]] = []
    compose = StatementWriter._compose

    def keep(self: StatementWriter, at: float) -> npt.NDArray[np.uint8]:
        composite = compose(self, at)
        given.append(composite[: self.config.height].copy())
        return composite

    tone = (6000 * np.sin(2 * np.pi * 440 * np.arange(960) / 48_000)).astype(np.int16)
    events = sorted(
        [(i / fps, 0) for i in range(round(seconds * fps))]
        + [(i / fps + 0.01, 1) for i in range(round(seconds * fps))]
        + [(i * 0.02, 2) for i in range(round(seconds * 50))]
    )
    with tempfile.TemporaryDirectory(prefix="evr-recparts-") as tmp:
        preset, threads = parse_encoder(encoder)
        config = WriterConfig(segment_seconds=seconds, x264_preset=preset, x264_threads=threads)
        w = StatementWriter(
            Path(tmp),
            participants=["officer", "victim"],
            started_at=bench.STARTED_AT,
            config=config,
        )
        w._compose = types.MethodType(keep, w)  # type: ignore[method-assign]
        t0 = time.process_time()
        for n, (ts, kind) in enumerate(events):
            if kind == 2:
                w.push_audio("officer", tone, 48_000, ts)
                w.push_audio("victim", tone, 48_000, ts)
            else:
                w.push_video(("officer", "victim")[kind], frames[n % len(frames)], ts)
        segments = w.close()
        cpu = time.process_time() - t0
        written = []
        with av.open(str(segments[0].path)) as container:
            for frame in container.decode(video=0):
                written.append(frame.to_ndarray(format="yuv420p")[: config.height])
    n = min(len(given), len(written))
    mse = float(np.mean([np.mean((written[i] - given[i].astype(float)) ** 2) for i in range(n)]))
    return WriterRun(
        cpu / seconds,
        sum(s.bytes for s in segments) * 8 / seconds / 1000,
        10 * math.log10(255**2 / mse),
    )


REPO = Path(__file__).resolve().parents[1]
BASE = "9415f9db98dace52742a524e8f0a993463708f37"  # the last commit before the 720p work
VARIANTS = ("before", "layer", "superfast", "after")
# The encoder settings each variant's writer is given (evidence.writer.WriterConfig's lines);
# "after" and "before" keep their own.
ENCODER_OF = {"layer": ("veryfast", 0), "superfast": ("superfast", 0)}
_PRESET_LINE = '    x264_preset: str = "ultrafast"\n'
_THREADS_LINE = "    x264_threads: int = 1\n"
WARMUP = 4.0  # s after "secured": the SFU switches layers at a keyframe (every 2 s in the files)
# recorder/room.py's one line that asks for the tile's layer, and the import it needs.
_CALL = (
    "        request_tile_layer(pub)  # the layer the composite shows, not the top one (issue 14)\n"
)
_IMPORT = "from recorder.media import read_audio, read_video"
_SUBSCRIBED = "    def _on_track_subscribed(\n"


def _layer_request(room_py: str, *, on: bool) -> str:
    """recorder/room.py's source with the tile-layer request in or out."""
    head, found, rest = room_py.partition(_SUBSCRIBED)
    if not found:
        raise SystemExit("recorder/room.py has no _on_track_subscribed: update this benchmark")
    split = rest.index(") -> None:\n") + len(") -> None:\n")
    signature, body = rest[:split], rest[split:]
    body = body.removeprefix(_CALL)
    head = head.replace(f"{_IMPORT}, request_tile_layer\n", f"{_IMPORT}\n")
    if on:
        body = _CALL + body
        signature = signature.replace(
            "_pub: rtc.RemoteTrackPublication", "pub: rtc.RemoteTrackPublication"
        )
        head = head.replace(f"{_IMPORT}\n", f"{_IMPORT}, request_tile_layer\n")
    source = head + found + signature + body
    compile(source, "recorder/room.py", "exec")
    return source


def _git(*args: str) -> bytes:
    return subprocess.run(["git", "-C", str(REPO), *args], check=True, capture_output=True).stdout


def make_tree(variant: str, root: Path) -> Path:
    """A copy of the committed code (HEAD) with the media path of ``variant``."""
    tree = root / variant
    tree.mkdir(parents=True)
    with tarfile.open(fileobj=io.BytesIO(_git("archive", "--format=tar", "HEAD"))) as tar:
        tar.extractall(tree, filter="data")
    if variant == "before":
        for path in ("evidence/writer.py", "recorder/media.py"):
            (tree / path).write_bytes(_git("show", f"{BASE}:{path}"))
    room = tree / "recorder/room.py"
    room.write_text(_layer_request(room.read_text(), on=variant != "before"))
    if variant in ENCODER_OF:
        preset, threads = ENCODER_OF[variant]
        writer = tree / "evidence/writer.py"
        source = writer.read_text()
        if _PRESET_LINE not in source or _THREADS_LINE not in source:
            raise SystemExit("evidence/writer.py's encoder settings moved: update this benchmark")
        writer.write_text(
            source.replace(_PRESET_LINE, f'    x264_preset: str = "{preset}"\n').replace(
                _THREADS_LINE, f"    x264_threads: int = {threads}\n"
            )
        )
    return tree


def preset_layers_media(root: Path) -> Path:
    """The Go agent's files laid out so that at 720p it publishes LiveKit's preset layers
    (180p, 360p, 720p), as browsers do; from its own library it would take 360p and 540p."""
    from loadtests.agentkinds import MEDIA_DIR  # noqa: PLC0415

    media = root / "media"
    media.mkdir()
    for name, source in (
        ("vp8-180p.ivf", "vp8-180p.ivf"),
        ("vp8-360p.ivf", "vp8-180p.ivf"),  # the lowest of the three layers it publishes
        ("vp8-540p.ivf", "vp8-360p.ivf"),  # the middle one
        ("vp8-720p.ivf", "vp8-720p.ivf"),
        ("opus.ogg", "opus.ogg"),
    ):
        (media / name).symlink_to(MEDIA_DIR / source)
    return media


def _check_runs_from(pid: int, tree: Path) -> None:
    """A variant's recorder measured from another tree would compare a tree with itself,
    silently (as from 4241e9f to 4f682e8)."""
    ran_from = Path(f"/proc/{pid}/cwd").resolve()
    if ran_from != tree.resolve():
        raise SystemExit(f"the recorder meant to run from {tree} runs from {ran_from}")


@dataclass
class LiveRound:
    variant: str
    cpu_per_s: float
    sfu_out_kbps: float
    load1: float
    threads: dict[str, float]


def _outgoing_bytes(metrics: str) -> float:
    """The SFU's outgoing packet bytes so far (every track, every participant)."""
    total = 0.0
    for line in metrics.splitlines():
        if line.startswith("livekit_packet_bytes{") and 'direction="outgoing"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


async def _agent(media: Path) -> AsyncAgent:
    from loadtests.agentkinds import GO_AGENT  # noqa: PLC0415
    from loadtests.asyncagent import AsyncAgent  # noqa: PLC0415

    proc = await asyncio.create_subprocess_exec(
        str(GO_AGENT),
        "-media",
        str(media),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        limit=1 << 20,
    )
    agent = AsyncAgent(proc)
    await agent.call("ping", timeout=60)
    return agent


async def _join_visit(api: Api, agent: AsyncAgent) -> str:
    """A live visit with a consenting victim, both publishing 720p: its id."""
    from core.domain import TokenRole, room_name_for  # noqa: PLC0415
    from core.tokens import identity_for, mint  # noqa: PLC0415

    vid, session = await api.consented_live_visit("alice")
    officer = await api.ok("POST", f"/api/v1/visits/{vid}/token", who="alice")
    victim = mint(
        api.stack.settings.livekit,
        role=TokenRole.VICTIM,
        room=room_name_for(vid),
        identity=identity_for(TokenRole.VICTIM, vid),
        display_name="Victim",
        ttl=timedelta(minutes=5),
    )
    del session
    for key, url, token in (
        ("officer", officer["url"], officer["token"]),
        ("victim", victim.url, victim.token),
    ):
        await agent.call(
            "join",
            {"participant": key, "url": url, "token": token, "height": 720, "simulcast": True},
            timeout=60,
        )
    return vid


def _threads_cpu(pid: int) -> dict[str, float]:
    """CPU seconds so far of each thread of ``pid``, summed by thread name (digits dropped:
    "writer-1a2b3c4d" and a pool's numbered threads count as one)."""
    tick = os.sysconf("SC_CLK_TCK")
    out: dict[str, float] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            head, _, tail = (task / "stat").read_text().rpartition(")")
            name = re.sub(r"[-_ ]?[0-9a-f]*[0-9][0-9a-f]*$", "", head.split("(", 1)[1]) or "?"
            fields = tail.split()
            out[name] = out.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / tick
    return out


async def _statement(
    api: Api, vid: str, pid: int, seconds: float, metrics_url: str
) -> tuple[float, float, dict[str, float]]:
    """Record one statement; (recorder CPU s per statement-s, SFU outgoing kbit/s, CPU s
    per statement-s by thread name)."""
    import aiohttp  # noqa: PLC0415

    from tests.recorder.statement import wait_recording  # noqa: PLC0415

    await api.ok("POST", f"/api/v1/visits/{vid}/recording/start", who="alice", expect=202)
    await wait_recording(api, vid, status="recording", secured=True, timeout=60)
    await asyncio.sleep(WARMUP)
    async with aiohttp.ClientSession() as http:
        async with http.get(metrics_url) as resp:
            out0 = _outgoing_bytes(await resp.text())
        cpu0, threads0, wall0 = bench._process_cpu(pid), _threads_cpu(pid), time.perf_counter()
        await asyncio.sleep(seconds)
        cpu, wall = bench._process_cpu(pid) - cpu0, time.perf_counter() - wall0
        threads = {k: (v - threads0.get(k, 0.0)) / wall for k, v in _threads_cpu(pid).items()}
        async with http.get(metrics_url) as resp:
            out = _outgoing_bytes(await resp.text()) - out0
    await api.ok("POST", f"/api/v1/visits/{vid}/recording/stop", who="alice", expect=202)
    await wait_recording(api, vid, status="sealed", timeout=120)
    return cpu / wall, out * 8 / wall / 1000, threads


async def live(rounds: int, seconds: float, variants: list[str], root: Path) -> list[LiveRound]:
    """Interleaved rounds: each records one statement with each variant's recorder."""
    import aiohttp  # noqa: PLC0415

    from tests.support.netns import create_testnet, destroy_testnet  # noqa: PLC0415
    from tests.support.recorder import start_recorder, stop_recorder  # noqa: PLC0415
    from tests.support.stack import Api, start_stack, stop_stack  # noqa: PLC0415

    trees = {v: make_tree(v, root / "trees") for v in variants}
    media = preset_layers_media(root)
    results: list[LiveRound] = []
    net = create_testnet("rec720")
    try:
        stack = await start_stack(
            net=net,
            database_url=f"sqlite+aiosqlite:///{root / 'bench.sqlite3'}",
            workdir=root / "stack",
            http_port=18980,
        )
        agent = await _agent(media)
        try:
            async with aiohttp.ClientSession() as session:
                api = Api(session, stack)
                vid = await _join_visit(api, agent)
                for r in range(rounds):
                    for variant in variants if r % 2 == 0 else variants[::-1]:
                        rec = start_recorder(
                            stack,
                            root / "recorders",
                            name=f"rec-{variant}-{r}",
                            source=trees[variant],
                        )
                        try:
                            _check_runs_from(rec.process.pid, trees[variant])
                            cpu, kbps, threads = await _statement(
                                api, vid, rec.process.pid, seconds, stack.sfu.metrics_url
                            )
                        finally:
                            stop_recorder(rec)
                        done = LiveRound(variant, cpu, kbps, os.getloadavg()[0], threads)
                        results.append(done)
                        busiest = sorted(threads.items(), key=lambda kv: -kv[1])[:6]
                        print(
                            f"round {r + 1} {variant:<7} {cpu:.3f} CPU s/s  "
                            f"SFU out {kbps:,.0f} kbit/s  load {done.load1:.1f}  threads: "
                            + ", ".join(f"{name} {v:.3f}" for name, v in busiest),
                            flush=True,
                        )
        finally:
            await agent.close()
            await stop_stack(stack)
    finally:
        destroy_testnet(net)
    return results


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def report_live(results: list[LiveRound], variants: list[str]) -> None:
    print("variant  statements  CPU s/s median (min-max)  SFU out kbit/s median  vs before")
    base = _median([r.cpu_per_s for r in results if r.variant == variants[0]])
    for variant in variants:
        mine = [r for r in results if r.variant == variant]
        cpu = [r.cpu_per_s for r in mine]
        print(
            f"{variant:<8} {len(mine):>10}  {_median(cpu):.3f} ({min(cpu):.3f}-{max(cpu):.3f})"
            f"  {_median([r.sfu_out_kbps for r in mine]):>21,.0f}"
            f"  {_median(cpu) / base:>9.2f}"
        )
    loads = [r.load1 for r in results]
    print(f"1-min load average at the statements' ends: {min(loads):.1f}-{max(loads):.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--encoders",
        default="superfast/0,ultrafast/1",
        help="writer-only: x264 PRESET/THREADS to compare (threads 0: x264 chooses)",
    )
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--rounds", type=int, default=3, help="writer-only rounds, interleaved")
    parser.add_argument(
        "--live", type=int, default=0, help="rounds of live statements per variant (root)"
    )
    parser.add_argument("--variants", default=",".join(VARIANTS))
    args = parser.parse_args()
    if args.live:
        variants = args.variants.split(",")
        with tempfile.TemporaryDirectory(prefix="evr-rec720-") as tmp:
            report_live(asyncio.run(live(args.live, args.seconds, variants, Path(tmp))), variants)
        return
    frames = {label: camera_frames(name) for label, (name, _fps) in INPUTS.items()}
    # A tile of the 1280x360 composite is 640x360: 720p is scaled into it, 360p is not.
    print(f"scale 1280x720 -> 640x360: {scale_ms(frames['720p'], (640, 360)):.2f} ms CPU/frame")
    print(f"load average before: {os.getloadavg()[0]:.1f}")
    runs: dict[tuple[str, str], list[WriterRun]] = {}
    cases = [(e, label) for e in args.encoders.split(",") for label in INPUTS]
    for r in range(args.rounds):
        for encoder, label in cases if r % 2 == 0 else cases[::-1]:
            run = writer(encoder, frames[label], INPUTS[label][1], args.seconds)
            runs.setdefault((encoder, label), []).append(run)
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    print("encoder      input  CPU s/s median (min-max)  kbit/s  Y PSNR dB")
    for (encoder, label), mine in runs.items():
        cpu = [m.cpu_per_s for m in mine]
        print(
            f"{encoder:<12} {label:<5}  {_median(cpu):.3f} ({min(cpu):.3f}-{max(cpu):.3f})"
            f"  {mine[0].kbps:>14,.0f}  {mine[0].psnr_db:.2f}"
        )


if __name__ == "__main__":
    main()
