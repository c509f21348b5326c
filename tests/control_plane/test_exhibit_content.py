"""What a victim may upload, judged by content: photos and short videos are accepted, other
types and files cut short are refused with a plain message; the size limit is enforced while
the body streams in, and nothing is left behind."""

from __future__ import annotations

import asyncio
import io
import struct
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from aiohttp import StreamReader
from PIL import Image

from control_plane.errors import BadRequest
from control_plane.exhibits.content import (
    HEIC,
    JPEG,
    MP4,
    PNG,
    QUICKTIME,
    WEBM,
    ContentError,
    sniff,
    sniff_image,
)
from control_plane.exhibits.media import BodyTooLarge, receive


def photo(fmt: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(out, format=fmt)
    return out.getvalue()


def video(container: str, codec: str, options: dict[str, str] | None = None) -> bytes:
    # A real file: "faststart" moves the movie box to the front by reopening the output.
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"v.{container}"
        with av.open(str(path), "w", format=container, options=options or {}) as box:
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
        return path.read_bytes()


@pytest.fixture(scope="module")
def files() -> dict[str, bytes]:
    return {
        "jpeg": photo("JPEG"),
        "png": photo("PNG"),
        "mp4": video("mp4", "mpeg4"),
        "webm": video("webm", "libvpx"),
        "mov": video("mov", "mpeg4"),
        # The movie box first and the media data last, as phones write for sharing.
        "mp4-faststart": video("mp4", "mpeg4", {"movflags": "faststart"}),
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


# -- deeper structure: HEIC, MP4/MOV and WebM cut short or damaged --------------------------


@pytest.fixture(scope="module")
def heic(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A real HEIC photo, encoded by libheif's heif-enc (Debian libheif-examples)."""
    folder = tmp_path_factory.mktemp("heic")
    (folder / "in.png").write_bytes(photo("PNG"))
    subprocess.run(
        ["heif-enc", "-q", "60", "-o", str(folder / "out.heic"), str(folder / "in.png")],
        check=True,
        capture_output=True,
    )
    return (folder / "out.heic").read_bytes()


def box_at(data: bytes, kind: bytes, start: int = 0, end: int | None = None) -> tuple[int, int]:
    """(offset, size) of the first box of ``kind`` among the boxes in ``data[start:end]``."""
    at, end = start, len(data) if end is None else end
    while at < end:
        size, found = struct.unpack(">I4s", data[at : at + 8])
        if found == kind:
            return at, size
        at += size
    raise AssertionError(f"no {kind!r} box")


def retyped(data: bytes, at: int, kind: bytes) -> bytes:
    return data[: at + 4] + kind + data[at + 8 :]


def resized(data: bytes, at: int, size: int) -> bytes:
    return data[:at] + struct.pack(">I", size) + data[at + 4 :]


def ebml(data: bytes, at: int) -> tuple[int, int, int, int]:
    """(ID, offset of the size field, its width, payload size) of the element at ``at``."""
    id_width = 9 - data[at].bit_length()
    ident = int.from_bytes(data[at : at + id_width], "big")
    size_at = at + id_width
    width = 9 - data[size_at].bit_length()
    size = int.from_bytes(data[size_at : size_at + width], "big") & ((1 << (7 * width)) - 1)
    return ident, size_at, width, size


def live_webm(data: bytes) -> bytes:
    """The same WebM with the sizes a browser's MediaRecorder leaves open: the Segment's and
    every Cluster's size "unknown" (all value bits set)."""
    out = bytearray(data)

    def unknown(size_at: int, width: int) -> None:
        # The length marker bit and all 7 * width value bits set.
        out[size_at : size_at + width] = ((1 << (7 * width + 1)) - 1).to_bytes(width, "big")

    _, size_at, width, size = ebml(data, 0)
    segment = size_at + width + size
    _, size_at, width, _ = ebml(data, segment)
    unknown(size_at, width)
    at = size_at + width
    while at < len(data):
        ident, size_at, width, size = ebml(data, at)
        if ident == 0x1F43B675:
            unknown(size_at, width)
        at = size_at + width + size
    return bytes(out)


def refused(data: bytes) -> str:
    with pytest.raises(ContentError) as caught:
        sniff(data)
    assert caught.value.reason == "incomplete", caught.value
    return str(caught.value)


def test_real_heic_mov_and_open_ended_webm_are_accepted(
    files: dict[str, bytes], heic: bytes
) -> None:
    assert sniff(heic) is HEIC
    assert sniff(files["mov"]) is QUICKTIME
    assert sniff(files["mp4-faststart"]) is MP4
    assert sniff(live_webm(files["webm"])) is WEBM


@pytest.mark.parametrize("kind", ["heic", "mp4", "mp4-faststart", "mov", "webm", "live-webm"])
@pytest.mark.parametrize("kept", [0.15, 0.4, 0.65, 0.9, -1])
def test_a_file_cut_anywhere_is_refused(
    files: dict[str, bytes], heic: bytes, kind: str, kept: float
) -> None:
    data = {"heic": heic, "live-webm": live_webm(files["webm"])}.get(kind) or files[kind]
    cut = len(data) - 1 if kept == -1 else int(len(data) * kept)
    refused(data[:cut])


def test_a_heic_without_its_item_locations_is_refused(heic: bytes) -> None:
    meta, _ = box_at(heic, b"meta")
    iloc, _ = box_at(heic, b"iloc", meta + 12)
    assert "damaged" in refused(retyped(heic, iloc, b"free"))
    hdlr, _ = box_at(heic, b"hdlr", meta + 12)
    assert "damaged" in refused(heic[: hdlr + 16] + b"vide" + heic[hdlr + 20 :])


def test_a_heic_box_larger_than_its_parent_is_refused(heic: bytes) -> None:
    meta, meta_size = box_at(heic, b"meta")
    hdlr, _ = box_at(heic, b"hdlr", meta + 12)
    assert "shorter than it says" in refused(resized(heic, hdlr, meta_size))


def test_a_heic_whose_open_ended_image_data_is_cut_is_refused(heic: bytes) -> None:
    # An mdat of size 0 runs to the end of the file, so the box walk cannot see the cut;
    # the item locations still say how much image data there should be.
    mdat, _ = box_at(heic, b"mdat")
    open_ended = resized(heic, mdat, 0)
    assert sniff(open_ended) is HEIC
    assert "image data is cut short" in refused(open_ended[:-3])


def test_a_video_whose_open_ended_media_data_is_cut_is_refused(files: dict[str, bytes]) -> None:
    data = files["mp4-faststart"]
    mdat, _ = box_at(data, b"mdat")
    open_ended = resized(data, mdat, 0)
    assert sniff(open_ended) is MP4
    assert "media data is cut short" in refused(open_ended[: mdat + 16])


def test_a_video_index_without_a_header_or_track_is_refused(files: dict[str, bytes]) -> None:
    data = files["mp4"]
    moov, _ = box_at(data, b"moov")
    mvhd, _ = box_at(data, b"mvhd", moov + 8)
    assert "no tracks" in refused(retyped(data, mvhd, b"free"))
    trak, _ = box_at(data, b"trak", moov + 8)
    assert "no tracks" in refused(retyped(data, trak, b"free"))


def test_a_webm_without_frames_is_refused(files: dict[str, bytes]) -> None:
    """Cut at the first Cluster of an open-ended WebM: every element is whole, but there
    is nothing to play."""
    data = live_webm(files["webm"])
    first_cluster = data.index(b"\x1f\x43\xb6\x75")
    assert "no frames" in refused(data[:first_cluster])
