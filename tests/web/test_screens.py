"""scripts/screens.py still drives the real pages through the whole journey: run against the
test stack, it writes one screenshot per screen, each a real PNG of the page."""

import importlib.util
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser

from tests.support.stack import Api

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "screens.py"


def _script() -> Any:
    spec = importlib.util.spec_from_file_location("evr_screens", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


EXPECTED = [
    "victim-choose",
    "victim-question-error",
    "victim-consent",
    "victim-preview",
    "victim-check",
    "victim-waiting",
    "console-visit-alert",
    "console-call",
    "victim-call",
    "victim-ended",
]


# One backend is enough: the script exercises the pages, which do not differ between them.
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_the_screens_script_walks_the_journey(
    api: Api, browser: Browser, tmp_path: Path
) -> None:
    capture = _script().capture
    shots = await capture(browser, api.stack.base_url, api.stack.tokens["alice"], tmp_path)
    assert [p.stem.split("-", 1)[1] for p in shots] == EXPECTED
    for path in shots:
        data = path.read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n"), path
        assert len(data) > 5_000, f"{path} looks empty"
