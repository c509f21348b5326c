"""Write every dashboard to ``monitoring/dashboards/json/<uid>.json`` (``--check``: compare)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from monitoring.dashboards import JSON_DIR, render_all
from monitoring.generated import write_or_check


def main(argv: Sequence[str] | None = None) -> int:
    """Write (or with ``--check``, compare) the dashboard JSON; return the exit status."""
    parser = argparse.ArgumentParser(prog="python -m monitoring.dashboards")
    parser.add_argument("--output-dir", type=Path, default=JSON_DIR)
    parser.add_argument("--check", action="store_true", help="fail if the JSON is stale")
    args = parser.parse_args(argv)
    output_dir: Path = args.output_dir
    files = {output_dir / f"{uid}.json": text for uid, text in render_all().items()}
    return write_or_check(files, check=args.check, regenerate="python -m monitoring.dashboards")


if __name__ == "__main__":
    sys.exit(main())
