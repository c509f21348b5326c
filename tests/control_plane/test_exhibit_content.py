"""What a victim may upload, judged by content: photos and short videos are accepted, other
types and files cut short are refused with a plain message; the size limit is enforced while
the body streams in, and nothing is left behind."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from aiohttp import StreamReader
from PIL import Image

from control_plane.errors import BadRequest
from control_plane.exhibits.content import JPEG, MP4, PNG, WEBM, ContentError, sniff, sniff_image
from control_plane.exhibits.media import BodyTooLarge, receive


def photo(fmt: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(out, format=fmt)
    return out.getvalue()


def video(container: str, codec: str) -> bytes:
    out = io.BytesIO()
    with av.open(out, "w", format=container) as box:
        stream: Any = box.add_stream(codec, rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(10):
            frame = av.VideoFrame.from_ndarray(
                np.full((48, 64, 3), i * 20, dtype=np.uint8), format="rgb24"
            )
            for packet in stream.encode(frame):
                box.mux(packet)
        for packet in stream.encode():
            box.mux(packet)
    return out.getvalue()


@pytest.fixture(scope="module")
def files() -> dict[str, bytes]:
    return {
        "jpeg": photo("JPEG"),
        "png": photo("PNG"),
        "mp4": video("mp4", "mpeg4"),
        "webm": video("webm", "libvpx"),
    }


def test_accepted_types_are_recognised_by_their_bytes(files: dict[str, bytes]) -> None:
    assert sniff(files["jpeg"]) is JPEG
    assert sniff(files["png"]) is PNG
    assert sniff(files["mp4"]) is MP4
    assert sniff(files["webm"]) is WEBM
    assert sniff_image(files["png"]) is PNG


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"%PDF-1.7\n...", "cannot be accepted"),
        (b"<html><script>alert(1)</script>", "cannot be accepted"),
        (b"MZ\x90\x00\x03\x00\x00\x00", "cannot be accepted"),
        (b"GIF89a\x01\x00\x01\x00", "cannot be accepted"),
    ],
)
def test_other_types_are_refused_whatever_they_are_called(data: bytes, message: str) -> None:
    with pytest.raises(ContentError, match=message):
        sniff(data)


@pytest.mark.parametrize("kind", ["jpeg", "png", "mp4", "webm"])
def test_a_file_cut_short_is_refused(files: dict[str, bytes], kind: str) -> None:
    data = files[kind]
    with pytest.raises(ContentError, match=r"incomplete|cut short"):
        sniff(data[: len(data) * 2 // 3] if kind != "webm" else data[:20])


def test_a_video_is_not_a_still(files: dict[str, bytes]) -> None:
    with pytest.raises(ContentError, match="JPEG or PNG"):
        sniff_image(files["mp4"])


class _Protocol:
    """The little of aiohttp's protocol a StreamReader touches (flow control), hand-written."""

    _reading_paused = False

    def pause_reading(self, **_: object) -> None:
        self._reading_paused = True

    def resume_reading(self, **_: object) -> None:
        self._reading_paused = False


def _reader(chunks: list[bytes], *, eof: bool = True) -> StreamReader:
    protocol: Any = _Protocol()
    reader = StreamReader(protocol, 2**16, loop=asyncio.get_running_loop())
    for chunk in chunks:
        reader.feed_data(chunk)
    if eof:
        reader.feed_eof()
    return reader


async def test_receive_hashes_what_arrived(tmp_path: Path) -> None:
    got = await receive(_reader([b"abc", b"def"]), tmp_path / "f", limit=10, declared=6)
    assert (got.bytes, got.hashed) == (6, "arrival")
    assert got.sha256 == "bef57ec7f53a6d40beb640a780a639c83bc29ac8a9816f1fc6c5c6dcd93c4721"
    assert (tmp_path / "f").read_bytes() == b"abcdef"


async def test_receive_stops_at_the_limit(tmp_path: Path) -> None:
    with pytest.raises(BodyTooLarge, match="too large"):
        await receive(_reader([b"x" * 8, b"x" * 8]), tmp_path / "f", limit=10, declared=None)
    with pytest.raises(BodyTooLarge, match="too large"):
        await receive(_reader([]), tmp_path / "g", limit=10, declared=11)


async def test_receive_refuses_a_body_shorter_than_declared(tmp_path: Path) -> None:
    with pytest.raises(BadRequest, match="did not arrive in full"):
        await receive(_reader([b"abc"]), tmp_path / "f", limit=10, declared=6)
