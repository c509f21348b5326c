"""The victim's join page in real headless Chromium, against the real control plane and SFU.

Every screen the victim sees is checked with axe-core (WCAG 2.x A and AA) and photographed at
a phone's viewport into the session's `screens` directory.
The call under a weak link (loss, a squeeze, recovery) is tested in test_in_call.py.
"""

import asyncio
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from livekit import api as lk
from playwright.async_api import Browser, BrowserContext, Page, Route, expect

from loadtests.media import SyntheticParticipant
from tests.support.browser import PHONE, assert_accessible
from tests.support.stack import Api
from tests.web.conftest import CAMERA_RGB

NEUTRAL_PAGE = "<!doctype html><title>Weather</title><h1>Weather</h1>"


@dataclass
class Phone:
    """A phone-sized browser context whose page must never hit its own CSP."""

    context: BrowserContext
    page: Page
    csp_refusals: list[str] = field(default_factory=list)

    async def close(self) -> None:
        await self.context.close()
        assert not self.csp_refusals, f"the page's CSP refused something: {self.csp_refusals}"


async def _phone(browser: Browser) -> Phone:
    context = await browser.new_context(
        viewport=PHONE, is_mobile=True, has_touch=True, locale="en-GB"
    )
    phone = Phone(context, await context.new_page())
    phone.page.set_default_timeout(20_000)
    phone.page.on(
        "console",
        lambda m: (
            phone.csp_refusals.append(m.text) if "Content Security Policy" in m.text else None
        ),
    )
    return phone


async def _link(api: Api, vid: str) -> str:
    link = await api.ok("POST", f"/api/v1/visits/{vid}/links", who="alice", json={}, expect=201)
    return str(link["url"])


async def _screen(page: Page, heading: str, name: str, shots: Path) -> None:
    """Wait for a screen, check it with axe, and photograph it."""
    await expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()
    await assert_accessible(page, name)
    await _photo(page, name, shots)


async def _photo(page: Page, name: str, shots: Path) -> None:
    # From the top, so the sticky bar with the quick exit sits where a person sees it.
    await page.evaluate("() => window.scrollTo(0, 0)")
    await page.screenshot(path=shots / f"{name}.png", full_page=True)


async def _progress(api: Api, vid: str) -> dict[str, Any]:
    body: dict[str, Any] = await api.ok("GET", f"/api/v1/visits/{vid}/progress", who="alice")
    return body


def _close(a: tuple[int, int, int] | None, b: tuple[int, int, int], tol: int = 40) -> bool:
    return a is not None and all(abs(x - y) <= tol for x, y in zip(a, b, strict=True))


async def test_the_victim_goes_through_every_step_and_the_officer_receives_their_video(
    api: Api, browser: Browser, screenshots: Path
) -> None:
    visit = await api.new_visit()
    vid = visit["id"]
    # The officer's own item; the victim declares theirs and the check sets network_adequate.
    await api.ok(
        "PUT",
        f"/api/v1/visits/{vid}/eligibility/risk_assessment_clear",
        who="alice",
        json={"value": True},
    )
    phone = await _phone(browser)
    page = phone.page
    officer: SyntheticParticipant | None = None
    try:
        await page.goto(await _link(api, vid))
        await _screen(page, "How would you like to talk to the police?", "1-choose", screenshots)
        await page.get_by_role("button", name="Video call on this phone").click()

        # One question per page (GOV.UK), each page with its own title.
        await _screen(page, "Are you 18 or over?", "2-question-adult", screenshots)
        assert await page.title() == "Are you 18 or over? \u2013 Video call with the police"
        await page.get_by_role("button", name="Continue").click()
        # Unanswered: an error summary with a specific message takes focus, the title says
        # "Error:", the message links to the field, and axe still passes.
        summary = page.locator(".error-summary")
        await expect(summary).to_be_focused()
        await expect(summary).to_contain_text(
            "Select yes if you are 18 or over, or if a parent or guardian is with you"
        )
        assert (await page.title()).startswith("Error: Are you 18 or over?")
        await _screen(page, "Are you 18 or over?", "2-question-error", screenshots)
        await summary.get_by_role("link").click()
        await expect(page.locator("#adult-yes")).to_be_focused()
        for question in (
            "Are you 18 or over?",
            "Is the person you are reporting away from you now?",
            "Is it safe for you to talk now?",
        ):
            group = page.get_by_role("group", name=question)
            await expect(group).to_be_visible()
            await group.get_by_label("Yes", exact=True).check()
            await page.get_by_role("button", name="Continue").click()
        # The back link goes one question back, with the answer kept.
        await expect(page.get_by_role("heading", name="Before the call")).to_be_visible()
        await page.get_by_role("link", name="Back").click()
        await expect(page.get_by_role("heading", name="Are you 18 or over?")).to_be_visible()
        await page.get_by_role("button", name="Continue").click()
        await page.get_by_role("button", name="Continue").click()
        await expect(page.get_by_label("Yes", exact=True)).to_be_checked()
        await page.get_by_role("button", name="Continue").click()

        await _screen(page, "Before the call", "3-consent", screenshots)
        await expect(
            page.get_by_text("switch recording on before you give a statement")
        ).to_be_visible()
        await page.get_by_role("button", name="Yes, I agree to the call").click()

        await _screen(page, "Check your camera and microphone", "4-preview", screenshots)
        await page.get_by_role("button", name="Turn on camera and microphone").click()
        preview = page.get_by_label("Your camera")
        await expect(preview).to_be_visible()
        await page.wait_for_function(
            "() => document.querySelector('video.preview')?.videoWidth > 0"
        )
        await _screen(page, "Check your camera and microphone", "4-preview-on", screenshots)
        await page.get_by_role("button", name="Yes, I can see myself. Continue").click()

        await _screen(page, "Check your connection", "5-check", screenshots)
        # A reload keeps the session: the single-use link is not spent twice.
        await page.reload()
        await _screen(page, "Check your connection", "5-check-after-reload", screenshots)
        assert page.url.endswith("/join")
        await page.get_by_role("button", name="Start the check").click()
        await expect(
            page.get_by_text("Your connection is good for a video call.").first
        ).to_be_visible(timeout=30_000)
        await _screen(page, "Check your connection", "5-check-passed", screenshots)
        await page.get_by_role("button", name="Continue").click()

        await _screen(page, "Ready to join", "6-join", screenshots)
        await page.get_by_role("button", name="Join the video call").click()
        # The officer has not opened the room yet: the page waits, without a time limit.
        await expect(page.get_by_text("The officer will start the call soon.")).to_be_visible()
        await expect(page.get_by_role("heading", name="Waiting for the officer")).to_be_visible()
        await assert_accessible(page, "waiting")
        await _photo(page, "6-join-waiting", screenshots)

        progress = await _progress(api, vid)
        states = {s["step"]: s["state"] for s in progress["steps"]}
        assert states == {
            "choice": "done",
            "eligibility": "done",
            "consent": "done",
            "preview": "done",
            "check": "done",
            "join": "started",
        }, progress
        assert progress["consent"]["consented"] is True
        assert progress["safe_to_talk"] is True
        assert progress["connection_check"]["verdict"] in ("hd", "sd")

        await api.ok("POST", f"/api/v1/visits/{vid}/start", who="alice")
        officer_tok = await api.ok("POST", f"/api/v1/visits/{vid}/token", who="alice")
        officer = SyntheticParticipant(rgb=(200, 40, 40))
        await officer.connect(officer_tok["url"], officer_tok["token"])
        await officer.publish()

        # The page polls every few seconds, joins, and shows the officer.
        await expect(
            page.get_by_role("heading", name="You are on a call with the police")
        ).to_be_attached(timeout=30_000)
        got = await officer.wait_for_media(f"victim:{vid}", video=15, audio=10, timeout=30)
        assert _close(got.last_rgb, CAMERA_RGB), got
        await page.wait_for_function(
            "() => [...document.querySelectorAll('.officer-video video')]"
            ".some(v => v.videoWidth > 0)",
            timeout=20_000,
        )
        await expect(page.get_by_text("Recording is on")).to_be_hidden()
        await assert_accessible(page, "call")
        await _photo(page, "7-call", screenshots)

        # Recording is switched on: the room metadata says so, and the victim is told.
        await _set_room_metadata(api, vid, recording=True)
        await expect(page.get_by_text("Recording is on")).to_be_visible()
        await assert_accessible(page, "call-recording")
        await _photo(page, "7-call-recording", screenshots)

        visit_now = await api.ok("GET", f"/api/v1/visits/{vid}", who="alice")
        assert visit_now["status"] == "live"

        await page.get_by_role("button", name="Leave the call").click()
        await _screen(page, "You have left the call", "8-left", screenshots)
        assert (await _progress(api, vid))["left_at"] is not None
    finally:
        if officer is not None:
            await officer.close()
        await phone.close()


async def _set_room_metadata(api: Api, vid: str, *, recording: bool) -> None:
    """What the recorder does when it starts: mark the room as recording."""
    sfu = api.stack.sfu
    client = lk.LiveKitAPI(sfu.url, sfu.api_key, sfu.api_secret, session=api.session)
    await client.room.update_room_metadata(
        lk.UpdateRoomMetadataRequest(
            room=f"evr-{vid}", metadata=json.dumps({"visit_id": vid, "recording": recording})
        )
    )


async def test_quick_exit_leaves_at_once_and_forgets_the_session(
    api: Api, browser: Browser, screenshots: Path
) -> None:
    visit = await api.new_visit()
    exit_url = api.stack.settings.web.quick_exit_url
    phone = await _phone(browser)
    page = phone.page
    left_for: list[str] = []

    async def neutral(route: Route) -> None:
        # Answered inside Chromium: the neutral site is never contacted from a test.
        left_for.append(route.request.url)
        await route.fulfill(status=200, content_type="text/html", body=NEUTRAL_PAGE)

    await phone.context.route(exit_url.rstrip("/") + "**", neutral)
    try:
        await page.goto(await _link(api, visit["id"]))
        await expect(
            page.get_by_role("heading", name="How would you like to talk to the police?")
        ).to_be_visible()
        quick_exit = page.get_by_role("link", name="Exit this page")
        assert await quick_exit.get_attribute("href") == exit_url
        assert await page.evaluate("() => localStorage.length") == 1
        depth = await page.evaluate("() => history.length")

        await quick_exit.click()
        await page.wait_for_url(exit_url)
        assert left_for
        assert left_for[0].startswith(exit_url)
        assert await page.title() == "Weather"
        # replace(): the join page's history entry became the neutral page, so Back cannot
        # bring it back.
        assert await page.evaluate("() => history.length") == depth

        # Coming back to the site in the same tab finds nothing: the session was wiped.
        await page.goto(api.stack.base_url + "/join")
        await expect(page.get_by_role("heading", name="This link does not work")).to_be_visible()
        assert await page.evaluate("() => localStorage.length + sessionStorage.length") == 0

        # The officer is told, as a safeguarding signal.
        for _ in range(50):
            if (await _progress(api, visit["id"]))["quick_exit_at"]:
                break
            await asyncio.sleep(0.1)
        assert (await _progress(api, visit["id"]))["quick_exit_at"] is not None
    finally:
        await phone.close()


async def test_not_safe_now_then_an_in_person_visit(
    api: Api, browser: Browser, screenshots: Path
) -> None:
    visit = await api.new_visit()
    vid = visit["id"]
    phone = await _phone(browser)
    page = phone.page
    try:
        await page.goto(await _link(api, vid))
        await page.get_by_role("button", name="Video call on this phone").click()
        for question, answer in (
            ("Are you 18 or over?", "Yes"),
            ("Is the person you are reporting away from you now?", "Yes"),
            ("Is it safe for you to talk now?", "No"),
        ):
            await page.get_by_role("group", name=question).get_by_label(answer, exact=True).check()
            await page.get_by_role("button", name="Continue").click()

        await _screen(page, "That is OK. We can talk another time", "2-not-now", screenshots)
        await expect(page.get_by_text("If you are in danger now, call 999.")).to_be_visible()
        await page.get_by_role("button", name="I would like an officer to visit me").click()

        await _screen(page, "An officer will visit you", "9-in-person", screenshots)
        officer_view = await api.ok("GET", f"/api/v1/visits/{vid}", who="alice")
        assert officer_view["status"] == "chose_in_person"
        progress = await _progress(api, vid)
        assert progress["safe_to_talk"] is False
        assert {s["step"]: s["state"] for s in progress["steps"]}["eligibility"] == "declined"
    finally:
        await phone.close()


async def test_a_used_link_explains_what_to_do(
    api: Api, browser: Browser, screenshots: Path
) -> None:
    visit = await api.new_visit()
    url = await _link(api, visit["id"])
    await api.ok("POST", "/api/v1/join/" + url.rsplit("/", 1)[1], expect=201)
    phone = await _phone(browser)
    page = phone.page
    try:
        await page.goto(url)
        await _screen(
            page, "This link has already been used or has expired", "0-used-link", screenshots
        )
        # What to do next: 999 in an emergency, else the force's own non-emergency number.
        web = api.stack.settings.web
        steps = page.get_by_test_id("next-steps")
        await expect(steps).to_contain_text("If you are in danger now, call 999.")
        await expect(steps).to_contain_text(f"call {web.non_emergency_number}")
        await expect(steps).to_contain_text("crime reference from the message we sent you")
    finally:
        await phone.close()


async def test_the_first_screen_says_who_is_calling_and_a_reopened_link_carries_on(
    api: Api, browser: Browser
) -> None:
    visit = await api.new_visit(reference="CR/2026/4242")
    url = await _link(api, visit["id"])
    phone = await _phone(browser)
    page = phone.page
    try:
        await page.goto(url)
        await expect(
            page.get_by_role("heading", name="How would you like to talk to the police?")
        ).to_be_visible()
        # Trust cues from config and the visit, none hard-coded.
        await expect(page.get_by_test_id("trust-force")).to_have_text(
            api.stack.settings.web.force_name
        )
        await expect(page.get_by_test_id("trust-officer")).to_have_text("alice, collar number 1001")
        await expect(page.get_by_test_id("trust-reference")).to_have_text("CR/2026/4242")
        await page.get_by_role("button", name="Video call on this phone").click()
        await expect(page.get_by_role("heading", name="Are you 18 or over?")).to_be_visible()

        # The victim taps the link in the text message again: a new tab on the same phone
        # carries on where they were, and the single-use code is not spent a second time.
        again = await phone.context.new_page()
        await again.goto(url)
        await expect(again.get_by_role("heading", name="Are you 18 or over?")).to_be_visible()
        await expect(again).to_have_url(api.stack.base_url + "/join")
        events = await api.ok("GET", f"/api/v1/visits/{visit['id']}/events", who="alice")
        assert [e["kind"] for e in events["events"]].count("link_opened") == 1
        await again.close()
    finally:
        await phone.close()
