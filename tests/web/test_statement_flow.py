"""The statement taken on a real call, in real Chromium: the officer (console, in the call)
takes a still of the victim's LiveKit video and drafts the statement; the victim (phone page)
reads it, asks for a correction, signs it with a drawn signature, and sends a photo and a bad
file; what is sealed is checked; axe at WCAG 2.2 AA on the signing and upload screens."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from PIL import Image
from playwright.async_api import Browser, Page, expect

from control_plane.keys import RECORDINGS
from core.domain import TokenRole, room_name_for
from core.tokens import identity_for, mint
from evidence.exhibit import EXHIBIT_NAME
from evidence.store import MASTERS_DIR
from evidence.verify import verify_store_entry
from loadtests.media import SyntheticParticipant
from tests.recorder.statement import master_dir, trusted_of
from tests.support.browser import PHONE, assert_accessible
from tests.support.stack import Api
from tests.web.test_console import DESKTOP

VICTIM_RGB = (200, 40, 60)
POLLED = 20_000
"""ms to wait for what the pages learn by polling (every 3-4 s), on a loaded 2-core machine."""
ELIGIBILITY = (
    "risk_assessment_clear",
    "adult_or_guardian",
    "offender_not_present",
    "smartphone_with_video",
    "network_adequate",
)
STATEMENT = "I came home at 21:00 and found the back door forced.\nMy laptop was gone."


def _close(a: tuple[int, ...], b: tuple[int, int, int], tol: int = 45) -> bool:
    return all(abs(x - y) <= tol for x, y in zip(a, b, strict=False))


def _jpeg(path: Path) -> Path:
    Image.new("RGB", (320, 240), (10, 120, 40)).save(path, format="JPEG")
    return path


async def _live_visit(api: Api) -> tuple[str, str]:
    """A started visit scheduled now (the console lists today's), and the victim's session."""
    visit = await api.ok(
        "POST",
        "/api/v1/visits",
        who="alice",
        expect=201,
        json={
            "crime_reference": "CR/2026/1515",
            "scheduled_at": datetime.now(UTC).isoformat(),
            "contact": {"channel": "sms", "value": "+447700900123"},
        },
    )
    vid = visit["id"]
    await api.ok("POST", f"/api/v1/visits/{vid}/choice", who="alice", json={"choice": "video"})
    for item in ELIGIBILITY:
        await api.ok(
            "PUT", f"/api/v1/visits/{vid}/eligibility/{item}", who="alice", json={"value": True}
        )
    link = await api.ok("POST", f"/api/v1/visits/{vid}/links", who="alice", json={}, expect=201)
    joined = await api.ok("POST", "/api/v1/join/" + link["url"].rsplit("/", 1)[1], expect=201)
    await api.ok("POST", f"/api/v1/visits/{vid}/start", who="alice")
    return vid, joined["session"]


async def _phone_at_ended(browser: Browser, api: Api, vid: str, session: str) -> Page:
    """The victim's page, resumed from the phone's stored state at the end-of-call screen."""
    context = await browser.new_context(viewport=PHONE, locale="en-GB", has_touch=True)
    page = await context.new_page()
    page.set_default_timeout(20_000)
    await page.goto(api.stack.base_url + "/join")
    state = {
        "code": "spent",
        "session": session,
        "visitId": vid,
        "officerCollar": "1001",
        "screen": "ended",
        "mode": "video",
    }
    await page.evaluate(
        "(s) => localStorage.setItem('evr.join', JSON.stringify({...s, savedAt: Date.now()}))",
        state,
    )
    await page.reload()
    return page


async def _draw_signature(page: Page) -> None:
    await page.locator("#signature").scroll_into_view_if_needed()
    box = await page.locator("#signature").bounding_box()
    assert box is not None
    x, y = box["x"], box["y"]
    await page.mouse.move(x + 20, y + box["height"] * 0.7)
    await page.mouse.down()
    for i in range(1, 12):
        await page.mouse.move(
            x + 20 + i * box["width"] / 14, y + box["height"] * (0.3 + (i % 2) * 0.4)
        )
    await page.mouse.up()


async def test_a_statement_is_taken_signed_and_sealed_on_a_real_call(
    api: Api, browser: Browser, screenshots: Path, tmp_path: Path
) -> None:
    vid, session = await _live_visit(api)
    # The victim's token as the control plane mints it (the join page's own gates, the
    # connection check included, are tested in test_join_page.py).
    token = mint(
        api.stack.settings.livekit,
        role=TokenRole.VICTIM,
        room=room_name_for(vid),
        identity=identity_for(TokenRole.VICTIM, vid),
        display_name="Victim",
        ttl=timedelta(minutes=5),
    )
    victim = SyntheticParticipant(rgb=VICTIM_RGB)
    console = await browser.new_context(viewport=DESKTOP, locale="en-GB")
    officer = await console.new_page()
    officer.set_default_timeout(20_000)
    phone: Page | None = None
    try:
        await victim.connect(token.url, token.token)
        await victim.publish()
        await officer.goto(api.stack.base_url + "/console")
        token_js = json.dumps(api.stack.tokens["alice"])
        await officer.evaluate(f"() => sessionStorage.setItem('evr.console.token', {token_js})")
        await officer.reload()
        await officer.locator(f"tr[data-visit='{vid}'] button").click()
        await officer.get_by_role("button", name="Join the call").click()
        await officer.wait_for_function(
            "() => [...document.querySelectorAll('[data-testid=call-stage] video')]"
            ".some(v => v.videoWidth > 0)",
            timeout=30_000,
        )
        await officer.get_by_role("button", name="Statement and stills").click()
        panel = officer.locator("#exhibits-panel")

        # A still of the victim's real LiveKit video track, with a caption.
        await panel.get_by_label("Caption").fill("Damage to the back door frame")
        await panel.get_by_role("button", name="Take a still").click()
        await expect(panel.get_by_text("Still sealed")).to_be_visible(timeout=POLLED)
        exhibits = (await api.ok("GET", f"/api/v1/visits/{vid}/exhibits", who="alice"))["exhibits"]
        (still,) = [e for e in exhibits if e["kind"] == "still"]
        assert still["caption"] == "Damage to the back door frame"
        assert still["media_type"] == "image/jpeg"
        sealed_still = master_dir(api, still["evidence_id"]) / MASTERS_DIR
        jpeg = (sealed_still / "still.jpg").read_bytes()
        # Hashed at capture: the console's crypto.subtle SHA-256 of these bytes is recorded.
        described = json.loads((sealed_still / EXHIBIT_NAME).read_bytes())
        assert described["capture_sha256"] == hashlib.sha256(jpeg).hexdigest() == still["sha256"]
        assert datetime.fromisoformat(described["captured_at"]).tzinfo is not None
        assert described["files"][0]["hashed"] == "capture"
        with Image.open(io.BytesIO(jpeg)) as image:
            centre = image.convert("RGB").getpixel((image.width // 2, image.height // 2))
        assert isinstance(centre, tuple)
        assert _close(centre, VICTIM_RGB), centre  # the victim's camera, through the SFU

        # The officer drafts; autosave; shows it to the witness.
        await panel.get_by_role("button", name="Start a statement").click()
        await panel.get_by_label("Statement, in the witness's own words").fill(STATEMENT)
        await expect(panel.get_by_test_id("statement-saved")).to_contain_text(
            "Saved, revision 1", timeout=POLLED
        )
        await panel.get_by_role("button", name="Show to the witness").click()
        await expect(panel.get_by_test_id("statement-saved")).to_contain_text(
            "shown to the witness"
        )

        phone = await _phone_at_ended(browser, api, vid, session)
        text = phone.get_by_test_id("statement-text")
        await expect(text).to_have_text(STATEMENT, timeout=POLLED)
        # The victim sees that a picture was taken.
        await expect(phone.get_by_test_id("stills-taken")).to_contain_text(
            "The officer took a picture from the video", timeout=POLLED
        )
        await phone.get_by_label("What should be changed?").fill("It was my work laptop")
        await phone.get_by_role("button", name="Ask the officer to change it").click()
        await expect(phone.get_by_text("Your request was sent")).to_be_visible()
        await expect(panel.get_by_test_id("statement-corrections")).to_contain_text(
            "It was my work laptop", timeout=POLLED
        )
        corrected = STATEMENT.replace("My laptop", "My work laptop")
        await panel.get_by_label("Statement, in the witness's own words").fill(corrected)
        await expect(panel.get_by_test_id("statement-saved")).to_contain_text(
            "Saved, revision 3", timeout=POLLED
        )
        await expect(text).to_have_text(corrected, timeout=POLLED)
        await expect(phone.get_by_text("The officer has changed the statement")).to_be_visible(
            timeout=POLLED
        )

        # Signing: the errors first, then the real thing.
        await assert_accessible(phone, "statement signing")
        await phone.get_by_role("button", name="Sign my statement").click()
        await expect(phone.get_by_role("alert").first).to_contain_text("Tick the box")
        await phone.get_by_label("I have read my statement and I make this declaration").check()
        await phone.get_by_label("Your full name").fill("Jane Witness")
        await _draw_signature(phone)
        await phone.screenshot(path=screenshots / "statement-sign.png", full_page=True)
        await phone.get_by_role("button", name="Sign my statement").click()
        await expect(phone.get_by_test_id("statement-signed")).to_contain_text(
            "You signed", timeout=POLLED
        )
        await expect(panel.get_by_test_id("statement-status")).to_have_text(
            "signed", timeout=POLLED
        )
        await expect(panel.get_by_test_id("statement-signature")).to_contain_text("Jane Witness")

        # The victim's own evidence: a photo, then a file that is not one.
        await assert_accessible(phone, "evidence upload")
        chooser = phone.get_by_label("Choose a photo or video")
        await chooser.set_input_files(_jpeg(tmp_path / "door.jpg"))
        await phone.get_by_role("button", name="Send to the officer").click()
        await expect(phone.get_by_test_id("upload-outcome")).to_contain_text(
            "Sent: door.jpg", timeout=POLLED
        )
        await expect(phone.get_by_test_id("uploads")).to_contain_text("SHA-256")
        bad = tmp_path / "notes.jpg"
        bad.write_bytes(b"%PDF-1.7 this is not a photo")
        await chooser.set_input_files(bad)
        await phone.get_by_role("button", name="Send to the officer").click()
        await expect(phone.get_by_role("alert")).to_contain_text("This type of file cannot be sent")
        await assert_accessible(phone, "evidence upload refused")

        # What is sealed: the statement, the still and the photo, each verifying.
        listed: list[dict[str, Any]] = (
            await api.ok("GET", f"/api/v1/visits/{vid}/exhibits", who="alice")
        )["exhibits"]
        assert sorted(e["kind"] for e in listed) == ["statement", "still", "upload"]
        await expect(officer.get_by_test_id("exhibits").locator("li")).to_have_count(
            3, timeout=POLLED
        )
        statement = next(e for e in listed if e["kind"] == "statement")
        described = json.loads(
            (master_dir(api, statement["evidence_id"]) / MASTERS_DIR / "exhibit.json").read_bytes()
        )
        assert described["witness"]["name"] == "Jane Witness"
        assert described["revision"] == 3
        assert described["corrections_requested"][0]["request"] == "It was my work laptop"
        text_file = master_dir(api, statement["evidence_id"]) / MASTERS_DIR / "statement.txt"
        assert text_file.read_text("utf-8") == corrected
        store = api.stack.app[RECORDINGS].store
        for exhibit in listed:
            report = await asyncio.to_thread(
                verify_store_entry,
                store,
                exhibit["evidence_id"],
                trusted_key_ids=trusted_of(api),
            )
            assert report.ok, (exhibit["kind"], report.failures)
        await officer.screenshot(path=screenshots / "console-statement.png")
    finally:
        await victim.close()
        if phone is not None:
            await phone.context.close()
        await console.close()
