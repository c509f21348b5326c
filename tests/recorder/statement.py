"""Helpers for statement tests on the real SFU with the real recorder process."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import av
import numpy as np

from core.domain import TokenRole, room_name_for
from core.tokens import identity_for, mint
from evidence.keys import trusted_fingerprints
from evidence.manifest import Manifest
from evidence.store import MANIFEST_NAME, MASTERS_DIR
from loadtests.media import CLICK_HZ, SyntheticParticipant
from tests.support.recorder import eventually
from tests.support.stack import Api

OFFICER_RGB = (200, 40, 40)
VICTIM_RGB = (40, 40, 200)
OFFICER_TONE, VICTIM_TONE = 440.0, 660.0


@dataclass
class Call:
    visit_id: str
    session: str
    officer: SyntheticParticipant
    victim: SyntheticParticipant
    victim_identity: str

    async def close(self) -> None:
        await self.victim.close()
        await self.officer.close()


async def open_call(api: Api, who: str = "alice", *, size: tuple[int, int] | None = None) -> Call:
    """A live visit with a synthetic officer and victim publishing their patterns (`size`
    video if given: evidence.bench measures the recorder at 720p)."""
    vid, session = await api.live_ready_visit(who)
    officer_tok = await api.ok("POST", f"/api/v1/visits/{vid}/token", who=who)
    # The victim's token exactly as the control plane mints it; minted here so these tests do
    # not depend on the join page's own gates (connection check), tested elsewhere.
    victim_tok = mint(
        api.stack.settings.livekit,
        role=TokenRole.VICTIM,
        room=room_name_for(vid),
        identity=identity_for(TokenRole.VICTIM, vid),
        display_name="Victim",
        ttl=timedelta(minutes=2),
    )
    # Two tries: these tests are about the recorder, and on a busy 2-core machine a
    # synthetic participant's media now and then never starts flowing (WebRTC's own set-up
    # is tested in tests/control_plane). A second pair joins the same room afresh.
    for attempt in (1, 2):
        officer = SyntheticParticipant(rgb=OFFICER_RGB, tone_hz=OFFICER_TONE)
        victim = SyntheticParticipant(rgb=VICTIM_RGB, tone_hz=VICTIM_TONE)
        if size is not None:
            for person in (officer, victim):
                person.width, person.height = size
        call = Call(vid, session, officer, victim, victim_tok.identity)
        try:
            await officer.connect(officer_tok["url"], officer_tok["token"])
            await victim.connect(victim_tok.url, victim_tok.token)
            await officer.publish()
            await victim.publish()
            await officer.wait_for_media(victim_tok.identity, video=5, audio=5)
        except TimeoutError:
            await call.close()
            if attempt == 2:
                raise
            continue
        except BaseException:
            await call.close()
            raise
        break
    return call


async def recording_of(api: Api, vid: str, who: str = "alice") -> dict[str, Any]:
    visit: dict[str, Any] = await api.ok("GET", f"/api/v1/visits/{vid}", who=who)
    recording: dict[str, Any] = visit["recording"]
    return recording


async def wait_recording(
    api: Api, vid: str, *, status: str, secured: bool | None = None, timeout: float = 30
) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        rec = await recording_of(api, vid)
        ok = rec is not None and rec["status"] == status
        if ok and secured is not None:
            ok = rec["secured"] is secured
        return rec if ok else None

    found: dict[str, Any] = await eventually(check, timeout=timeout)
    return found


async def consent_and_start(api: Api, call: Call) -> dict[str, Any]:
    await api.ok(
        "POST",
        "/api/v1/participant/recording/consent",
        bearer=call.session,
        json={"consent": True},
        expect=201,
    )
    state: dict[str, Any] = await api.ok(
        "POST", f"/api/v1/visits/{call.visit_id}/recording/start", who="alice", expect=202
    )
    return state


def master_dir(api: Api, evidence_id: str) -> Path:
    return api.stack.settings.recording.store_dir / "evidence" / evidence_id


def manifest_of(api: Api, evidence_id: str) -> Manifest:
    return Manifest.from_bytes((master_dir(api, evidence_id) / MANIFEST_NAME).read_bytes())


def trusted_of(api: Api) -> frozenset[str]:
    """The fingerprints the test stack trusts: its own signing key's."""
    rs = api.stack.settings.recording
    return trusted_fingerprints(rs.trusted_key_fingerprints, rs.signing_key)


def masters(api: Api, evidence_id: str) -> list[Path]:
    return sorted((master_dir(api, evidence_id) / MASTERS_DIR).iterdir())


def ffprobe(path: Path) -> dict[str, Any]:
    out = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-print_format",
            "json",
            "-show_format",
            "-show_streams",
            str(path),
        ],
        capture_output=True,
        check=True,
        text=True,
    ).stdout
    data: dict[str, Any] = json.loads(out)
    return data


@dataclass
class Decoded:
    video_seconds: float
    audio_seconds: float
    flash_at: float | None
    click_at: float | None
    tiles: list[tuple[float, float]]  # mean luma of left/right halves, per sampled frame
    audio: np.ndarray[Any, np.dtype[np.float32]]
    sample_rate: int


def decode(path: Path) -> Decoded:
    """Decode a segment fully: durations, the sync mark's flash and click, tiles, audio."""
    video_end = audio_end = 0.0
    flash = click = None
    tiles: list[tuple[float, float]] = []
    chunks: list[np.ndarray[Any, np.dtype[np.float32]]] = []
    rate = 48_000
    with av.open(str(path)) as container:
        vstream = container.streams.video[0]
        fps = float(vstream.average_rate or 25)
        for frame in container.decode(video=0):
            assert frame.time is not None
            video_end = max(video_end, frame.time + 1 / fps)
            rgb = frame.to_ndarray(format="rgb24")
            half = rgb.shape[1] // 2
            left, right = rgb[:, :half], rgb[:, half:]
            tiles.append((float(left[..., 0].mean()), float(right[..., 2].mean())))
            h, w = rgb.shape[:2]
            centre = rgb[h // 3 : 2 * h // 3, half + w // 8 : w - w // 8]  # the victim's tile
            if flash is None and centre.mean() > 200:
                flash = frame.time
    # Opened again rather than seeking: a segment cut short by a crash has no index to seek by.
    with av.open(str(path)) as container:
        for sound in container.decode(audio=0):
            assert sound.time is not None
            rate = sound.sample_rate
            data = sound.to_ndarray().astype(np.float32)
            mono = data.mean(axis=0) if data.ndim == 2 else data
            chunks.append(mono)
            audio_end = max(audio_end, sound.time + sound.samples / sound.sample_rate)
    audio = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
    # The click is a burst at CLICK_HZ: demodulate that pitch and average over 2 ms (which
    # nulls the 440/660 Hz tones), and take the first instant its amplitude stands out.
    if audio.size:
        t = np.arange(audio.size) / rate
        mixed = audio * np.exp(-2j * np.pi * CLICK_HZ * t)
        window = rate // 500
        amplitude = 2 * np.abs(np.convolve(mixed, np.ones(window) / window, mode="same"))
        onset = np.flatnonzero(amplitude > 0.15)
        if onset.size:
            click = float(onset[0]) / rate
    return Decoded(video_end, audio_end, flash, click, tiles, audio, rate)


def tone_power(audio: np.ndarray[Any, np.dtype[np.float32]], rate: int, hz: float) -> float:
    """Relative power of ``hz`` in ``audio`` (fraction of the spectrum's energy near it)."""
    spectrum = np.abs(np.fft.rfft(audio)) ** 2
    freqs = np.fft.rfftfreq(audio.size, 1 / rate)
    band = (freqs > hz - 10) & (freqs < hz + 10)
    return float(spectrum[band].sum() / max(spectrum.sum(), 1e-9))


async def sleep_until(instant: float) -> None:
    await asyncio.sleep(max(0.0, instant - time.perf_counter()))
