"""Benchmark: from opening the join link to the first frame of the officer's video on the
victim's phone, with automated taps, the connection check timed separately.

Not a test: it reports, it does not assert. Each run: a fresh visit and link; headless
Chromium at phone size (fake camera) opens the link and taps through every screen as a victim
would (choice, three questions, consent, camera preview, the check, join); an automated
officer starts the visit as soon as it can start and publishes video into the room
(loadtests.media.SyntheticParticipant); the clock stops when the phone's page shows a decoded
frame of the officer's video. The check (tap "Start the check" to its verdict) is timed on its
own and reported beside the rest.

    .venv/bin/python -m benchmarks.join_to_video [--runs 5]

Needs root (a network namespace for the SFU); starts and stops everything itself on this
machine. Goal from issue 13: 3 s or less outside the check.
"""

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
from playwright.async_api import Browser, Page, ViewportSize, async_playwright, expect

from loadtests.media import SyntheticParticipant
from tests.support.browser import ensure_built, launch_chromium, write_y4m
from tests.support.netns import create_testnet, destroy_testnet
from tests.support.stack import Api, Stack, start_stack, stop_stack

PHONE: ViewportSize = {"width": 390, "height": 844}


async def _officer(api: Api, vid: str, started: asyncio.Event) -> SyntheticParticipant:
    """Start the visit as soon as it can start, then publish the officer's video."""
    while True:
        visit = await api.ok("GET", f"/api/v1/visits/{vid}", who="alice")
        if not visit["eligibility"]["missing"]:
            break
        await asyncio.sleep(0.05)
    await api.ok("POST", f"/api/v1/visits/{vid}/start", who="alice", json={})
    started.set()
    tok = await api.ok("POST", f"/api/v1/visits/{vid}/token", who="alice", json={})
    officer = SyntheticParticipant(rgb=(200, 40, 40))
    await officer.connect(tok["url"], tok["token"])
    await officer.publish()
    return officer


async def _taps(page: Page, url: str) -> dict[str, float]:
    t0 = time.perf_counter()
    await page.goto(url)
    await page.get_by_role("button", name="Video call on this phone").wait_for()
    loaded = time.perf_counter()
    # The taps that gave an answer to the server, each timed to the next screen's control.
    a0 = time.perf_counter()
    await page.get_by_role("button", name="Video call on this phone").click()
    await page.locator("input[value=yes]").wait_for()
    answers = time.perf_counter() - a0
    for i in range(3):
        await page.locator("input[value=yes]").check()
        a0 = time.perf_counter()
        await page.get_by_role("button", name="Continue").click()
        if i == 2:
            await page.get_by_role("button", name="Yes, I agree to the call").wait_for()
            answers += time.perf_counter() - a0
    a0 = time.perf_counter()
    await page.get_by_role("button", name="Yes, I agree to the call").click()
    await page.get_by_role("button", name="Turn on camera and microphone").wait_for()
    answers += time.perf_counter() - a0
    await page.get_by_role("button", name="Turn on camera and microphone").click()
    await page.get_by_role("button", name="Yes, I can see myself. Continue").click()
    check0 = time.perf_counter()
    await page.get_by_role("button", name="Start the check").click()
    await expect(page.get_by_test_id("verdict")).to_be_visible(timeout=60_000)
    check1 = time.perf_counter()
    await page.locator("#main .notice + .actions button").first.click()
    await page.get_by_role("button", name="Join the video call").click()
    join0 = time.perf_counter()
    await page.locator("main.screen--call").wait_for(state="attached", timeout=60_000)
    in_call = time.perf_counter()
    await page.wait_for_function(
        "() => document.querySelector('.officer-video video')?.videoWidth > 0", timeout=60_000
    )
    t1 = time.perf_counter()
    return {
        "total": t1 - t0,
        "check": check1 - check0,
        "outside": (t1 - t0) - (check1 - check0),
        # Where the time outside the check goes.
        "load": loaded - t0,
        "screens": (check0 - loaded) + (join0 - check1),
        # Part of "screens": choice, last safety question and consent, tap to next screen.
        "answers": answers,
        "to_call_screen": in_call - join0,
        "to_first_frame": t1 - in_call,
    }


async def _one(browser: Browser, api: Api, stack: Stack) -> dict[str, float]:
    visit = await api.new_visit()
    vid = visit["id"]
    item = f"/api/v1/visits/{vid}/eligibility/risk_assessment_clear"
    await api.ok("PUT", item, who="alice", json={"value": True})
    link = await api.ok("POST", f"/api/v1/visits/{vid}/links", who="alice", json={}, expect=201)
    context = await browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    page = await context.new_page()
    page.set_default_timeout(60_000)
    started = asyncio.Event()
    officer_task = asyncio.create_task(_officer(api, vid, started))
    officer: SyntheticParticipant | None = None
    try:
        result = await _taps(page, link["url"])
        officer = await officer_task
        await api.ok("POST", f"/api/v1/visits/{vid}/end", who="alice", json={"reason": "bench"})
        return result
    finally:
        if officer is None and not officer_task.done():
            officer_task.cancel()
        if officer is not None:
            await officer.close()
        await context.close()


async def measure(runs: int) -> list[dict[str, float]]:
    ensure_built()
    net = create_testnet("bench-join")
    results: list[dict[str, float]] = []
    try:
        with tempfile.TemporaryDirectory(prefix="evr-bench-join-") as tmp:
            stack = await start_stack(
                net=net,
                database_url=f"sqlite+aiosqlite:///{tmp}/evr.sqlite3",
                workdir=Path(tmp) / "sfu",
                http_port=17970,
            )
            try:
                clip = write_y4m(Path(tmp) / "cam.y4m", (40, 60, 200))
                async with async_playwright() as pw, aiohttp.ClientSession() as http:
                    browser = await launch_chromium(
                        pw,
                        origin=stack.base_url,
                        video=clip,
                        home=Path(tmp),
                        hosts=[urlsplit(stack.base_url).hostname or "", stack.sfu.node_ip],
                    )
                    api = Api(http, stack)
                    try:
                        for i in range(runs):
                            r = await _one(browser, api, stack)
                            print(
                                f"run {i + 1}: total {r['total']:.2f} s, check {r['check']:.2f}"
                                f" s, outside the check {r['outside']:.2f} s"
                                f" (page load {r['load']:.2f}, screens and taps"
                                f" {r['screens']:.2f} of which the 3 answer taps"
                                f" {r['answers']:.2f}, join tap to call screen"
                                f" {r['to_call_screen']:.2f}, to first frame"
                                f" {r['to_first_frame']:.2f})",
                                flush=True,
                            )
                            results.append(r)
                    finally:
                        await browser.close()
            finally:
                await stop_stack(stack)
    finally:
        destroy_testnet(net)
    return results


def summary(results: list[dict[str, float]]) -> str:
    def med(key: str) -> float:
        return statistics.median(r[key] for r in results)

    return (
        f"median of {len(results)}: total {med('total'):.2f} s, check {med('check'):.2f} s,"
        f" outside the check {med('outside'):.2f} s (goal <= 3 s); page load"
        f" {med('load'):.2f} s, screens and taps {med('screens'):.2f} s (the 3 answer taps"
        f" {med('answers'):.2f} s), join tap to call"
        f" screen {med('to_call_screen'):.2f} s, call screen to first frame"
        f" {med('to_first_frame'):.2f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    print(summary(asyncio.run(measure(args.runs))))


if __name__ == "__main__":
    main()
