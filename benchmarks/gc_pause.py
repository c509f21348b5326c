"""A full garbage collection in the control plane's process, with what start-up built left to
the collector and then frozen out of its way (`evr serve`'s `settle_heap`), side by side in
one run (issue 14).

    .venv/bin/python -m benchmarks.gc_pause --rounds 5

The control plane is built and started in this process as `evr serve` builds it (`create_app`,
every cleanup context, the listening socket on loopback), on a fresh SQLite file, with the SFU
pointed at a closed loopback port (nothing here needs it). Then `gc.collect()` is timed
`--rounds` times with the heap as start-up left it, and as many times after `settle_heap()`.
A full collection stops the event loop, so its time is a stall for every request in flight.
Prints one JSON line.
"""

import argparse
import asyncio
import gc
import json
import socket
import statistics
import tempfile
import time
from pathlib import Path

from aiohttp import web

from control_plane.app import create_app
from core.settings import load_settings
from evr.cli import settle_heap


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _full_collections(rounds: int) -> list[float]:
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        gc.collect()
        times.append((time.perf_counter() - t0) * 1000)
    return times


async def measure(workdir: Path, rounds: int) -> dict[str, object]:
    keys = workdir / "livekit-keys.yaml"
    keys.write_text("bench: " + "s" * 40 + "\n", encoding="utf-8")
    keys.chmod(0o600)
    config = workdir / "evr.toml"
    config.write_text(
        f'host = "127.0.0.1"\nport = {_free_port()}\nmetrics_host = "127.0.0.1"\n'
        f"metrics_port = {_free_port()}\n"
        f'database_url = "sqlite+aiosqlite:///{workdir / "evr.sqlite3"}"\n'
        f'[livekit]\nkey_file = "{keys}"\napi_url = "http://127.0.0.1:1"\n'
        f'client_url = "ws://127.0.0.1:1"\n'
        f'[join]\npublic_base_url = "http://127.0.0.1:1"\n',
        encoding="utf-8",
    )
    settings = load_settings(config)
    runner = web.AppRunner(create_app(settings, reconcile=False))
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port)
    await site.start()
    try:
        gc.collect()  # start-up's own garbage, not the heap's standing cost
        unfrozen = _full_collections(rounds)
        settle_heap()
        frozen = _full_collections(rounds)
        return {
            "objects_frozen": gc.get_freeze_count(),
            "full_collection_ms_unfrozen": [round(t, 3) for t in unfrozen],
            "full_collection_ms_frozen": [round(t, 3) for t in frozen],
            "median_ms_unfrozen": round(statistics.median(unfrozen), 3),
            "median_ms_frozen": round(statistics.median(frozen), 3),
            "ratio_frozen_to_unfrozen": round(
                statistics.median(frozen) / statistics.median(unfrozen), 4
            ),
        }
    finally:
        gc.unfreeze()
        await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="evr-gcpause-") as tmp:
        print(json.dumps(asyncio.run(measure(Path(tmp), args.rounds))))


if __name__ == "__main__":
    main()
