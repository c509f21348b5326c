"""The two web pages (the victim's join page and the officer's console) and their assets.

They are built from web/ by `npm run build` (scripts/setup.sh) into control_plane/static/;
nothing is fetched from a CDN or at run time. Pages go out with a strict Content-Security-Policy
and no referrer, so the join link never leaks to the quick-exit site or anywhere else.
"""

import html
import re
from pathlib import Path
from urllib.parse import urlsplit

from aiohttp import web

from control_plane.errors import DependencyUnavailable, NotFound
from control_plane.keys import SETTINGS
from core.settings import Settings

STATIC_ROOT = Path(__file__).resolve().parent / "static"
ASSETS = STATIC_ROOT / "assets"
QUICK_EXIT_PLACEHOLDER = "__EVR_QUICK_EXIT_URL__"
FORCE_NAME_PLACEHOLDER = "__EVR_FORCE_NAME__"
NON_EMERGENCY_PLACEHOLDER = "__EVR_NON_EMERGENCY__"
_ASSET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$")


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def content_security_policy(settings: Settings) -> str:
    """Only this origin, plus the SFU's signalling origin (ws and its http twin for validation)."""
    ws = _origin(settings.livekit.client_url)
    http_twin = ws.replace("wss://", "https://", 1).replace("ws://", "http://", 1)
    return "; ".join(
        (
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data: blob:",
            "media-src 'self' blob: mediastream:",
            f"connect-src 'self' {ws} {http_twin}",
            "worker-src 'self' blob:",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        )
    )


def _headers(settings: Settings) -> dict[str, str]:
    return {
        "Content-Security-Policy": content_security_policy(settings),
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
        "Permissions-Policy": "camera=(self), microphone=(self), geolocation=(), payment=()",
    }


def _read_page(name: str) -> str:
    try:
        return (STATIC_ROOT / name).read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise DependencyUnavailable(
            "the web pages are not built: run scripts/setup.sh (npm ci && npm run build in web/)"
        ) from exc


async def join_page(request: web.Request) -> web.Response:
    """The victim's page. The code stays in the URL for the page's script; the server ignores it."""
    settings = request.app[SETTINGS]
    body = _read_page("join.html")
    # From config, escaped: the page reads the force's name and number even before any session
    # exists, so that a link that no longer works still says whom to call.
    for placeholder, value in (
        (QUICK_EXIT_PLACEHOLDER, settings.web.quick_exit_url),
        (FORCE_NAME_PLACEHOLDER, settings.web.force_name),
        (NON_EMERGENCY_PLACEHOLDER, settings.web.non_emergency_number),
    ):
        body = body.replace(placeholder, html.escape(value, quote=True))
    return web.Response(text=body, content_type="text/html", headers=_headers(settings))


async def console_page(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    return web.Response(
        text=_read_page("console.html"), content_type="text/html", headers=_headers(settings)
    )


async def asset(request: web.Request) -> web.FileResponse:
    """Bundled scripts and styles. Names carry a content hash, so they may be cached for ever."""
    name = request.match_info["name"]
    path = ASSETS / name
    if not _ASSET_NAME.match(name) or ".." in name or not path.is_file():
        raise NotFound(f"no asset {name[:80]!r}")
    return web.FileResponse(
        path,
        headers={
            "Cache-Control": "public, max-age=31536000, immutable",
            "X-Content-Type-Options": "nosniff",
        },
    )
