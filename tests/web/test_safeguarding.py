"""Safeguarding in the officer's console, in real Chromium: each alert the victim's page can
raise shows at the top of the visit and as a marker in the visit list, and "Start the visit"
stays disabled with a plain-English reason until the visit can start."""

from datetime import UTC, datetime
from typing import Any

from playwright.async_api import Browser, Page, ViewportSize, expect

from tests.support.browser import assert_accessible
from tests.support.stack import Api

LAPTOP: ViewportSize = {"width": 1366, "height": 768}
ALL_ITEMS = (
    "risk_assessment_clear",
    "adult_or_guardian",
    "offender_not_present",
    "smartphone_with_video",
    "network_adequate",
)


async def _visit_today(api: Api, reference: str) -> str:
    now = datetime.now(UTC).replace(microsecond=0).isoformat()
    visit: dict[str, Any] = await api.ok(
        "POST",
        "/api/v1/visits",
        who="alice",
        expect=201,
        json={
            "crime_reference": reference,
            "scheduled_at": now,
            "contact": {"channel": "sms", "value": "+447700900321"},
        },
    )
    vid = str(visit["id"])
    await api.ok("POST", f"/api/v1/visits/{vid}/choice", who="alice", json={"choice": "video"})
    return vid


async def _sign_in(page: Page, api: Api) -> None:
    await page.goto(api.stack.base_url + "/console")
    await page.get_by_label("Officer token").fill(api.stack.tokens["alice"])
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", name="Video visits")).to_be_visible()


async def _progress(api: Api, session: str, step: str, state: str, detail: str = "") -> None:
    await api.ok(
        "POST",
        "/api/v1/participant/progress",
        bearer=session,
        json={"step": step, "state": state, "detail": detail},
    )


async def test_each_alert_is_loud_and_start_waits_with_a_reason(api: Api, browser: Browser) -> None:
    reference = "CR/2026/5150"
    vid = await _visit_today(api, reference)
    context = await browser.new_context(viewport=LAPTOP, locale="en-GB")
    page = await context.new_page()
    page.set_default_timeout(20_000)
    try:
        await _sign_in(page, api)
        await page.get_by_role("button", name=f"Open visit {reference}").click()
        await expect(page.get_by_role("heading", name=f"Visit {reference}")).to_be_visible()

        # Nothing recorded and no link yet: Start is there but disabled, and says why.
        start = page.get_by_role("button", name="Start the visit")
        await expect(start).to_be_disabled()
        blocker = page.get_by_test_id("start-blocker")
        await expect(blocker).to_contain_text("not recorded yet: risk assessment")
        await expect(blocker).to_contain_text("no join link has been created")
        assert "_" not in (await blocker.inner_text()), "raw field names in the reason"

        # "Not met" is told apart from "not recorded".
        await page.get_by_role("button", name="Not met: Offender not present", exact=True).click()
        await expect(blocker).to_contain_text("recorded as not met: offender not present")

        # The victim opens the link and, on their page, raises every alert.
        link = await api.ok("POST", f"/api/v1/visits/{vid}/links", who="alice", json={}, expect=201)
        joined = await api.ok("POST", "/api/v1/join/" + link["url"].rsplit("/", 1)[1], expect=201)
        session = joined["session"]
        await api.ok(
            "POST",
            "/api/v1/participant/eligibility",
            bearer=session,
            json={
                "adult_or_guardian": True,
                "offender_not_present": False,
                "smartphone_with_video": True,
                "safe_to_talk": False,
            },
        )
        await _progress(api, session, "preview", "failed", "permission denied")
        await _progress(api, session, "join", "started", "waiting for the officer")
        await _progress(api, session, "quick_exit", "done")

        banner = page.get_by_test_id("safeguarding-alerts")
        for kind, title in (
            ("offender_present", "Offender may be present"),
            ("not_safe_to_talk", "Not safe to talk"),
            ("quick_exit", "Quick exit used"),
            ("media_refused", "Camera or microphone refused"),
            ("victim_waiting", "Victim waiting"),
        ):
            await expect(banner.locator(f"li[data-alert={kind}]")).to_contain_text(title)
        # At the top of the visit, above everything but its heading.
        first = await page.evaluate(
            "() => document.querySelector('.detail > div:nth-child(2)').dataset.testid"
        )
        assert first == "visit-alerts"
        row = page.locator(f"tr[data-visit='{vid}']")
        await expect(row.get_by_test_id("alert-marker")).to_contain_text("Quick exit used")
        await expect(blocker).to_contain_text("the victim said the offender may be with them")
        # Who recorded each item, by role: never a raw participant id.
        recorded = page.locator("li[data-item=adult_or_guardian]")
        await expect(recorded).to_contain_text("by the victim")
        assert "participant:" not in await recorded.inner_text()
        await expect(blocker).to_contain_text("not safe to talk now")
        await assert_accessible(page, "console safeguarding alerts")

        # Everything recorded as met, but the victim's "not safe" still holds Start back.
        for item in ALL_ITEMS:
            await api.ok(
                "PUT", f"/api/v1/visits/{vid}/eligibility/{item}", who="alice", json={"value": True}
            )
        await expect(banner.locator("li[data-alert=offender_present]")).to_have_count(0)
        await expect(blocker).to_have_text(
            "You cannot start the visit yet: the victim said it is not safe to talk now."
        )
        await expect(start).to_be_disabled()

        # Safe to talk now: Start is offered, and works.
        await api.ok(
            "POST",
            "/api/v1/participant/eligibility",
            bearer=session,
            json={
                "adult_or_guardian": True,
                "offender_not_present": True,
                "smartphone_with_video": True,
                "safe_to_talk": True,
            },
        )
        await expect(start).to_be_enabled()
        await expect(blocker).to_have_count(0)
        await start.click()
        await expect(page.get_by_test_id("visit-status")).to_have_text("waiting")
        # The quick exit never clears.
        await expect(banner.locator("li[data-alert=quick_exit]")).to_be_visible()
    finally:
        await context.close()
