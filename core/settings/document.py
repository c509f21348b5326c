"""The one model tree the settings file and the `EVR_*` variables are validated against.

It has the file's shape, which differs from `Settings` only where the file names something
the program needs resolved: `[livekit]` gives a key file, the program wants the key pair.
"""

import stat
from pathlib import Path
from typing import Annotated

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictFloat,
    StrictInt,
    StrictStr,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from core.exhibit_settings import ExhibitSettings
from core.recording_settings import RecordingSettings
from core.settings.model import (
    BandwidthSettings,
    JoinSettings,
    LiveKitSettings,
    OidcSettings,
    RoomSettings,
    Settings,
    SettingsError,
    WebSettings,
)
from core.tracing_settings import TracingSettings


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


def _node_url(url: str) -> str:
    if not url.startswith(("http://", "https://")):
        raise SettingsError(f"livekit.api_urls: {url!r} is not an http(s) URL")
    return url


def _distinct(urls: list[str]) -> list[str]:
    if len(set(urls)) != len(urls):
        raise SettingsError("livekit.api_urls lists a node twice")
    return urls


NodeUrl = Annotated[StrictStr, AfterValidator(_node_url)]


class LiveKitSection(BaseModel):
    """`[livekit]`: secrets are never inline, only in LiveKit's own 0600 key file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key_file: Path | None = None
    api_url: StrictStr | None = None
    """One node (default http://127.0.0.1:7880); for a cluster, `api_urls` instead."""
    api_urls: Annotated[list[NodeUrl], Field(min_length=1), AfterValidator(_distinct)] | None = None
    """Every node of a cluster, tried in this order when one cannot be reached."""
    client_url: StrictStr | None = None
    """Default: the first API URL with ws in place of http."""

    @model_validator(mode="after")
    def _one_form(self) -> "LiveKitSection":
        if self.api_url is not None and self.api_urls is not None:
            raise SettingsError(
                "livekit: give api_url (one node) or api_urls (a cluster), not both"
            )
        return self

    def _node_urls(self) -> tuple[str, ...]:
        if self.api_urls is None:
            return (self.api_url or "http://127.0.0.1:7880",)
        return tuple(self.api_urls)

    def read_keys(self) -> LiveKitSettings:
        """The settings with the key pair read from the key file (which must be given)."""
        if self.key_file is None:
            raise SettingsError("livekit.key_file (or EVR_LIVEKIT_KEY_FILE) is required")
        urls = self._node_urls()
        api_key, api_secret = read_livekit_key_file(self.key_file.resolve())
        return LiveKitSettings(
            api_url=urls[0],
            api_urls=urls if len(urls) > 1 else (),
            client_url=self.client_url or urls[0].replace("http", "ws", 1),
            api_key=api_key,
            api_secret=api_secret,
        )


def _consistent(bandwidth: BandwidthSettings) -> BandwidthSettings:
    bandwidth.validate()
    return bandwidth


class SettingsDocument(BaseSettings):
    """The settings file's tree; `core.settings.sources` fills it from the file and `EVR_*`."""

    model_config = SettingsConfigDict(extra="forbid", frozen=True)

    host: StrictStr = Settings.host
    port: StrictInt = Settings.port
    metrics_host: StrictStr = Settings.metrics_host
    metrics_port: StrictInt = Settings.metrics_port
    database_url: StrictStr = Settings.database_url
    database_owner_url: StrictStr | None = Settings.database_owner_url
    audit_checkpoint_interval: StrictFloat = Settings.audit_checkpoint_interval
    log_level: StrictStr = Settings.log_level
    reconcile_interval: StrictFloat = Settings.reconcile_interval
    livekit: LiveKitSection = LiveKitSection()
    rooms: RoomSettings = RoomSettings()
    join: JoinSettings = JoinSettings()
    oidc: OidcSettings | None = None
    web: WebSettings = WebSettings()
    recording: RecordingSettings = RecordingSettings()
    exhibits: ExhibitSettings = ExhibitSettings()
    bandwidth: Annotated[BandwidthSettings, AfterValidator(_consistent)] = BandwidthSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # load_settings passes its own sources; built any other way, read nothing implicitly.
        return (init_settings,)

    def settings(self, tracing: TracingSettings) -> Settings:
        """The program's settings: the document with the LiveKit key pair read."""
        return Settings(
            host=self.host,
            port=self.port,
            metrics_host=self.metrics_host,
            metrics_port=self.metrics_port,
            database_url=self.database_url,
            database_owner_url=self.database_owner_url,
            audit_checkpoint_interval=self.audit_checkpoint_interval,
            livekit=self.livekit.read_keys(),
            rooms=self.rooms,
            join=self.join,
            oidc=self.oidc,
            web=self.web,
            recording=self.recording,
            exhibits=self.exhibits,
            bandwidth=self.bandwidth,
            tracing=tracing,
            reconcile_interval=self.reconcile_interval,
            log_level=self.log_level,
        )
