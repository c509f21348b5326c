"""CI smoke run: a few EVR visits played by the Locust user classes, headless, for well
under a minute, against the real stack (SFU in the test namespace, control plane on its
veth). Every request goes to the stack's addresses; Locust's web UI is not started.

It checks that the machinery works end to end, not how fast: speed is benchmarked in
BENCHMARKS.md (loadtests/capacity.py, loadtests/bench_arrangement.py).
"""

import asyncio
import csv
import json
import sys
from pathlib import Path
from typing import Any

from loadtests.names import CHECK, CHECK_ATTEMPTS, FIRST_FRAME, JOIN, LOSS_BP, MEDIA, VIDEO_KBPS
from tests.support.stack import Api

REPO_ROOT = Path(__file__).resolve().parents[2]
USERS = 2
RUN_LIMIT = 50  # seconds: a safety stop; the run ends after one visit per user


async def _locust(api: Api, out: Path) -> tuple[int, str]:
    tokens = ",".join(api.stack.tokens[name] for name in ("alice", "bob"))
    argv = [
        sys.executable, "-m", "locust",
        "-f", "loadtests/locustfile.py",
        "--headless", "--only-summary",
        "-u", str(USERS), "-r", str(USERS),
        "--run-time", f"{RUN_LIMIT}s", "--stop-timeout", "20",
        "--host", api.stack.base_url,
        "--officer-tokens", tokens,
        "--visits-per-user", "1",
        "--hold", "4", "--stats-window", "2",
        # Small video keeps the run light on a shared 2-core machine; 540p is the default.
        "--video-width", "320", "--video-height", "240", "--video-fps", "15",
        "--video-kbps", "300",
        "--csv", str(out / "smoke"), "--html", str(out / "smoke.html"),
        "--media-samples", str(out / "samples.jsonl"),
    ]  # fmt: skip
    proc = await asyncio.create_subprocess_exec(
        *argv,
        cwd=REPO_ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(proc.communicate(), RUN_LIMIT + 40)
    assert proc.returncode is not None
    return proc.returncode, output.decode(errors="replace")


def _stats(path: Path) -> dict[tuple[str, str], dict[str, Any]]:
    with path.open(newline="") as f:
        return {(row["Type"], row["Name"]): row for row in csv.DictReader(f)}


async def test_a_few_visits_run_end_to_end_under_locust(api: Api, tmp_path: Path) -> None:
    # Locust monkey-patches whoever imports it: it must run in its own process, not here.
    assert "gevent" not in sys.modules
    code, output = await _locust(api, tmp_path)
    stats = _stats(tmp_path / "smoke_stats.csv")
    assert stats, output[-3000:]

    # Every control-plane call of the journey succeeded, under its route template.
    http = {name: row for (kind, name), row in stats.items() if kind in ("GET", "POST", "PUT")}
    for name in (
        "/api/v1/visits",
        "/api/v1/visits/{visit_id}/start",
        "/api/v1/join/{code}",
        "/api/v1/participant/token",
        "/api/v1/visits/{visit_id}/end",
    ):
        assert int(http.get(name, {}).get("Request Count", 0)) == USERS, (name, output[-3000:])
    assert all(row["Failure Count"] == "0" for row in http.values()), output[-3000:]
    assert len(http) <= 12, "request names must stay low-cardinality"

    # Both sides of every visit joined and saw the other's video.
    for name, count in ((JOIN, 2 * USERS), (FIRST_FRAME, 2 * USERS)):
        row = stats[(MEDIA, name)]
        assert (int(row["Request Count"]), row["Failure Count"]) == (count, "0"), output[-3000:]
    # The check ran per victim and passed: first time, or on the one "Try again" a victim
    # gets (each victim asked for a token above, which only a passing check opens); a
    # failed attempt is counted as a failure, not hidden.
    row = stats[(MEDIA, CHECK)]
    failed = int(row["Failure Count"])
    assert failed <= USERS * (CHECK_ATTEMPTS - 1), output[-3000:]
    assert int(row["Request Count"]) == USERS + failed, output[-3000:]

    # Media flowed while the call was held: every window saw packets and video bytes.
    samples = [json.loads(line) for line in (tmp_path / "samples.jsonl").read_text().splitlines()]
    loss = [s for s in samples if s["name"] == LOSS_BP]
    assert len(loss) >= 2 * USERS, loss
    assert all(s["ok"] for s in loss), loss
    assert all(s["value"] > 0 for s in samples if s["name"] == VIDEO_KBPS)
    assert (tmp_path / "smoke.html").stat().st_size > 0

    # The run ended by itself once each user had played its visit, and every visit ended.
    assert "--run-time limit reached" not in output
    visits = await api.ok("GET", "/api/v1/visits", who="sarge")  # alice's and bob's unit
    ours = [v for v in visits["visits"] if v["crime_reference"].startswith("LOAD/")]
    assert len(ours) >= USERS, ours
    assert all(v["status"] == "ended" for v in ours), ours
    assert code in (0, 1), output[-3000:]  # 1: a metric below target (e.g. fps) on a busy box
