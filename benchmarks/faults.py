"""Recovery time of each fault in the fault suite (issue 11, item 6).

Runs tests/faults/test_faults.py (the real cluster, replicas behind HAProxy, PostgreSQL,
Redis, MinIO and recorders; also part of `make test`) `--rounds` times and collects the
"fault-recovery <name> <seconds>" line each test prints: from the kill (or, for a restarted
component, from its being back) to the API answering, media flowing both ways and the
statement held with a segment closed after the fault (for MinIO: to the statement sealed;
for the spool disk: from its being freed to the next statement held; for the SFU node: from
the kill, both participants rejoining with fresh tokens). The tests assert behaviour; the
times are reported here.

    sudo .venv/bin/python -m benchmarks.faults --rounds 1

Needs root (network namespaces, tmpfs). Prints each figure and a JSON summary (median, min,
max per fault).
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LINE = re.compile(r"^fault-recovery (\S+) ([0-9.]+)$", re.MULTILINE)


def run_once(basetemp: Path) -> tuple[dict[str, float], int]:
    """One run of the suite: ({fault: seconds}, pytest's exit code)."""
    out = subprocess.run(
        [
            sys.executable, "-m", "pytest", "tests/faults/test_faults.py", "-q", "-s",
            f"--basetemp={basetemp}", "-p", "no:cacheprovider",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )  # fmt: skip
    times = {m.group(1): float(m.group(2)) for m in LINE.finditer(out.stdout)}
    if out.returncode:
        print(out.stdout[-4000:], file=sys.stderr)
    return times, out.returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    seen: dict[str, list[float]] = {}
    failed = 0
    for i in range(args.rounds):
        with tempfile.TemporaryDirectory(prefix="evr-faults-") as tmp:
            times, code = run_once(Path(tmp))
        failed += code != 0
        for name, took in times.items():
            seen.setdefault(name, []).append(took)
            print(f"round {i + 1}: {name} recovered in {took:.1f} s")
    summary = {
        name: {"median_s": statistics.median(v), "min_s": min(v), "max_s": max(v), "n": len(v)}
        for name, v in seen.items()
    }
    print(json.dumps({"rounds": args.rounds, "failed_runs": failed, "faults": summary}))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
