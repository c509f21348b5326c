"""Fixtures for the pages in real headless Chromium: the built bundle, a fake camera clip, and
one browser per stack (its origin must be treated as secure for getUserMedia)."""

from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.async_api import Browser, async_playwright

from tests.support.browser import ensure_built, launch_chromium, write_y4m
from tests.support.stack import Stack

CAMERA_RGB = (40, 60, 200)
"""The colour of Chromium's fake camera clip: what the other side of a call must receive."""


@pytest.fixture(scope="session")
def built_pages() -> None:
    ensure_built()


@pytest.fixture(scope="session")
def camera_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_y4m(tmp_path_factory.mktemp("camera") / "victim.y4m", CAMERA_RGB)


@pytest.fixture(scope="session")
async def browser(
    stack: Stack,
    built_pages: None,
    camera_clip: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        chromium = await launch_chromium(
            pw,
            origin=stack.base_url,
            video=camera_clip,
            home=tmp_path_factory.mktemp("chromium-home"),
            hosts=[urlsplit(stack.base_url).hostname or "", stack.sfu.node_ip],
        )
        try:
            yield chromium
        finally:
            await chromium.close()


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("screens")
