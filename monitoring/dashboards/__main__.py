"""Write every dashboard to ``monitoring/dashboards/json/<uid>.json`` (``--check``: compare)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from monitoring.dashboards import JSON_DIR, render_all


def main(argv: Sequence[str] | None = None) -> int:
    """Write (or with ``--check``, compare) the dashboard JSON; return the exit status."""
    parser = argparse.ArgumentParser(prog="python -m monitoring.dashboards")
    parser.add_argument("--output-dir", type=Path, default=JSON_DIR)
    parser.add_argument("--check", action="store_true", help="fail if the JSON is stale")
    args = parser.parse_args(argv)
    stale = []
    for uid, text in render_all().items():
        path: Path = args.output_dir / f"{uid}.json"
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(str(path))
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    if stale:
        print("stale, regenerate with python -m monitoring.dashboards:", *stale, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
