"""Where the recorder's writer spends its CPU at 720p input (issue 14): scaling and encoding.

    .venv/bin/python -m benchmarks.recorder_parts --presets veryfast,superfast

In one run: the CPU time of scaling one camera-like frame into its tile of the composite
(`evidence.writer._to_i420`, libswscale) for 1280x720 and 640x480 input, then the writer's
CPU seconds per second of a two-person statement (evidence.bench's noisy input: officer
25 fps, victim 15 fps, 48 kHz audio) and the bitrate it wrote, for each x264 preset and
input size. The WebRTC receive and VP8 decode before the writer are not included
(`python -m evidence.bench --live 1 --input 1280x720` measures the whole process).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from evidence import bench
from evidence.writer import StatementWriter, WriterConfig, _to_i420

SIZES = ((640, 480), (1280, 720))


def scale_ms(size: tuple[int, int], tile: tuple[int, int], n: int = 200) -> float:
    """CPU milliseconds to scale one I420 frame of `size` to `tile`."""
    frames = bench._noisy_i420(90, 1, size)
    t0 = time.process_time()
    for i in range(n):
        _to_i420(frames[i % len(frames)], *tile)
    return (time.process_time() - t0) / n * 1000


def writer(preset: str, size: tuple[int, int], seconds: float) -> tuple[float, float]:
    """(CPU seconds per statement-second, kbit/s written) for one statement."""
    with tempfile.TemporaryDirectory(prefix="evr-recparts-") as tmp:
        config = WriterConfig(segment_seconds=seconds, x264_preset=preset)
        w = StatementWriter(
            Path(tmp),
            participants=["officer", "victim"],
            started_at=bench.STARTED_AT,
            config=config,
        )
        t0 = time.process_time()
        bench._feed(w, seconds, size)
        segments = w.close()
        cpu = time.process_time() - t0
    return cpu / seconds, sum(s.bytes for s in segments) * 8 / seconds / 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", default="veryfast,superfast")
    parser.add_argument("--seconds", type=float, default=6.0)
    args = parser.parse_args()
    # A tile of the 1280x360 composite is 640x360; 4:3 input fills 480x360 of it.
    print(f"scale 1280x720 -> 640x360: {scale_ms((1280, 720), (640, 360)):.2f} ms CPU/frame")
    print(f"scale 640x480 -> 480x360: {scale_ms((640, 480), (480, 360)):.2f} ms CPU/frame")
    for preset in args.presets.split(","):
        for size in SIZES:
            rtf, kbps = writer(preset, size, args.seconds)
            print(f"{preset:<10} {size[0]}x{size[1]}: {rtf:.3f} CPU s/s, {kbps:.0f} kbit/s")


if __name__ == "__main__":
    main()
