"""Generate the web client's API types, ``web/src/api/schema.d.ts``, from the OpenAPI document.

The document is the one the control plane serves at ``/api/v1/openapi.json``, built from the
route table; ``openapi-typescript`` (pinned in ``web/package.json``, installed by ``npm ci``)
turns it into TypeScript. The output is committed, and ``tests/web/test_api_types.py`` fails
when it differs from a fresh generation.

Run ``.venv/bin/python scripts/gen_api_types.py`` after changing a route or a schema;
``--check`` only compares, and ``--output PATH`` writes elsewhere.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from control_plane.openapi import build_document
from control_plane.routes import ROUTES

REPO = Path(__file__).resolve().parent.parent
WEB = REPO / "web"
OUTPUT = WEB / "src" / "api" / "schema.d.ts"
GENERATOR = WEB / "node_modules" / ".bin" / "openapi-typescript"
OPTIONS = (
    # A field with a default may be left out of a request body: optional, not required.
    "--default-non-nullable=false",
    # `{"type": "object"}` with no properties is any object (event details, manifests), not
    # the empty object openapi-typescript assumes by default.
    "--empty-objects-unknown",
)


def openapi_json() -> str:
    """The served OpenAPI document, as JSON text."""
    return json.dumps(build_document(ROUTES), indent=2, ensure_ascii=False) + "\n"


def generate() -> bytes:
    """Run openapi-typescript on the current document and return the TypeScript it writes."""
    if not GENERATOR.is_file():
        raise RuntimeError(f"{GENERATOR} is missing: run `npm ci` in web/ (scripts/setup.sh does)")
    with tempfile.TemporaryDirectory(prefix="evr-api-types-") as tmp:
        document = Path(tmp) / "openapi.json"
        output = Path(tmp) / "schema.d.ts"
        document.write_text(openapi_json(), encoding="utf-8")
        result = subprocess.run(
            [str(GENERATOR), str(document), "--output", str(output), *OPTIONS],
            cwd=WEB,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"openapi-typescript failed:\n{result.stdout}\n{result.stderr}")
        return output.read_bytes()


def main(argv: Sequence[str] | None = None) -> int:
    """Write (or with ``--check``, compare) the generated types; return the exit status."""
    parser = argparse.ArgumentParser(prog="scripts/gen_api_types.py", description=__doc__)
    parser.add_argument("--output", type=Path, default=OUTPUT)
    parser.add_argument("--check", action="store_true", help="fail if the file is stale")
    args = parser.parse_args(argv)
    path: Path = args.output
    fresh = generate()
    if args.check:
        if not path.is_file() or path.read_bytes() != fresh:
            print(f"stale, regenerate with scripts/gen_api_types.py: {path}", file=sys.stderr)
            return 1
        return 0
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(fresh)
    return 0


if __name__ == "__main__":
    sys.exit(main())
