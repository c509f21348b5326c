"""What a file is, judged by its bytes (never by its name or the Content-Type it came with).

Photos: JPEG, PNG, HEIC/HEIF. Short videos: MP4/QuickTime (ISO base media) and WebM. Each
check also refuses a truncated file where the format makes that visible: a JPEG must end
with its EOI marker, a PNG with its IEND chunk, an ISO file's top-level boxes must fill it
exactly and include the movie box, a WebM's EBML header must be whole.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass


class ContentError(ValueError):
    """The file is not an accepted type, or is damaged; the message says which, plainly, and
    ``reason`` says it for a page that shows it in the reader's language."""

    def __init__(self, message: str, *, reason: str = "incomplete") -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Sniffed:
    media_type: str
    extension: str
    kind: str
    """"photo" or "video"."""


JPEG = Sniffed("image/jpeg", "jpg", "photo")
PNG = Sniffed("image/png", "png", "photo")
HEIC = Sniffed("image/heic", "heic", "photo")
MP4 = Sniffed("video/mp4", "mp4", "video")
QUICKTIME = Sniffed("video/quicktime", "mov", "video")
WEBM = Sniffed("video/webm", "webm", "video")

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"
_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"heim", b"heis", b"mif1", b"msf1"}
_ISO_BOXES = {b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"uuid", b"meta"}
_ISO_BOXES |= {b"moof", b"mfra", b"styp", b"sidx", b"pdin", b"udta", b"pnot", b"prfl"}

ACCEPTED = "JPEG, PNG or HEIC photos, and MP4, MOV or WebM videos"


def _jpeg(head: bytes, tail: bytes) -> Sniffed:
    if not tail.rstrip(b"\x00").endswith(b"\xff\xd9"):
        raise ContentError("this photo is incomplete (the JPEG file is cut short)")
    return JPEG


def _png(head: bytes, tail: bytes) -> Sniffed:
    if not tail.endswith(_PNG_END):
        raise ContentError("this picture is incomplete (the PNG file is cut short)")
    return PNG


def _iso_boxes(data: bytes) -> list[bytes]:
    """Walk the top-level boxes; raise if they do not fill the file exactly."""
    types: list[bytes] = []
    at = 0
    while at < len(data):
        if len(data) - at < 8:
            raise ContentError("this file is incomplete (it ends inside a box header)")
        size, kind = struct.unpack(">I4s", data[at : at + 8])
        if size == 1:
            if len(data) - at < 16:
                raise ContentError("this file is incomplete (it ends inside a box header)")
            (size,) = struct.unpack(">Q", data[at + 8 : at + 16])
        elif size == 0:
            size = len(data) - at
        if size < 8 or at + size > len(data):
            raise ContentError("this file is incomplete (it is shorter than it says it is)")
        types.append(kind)
        at += size
    return types


def _iso(data: bytes) -> Sniffed:
    brand = data[8:12]
    boxes = _iso_boxes(data)
    if brand in _HEIF_BRANDS:
        if b"meta" not in boxes:
            raise ContentError("this photo is incomplete (no image data)")
        return HEIC
    if b"moov" not in boxes:
        raise ContentError("this video is incomplete (it has no index; was it still recording?)")
    return QUICKTIME if brand == b"qt  " else MP4


def _webm(data: bytes) -> Sniffed:
    # The EBML header's size is a variable-length integer after the 4-byte ID.
    first = data[4] if len(data) > 4 else 0
    width = 8 - first.bit_length() + 1 if first else 9
    if width > 8 or len(data) < 4 + width:
        raise ContentError("this video is incomplete (its header is cut short)")
    size = int.from_bytes(data[4 : 4 + width], "big") & ((1 << (7 * width)) - 1)
    header_end = 4 + width + size
    if header_end >= len(data) or b"webm" not in data[4 + width : header_end]:
        raise ContentError("this video is not a WebM file, or its header is cut short")
    if data[header_end : header_end + 4] != b"\x18\x53\x80\x67":
        raise ContentError("this video is incomplete (no segment after the header)")
    return WEBM


def sniff(data: bytes) -> Sniffed:
    """The file's type from its content; :class:`ContentError` if not accepted or damaged."""
    if not data:
        raise ContentError("the file is empty", reason="empty")
    if data.startswith(b"\xff\xd8\xff"):
        return _jpeg(data[:16], data[-64:])
    if data.startswith(_PNG_SIGNATURE):
        return _png(data[:16], data[-16:])
    if len(data) >= 12 and data[4:8] == b"ftyp":
        return _iso(data)
    if data.startswith(b"\x1a\x45\xdf\xa3"):
        return _webm(data)
    raise ContentError(f"this type of file cannot be accepted; send {ACCEPTED}", reason="type")


def sniff_image(data: bytes) -> Sniffed:
    """Like :func:`sniff`, for stills: only JPEG or PNG."""
    found = sniff(data)
    if found not in (JPEG, PNG):
        raise ContentError("a still must be a JPEG or PNG image", reason="type")
    return found
