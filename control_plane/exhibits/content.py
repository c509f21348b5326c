"""What a file is, judged by its bytes (never by its name or the Content-Type it came with).

Photos: JPEG, PNG, HEIC/HEIF. Short videos: MP4/QuickTime (ISO base media) and WebM. Each
check also refuses a truncated or malformed file where the format makes that visible:

* a JPEG must end with its EOI marker, a PNG with its IEND chunk;
* an ISO file's boxes must fill it exactly; a video's movie box must be whole (header and
  tracks), with every chunk of every track inside the file; a HEIC photo's `meta` must hold
  the handler (`pict`), primary item, item info and item locations, each inside the file;
* a WebM's elements (EBML header, Segment, each of its children, and the elements inside a
  Cluster of unknown size) must fit in the file, with Info, Tracks and a Cluster.

Every refusal has a ``reason``: "type", "empty" or "incomplete" (cut short or damaged; the
phone says "damaged or incomplete" in the victim's language).
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

ACCEPTED = "JPEG, PNG or HEIC photos, and MP4, MOV or WebM videos"


def _jpeg(head: bytes, tail: bytes) -> Sniffed:
    if not tail.rstrip(b"\x00").endswith(b"\xff\xd9"):
        raise ContentError("this photo is incomplete (the JPEG file is cut short)")
    return JPEG


def _png(head: bytes, tail: bytes) -> Sniffed:
    if not tail.endswith(_PNG_END):
        raise ContentError("this picture is incomplete (the PNG file is cut short)")
    return PNG


_INCOMPLETE_BOX = "this file is incomplete (it ends inside a box header)"
_SHORTER = "this file is incomplete (it is shorter than it says it is)"


@dataclass(frozen=True)
class _Box:
    kind: bytes
    body: int
    """Offset of the box's payload (after its header)."""
    end: int


def _boxes(data: bytes, start: int, end: int) -> list[_Box]:
    """Walk the ISO boxes in ``data[start:end]``; raise unless they fill it exactly."""
    found: list[_Box] = []
    at = start
    while at < end:
        if end - at < 8:
            raise ContentError(_INCOMPLETE_BOX)
        size, kind = struct.unpack(">I4s", data[at : at + 8])
        header = 8
        if size == 1:
            if end - at < 16:
                raise ContentError(_INCOMPLETE_BOX)
            (size,) = struct.unpack(">Q", data[at + 8 : at + 16])
            header = 16
        elif size == 0:
            size = end - at
        if size < header or at + size > end:
            raise ContentError(_SHORTER)
        found.append(_Box(kind, at + header, at + size))
        at += size
    return found


def _uint(data: bytes, at: int, width: int) -> int:
    return int.from_bytes(data[at : at + width], "big") if width else 0


def _iloc_extents_fit(data: bytes, iloc: _Box, idat: _Box | None) -> None:
    """Every item's data (ISO/IEC 23008-12 `iloc`) must lie inside the file (or its `idat`).

    A file cut inside a last `mdat` whose size is 0 ("to the end of the file") passes the
    box walk; the item locations still say where the image data should have been.
    """
    damaged = ContentError("this photo is damaged (its image index cannot be read)")
    d, at, end = data, iloc.body, iloc.end
    try:
        version = d[at]
        at += 4
        offset_size, length_size = d[at] >> 4, d[at] & 0x0F
        base_size, index_size = d[at + 1] >> 4, (d[at + 1] & 0x0F if version in (1, 2) else 0)
        at += 2
        count_width = 4 if version == 2 else 2
        count = _uint(d, at, count_width)
        at += count_width
        for _ in range(count):
            at += 4 if version == 2 else 2  # item_ID
            method = 0
            if version in (1, 2):
                method = _uint(d, at, 2) & 0x0F
                at += 2
            at += 2  # data_reference_index
            base = _uint(d, at, base_size)
            at += base_size
            extents = _uint(d, at, 2)
            at += 2
            for _ in range(extents):
                at += index_size
                offset = _uint(d, at, offset_size)
                at += offset_size
                length = _uint(d, at, length_size)
                at += length_size
                if at > end:
                    raise damaged
                if method == 0 and base + offset + length > len(d):
                    raise ContentError("this photo is incomplete (its image data is cut short)")
                if method == 1 and (idat is None or base + offset + length > idat.end - idat.body):
                    raise damaged
    except IndexError:
        raise damaged from None


def _heif(data: bytes, boxes: list[_Box]) -> Sniffed:
    metas = [b for b in boxes if b.kind == b"meta"]
    if not metas:
        raise ContentError("this photo is incomplete (no image data)")
    meta = metas[0]
    inner = {b.kind: b for b in _boxes(data, meta.body + 4, meta.end)}  # meta is a FullBox
    missing = [k.decode() for k in (b"hdlr", b"pitm", b"iloc", b"iinf") if k not in inner]
    if missing or data[inner[b"hdlr"].body + 8 : inner[b"hdlr"].body + 12] != b"pict":
        raise ContentError("this photo is damaged (it has no image index)")
    if b"idat" not in inner and not any(b.kind == b"mdat" for b in boxes):
        raise ContentError("this photo is incomplete (no image data)")
    _iloc_extents_fit(data, inner[b"iloc"], inner.get(b"idat"))
    return HEIC


# Boxes that hold only boxes, down to the sample tables (QuickTime's `udta` may not).
_MOVIE_CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"edts", b"dinf", b"mvex"}
_BAD_INDEX = "this video is damaged (its index cannot be read)"


def _table(data: bytes, box: _Box, entry: int, *, skip: int = 0) -> list[bytes]:
    """The entries of a sample-table FullBox: a 32-bit count after ``skip`` bytes, then
    ``count`` entries of ``entry`` bytes, all inside the box."""
    at = box.body + 4 + skip
    count = _uint(data, at, 4)
    at += 4
    if at + count * entry > box.end:
        raise ContentError(_BAD_INDEX)
    return [data[at + i * entry : at + (i + 1) * entry] for i in range(count)]


def _chunks_fit(data: bytes, table: dict[bytes, _Box]) -> None:
    """Each chunk of a track (`stco`/`co64` offset, `stsc` samples per chunk, `stsz` sizes)
    must end inside the file: a last `mdat` of size 0 ("to the end") may be cut short."""
    if b"stco" in table:
        offsets = [_uint(e, 0, 4) for e in _table(data, table[b"stco"], 4)]
    elif b"co64" in table:
        offsets = [_uint(e, 0, 8) for e in _table(data, table[b"co64"], 8)]
    else:
        return
    if b"stsz" not in table or b"stsc" not in table:
        return  # compact sizes (stz2) are rare from phones; the box walk still applies
    stsz = table[b"stsz"]
    uniform = _uint(data, stsz.body + 4, 4)
    if uniform:
        count = _uint(data, stsz.body + 8, 4)
        sizes = [uniform] * count
    else:
        sizes = [_uint(e, 0, 4) for e in _table(data, stsz, 4, skip=4)]
    runs = [(_uint(e, 0, 4), _uint(e, 4, 4)) for e in _table(data, table[b"stsc"], 12)]
    sample = 0
    for i, offset in enumerate(offsets, start=1):
        per_chunk = next((n for first, n in reversed(runs) if first <= i), 0)
        end = offset + sum(sizes[sample : sample + per_chunk])
        sample += per_chunk
        if end > len(data):
            raise ContentError("this video is incomplete (its media data is cut short)")


def _movie(data: bytes, boxes: list[_Box]) -> None:
    """The movie box must be whole (its boxes fill it, with a header and a track) and every
    track's chunks must lie inside the file."""
    moov = next(b for b in boxes if b.kind == b"moov")
    found: set[bytes] = set()
    pending = [moov]
    while pending:
        box = pending.pop()
        for child in _boxes(data, box.body, box.end):
            found.add(child.kind)
            if child.kind in _MOVIE_CONTAINERS:
                pending.append(child)
            elif child.kind == b"stbl":
                _chunks_fit(data, {b.kind: b for b in _boxes(data, child.body, child.end)})
    if b"mvhd" not in found or b"trak" not in found:
        raise ContentError("this video is damaged (its index has no tracks)")


def _iso(data: bytes) -> Sniffed:
    brand = data[8:12]
    boxes = _boxes(data, 0, len(data))
    if brand in _HEIF_BRANDS:
        return _heif(data, boxes)
    if not any(b.kind == b"moov" for b in boxes):
        raise ContentError("this video is incomplete (it has no index; was it still recording?)")
    _movie(data, boxes)
    return QUICKTIME if brand == b"qt  " else MP4


# Matroska/WebM element IDs (with their length-marker bits, as written).
_EBML = 0x1A45DFA3
_SEGMENT = 0x18538067
_CLUSTER = 0x1F43B675
_INFO = 0x1549A966
_TRACKS = 0x1654AE6B
# The Segment's children: an unknown-sized Cluster ends where the next of these starts.
_SEGMENT_CHILDREN = {
    0x114D9B74,  # SeekHead
    _INFO,
    _TRACKS,
    _CLUSTER,
    0x1C53BB6B,  # Cues
    0x1043A770,  # Chapters
    0x1254C367,  # Tags
    0x1941A469,  # Attachments
    0xEC,  # Void
    0xBF,  # CRC-32
}
_WEBM_CUT = "this video is incomplete (it is shorter than it says it is)"


def _vint(data: bytes, at: int, *, max_width: int) -> tuple[int, int, bool]:
    """An EBML variable-length integer at ``at``: (value, width, all value bits set)."""
    if at >= len(data):
        raise ContentError(_WEBM_CUT)
    first = data[at]
    width = 9 - first.bit_length() if first else 9
    if width > max_width:
        raise ContentError("this video is damaged (an element header cannot be read)")
    if at + width > len(data):
        raise ContentError(_WEBM_CUT)
    raw = int.from_bytes(data[at : at + width], "big")
    mask = (1 << (7 * width)) - 1
    return raw, width, raw & mask == mask


def _element(data: bytes, at: int) -> tuple[int, int, int | None]:
    """(ID, payload offset, payload size or None when unknown) of the element at ``at``."""
    ident, id_width, _ = _vint(data, at, max_width=4)
    size, size_width, unknown = _vint(data, at + id_width, max_width=8)
    body = at + id_width + size_width
    return ident, body, None if unknown else size & ((1 << (7 * size_width)) - 1)


def _unsized_cluster_end(data: bytes, at: int, end: int) -> int:
    """Where a Cluster of unknown size ends: at the next Segment child, or at ``end``; each
    element inside it must be whole."""
    while at < end:
        child, body, size = _element(data, at)
        if child in _SEGMENT_CHILDREN:
            break
        if size is None:
            raise ContentError("this video is damaged (an element of unknown size)")
        at = body + size
        if at > end:
            raise ContentError(_WEBM_CUT)
    return at


def _webm(data: bytes) -> Sniffed:
    """Walk the EBML header, the Segment and its children: every element's size must fit in
    the file, an unknown-sized Cluster (as a browser's MediaRecorder writes them) must hold
    whole elements, and Info, Tracks and at least one Cluster must be there."""
    ident, body, size = _element(data, 0)
    if size is None or body + size > len(data) or b"webm" not in data[body : body + size]:
        raise ContentError("this video is not a WebM file, or its header is cut short")
    at = body + size
    if at >= len(data):
        raise ContentError("this video is incomplete (no segment after the header)")
    ident, at, size = _element(data, at)
    if ident != _SEGMENT:
        raise ContentError("this video is incomplete (no segment after the header)")
    end = len(data) if size is None else at + size
    if end > len(data):
        raise ContentError(_WEBM_CUT)
    seen: set[int] = set()
    while at < end:
        ident, body, size = _element(data, at)
        seen.add(ident)
        if size is not None:
            at = body + size
            if at > end:
                raise ContentError(_WEBM_CUT)
            continue
        if ident != _CLUSTER:
            raise ContentError("this video is damaged (an element of unknown size)")
        at = _unsized_cluster_end(data, body, end)
    if not {_INFO, _TRACKS, _CLUSTER} <= seen:
        raise ContentError("this video is incomplete (it has no frames or no track list)")
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
