"""The control plane serves the built pages with strict headers, and only its own assets."""

import re
import subprocess
from pathlib import Path

import pytest

from control_plane.pages import (
    FORCE_NAME_PLACEHOLDER,
    NON_EMERGENCY_PLACEHOLDER,
    QUICK_EXIT_PLACEHOLDER,
)
from tests.support.browser import STATIC, ensure_built
from tests.support.stack import Api


@pytest.fixture(scope="module", autouse=True)
def _built() -> None:
    ensure_built()


async def _get(api: Api, path: str) -> tuple[int, dict[str, str], str]:
    async with api.session.get(api.stack.base_url + path) as resp:
        return resp.status, dict(resp.headers), await resp.text()


async def test_the_join_page_carries_the_quick_exit_url_and_strict_headers(api: Api) -> None:
    status, headers, body = await _get(api, "/join/some-code")

    assert status == 200
    assert headers["Content-Type"].startswith("text/html")
    exit_url = api.stack.settings.web.quick_exit_url
    assert f'href="{exit_url}"' in body
    assert QUICK_EXIT_PLACEHOLDER not in body
    web = api.stack.settings.web
    assert f'<meta name="evr-force" content="{web.force_name}"' in body
    assert f'<meta name="evr-non-emergency" content="{web.non_emergency_number}"' in body
    assert FORCE_NAME_PLACEHOLDER not in body
    assert NON_EMERGENCY_PLACEHOLDER not in body
    # No referrer: the join code must not reach the quick-exit site or anyone else.
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["Cache-Control"] == "no-store"
    csp = headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert api.stack.settings.livekit.client_url.rsplit(":", 1)[0] in csp
    # Everything the page loads is bundled and served from here: no CDN, no other host.
    for src in re.findall(r'(?:src|href)="([^"]+)"', body):
        assert src.startswith("/static/assets/") or src in (exit_url, "data:,"), src


async def test_the_console_and_its_assets_are_served(api: Api) -> None:
    status, _, body = await _get(api, "/console")
    assert status == 200
    assets = re.findall(r'(?:src|href)="(/static/assets/[^"]+)"', body)
    assert any(a.endswith(".js") for a in assets)
    for asset in assets:
        got, headers, _ = await _get(api, asset)
        assert got == 200, asset
        assert "immutable" in headers["Cache-Control"]


@pytest.mark.parametrize(
    "path",
    [
        "/static/assets/..%2F..%2Fpages.py",
        "/static/assets/.hidden",
        "/static/assets/nope.js",
        "/static/join.html",
    ],
)
async def test_nothing_outside_the_built_assets_is_served(api: Api, path: str) -> None:
    status, _, _ = await _get(api, path)
    assert status == 404


def test_the_build_output_is_not_in_git() -> None:
    # Built by scripts/setup.sh from web/; the output directory is ignored.
    assert (STATIC / "join.html").is_file()
    repo = STATIC.parents[1]
    tracked = _git(repo, "ls-files", "--", "control_plane/static")
    assert tracked == "", f"built files are tracked: {tracked}"
    # Ignored too, so a careless `git add` cannot start tracking them.
    assert _git(repo, "check-ignore", "--", "control_plane/static/join.html") != ""


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), *args], check=False, capture_output=True, text=True
    )
    assert done.returncode in (0, 1), done.stderr  # check-ignore answers 1 for "not ignored"
    return done.stdout.strip()
