"""`evr_sfu_config`: render livekit-server's config with the project's own `sfu_config`.

Runs on the controller, whose Python has the project installed (the same checkout that built
the wheel), so the SFU config on a host is exactly what `sfu_config.render` produces and
validates for the chosen profile.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sfu_config.render import Profile, SfuSettings, render


def evr_sfu_config(settings: dict[str, Any], profile: str) -> str:
    """YAML for `profile` from a dict of `SfuSettings` fields (lists become tuples)."""
    fields: dict[str, Any] = {}
    for name, value in settings.items():
        if value is None:
            continue
        if name.endswith("_file"):
            fields[name] = Path(value)
        elif isinstance(value, list):
            fields[name] = tuple(value)
        else:
            fields[name] = value
    return render(Profile(profile), SfuSettings(**fields))


class FilterModule:
    """Ansible's filter plugin entry point."""

    def filters(self) -> dict[str, Any]:
        return {"evr_sfu_config": evr_sfu_config}
