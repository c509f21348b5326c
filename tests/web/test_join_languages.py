"""The victim's page in every language and at its hardest sizes, in real Chromium: each screen
in English, Welsh, Polish, Romanian and Urdu (right to left), at 320 px wide and 200 % text,
passes axe (WCAG 2.2 AA) with no horizontal overflow; the language follows the phone's and can
be changed on the first screen; a refused camera gets one primary action and phone-specific
help; the victim can ask for an interpreter and the officer can send one a link."""

import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.async_api import (
    Browser,
    BrowserContext,
    Page,
    ViewportSize,
    async_playwright,
    expect,
)

from tests.support.browser import CHROMIUM, assert_accessible
from tests.support.stack import Api

CATALOGUES = Path(__file__).resolve().parents[2] / "web" / "src" / "i18n" / "catalogues"
LANGUAGES = {"en": "en-GB", "cy": "cy-GB", "pl": "pl-PL", "ro": "ro-RO", "ur": "ur-PK"}
NARROW: ViewportSize = {"width": 320, "height": 640}
# The page's root is 112.5 %; a phone's "200 % text" doubles it.
BIG_TEXT = "document.documentElement.style.fontSize = '225%';"
SCREENS = (
    "choose",
    "eligibility",
    "not-now",
    "consent",
    "preview",
    "check",
    "join",
    "interpreter",
    "in-person",
    "ended",
)


def _cat(code: str) -> dict[str, str]:
    data: dict[str, str] = json.loads((CATALOGUES / f"{code}.json").read_text(encoding="utf-8"))
    return data


async def _session_url(api: Api, reference: str = "CR/2026/0320") -> tuple[str, str]:
    visit = await api.new_visit(reference=reference)
    link = await api.ok(
        "POST", f"/api/v1/visits/{visit['id']}/links", who="alice", json={}, expect=201
    )
    return str(visit["id"]), str(link["url"])


@pytest.fixture
async def narrow(browser: Browser) -> AsyncIterator[BrowserContext]:
    context = await browser.new_context(
        viewport=NARROW, is_mobile=True, has_touch=True, locale="en-GB"
    )
    await context.add_init_script(BIG_TEXT)
    try:
        yield context
    finally:
        await context.close()


async def _no_overflow(page: Page, where: str) -> None:
    widths = await page.evaluate(
        "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    assert widths[0] <= widths[1], f"{where}: the page is {widths[0]} px wide in {widths[1]} px"
    exit_box = await page.get_by_role("link", name=await _exit_text(page)).bounding_box()
    assert exit_box is not None
    assert exit_box["x"] >= 0, where
    assert exit_box["x"] + exit_box["width"] <= widths[1], f"{where}: Exit this page is cut off"


async def _exit_text(page: Page) -> str:
    return (await page.locator("#quick-exit").inner_text()).strip()


async def _show(page: Page, screen: str) -> None:
    """Put the page on `screen` as the phone would after a reload there."""
    await page.evaluate(
        """(screen) => {
            const s = JSON.parse(localStorage.getItem('evr.join'));
            s.screen = screen; s.question = 0; s.notNowReason = 'not_safe';
            localStorage.setItem('evr.join', JSON.stringify(s));
        }""",
        screen,
    )
    await page.reload()
    await expect(page.locator("#main h1")).to_be_visible()


async def test_every_screen_in_every_language_at_320px_and_200_percent_text(
    api: Api, narrow: BrowserContext
) -> None:
    _, url = await _session_url(api)
    page = await narrow.new_page()
    page.set_default_timeout(20_000)
    await page.goto(url)
    await expect(page.get_by_role("heading", name=_cat("en")["choose.title"])).to_be_visible()
    for code in LANGUAGES:
        cat = _cat(code)
        await page.evaluate("(code) => localStorage.setItem('evr.lang', code)", code)
        for screen in SCREENS:
            await _show(page, screen)
            where = f"{code}/{screen}"
            assert await page.evaluate("() => document.documentElement.lang") != ""
            if screen == "choose":
                await expect(page.locator("#main h1")).to_have_text(cat["choose.title"])
                await expect(page.locator(".topbar__title")).not_to_be_visible()
            await _no_overflow(page, where)
            await assert_accessible(page, where)
        # The error summary and the "Error:" title, in this language.
        await _show(page, "eligibility")
        await page.locator("form button[type=submit]").click()
        await expect(page.locator(".error-summary")).to_contain_text(cat["question.adult.error"])
        title = await page.title()
        assert title.startswith(cat["common.errorPrefix"].rstrip(":")), (code, title)
        await _no_overflow(page, f"{code}/error")
        await assert_accessible(page, f"{code}/error")
    # Urdu is laid out right to left.
    await page.evaluate("() => localStorage.setItem('evr.lang', 'ur')")
    await _show(page, "choose")
    assert await page.evaluate("() => document.documentElement.dir") == "rtl"
    assert (
        await page.evaluate("() => getComputedStyle(document.querySelector('#main')).direction")
        == "rtl"
    )


@pytest.mark.parametrize("code", ["pl", "ur"])
async def test_the_language_follows_the_phone_and_can_be_changed(
    api: Api, browser: Browser, code: str
) -> None:
    _, url = await _session_url(api)
    context = await browser.new_context(
        locale=LANGUAGES[code], viewport={"width": 390, "height": 844}
    )
    page = await context.new_page()
    page.set_default_timeout(20_000)
    try:
        await page.goto(url)
        await expect(page.locator("#main h1")).to_have_text(_cat(code)["choose.title"])
        assert await page.evaluate("() => document.documentElement.lang") == code
        assert await page.evaluate("() => document.documentElement.dir") == (
            "rtl" if code == "ur" else "ltr"
        )
        await expect(page.locator("#quick-exit")).to_have_text(_cat(code)["exit.link"])
        # Chosen on the first screen; the choice is remembered.
        await page.get_by_role("button", name="Cymraeg").click()
        await expect(page.locator("#main h1")).to_have_text(_cat("cy")["choose.title"])
        assert await page.evaluate("() => document.documentElement.dir") == "ltr"
        await page.reload()
        await expect(page.locator("#main h1")).to_have_text(_cat("cy")["choose.title"])
    finally:
        await context.close()


@pytest.fixture
async def refusing_browser(api: Api, built_pages: None, tmp_path: Path) -> AsyncIterator[Browser]:
    """Chromium as a phone whose owner said no: a real camera prompt (no fake UI to accept
    it), which headless Chromium answers by refusing."""
    host = urlsplit(api.stack.base_url).hostname or ""
    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=[
                "--use-fake-device-for-media-stream",
                f"--unsafely-treat-insecure-origin-as-secure={api.stack.base_url}",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                f"--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE {host}",
            ],
            env={**os.environ, "HOME": str(tmp_path)},
        )
        try:
            yield chromium
        finally:
            await chromium.close()


async def test_a_refused_camera_gets_one_primary_action_and_help(
    api: Api, refusing_browser: Browser
) -> None:
    vid, url = await _session_url(api)
    context = await refusing_browser.new_context(
        viewport={"width": 390, "height": 844},
        locale="en-GB",
        user_agent="Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Chrome/120 Mobile",
    )
    page = await context.new_page()
    page.set_default_timeout(20_000)
    try:
        await page.goto(url)
        await expect(page.locator("#main h1")).to_be_visible()
        await _show(page, "preview")
        await page.get_by_role("button", name="Turn on camera and microphone").click()
        await expect(page.get_by_role("alert")).to_contain_text(
            "did not let this page use the camera or microphone"
        )
        primaries = page.locator("#main .button--primary:visible")
        await expect(primaries).to_have_count(1)
        await expect(primaries).to_have_text("Try again")
        # Android's help is open first on an Android phone; the iPhone's is there too.
        await expect(page.get_by_test_id("help-android")).to_have_attribute("open", "")
        await expect(page.get_by_test_id("help-iphone")).not_to_have_attribute("open", "")
        await assert_accessible(page, "preview refused")
        progress: dict[str, Any] = await api.ok(
            "GET", f"/api/v1/visits/{vid}/progress", who="alice"
        )
        assert [a["kind"] for a in progress["alerts"]] == ["media_refused"]
    finally:
        await context.close()


async def test_the_victim_asks_for_an_interpreter_and_the_officer_sends_a_link(
    api: Api, browser: Browser
) -> None:
    vid, url = await _session_url(api, "CR/2026/0321")
    context = await browser.new_context(viewport={"width": 390, "height": 844}, locale="en-GB")
    page = await context.new_page()
    page.set_default_timeout(20_000)
    try:
        await page.goto(url)
        await page.get_by_role("link", name="I need an interpreter").click()
        await expect(page.get_by_role("heading", name="Ask for an interpreter")).to_be_visible()
        await page.get_by_role("button", name="Ask for an interpreter").click()
        await expect(page.locator(".error-summary")).to_contain_text("Enter the language you need")
        await page.get_by_label("Which language do you need?").fill("Tigrinya")
        await page.get_by_role("button", name="Ask for an interpreter").click()
        await expect(page.get_by_role("status")).to_contain_text("a Tigrinya interpreter")
        progress = await api.ok("GET", f"/api/v1/visits/{vid}/progress", who="alice")
        assert progress["interpreter_request"]["language"] == "Tigrinya"
        assert progress["interpreter_request"]["link_issued_at"] is None
        # The officer's console shows the request and issues an interpreter's link.
        console = await context.new_page()
        await console.set_viewport_size({"width": 1366, "height": 768})
        await console.goto(api.stack.base_url + "/console")
        await console.get_by_label("Officer token").fill(api.stack.tokens["alice"])
        await console.get_by_role("button", name="Sign in").click()
        await console.get_by_label("Day (UTC)").fill("2026-11-28")
        await console.get_by_role("button", name="Open visit CR/2026/0321").click()
        request = console.get_by_test_id("interpreter-request")
        await expect(request).to_contain_text("Tigrinya")
        await request.get_by_role("button", name="Create interpreter link").click()
        link = await console.get_by_test_id("interpreter-url").input_value()
        assert "/join/" in link
        progress = await api.ok("GET", f"/api/v1/visits/{vid}/progress", who="alice")
        assert progress["interpreter_request"]["link_issued_at"] is not None
        joined = await api.ok("POST", "/api/v1/join/" + link.rsplit("/", 1)[1], expect=201)
        assert joined["visit"]["role"] == "interpreter"
    finally:
        await context.close()
