"""LiveKit SFU configuration for EVR: typed settings rendered to livekit-server YAML."""

from sfu_config.render import (
    MIN_SECRET_LENGTH,
    Profile,
    SfuSettings,
    generate_credentials,
    render,
    write_key_file,
)

__all__ = [
    "MIN_SECRET_LENGTH",
    "Profile",
    "SfuSettings",
    "generate_credentials",
    "render",
    "write_key_file",
]
