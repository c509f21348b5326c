"""Where settings come from: the TOML file and the `EVR_*` variables, as pydantic-settings sources.

Both sources give the file's nested shape, so one model tree (`SettingsDocument`) checks them
alike; pydantic-settings merges them, the environment winning. Each source also resolves what
only it can: relative paths against the settings file's folder, and the S3 secret file.
"""

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from core.settings.model import SettingsError

Key = tuple[str, ...]

PATHS: tuple[Key, ...] = (
    ("livekit", "key_file"),
    ("recording", "store_dir"),
    ("recording", "spool_dir"),
    ("recording", "export_dir"),
    ("recording", "signing_key"),
)
"""Keys holding a path, which is taken from the settings file's folder when relative."""


@dataclass(frozen=True)
class Variable:
    name: str
    key: Key
    kind: Literal["str", "int", "float", "path", "list"] = "str"
    """"list": comma-separated, blanks around each item dropped."""
    blank_is_unset: bool = False
    """Set but empty counts as not set (the LiveKit overrides have always fallen back so)."""


# Listed by hand: the names are the documented ones (README), and they do not follow
# pydantic-settings' prefix-plus-nested-delimiter scheme (EVR_PUBLIC_BASE_URL is join.*).
VARIABLES: tuple[Variable, ...] = (
    Variable("EVR_HOST", ("host",)),
    Variable("EVR_PORT", ("port",), "int"),
    Variable("EVR_METRICS_HOST", ("metrics_host",)),
    Variable("EVR_METRICS_PORT", ("metrics_port",), "int"),
    Variable("EVR_DATABASE_URL", ("database_url",)),
    Variable("EVR_DATABASE_OWNER_URL", ("database_owner_url",), blank_is_unset=True),
    Variable("EVR_AUDIT_CHECKPOINT_INTERVAL", ("audit_checkpoint_interval",), "float"),
    Variable("EVR_LOG_LEVEL", ("log_level",)),
    Variable("EVR_RECONCILE_INTERVAL", ("reconcile_interval",), "float"),
    Variable("EVR_LIVEKIT_KEY_FILE", ("livekit", "key_file"), "path", blank_is_unset=True),
    Variable("EVR_LIVEKIT_API_URL", ("livekit", "api_url"), blank_is_unset=True),
    Variable("EVR_LIVEKIT_API_URLS", ("livekit", "api_urls"), "list", blank_is_unset=True),
    Variable("EVR_LIVEKIT_CLIENT_URL", ("livekit", "client_url"), blank_is_unset=True),
    Variable("EVR_PUBLIC_BASE_URL", ("join", "public_base_url")),
    Variable("EVR_QUICK_EXIT_URL", ("web", "quick_exit_url")),
    Variable("EVR_RECORDING_STORE_DIR", ("recording", "store_dir"), "path"),
    Variable("EVR_RECORDING_SPOOL_DIR", ("recording", "spool_dir"), "path"),
    Variable("EVR_RECORDING_EXPORT_DIR", ("recording", "export_dir"), "path"),
    Variable("EVR_RECORDING_SIGNING_KEY", ("recording", "signing_key"), "path"),
    Variable("EVR_RECORDING_METRICS_PORT", ("recording", "metrics_port"), "int"),
)


def _table(data: dict[str, Any], path: Key) -> dict[str, Any] | None:
    """The nested table at `path`, or None if a part is missing or not a table."""
    table: Any = data
    for name in path:
        table = table.get(name) if isinstance(table, dict) else None
    return table if isinstance(table, dict) else None


class _Source(PydanticBaseSettingsSource):
    """A source that hands over a whole nested dict (no per-field lookups)."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False


class TomlFile(_Source):
    """The settings file; what it refers to by a relative path is found beside it."""

    def __init__(self, settings_cls: type[BaseSettings], path: Path) -> None:
        super().__init__(settings_cls)
        self.path = path

    def __call__(self) -> dict[str, Any]:
        try:
            data = tomllib.loads(self.path.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"{self.path}: {exc}") from exc
        base = self.path.parent
        for key in PATHS:
            table = _table(data, key[:-1])
            # Anything but a string is left for validation to refuse with its key named.
            if table is not None and isinstance(table.get(key[-1]), str):
                table[key[-1]] = base / table[key[-1]]
        self._read_s3_secret(data, base)
        return data

    def _read_s3_secret(self, data: dict[str, Any], base: Path) -> None:
        s3 = _table(data, ("recording", "s3"))
        if s3 is None or "secret_key_file" not in s3:
            return
        where = f"{self.path}: recording.s3.secret_key_file"
        secret_file = s3.pop("secret_key_file")
        if not isinstance(secret_file, str):
            raise SettingsError(f"{where} must be a str")
        try:
            s3["secret_key"] = (base / secret_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise SettingsError(f"{where}: {exc}") from exc


class EvrEnvironment(_Source):
    """The `EVR_*` overrides, converted from text as the table says; `given` records which."""

    def __init__(
        self, settings_cls: type[BaseSettings], environ: Mapping[str, str], base: Path
    ) -> None:
        super().__init__(settings_cls)
        self.environ = environ
        self.base = base
        self.given: dict[Key, str] = {}
        """The variable each overridden key came from, so errors can name it."""

    def __call__(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        for variable in VARIABLES:
            raw = self.environ.get(variable.name)
            if raw is None or (variable.blank_is_unset and not raw):
                continue
            table = data
            for name in variable.key[:-1]:
                table = table.setdefault(name, {})
            table[variable.key[-1]] = self._convert(variable, raw)
            self.given[variable.key] = variable.name
        return data

    def _convert(self, variable: Variable, raw: str) -> object:
        if variable.kind == "path":
            return self.base / raw
        if variable.kind == "str":
            return raw
        if variable.kind == "list":
            return [item.strip() for item in raw.split(",") if item.strip()]
        kind = int if variable.kind == "int" else float
        try:
            return kind(raw)
        except ValueError as exc:
            raise SettingsError(f"{variable.name} must be a {variable.kind}") from exc
