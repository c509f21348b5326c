"""Settings, parsed once at start-up from one TOML file plus `EVR_*` environment variables.

Nothing else in the package reads the environment: the parsed `Settings` is passed in.
Secrets are never inline: the LiveKit key pair comes from LiveKit's own 0600 key file.
"""

import os
import stat
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml

from core.recording_settings import RecordingSettings, RecordingSettingsError, parse_recording
from core.tracing_settings import TracingSettings, TracingSettingsError, parse_tracing


class SettingsError(ValueError):
    """The configuration is missing something or contradicts itself."""


@dataclass(frozen=True, kw_only=True)
class LiveKitSettings:
    api_url: str
    """Where the control plane reaches LiveKit's HTTP API, e.g. http://10.0.0.5:7880."""
    client_url: str
    """The WebSocket URL handed to browsers and SDKs, e.g. wss://sfu.example.police.uk."""
    api_key: str
    api_secret: str = field(repr=False)


@dataclass(frozen=True, kw_only=True)
class RoomSettings:
    empty_timeout: int = 300
    """Seconds a room stays open with nobody in it (officer set up, victim not yet in)."""
    departure_timeout: int = 60
    """Seconds a room survives after the last participant left (a phone dropping off 4G)."""
    max_participants: int = 6
    """Officer, victim, guardian, interpreter, recorder, and one spare."""


@dataclass(frozen=True, kw_only=True)
class JoinSettings:
    public_base_url: str = "http://127.0.0.1:8080"
    """Base of the join links sent to victims."""
    link_ttl: timedelta = timedelta(hours=48)
    """Grade 3 calls have a 48-hour response target, so a link lives that long by default."""
    session_ttl: timedelta = timedelta(hours=4)
    """How long a victim may keep using the page once the link was opened."""
    token_ttl: timedelta = timedelta(minutes=5)
    """LiveKit tokens only need to live until the connection is made."""


@dataclass(frozen=True, kw_only=True)
class WebSettings:
    quick_exit_url: str = "https://www.bbc.co.uk/weather"
    """Where the victim's quick-exit button goes: a neutral page, as UK domestic-abuse sites do."""


@dataclass(frozen=True, kw_only=True)
class BandwidthSettings:
    """The connection check's verdict thresholds and data budget (docs/bandwidth.md has why).

    Thresholds apply to the worse of uplink and downlink ("each way"); each video threshold is
    1.3x (LiveKit preset bitrate + 64 kbps audio), rounded.
    """

    window: timedelta = timedelta(minutes=15)
    """A passing check allows LiveKit tokens for this long; then the phone checks again."""
    hd_kbps: int = 2300
    """720p: 1.3 x (1700 + 64)."""
    sd_540_kbps: int = 1150
    """SD at 540p: 1.3 x (800 + 64); below it, SD is capped at 360p."""
    sd_kbps: int = 700
    """SD at 360p, the video minimum: 1.3 x (450 + 64)."""
    audio_kbps: int = 100
    """Audio only: 1.3 x 80 kbps (Opus speech plus packet overhead)."""
    video_max_rtt_ms: float = 300.0
    """Daily's "good" RTT; above it video is refused but audio may go ahead."""
    audio_max_rtt_ms: float = 800.0
    """ITU-T G.114's 400 ms one-way planning limit, both ways."""
    video_max_loss: float = 0.05
    """Daily's "good" send loss, seen by the SFU on the probe leg."""
    video_min_fps: float = 10.0
    """Frames per second the SFU must forward from the probe for a video verdict."""
    rtt_rounds: int = 5
    upload_seconds: float = 2.0
    upload_max_bytes: int = 1_000_000
    download_seconds: float = 2.0
    download_max_bytes: int = 1_000_000
    probe_seconds: float = 1.5
    """Seconds of the phone's video the server must see arriving through the SFU."""
    probe_max_seconds: float = 4.0
    """The phone stops publishing by then, whether or not the server has seen enough."""
    probe_max_bitrate: int = 450_000
    """The probe publishes 360p at LiveKit's h360 bitrate: enough to prove video flows."""
    check_ttl_seconds: float = 20.0
    """An unfinished check is void after this; its probe room is deleted."""

    def validate(self) -> None:
        """Raise SettingsError if the thresholds are out of order or a budget is not positive."""
        if not self.hd_kbps >= self.sd_540_kbps >= self.sd_kbps > self.audio_kbps > 0:
            raise SettingsError(
                "[bandwidth] needs hd_kbps >= sd_540_kbps >= sd_kbps > audio_kbps > 0"
            )
        if not 0 < self.video_max_rtt_ms <= self.audio_max_rtt_ms:
            raise SettingsError("[bandwidth] needs 0 < video_max_rtt_ms <= audio_max_rtt_ms")
        if not 0 <= self.video_max_loss < 1:
            raise SettingsError("[bandwidth] video_max_loss must be in [0, 1)")
        if self.probe_max_seconds < self.probe_seconds:
            raise SettingsError("[bandwidth] needs probe_max_seconds >= probe_seconds")
        positive = {
            "window_minutes": self.window.total_seconds(),
            "rtt_rounds": self.rtt_rounds,
            "upload_seconds": self.upload_seconds,
            "upload_max_bytes": self.upload_max_bytes,
            "download_seconds": self.download_seconds,
            "download_max_bytes": self.download_max_bytes,
            "probe_seconds": self.probe_seconds,
            "probe_max_bitrate": self.probe_max_bitrate,
            "check_ttl_seconds": self.check_ttl_seconds,
        }
        for name, value in positive.items():
            if value <= 0:
                raise SettingsError(f"bandwidth.{name} must be positive")


@dataclass(frozen=True, kw_only=True)
class OidcSettings:
    issuer: str
    audience: str
    jwks_url: str
    role_claim: str = "evr_role"
    unit_claim: str = "evr_unit"
    collar_claim: str = "collar_number"
    name_claim: str = "name"


@dataclass(frozen=True, kw_only=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8080
    database_url: str = "sqlite+aiosqlite:///var/evr.sqlite3"
    livekit: LiveKitSettings
    rooms: RoomSettings = field(default_factory=RoomSettings)
    join: JoinSettings = field(default_factory=JoinSettings)
    oidc: OidcSettings | None = None
    web: WebSettings = field(default_factory=WebSettings)
    recording: RecordingSettings = field(default_factory=RecordingSettings)
    bandwidth: BandwidthSettings = field(default_factory=BandwidthSettings)
    tracing: TracingSettings = field(default_factory=TracingSettings)
    """From the standard OTEL_* variables; nothing is exported unless they ask for it."""
    reconcile_interval: float = 15.0
    """Seconds between reconciliations of visit state with the SFU's own listings."""
    log_level: str = "INFO"


def read_livekit_key_file(path: Path) -> tuple[str, str]:
    """Return the (key, secret) pair from a LiveKit key file, refusing a loosely-permitted one."""
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise SettingsError(f"{path} must not be readable by group or others (chmod 600)")
    data = yaml.safe_load(path.read_text())
    if not isinstance(data, dict) or len(data) != 1:
        raise SettingsError(f"{path} must hold exactly one 'key: secret' line")
    ((key, secret),) = data.items()
    return str(key), str(secret)


def _section(data: Mapping[str, Any], name: str) -> dict[str, Any]:
    value = data.get(name, {})
    if not isinstance(value, dict):
        raise SettingsError(f"[{name}] must be a table")
    return value


def _take(section: dict[str, Any], name: str, kind: type, where: str) -> Any:
    value = section.pop(name)
    if kind is float and isinstance(value, int):
        value = float(value)
    if not isinstance(value, kind):
        raise SettingsError(f"{where}.{name} must be a {kind.__name__}")
    return value


def _check_empty(section: dict[str, Any], where: str) -> None:
    if section:
        raise SettingsError(f"unknown setting(s) in {where}: {', '.join(sorted(section))}")


def _livekit(raw: dict[str, Any], base: Path, environ: Mapping[str, str]) -> LiveKitSettings:
    lk = dict(raw)
    key_file = environ.get("EVR_LIVEKIT_KEY_FILE") or lk.get("key_file")
    lk.pop("key_file", None)
    if not key_file:
        raise SettingsError("livekit.key_file (or EVR_LIVEKIT_KEY_FILE) is required")
    api_key, api_secret = read_livekit_key_file((base / str(key_file)).resolve())
    api_url = str(environ.get("EVR_LIVEKIT_API_URL") or lk.get("api_url", "http://127.0.0.1:7880"))
    lk.pop("api_url", None)
    client_url = environ.get("EVR_LIVEKIT_CLIENT_URL") or lk.get("client_url")
    lk.pop("client_url", None)
    _check_empty(lk, "[livekit]")
    return LiveKitSettings(
        api_url=api_url,
        client_url=str(client_url or api_url.replace("http", "ws", 1)),
        api_key=api_key,
        api_secret=api_secret,
    )


def _join(raw: dict[str, Any], environ: Mapping[str, str]) -> JoinSettings:
    join_raw = dict(raw)
    kwargs: dict[str, Any] = {}
    if "public_base_url" in join_raw:
        kwargs["public_base_url"] = _take(join_raw, "public_base_url", str, "join")
    for name in ("link_ttl_hours", "session_ttl_hours"):
        if name in join_raw:
            hours = _take(join_raw, name, float, "join")
            kwargs[name.removesuffix("_hours")] = timedelta(hours=hours)
    if "token_ttl_seconds" in join_raw:
        seconds = _take(join_raw, "token_ttl_seconds", int, "join")
        kwargs["token_ttl"] = timedelta(seconds=seconds)
    _check_empty(join_raw, "[join]")
    if "EVR_PUBLIC_BASE_URL" in environ:
        kwargs["public_base_url"] = environ["EVR_PUBLIC_BASE_URL"]
    return JoinSettings(**kwargs)


def _rooms(raw: dict[str, Any]) -> RoomSettings:
    rooms_raw = dict(raw)
    kwargs = {k: _take(rooms_raw, k, int, "rooms") for k in list(rooms_raw) if k in _ROOM_KEYS}
    _check_empty(rooms_raw, "[rooms]")
    return RoomSettings(**kwargs)


def _web(raw: dict[str, Any], environ: Mapping[str, str]) -> WebSettings:
    web_raw = dict(raw)
    kwargs: dict[str, Any] = {}
    if "quick_exit_url" in web_raw:
        kwargs["quick_exit_url"] = _take(web_raw, "quick_exit_url", str, "web")
    _check_empty(web_raw, "[web]")
    if "EVR_QUICK_EXIT_URL" in environ:
        kwargs["quick_exit_url"] = environ["EVR_QUICK_EXIT_URL"]
    url = kwargs.get("quick_exit_url", WebSettings.quick_exit_url)
    if not url.startswith(("https://", "http://")):
        raise SettingsError("web.quick_exit_url must be an http(s) URL")
    return WebSettings(**kwargs)


def _bandwidth(raw: dict[str, Any]) -> BandwidthSettings:
    bw_raw = dict(raw)
    kwargs: dict[str, Any] = {}
    if "window_minutes" in bw_raw:
        kwargs["window"] = timedelta(minutes=_take(bw_raw, "window_minutes", float, "bandwidth"))
    for f in fields(BandwidthSettings):
        if f.name in bw_raw and f.name != "window":
            kind = int if type(f.default) is int else float
            kwargs[f.name] = _take(bw_raw, f.name, kind, "bandwidth")
    _check_empty(bw_raw, "[bandwidth]")
    settings = BandwidthSettings(**kwargs)
    settings.validate()
    return settings


def _oidc(raw: dict[str, Any]) -> OidcSettings:
    try:
        return OidcSettings(**raw)
    except TypeError as exc:
        raise SettingsError(f"[oidc]: {exc}") from exc


_TOP_LEVEL: tuple[tuple[str, type, str], ...] = (
    ("host", str, "EVR_HOST"),
    ("port", int, "EVR_PORT"),
    ("database_url", str, "EVR_DATABASE_URL"),
    ("log_level", str, "EVR_LOG_LEVEL"),
    ("reconcile_interval", float, "EVR_RECONCILE_INTERVAL"),
)


def load_settings(path: Path | None, environ: Mapping[str, str] = os.environ) -> Settings:
    """Parse the TOML file (if any), then apply `EVR_*` overrides. Unknown keys are errors."""
    top: dict[str, Any] = tomllib.loads(path.read_text()) if path else {}
    base = path.parent if path else Path.cwd()
    livekit = _livekit(_section(top, "livekit"), base, environ)
    rooms = _rooms(_section(top, "rooms"))
    join = _join(_section(top, "join"), environ)
    oidc = _oidc(_section(top, "oidc")) if "oidc" in top else None
    web = _web(_section(top, "web"), environ)
    try:
        recording = parse_recording(_section(top, "recording"), base, environ)
    except (RecordingSettingsError, OSError) as exc:
        raise SettingsError(str(exc)) from exc
    bandwidth = _bandwidth(_section(top, "bandwidth"))
    try:
        tracing = parse_tracing(environ)
    except TracingSettingsError as exc:
        raise SettingsError(str(exc)) from exc
    for name in ("livekit", "rooms", "join", "oidc", "web", "recording", "bandwidth"):
        top.pop(name, None)
    kwargs: dict[str, Any] = {}
    for name, kind, env in _TOP_LEVEL:
        if name in top:
            kwargs[name] = _take(top, name, kind, "settings")
        if env in environ:
            try:
                kwargs[name] = kind(environ[env])
            except ValueError as exc:
                raise SettingsError(f"{env} must be a {kind.__name__}") from exc
    _check_empty(top, "the settings file")
    return Settings(
        livekit=livekit,
        rooms=rooms,
        join=join,
        oidc=oidc,
        web=web,
        recording=recording,
        bandwidth=bandwidth,
        tracing=tracing,
        **kwargs,
    )


_ROOM_KEYS = {"empty_timeout", "departure_timeout", "max_participants"}
