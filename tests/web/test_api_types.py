"""The web client's API types are generated from the served OpenAPI document, not written by
hand: the committed ``web/src/api/schema.d.ts`` must equal a fresh generation byte for byte,
so a route or schema changed without regenerating fails here."""

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
GENERATOR = REPO / "scripts" / "gen_api_types.py"
COMMITTED = REPO / "web" / "src" / "api" / "schema.d.ts"


def test_committed_types_equal_a_fresh_generation(tmp_path: Path) -> None:
    fresh = tmp_path / "schema.d.ts"
    result = subprocess.run(
        [sys.executable, str(GENERATOR), "--output", str(fresh)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert fresh.read_bytes() == COMMITTED.read_bytes(), (
        "web/src/api/schema.d.ts is stale: run .venv/bin/python scripts/gen_api_types.py"
    )


def test_generator_is_pinned() -> None:
    # The output depends on the generator's version: a range would let `npm ci` on another
    # day produce different types from the same document.
    package = json.loads((REPO / "web" / "package.json").read_text(encoding="utf-8"))
    version = package["devDependencies"]["openapi-typescript"]
    assert version[0].isdigit(), f"openapi-typescript must be pinned exactly, not {version!r}"
