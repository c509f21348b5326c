"""The officer's console in real headless Chromium: sign in, create a visit, record eligibility,
issue a link, watch the victim's progress, start, join the call, see quality drops, and end."""

from pathlib import Path

import aiohttp
from playwright.async_api import Browser, Page, ViewportSize, expect

from loadtests.check_client import run_check
from loadtests.media import SyntheticParticipant
from tests.support.browser import assert_accessible
from tests.support.stack import Api
from tests.web.conftest import CAMERA_RGB

DESKTOP: ViewportSize = {"width": 1366, "height": 768}
"""The officer's laptop: the call view must fit it without scrolling."""
ELIGIBILITY = {
    "risk_assessment_clear": "Risk assessment: no immediate threat, risk or harm",
    "adult_or_guardian": "18 or over, or a parent or guardian present",
    "offender_not_present": "Offender not present",
    "smartphone_with_video": "Smartphone with video",
}


def _close(a: tuple[int, int, int] | None, b: tuple[int, int, int], tol: int = 40) -> bool:
    return a is not None and all(abs(x - y) <= tol for x, y in zip(a, b, strict=True))


async def _status(page: Page, status: str) -> None:
    await expect(page.get_by_test_id("visit-status")).to_have_text(status, timeout=15_000)


async def test_an_officer_runs_a_visit_from_the_console(
    api: Api, browser: Browser, screenshots: Path
) -> None:
    context = await browser.new_context(viewport=DESKTOP, locale="en-GB")
    page = await context.new_page()
    page.set_default_timeout(20_000)
    victim: SyntheticParticipant | None = None
    try:
        await page.goto(api.stack.base_url + "/console")
        await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
        await assert_accessible(page, "console sign-in")
        await page.get_by_label("Officer token").fill("evr_not-a-real-token")
        await page.get_by_role("button", name="Sign in").click()
        await expect(page.get_by_role("alert")).to_contain_text("unknown or revoked")

        await page.get_by_label("Officer token").fill(api.stack.tokens["alice"])
        await page.get_by_role("button", name="Sign in").click()
        await expect(page.get_by_role("heading", name="Video visits")).to_be_visible()
        await expect(page.locator("#whoami")).to_contain_text("collar 1001")
        # The token lives in this tab only.
        assert await page.evaluate("() => localStorage.length") == 0
        assert await page.evaluate("() => sessionStorage.getItem('evr.console.token')")

        await page.get_by_label("Crime or incident reference").fill("CR/2026/0777")
        await page.get_by_label("Victim's mobile number or e-mail").fill("+447700900555")
        await page.get_by_role("button", name="Create visit").click()
        await expect(page.get_by_role("heading", name="Visit CR/2026/0777")).to_be_visible()
        await _status(page, "offered")
        listed = await api.ok("GET", "/api/v1/visits", who="alice")
        (vid,) = [v["id"] for v in listed["visits"] if v["crime_reference"] == "CR/2026/0777"]

        await page.get_by_role("button", name="Create join link").click()
        url = await page.get_by_test_id("join-url").input_value()
        assert url.startswith(api.stack.base_url + "/join/")
        await expect(page.get_by_text("does not send text messages or e-mails")).to_be_visible()

        for item, label in ELIGIBILITY.items():
            await page.get_by_role("button", name=f"Met: {label}", exact=True).click()
            await expect(page.locator(f"li[data-item={item}] .elig__state")).to_have_text("met")
        await assert_accessible(page, "console visit")

        # The victim opens the link and works through the page (here by its API, as the
        # join page's own tests cover the page itself) and runs the real connection check.
        session = (await api.ok("POST", "/api/v1/join/" + url.rsplit("/", 1)[1], expect=201))[
            "session"
        ]
        await expect(page.get_by_text("Link opened at")).to_be_visible()
        await api.ok("POST", "/api/v1/participant/choice", bearer=session, json={"choice": "video"})
        for step in ("choice", "eligibility"):
            await api.ok(
                "POST",
                "/api/v1/participant/progress",
                bearer=session,
                json={"step": step, "state": "done"},
            )
        await api.ok(
            "POST",
            "/api/v1/participant/consent",
            bearer=session,
            json={"consented": True, "notice_version": "2026-01"},
            expect=201,
        )
        await expect(page.locator("li[data-step=eligibility]")).to_have_attribute(
            "data-state", "done"
        )
        await expect(page.get_by_test_id("consent")).to_contain_text("Consent to the call given")
        async with aiohttp.ClientSession() as http:
            verdict = await run_check(http, api.stack.base_url, session)
        assert verdict["verdict"] in ("hd", "sd"), verdict
        await expect(page.get_by_test_id("verdict")).to_have_attribute(
            "data-verdict", verdict["verdict"]
        )
        await _status(page, "accepted video")
        await page.screenshot(path=screenshots / "console-progress.png", full_page=True)

        await page.get_by_role("button", name="Start the visit").click()
        await _status(page, "waiting")

        victim_tok = await api.ok(
            "POST", "/api/v1/participant/token", bearer=session, json={"mode": "video"}
        )
        victim = SyntheticParticipant(rgb=(40, 200, 60))
        await victim.connect(victim_tok["url"], victim_tok["token"])
        await victim.publish()
        await _status(page, "live")

        await page.get_by_role("button", name="Join the call").click()
        # Joining includes ICE and DTLS on a shared 2-core machine: allow for load.
        await expect(page.get_by_test_id("call-status")).to_contain_text(
            "In the call", timeout=30_000
        )
        await page.wait_for_function(
            "() => [...document.querySelectorAll('[data-testid=call-stage] video')]"
            ".some(v => v.videoWidth > 0)",
            timeout=30_000,
        )
        # The officer's camera (the fake clip) reaches the victim through the SFU.
        from_officer = await victim.wait_for_media("officer:local:1001", video=10, audio=5)
        assert _close(from_officer.last_rgb, CAMERA_RGB), from_officer

        # A quality drop the victim's page reported shows up for the officer.
        await api.ok(
            "POST",
            "/api/v1/participant/quality",
            bearer=session,
            json={"quality": "poor", "action": "lower_video", "video_layer": "low"},
        )
        view = page.get_by_test_id("call-view")
        await expect(view.get_by_test_id("victim-quality")).to_contain_text("poor")
        await _fits_one_screen(page)
        # People by role, never raw identities; a self-view beside the victim's video.
        await expect(view.get_by_test_id("call-people")).to_contain_text("Victim")
        assert "victim:" not in await view.get_by_test_id("call-people").inner_text()
        await page.wait_for_function(
            "() => document.querySelector('.callview__self video')?.videoWidth > 0"
        )
        mic = view.get_by_role("button", name="Mute microphone")
        await mic.click()
        await expect(view.get_by_role("button", name="Unmute microphone")).to_have_attribute(
            "aria-pressed", "true"
        )
        await view.get_by_role("button", name="Turn camera off").click()
        await expect(view.get_by_role("button", name="Turn camera on")).to_be_visible()
        await view.get_by_role("button", name="Turn camera on").click()
        await assert_accessible(page, "console call")

        # Recording, with its consent step; no recorder runs here, so once asked for it shows
        # as not secured, loudly, and the status stays in sight.
        rec = view.get_by_test_id("call-recording")
        await expect(rec).to_have_text("Recording: off")
        await view.get_by_role("button", name="Start recording").click()
        dialog = page.get_by_role("dialog", name="Start recording the statement?")
        await dialog.get_by_role("button", name="Start recording now").click()
        await expect(dialog.get_by_role("alert")).to_contain_text("Tick each person")
        await dialog.get_by_label("Victim agreed out loud to being recorded").check()
        await assert_accessible(page, "console recording consent")
        await dialog.get_by_role("button", name="Start recording now").click()
        await expect(dialog).to_have_count(0)
        await expect(rec).to_contain_text("RECORDING NOT SECURED")
        state = await api.ok("GET", f"/api/v1/visits/{vid}/recording", who="alice")
        assert state["recording"]["status"] == "requested"
        assert [c["method"] for c in state["consents"] if c["identity"].startswith("victim:")] == [
            "verbal"
        ]
        await page.screenshot(path=screenshots / "console-call.png")
        await view.get_by_role("button", name="Stop recording").click()
        await expect(rec).to_contain_text("stopping")
        await _fits_one_screen(page)

        # Ending asks first; "No" keeps the call.
        await view.get_by_role("button", name="End the call").click()
        confirm = page.get_by_role("dialog", name="End the call for everyone?")
        await confirm.get_by_role("button", name="No, stay in the call").click()
        await expect(confirm).to_have_count(0)
        await expect(view).to_be_visible()
        await view.get_by_role("button", name="End the call").click()
        await confirm.get_by_label("Reason for ending").fill("statement taken")
        await confirm.get_by_role("button", name="Yes, end the call").click()
        await expect(view).to_have_count(0)
        await _status(page, "ended")
        ended = await api.ok("GET", f"/api/v1/visits/{vid}", who="alice")
        assert ended["status"] == "ended"
        assert ended["end_reason"] == "statement taken"
    finally:
        if victim is not None:
            await victim.close()
        await context.close()


async def _fits_one_screen(page: Page) -> None:
    """The call view and every control in it lie inside the viewport; nothing scrolls."""
    fits = await page.evaluate(
        """() => {
            const vw = innerWidth, vh = innerHeight;
            const doc = document.scrollingElement;
            const inside = [...document.querySelectorAll('.callview, .callview button')]
                .map(e => e.getBoundingClientRect())
                .every(r => r.left >= 0 && r.top >= 0 && r.right <= vw && r.bottom <= vh);
            return {inside, scrollH: doc.scrollHeight, scrollW: doc.scrollWidth, vw, vh};
        }"""
    )
    assert fits["inside"], fits
    assert fits["scrollH"] <= fits["vh"], fits
    assert fits["scrollW"] <= fits["vw"], fits
