"""Real headless Chromium (Debian's /usr/bin/chromium) driven by Playwright, for the web pages.

Nothing here downloads a browser: Playwright's Python wheel ships its driver, and the browser
is the system one. The fake camera plays a y4m file of one known colour, so a subscriber on the
officer's side can tell it received the victim's real video.

Network rule: Chromium resolves no host names at all (every name maps to NOTFOUND), and all
its background services are off, so the only traffic is to the IP literals of the stack under
test (the host end of the test veth and the SFU in its namespace).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from playwright.async_api import Browser, Page, Playwright, ViewportSize

REPO_ROOT = Path(__file__).resolve().parents[2]
WEB = REPO_ROOT / "web"
STATIC = REPO_ROOT / "control_plane" / "static"
CHROMIUM = Path("/usr/bin/chromium")
AXE = WEB / "node_modules" / "axe-core" / "axe.min.js"
PHONE: ViewportSize = {"width": 390, "height": 844}
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]

__all__ = [
    "PHONE",
    "assert_accessible",
    "ensure_built",
    "launch_chromium",
    "rgb_to_yuv",
    "write_y4m",
]


def _newest(paths: list[Path]) -> float:
    return max((p.stat().st_mtime for p in paths if p.is_file()), default=0.0)


def ensure_built() -> None:
    """Build the pages with the project's own `npm run build` if web/ changed since the last
    build. Offline: it needs web/node_modules from scripts/setup.sh and fetches nothing."""
    if not (WEB / "node_modules").is_dir():
        raise RuntimeError("web/node_modules is missing: run scripts/setup.sh first")
    sources = [*WEB.glob("*.html"), *WEB.glob("*.json"), *WEB.glob("*.ts"), *WEB.rglob("src/**/*")]
    built = STATIC / "join.html"
    if built.is_file() and built.stat().st_mtime >= _newest(sources):
        return
    result = subprocess.run(
        ["npm", "run", "--silent", "build"],
        cwd=WEB,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"npm run build failed:\n{result.stdout}\n{result.stderr}")


def rgb_to_yuv(rgb: tuple[int, int, int]) -> tuple[int, int, int]:
    """BT.601 limited range, as Chromium's y4m reader and libwebrtc's converters assume."""
    r, g, b = rgb
    y = 16 + (65.738 * r + 129.057 * g + 25.064 * b) / 256
    u = 128 + (-37.945 * r - 74.494 * g + 112.439 * b) / 256
    v = 128 + (112.439 * r - 94.154 * g - 18.285 * b) / 256
    return round(y), round(u), round(v)


def write_y4m(
    path: Path,
    rgb: tuple[int, int, int],
    *,
    width: int = 640,
    height: int = 360,
    fps: int = 15,
    frames: int = 15,
) -> Path:
    """A short 4:2:0 y4m clip of one solid colour (Chromium loops it)."""
    y, u, v = rgb_to_yuv(rgb)
    luma = bytes([y]) * (width * height)
    chroma_u = bytes([u]) * ((width // 2) * (height // 2))
    chroma_v = bytes([v]) * ((width // 2) * (height // 2))
    with path.open("wb") as f:
        f.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(frames):
            f.write(b"FRAME\n" + luma + chroma_u + chroma_v)
    return path


async def launch_chromium(
    playwright: Playwright, *, origin: str, video: Path, home: Path, hosts: Sequence[str]
) -> Browser:
    """Headless Chromium with a fake camera and mic that treats `origin` as secure.

    Each launch gets a fresh, temporary --user-data-dir from Playwright (it refuses one passed
    in args); `home` keeps Chromium's other files out of the real home directory. `hosts` are
    the only addresses Chromium may reach (the control plane's and the SFU's IP literals).
    """
    args = [
        "--use-fake-device-for-media-stream",
        "--use-fake-ui-for-media-stream",
        f"--use-file-for-fake-video-capture={video}",
        "--autoplay-policy=no-user-gesture-required",
        "--disable-features=WebRtcHideLocalIpsWithMdns",
        f"--unsafely-treat-insecure-origin-as-secure={origin}",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-domain-reliability",
        "--disable-client-side-phishing-detection",
        "--no-pings",
        # Nothing resolves but the stack's own addresses (`hosts`): no name lookups at all.
        "--host-resolver-rules=MAP * ~NOTFOUND, " + ", ".join(f"EXCLUDE {h}" for h in hosts),
    ]
    return await playwright.chromium.launch(
        executable_path=str(CHROMIUM),
        headless=True,
        args=args,
        env={**os.environ, "HOME": str(home)},
    )


async def assert_accessible(page: Page, screen: str) -> None:
    """Run axe-core (from web/node_modules, injected, never a CDN) against the current screen
    and fail with every WCAG 2.x A/AA violation it finds."""
    loaded = await page.evaluate("() => typeof window.axe !== 'undefined'")
    if not loaded:
        # Evaluated through the DevTools protocol, so the page's strict CSP does not block it.
        await page.evaluate(AXE.read_text(encoding="utf-8") + "\n;true")
    result: dict[str, Any] = await page.evaluate(
        """async (tags) => {
            const r = await window.axe.run(document, { runOnly: { type: 'tag', values: tags } });
            return {
                violations: r.violations.map(v => ({
                    id: v.id, impact: v.impact, help: v.help,
                    nodes: v.nodes.slice(0, 5)
                        .map(n => n.target.join(' ') + ' :: ' + n.failureSummary),
                })),
                passes: r.passes.length,
            };
        }""",
        WCAG_TAGS,
    )
    violations = result["violations"]
    assert not violations, f"axe found WCAG A/AA violations on the {screen} screen: {violations}"
    assert result["passes"] > 0, f"axe checked nothing on the {screen} screen"
