"""The join page sends the victim's answers in the background (web/src/join/outbox.ts): the next
screen shows at once, the answers reach the real control plane one at a time in the order
given, a dropped connection is tried again, and a refused answer takes the victim back to its
screen with the reason and sends nothing after it.

Requests are only held or cut on the way (Playwright routing); the server answering is the
real one.
"""

import asyncio
from collections.abc import Callable
from typing import Any

from playwright.async_api import Browser, Locator, Page, Request, Route, expect

from tests.support.stack import Api
from tests.web.test_join_page import _link, _phone, _progress

ANSWERS = ("/participant/choice", "/participant/eligibility", "/participant/consent")
QUESTIONS = (
    "Are you 18 or over?",
    "Is the person you are reporting away from you now?",
    "Is it safe for you to talk now?",
)


def _answer(request: Request) -> str | None:
    return next((a.rsplit("/", 1)[1] for a in ANSWERS if request.url.endswith(a)), None)


async def _until(api: Api, vid: str, check: Any, timeout: float = 15) -> dict[str, Any]:
    """Poll the officer's progress view until `check` holds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        progress = await _progress(api, vid)
        if check(progress) or asyncio.get_running_loop().time() > deadline:
            return progress
        await asyncio.sleep(0.1)


async def _video_yes_to_all_and_agree(page: Page) -> Locator:
    """Choose video, answer every safety question yes and agree; return the camera screen's
    heading once it shows (no answer needs to have reached the server by then)."""
    await page.get_by_role("button", name="Video call on this phone").click()
    for question in QUESTIONS:
        group = page.get_by_role("group", name=question)
        await group.get_by_label("Yes", exact=True).check()
        await page.get_by_role("button", name="Continue").click()
    await page.get_by_role("button", name="Yes, I agree to the call").click()
    preview = page.get_by_role("heading", name="Check your camera and microphone")
    await expect(preview).to_be_visible()
    return preview


async def test_answers_go_in_the_background_in_order_and_a_dropped_one_is_sent_again(
    api: Api, browser: Browser
) -> None:
    vid = (await api.new_visit())["id"]
    phone = await _phone(browser)
    page = phone.page
    log: list[tuple[str, str]] = []
    consent_done = asyncio.Event()

    def logger(what: str) -> Callable[[Request], None]:
        def note(request: Request) -> None:
            answer = _answer(request)
            if answer:
                log.append((what, answer))
            if (what, answer) == ("done", "consent"):
                consent_done.set()

        return note

    page.on("request", logger("sent"))
    page.on("requestfinished", logger("done"))
    page.on("requestfailed", logger("failed"))
    release = asyncio.Event()

    async def hold_choice(route: Route) -> None:
        await release.wait()
        await route.continue_()

    cut: list[Route] = []

    async def cut_first_declaration(route: Route) -> None:
        if not cut:
            cut.append(route)
            await route.abort("connectionreset")
        else:
            await route.continue_()

    await page.route("**/api/v1/participant/choice", hold_choice)
    await page.route("**/api/v1/participant/eligibility", cut_first_declaration)
    try:
        await page.goto(await _link(api, vid))
        # The choice is still on its way, and the questions, consent and camera screens follow
        # one another without waiting for it.
        await _video_yes_to_all_and_agree(page)
        # Nothing after the choice left the phone while the choice was unanswered.
        assert log == [("sent", "choice")], log
        progress = await _progress(api, vid)
        assert progress["consent"] is None, progress
        assert progress["safe_to_talk"] is None, progress
        assert progress["visit"]["status"] != "accepted_video", progress

        release.set()
        progress = await _until(api, vid, lambda p: p["consent"] is not None)
        await asyncio.wait_for(consent_done.wait(), 10)
        # One at a time in the order given, each only once the one before was answered.
        assert log == [
            ("sent", "choice"),
            ("done", "choice"),
            ("sent", "eligibility"),
            ("failed", "eligibility"),
            ("sent", "eligibility"),
            ("done", "eligibility"),
            ("sent", "consent"),
            ("done", "consent"),
        ], log
        assert progress["visit"]["status"] == "accepted_video"
        assert progress["safe_to_talk"] is True
        assert progress["consent"]["consented"] is True
        progress = await _until(
            api, vid, lambda p: all(s["state"] == "done" for s in p["steps"][:3])
        )
        steps = {s["step"]: s for s in progress["steps"]}
        assert [steps[s]["state"] for s in ("choice", "eligibility", "consent")] == ["done"] * 3
        # No error was shown along the way.
        await expect(page.get_by_test_id("answer-refused")).to_have_count(0)
    finally:
        await phone.close()


async def test_a_refused_answer_takes_the_victim_back_with_the_reason(
    api: Api, browser: Browser
) -> None:
    vid = (await api.new_visit())["id"]
    phone = await _phone(browser)
    page = phone.page
    release = asyncio.Event()

    async def hold_consent(route: Route) -> None:
        await release.wait()
        await route.continue_()

    await page.route("**/api/v1/participant/consent", hold_consent)
    try:
        await page.goto(await _link(api, vid))
        preview = await _video_yes_to_all_and_agree(page)
        # The officer cancels the visit while the consent is on its way: the server refuses it.
        await api.ok("POST", f"/api/v1/visits/{vid}/cancel", who="alice", json={"reason": "test"})
        release.set()

        refused = page.get_by_test_id("answer-refused")
        await expect(refused).to_be_visible()
        await expect(refused).to_be_focused()
        await expect(page.get_by_role("heading", name="Before the call")).to_be_visible()
        await expect(preview).to_have_count(0)
        # It stays there: nothing moved it on, and no consent was recorded.
        await page.wait_for_timeout(500)
        await expect(page.get_by_role("heading", name="Before the call")).to_be_visible()
        assert (await _progress(api, vid))["consent"] is None
        assert await page.evaluate("() => JSON.parse(localStorage['evr.join']).screen") == "consent"
    finally:
        await phone.close()
