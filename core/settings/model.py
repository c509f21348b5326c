"""The settings tree the program is handed, and the schema the settings file is checked against.

Each section is a plain frozen dataclass: code and tests build them directly, unvalidated.
The pydantic annotations only matter when `core.settings.document` validates a file and the
`EVR_*` variables into them. One rule for types everywhere: a bool is never a number, an int is
accepted where a float is expected, and the file's strings are never read as numbers.
"""

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Annotated

from pydantic import (
    AfterValidator,
    ConfigDict,
    Field,
    GetPydanticSchema,
    StrictFloat,
    StrictInt,
    StrictStr,
    with_config,
)
from pydantic_core import core_schema

from core.exhibit_settings import ExhibitSettings
from core.recording_settings import RecordingSettings
from core.tracing_settings import TracingSettings

SECTION = ConfigDict(extra="forbid")
"""Every section refuses keys it does not know, so a misspelt key is an error, not a default."""


def counted(unit: str, number: object) -> GetPydanticSchema:
    """Validate a timedelta written as a plain `number` of `unit`s, e.g. `link_ttl_hours = 48`.

    The number is checked by `number`'s own schema, so its type errors read like any other.
    """
    return GetPydanticSchema(
        lambda _source, handler: core_schema.no_info_after_validator_function(
            lambda n: timedelta(**{unit: n}), handler.generate_schema(number)
        )
    )


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
    api_urls: tuple[str, ...] = ()
    """Every node of a LiveKit cluster, `api_url` first: the control plane's API calls move to
    the next node when one cannot be reached. Empty: `api_url` is the only node."""

    @property
    def node_urls(self) -> tuple[str, ...]:
        """The API URL of every node the control plane may call, in the order it tries them."""
        return self.api_urls or (self.api_url,)


@with_config(SECTION)
@dataclass(frozen=True, kw_only=True)
class RoomSettings:
    empty_timeout: StrictInt = 300
    """Seconds a room stays open with nobody in it (officer set up, victim not yet in)."""
    departure_timeout: StrictInt = 60
    """Seconds a room survives after the last participant left (a phone dropping off 4G)."""
    max_participants: StrictInt = 6
    """Officer, victim, guardian, interpreter, recorder, and one spare."""


# In the file a duration is a plain number whose unit is in the key's name.
@with_config(SECTION)
@dataclass(frozen=True, kw_only=True)
class JoinSettings:
    public_base_url: StrictStr = "http://127.0.0.1:8080"
    """Base of the join links sent to victims."""
    link_ttl: Annotated[
        timedelta, Field(validation_alias="link_ttl_hours"), counted("hours", StrictFloat)
    ] = timedelta(hours=48)
    """Grade 3 calls have a 48-hour response target, so a link lives that long by default."""
    session_ttl: Annotated[
        timedelta, Field(validation_alias="session_ttl_hours"), counted("hours", StrictFloat)
    ] = timedelta(hours=4)
    """How long a victim may keep using the page once the link was opened."""
    token_ttl: Annotated[
        timedelta, Field(validation_alias="token_ttl_seconds"), counted("seconds", StrictInt)
    ] = timedelta(minutes=5)
    """LiveKit tokens only need to live until the connection is made."""
    code_failures_per_client: StrictInt = 20
    """Wrong, used or expired join codes one client address may try per minute; then 429."""
    code_failures_total: StrictInt = 200
    """The same, for everyone together (control_plane.rate_limit)."""


def _web_address(url: str) -> str:
    if not url.startswith(("https://", "http://")):
        raise SettingsError("web.quick_exit_url must be an http(s) URL")
    return url


@with_config(SECTION)
@dataclass(frozen=True, kw_only=True)
class WebSettings:
    quick_exit_url: Annotated[StrictStr, AfterValidator(_web_address)] = (
        "https://www.bbc.co.uk/weather"
    )
    """Where the victim's quick-exit button goes: a neutral page, as UK domestic-abuse sites do."""
    force_name: Annotated[StrictStr, Field(min_length=1, max_length=80)] = "Police"
    """The force's name, shown on the victim's first screen so they know who is calling."""
    non_emergency_number: Annotated[StrictStr, Field(min_length=1, max_length=40)] = "101"
    """What every error page on the victim's page tells them to call (999 in an emergency)."""


@with_config(SECTION)
@dataclass(frozen=True, kw_only=True)
class BandwidthSettings:
    """The connection check's verdict thresholds and data budget (docs/bandwidth.md has why).

    Thresholds apply to the worse of uplink and downlink ("each way"); each video threshold is
    1.3x (LiveKit preset bitrate + 64 kbps audio), rounded.
    """

    window: Annotated[
        timedelta, Field(validation_alias="window_minutes"), counted("minutes", StrictFloat)
    ] = timedelta(minutes=15)
    """A passing check allows LiveKit tokens for this long; then the phone checks again."""
    hd_kbps: StrictInt = 2300
    """720p: 1.3 x (1700 + 64)."""
    sd_540_kbps: StrictInt = 1150
    """SD at 540p: 1.3 x (800 + 64); below it, SD is capped at 360p."""
    sd_kbps: StrictInt = 700
    """SD at 360p, the video minimum: 1.3 x (450 + 64)."""
    audio_kbps: StrictInt = 100
    """Audio only: 1.3 x 80 kbps (Opus speech plus packet overhead)."""
    video_max_rtt_ms: StrictFloat = 300.0
    """Daily's "good" RTT; above it video is refused but audio may go ahead."""
    audio_max_rtt_ms: StrictFloat = 800.0
    """ITU-T G.114's 400 ms one-way planning limit, both ways."""
    video_max_loss: StrictFloat = 0.05
    """Daily's "good" send loss, seen by the SFU on the probe leg."""
    video_min_fps: StrictFloat = 10.0
    """Frames per second the SFU must forward from the probe for a video verdict."""
    rtt_rounds: StrictInt = 5
    upload_seconds: StrictFloat = 2.0
    upload_max_bytes: StrictInt = 700_000
    download_seconds: StrictFloat = 2.0
    download_max_bytes: StrictInt = 800_000
    """With the probe and overheads, at most 2 MB on a 4G-class link (docs/bandwidth.md)."""
    probe_seconds: StrictFloat = 1.5
    """Seconds of the phone's video the server must see arriving through the SFU."""
    probe_max_seconds: StrictFloat = 4.0
    """The phone stops publishing by then, whether or not the server has seen enough."""
    probe_max_bitrate: StrictInt = 450_000
    """The probe publishes 360p at LiveKit's h360 bitrate: enough to prove video flows."""
    check_ttl_seconds: StrictFloat = 20.0
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


@with_config(SECTION)
@dataclass(frozen=True, kw_only=True)
class OidcSettings:
    issuer: StrictStr
    audience: StrictStr
    jwks_url: StrictStr
    role_claim: StrictStr = "evr_role"
    unit_claim: StrictStr = "evr_unit"
    collar_claim: StrictStr = "collar_number"
    name_claim: StrictStr = "name"


@dataclass(frozen=True, kw_only=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8080
    metrics_host: str = "127.0.0.1"
    """The management listener (/metrics only), apart from the public one: the join funnel
    and quick exits are not for the internet. Loopback unless Prometheus scrapes remotely."""
    metrics_port: int = 9464
    """0 picks a free port (tests)."""
    database_url: str = "sqlite+aiosqlite:///var/evr.sqlite3"
    """What the services connect as. On PostgreSQL, the runtime role: rows only, no DDL."""
    database_owner_url: str | None = None
    """PostgreSQL only: the role that owns the schema. Only `evr migrate` connects with it, and
    grants the runtime role (the user of `database_url`) exactly its rights. Leave it out of
    the services' own configuration. SQLite is one file with no roles."""
    audit_checkpoint_interval: float = 600.0
    """Seconds between signed checkpoints of the audit and custody chains' heads (leader)."""
    livekit: LiveKitSettings
    rooms: RoomSettings = field(default_factory=RoomSettings)
    join: JoinSettings = field(default_factory=JoinSettings)
    oidc: OidcSettings | None = None
    web: WebSettings = field(default_factory=WebSettings)
    recording: RecordingSettings = field(default_factory=RecordingSettings)
    bandwidth: BandwidthSettings = field(default_factory=BandwidthSettings)
    exhibits: ExhibitSettings = field(default_factory=ExhibitSettings)
    tracing: TracingSettings = field(default_factory=TracingSettings)
    """From the standard OTEL_* variables; nothing is exported unless they ask for it."""
    reconcile_interval: float = 15.0
    """Seconds between reconciliations of visit state with the SFU's own listings."""
    log_level: str = "INFO"
