"""Photograph the real pages through the whole journey, for docs/screens/ and the README.

Drives a running control plane (``evr up`` or the test stack) in headless Chromium with a fake
camera: the officer creates a visit and a link, the victim's phone (390x844) goes through every
screen to the call, and the officer's console (1366x768) shows the visit, its safeguarding
alerts and the call view. Each screen is written as ``NN-name.png``.

    .venv/bin/python scripts/screens.py --base-url http://127.0.0.1:8080 --token evr_… \\
        [--out docs/screens] [--chromium /usr/bin/chromium]

``tests/web/test_screens.py`` runs :func:`capture` against the test stack, so the script keeps
working as the pages change.
"""

from __future__ import annotations

import argparse
import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from playwright.async_api import (
    Browser,
    BrowserContext,
    Page,
    ViewportSize,
    async_playwright,
    expect,
)

PHONE: ViewportSize = {"width": 390, "height": 844}
LAPTOP: ViewportSize = {"width": 1366, "height": 768}
TIMEOUT_MS = 30_000
REFERENCE = "CR/2026/0413"


async def _api(http: aiohttp.ClientSession, method: str, path: str, body: Any) -> Any:
    """One call to the control plane's API as the officer."""
    async with http.request(method, path, json=body) as response:
        response.raise_for_status()
        return await response.json()


async def _shot(page: Page, out: Path, name: str, shots: list[Path]) -> None:
    await page.evaluate("() => window.scrollTo(0, 0)")
    path = out / f"{len(shots) + 1:02d}-{name}.png"
    await page.screenshot(path=path)
    shots.append(path)


async def _new_visit(base_url: str, token: str) -> tuple[str, str]:
    """A visit scheduled now, the officer's own eligibility item, and the victim's link."""
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(base_url, headers=headers) as http:
        visit = await _api(
            http,
            "POST",
            "/api/v1/visits",
            {
                "crime_reference": REFERENCE,
                "scheduled_at": datetime.now(UTC).replace(microsecond=0).isoformat(),
                "contact": {"channel": "sms", "value": "+447700900413"},
            },
        )
        vid = visit["id"]
        item = f"/api/v1/visits/{vid}/eligibility/risk_assessment_clear"
        await _api(http, "PUT", item, {"value": True})
        link = await _api(http, "POST", f"/api/v1/visits/{vid}/links", {"role": "victim"})
    return vid, link["url"]


async def _victim_to_waiting(phone: Page, url: str, out: Path, shots: list[Path]) -> None:
    """The victim's screens from the link to waiting for the officer."""
    await phone.goto(url)
    await expect(phone.locator("#main h1")).to_be_visible()
    await _shot(phone, out, "victim-choose", shots)
    await phone.get_by_role("button", name="Video call on this phone").click()
    await expect(phone.get_by_role("heading", name="Are you 18 or over?")).to_be_visible()
    await phone.get_by_role("button", name="Continue").click()
    await expect(phone.locator(".error-summary")).to_be_visible()
    await _shot(phone, out, "victim-question-error", shots)
    for _ in range(3):
        await phone.locator("input[value=yes]").check()
        await phone.get_by_role("button", name="Continue").click()
    await expect(phone.get_by_role("heading", name="Before the call")).to_be_visible()
    await _shot(phone, out, "victim-consent", shots)
    await phone.get_by_role("button", name="Yes, I agree to the call").click()
    await phone.get_by_role("button", name="Turn on camera and microphone").click()
    await phone.wait_for_function("() => document.querySelector('video.preview')?.videoWidth > 0")
    await _shot(phone, out, "victim-preview", shots)
    await phone.get_by_role("button", name="Yes, I can see myself. Continue").click()
    await phone.get_by_role("button", name="Start the check").click()
    await expect(phone.get_by_test_id("verdict")).to_be_visible(timeout=60_000)
    await _shot(phone, out, "victim-check", shots)
    await phone.locator("#main .notice + .actions button").first.click()
    await phone.get_by_role("button", name="Join the video call").click()
    await expect(phone.get_by_role("heading", name="Waiting for the officer")).to_be_visible()
    await _shot(phone, out, "victim-waiting", shots)


async def _officer_runs_the_call(
    desk: Page, phone: Page, *, base_url: str, token: str, out: Path, shots: list[Path]
) -> None:
    """The console: the visit with its alert, the call view, and ending the call."""
    await desk.goto(base_url + "/console")
    await desk.get_by_label("Officer token").fill(token)
    await desk.get_by_role("button", name="Sign in").click()
    await desk.get_by_role("button", name=f"Open visit {REFERENCE}").first.click()
    await expect(desk.get_by_test_id("safeguarding-alerts")).to_be_visible()
    await _shot(desk, out, "console-visit-alert", shots)
    await desk.get_by_role("button", name="Start the visit").click()
    await expect(phone.locator(".officer-video")).to_be_visible(timeout=60_000)
    await desk.get_by_role("button", name="Join the call").click()
    await desk.wait_for_function(
        "() => [...document.querySelectorAll('[data-testid=call-stage] video')]"
        ".some(v => v.videoWidth > 0)",
        timeout=60_000,
    )
    await _shot(desk, out, "console-call", shots)
    await phone.wait_for_function(
        "() => document.querySelector('.officer-video video')?.videoWidth > 0", timeout=60_000
    )
    await _shot(phone, out, "victim-call", shots)
    await desk.get_by_role("button", name="End the call").click()
    await desk.get_by_role("button", name="Yes, end the call").click()
    ended = phone.get_by_role("heading", name="The officer has ended the call")
    await expect(ended).to_be_visible()
    await _shot(phone, out, "victim-ended", shots)


async def capture(browser: Browser, base_url: str, token: str, out: Path) -> list[Path]:
    """Walk the journey once and write the screenshots to ``out`` (which must exist); return
    their paths in the order taken."""
    shots: list[Path] = []
    _, url = await _new_visit(base_url, token)
    contexts: list[BrowserContext] = []
    try:
        phone_ctx = await browser.new_context(
            viewport=PHONE, is_mobile=True, has_touch=True, locale="en-GB"
        )
        contexts.append(phone_ctx)
        desk_ctx = await browser.new_context(viewport=LAPTOP, locale="en-GB")
        contexts.append(desk_ctx)
        phone = await phone_ctx.new_page()
        desk = await desk_ctx.new_page()
        for page in (phone, desk):
            page.set_default_timeout(TIMEOUT_MS)
        await _victim_to_waiting(phone, url, out, shots)
        await _officer_runs_the_call(
            desk, phone, base_url=base_url, token=token, out=out, shots=shots
        )
    finally:
        for context in contexts:
            await context.close()
    return shots


async def _main(args: argparse.Namespace) -> None:
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=args.chromium,
            headless=True,
            args=[
                "--use-fake-device-for-media-stream",
                "--use-fake-ui-for-media-stream",
                f"--unsafely-treat-insecure-origin-as-secure={args.base_url}",
                "--autoplay-policy=no-user-gesture-required",
                "--no-first-run",
                "--disable-background-networking",
            ],
        )
        args.out.mkdir(parents=True, exist_ok=True)
        try:
            for path in await capture(browser, args.base_url.rstrip("/"), args.token, args.out):
                print(path)
        finally:
            await browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--base-url", required=True, help="the control plane, e.g. http://127.0.0.1:8080"
    )
    parser.add_argument("--token", required=True, help="an officer's API token")
    parser.add_argument("--out", type=Path, default=Path("docs/screens"))
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    asyncio.run(_main(parser.parse_args()))


if __name__ == "__main__":
    main()
