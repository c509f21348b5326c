"""Settings, parsed once at start-up from one TOML file plus `EVR_*` environment variables.

Nothing else in the package reads the environment: the parsed `Settings` is passed in.
Secrets are never inline: the LiveKit key pair comes from LiveKit's own 0600 key file.
"""

import os
import stat
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml


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
    for name in ("livekit", "rooms", "join", "oidc"):
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
    return Settings(livekit=livekit, rooms=rooms, join=join, oidc=oidc, **kwargs)


_ROOM_KEYS = {"empty_timeout", "departure_timeout", "max_participants"}
