"""`load_settings`: the one place the settings file and the environment are read."""

import os
from collections.abc import Mapping
from pathlib import Path

from pydantic import ValidationError

from core.settings.document import SettingsDocument
from core.settings.errors import Origins, settings_error
from core.settings.model import Settings, SettingsError
from core.settings.sources import EvrEnvironment, TomlFile
from core.tracing_settings import TracingSettingsError, parse_tracing


def load_settings(path: Path | None, environ: Mapping[str, str] = os.environ) -> Settings:
    """Parse the TOML file (if any), then apply `EVR_*` overrides. Unknown keys are errors.

    Every mistake is a SettingsError naming the key and the file or variable it came from.
    """
    environment = EvrEnvironment(SettingsDocument, environ, path.parent if path else Path.cwd())
    # Highest priority first: the environment overrides the file.
    sources = (environment, TomlFile(SettingsDocument, path)) if path else (environment,)
    origins = Origins(path, environment.given)
    try:
        # _build_sources: pydantic-settings' hook for sources built per call (mypy sees only
        # the fields in the synthesised __init__).
        document = SettingsDocument(_build_sources=(sources, {}))  # type: ignore[call-arg]
    except ValidationError as exc:
        raise settings_error(exc, origins) from exc
    try:
        tracing = parse_tracing(environ)
    except TracingSettingsError as exc:
        raise SettingsError(str(exc)) from exc
    try:
        return document.settings(tracing)
    except SettingsError as exc:
        raise SettingsError(f"{origins.of(('livekit', 'key_file'))}: {exc}") from exc
