"""Render livekit-server (v1.13.5) configuration for the EVR deployment profiles.

Every profile keeps the SFU off the public internet: API keys live only in a 0600 key file,
`rtc.node_ip` is explicit and `rtc.use_external_ip` is false (no STUN lookups at start-up, no
public STUN for the server's own ICE agent), and clients are only ever handed this node's own
STUN/TURN (never LiveKit's Google/Twilio fallback). Rooms are created only by the control plane.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import secrets
import string
import tempfile
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from urllib.parse import urlsplit

import jinja2
import yaml

__all__ = [
    "MIN_SECRET_LENGTH",
    "Profile",
    "SfuSettings",
    "generate_credentials",
    "render",
    "write_key_file",
]

# livekit-server logs an error for shorter secrets (config.ValidateKeys); we refuse them outright.
MIN_SECRET_LENGTH = 32

_LOG_LEVELS = frozenset({"debug", "info", "warn", "error"})
# Same pattern livekit-server uses to accept turn.domain (pkg/service/utils.go IsValidDomain).
_DOMAIN_RE = re.compile(r"^[a-z0-9-]+(\.[a-z0-9-]+)+\.?$", re.IGNORECASE)
# Key-file tokens are written unquoted as YAML `key: secret`, so keep them to plain characters.
_TOKEN_RE = re.compile(r"^[A-Za-z0-9_.\-]+$")
_ALPHANUMERIC = string.ascii_letters + string.digits


class Profile(StrEnum):
    """Deployment shapes the SFU config can be rendered for."""

    DEV = "dev"
    PRODUCTION = "production"
    PRODUCTION_MULTINODE = "production-multinode"


@dataclass(frozen=True, kw_only=True)
class SfuSettings:
    """Everything a profile needs. Only the production profiles need the TURN/TLS inputs and
    only `production-multinode` needs `redis_address`; `render` checks that per profile."""

    # Address advertised in every ICE candidate and TURN relay; must be reachable by clients.
    node_ip: str
    # Addresses the HTTP/WebSocket signalling and Prometheus listeners bind to.
    bind_addresses: tuple[str, ...]
    key_file: Path
    # Must be one of the keys in key_file: the SFU signs webhooks with it.
    webhook_api_key: str
    webhook_url: str
    http_port: int = 7880
    rtc_tcp_port: int = 7881
    rtc_udp_port: int = 7882
    prometheus_port: int = 6789
    turn_domain: str | None = None
    turn_cert_file: Path | None = None
    turn_key_file: Path | None = None
    turn_tls_port: int = 5349
    turn_udp_port: int = 3478
    turn_relay_range: tuple[int, int] = (30000, 30100)
    # host:port. The password never goes into the rendered file: livekit-server reads it from
    # the REDIS_PASSWORD environment variable (cmd/server/main.go, flag --redis-password).
    redis_address: str | None = None
    redis_db: int = 0
    redis_username: str | None = None
    log_level: str = "info"
    # Room defaults; the control plane overrides them per room in CreateRoom.
    room_empty_timeout: int = 300
    room_departure_timeout: int = 20


def render(profile: Profile, settings: SfuSettings) -> str:
    """Return the livekit-server YAML config for `profile`.

    Raises ValueError naming the offending setting when an input is missing or malformed for
    that profile. The result is parsed back as YAML before it is returned.
    """
    _validate(profile, settings)
    template = _environment().get_template(f"{profile.value}.yaml.j2")
    text = template.render(s=settings, profile=profile.value)
    # Cheap self-check: a template bug must fail here, not at SFU start-up on a server.
    parsed = yaml.safe_load(text)
    if not isinstance(parsed, dict) or "keys" in parsed:
        raise ValueError(f"rendered {profile.value} config is malformed")
    return text


def write_key_file(path: Path, api_key: str, api_secret: str) -> None:
    """Write `api_key: api_secret` to `path` with mode 0600, atomically.

    The file is created 0600 under a temporary name in the same directory and renamed into
    place, so it is never readable by others and never seen half-written. Refuses secrets
    shorter than MIN_SECRET_LENGTH and keys/secrets that would need YAML quoting.
    """
    if len(api_secret) < MIN_SECRET_LENGTH:
        raise ValueError(f"API secret must be at least {MIN_SECRET_LENGTH} characters")
    for name, value in (("API key", api_key), ("API secret", api_secret)):
        if not _TOKEN_RE.match(value):
            raise ValueError(f"{name} may only contain letters, digits, '_', '-' and '.'")
    directory = path.parent
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", dir=directory)  # created 0600
    try:
        os.fchmod(fd, 0o600)  # explicit: do not depend on mkstemp's documented default
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(f"{api_key}: {api_secret}\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def generate_credentials() -> tuple[str, str]:
    """Return a fresh random (api_key, api_secret); the secret is 48 alphanumeric characters."""
    key = "API" + "".join(secrets.choice(_ALPHANUMERIC) for _ in range(12))
    secret = "".join(secrets.choice(_ALPHANUMERIC) for _ in range(48))
    return key, secret


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(  # noqa: S701 - renders YAML, not HTML; strings go through |q
        loader=jinja2.PackageLoader("sfu_config", "templates"),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    # JSON strings are valid YAML double-quoted scalars: safe for any path, URL or address.
    env.filters["q"] = lambda value: json.dumps(str(value))
    env.filters["hostport"] = _hostport
    env.filters["host_cidr"] = lambda host: str(ipaddress.ip_network(host))
    return env


def _validate(profile: Profile, s: SfuSettings) -> None:
    _validate_addresses(s)
    _validate_ports(s)
    _validate_profile(profile, s)


def _validate_addresses(s: SfuSettings) -> None:
    node_ip = _ip(s.node_ip, "node_ip")
    if node_ip.is_unspecified:
        raise ValueError("node_ip must be a concrete address that clients can reach, not 0.0.0.0")
    if not s.bind_addresses:
        raise ValueError("bind_addresses must list at least one address")
    for address in s.bind_addresses:
        _ip(address, "bind_addresses")
    if not s.webhook_api_key:
        raise ValueError("webhook_api_key is required (one of the keys in key_file)")
    url = urlsplit(s.webhook_url)
    if url.scheme not in {"http", "https"} or not url.hostname:
        raise ValueError(f"webhook_url must be an http(s) URL, got {s.webhook_url!r}")
    if s.log_level not in _LOG_LEVELS:
        raise ValueError(f"log_level must be one of {sorted(_LOG_LEVELS)}, got {s.log_level!r}")


def _validate_ports(s: SfuSettings) -> None:
    ports = {
        "http_port": s.http_port,
        "rtc_tcp_port": s.rtc_tcp_port,
        "rtc_udp_port": s.rtc_udp_port,
        "prometheus_port": s.prometheus_port,
        "turn_udp_port": s.turn_udp_port,
        "turn_tls_port": s.turn_tls_port,
    }
    for name, port in ports.items():
        if not 0 < port < 65536:
            raise ValueError(f"{name} must be between 1 and 65535, got {port}")
    tcp = [s.http_port, s.rtc_tcp_port, s.prometheus_port, s.turn_tls_port]
    udp = [s.rtc_udp_port, s.turn_udp_port]
    if len(set(tcp)) != len(tcp) or len(set(udp)) != len(udp):
        raise ValueError(f"ports must not collide: {ports}")
    start, end = s.turn_relay_range
    if not 1024 <= start < end < 65536:
        raise ValueError(f"turn_relay_range must be 1024 <= start < end < 65536, got {start}-{end}")


def _validate_profile(profile: Profile, s: SfuSettings) -> None:
    if profile in {Profile.PRODUCTION, Profile.PRODUCTION_MULTINODE}:
        missing = [
            name
            for name in ("turn_domain", "turn_cert_file", "turn_key_file")
            if getattr(s, name) is None
        ]
        if missing:
            raise ValueError(
                f"profile {profile.value} needs embedded TURN/TLS: missing {', '.join(missing)}"
            )
        if s.turn_domain is not None and not _DOMAIN_RE.match(s.turn_domain):
            raise ValueError(f"turn_domain is not a valid DNS name: {s.turn_domain!r}")
    if profile is not Profile.PRODUCTION_MULTINODE and s.redis_address is not None:
        raise ValueError(f"redis_address is only used by production-multinode, not {profile.value}")
    if profile is Profile.PRODUCTION_MULTINODE:
        if not s.redis_address:
            raise ValueError("profile production-multinode needs redis_address (host:port)")
        host, sep, port_text = s.redis_address.rpartition(":")
        if not sep or not host or not port_text.isdigit():
            raise ValueError(f"redis_address must be host:port, got {s.redis_address!r}")


def _hostport(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _ip(value: str, name: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        raise ValueError(f"{name} must be an IP address, got {value!r}") from None
