"""Settings, parsed once at start-up from one TOML file plus `EVR_*` environment variables.

Nothing else in the package reads the environment: the parsed `Settings` is passed in.
Secrets are never inline: the LiveKit key pair comes from LiveKit's own 0600 key file.

- `model`: the `Settings` tree the program is handed, annotated with the file's type rules;
- `document`: the file's shape, validated by pydantic-settings;
- `sources`: the TOML file and the `EVR_*` variables, feeding that one tree;
- `errors`: validation errors told as the key plus the file or variable;
- `load`: `load_settings`, which ties them together.
"""

from core.settings.document import read_livekit_key_file
from core.settings.load import load_settings
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

__all__ = [
    "BandwidthSettings",
    "JoinSettings",
    "LiveKitSettings",
    "OidcSettings",
    "RoomSettings",
    "Settings",
    "SettingsError",
    "WebSettings",
    "load_settings",
    "read_livekit_key_file",
]
