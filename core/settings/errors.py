"""Pydantic's validation errors, told as settings mistakes: the key, and the file or variable."""

from collections.abc import Mapping
from pathlib import Path

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from core.settings.model import SettingsError

Key = tuple[str, ...]

# How each kind of type error reads: the type the file (TOML) should have held there.
_EXPECTED = {
    "int_type": "int",
    "int_parsing": "int",
    "int_from_float": "int",
    "float_type": "float",
    "float_parsing": "float",
    "string_type": "str",
    "bool_type": "bool",
    "path_type": "str",
    "dict_type": "table",
    "model_type": "table",
    "model_attributes_type": "table",
    "dataclass_type": "table",
}
# Models say extra_forbidden; dataclasses refuse an unknown key as a keyword argument.
_UNKNOWN = frozenset({"extra_forbidden", "unexpected_keyword_argument"})
_MISSING = frozenset({"missing", "missing_keyword_argument"})


class Origins:
    """Where a key's value came from: an `EVR_*` variable if one was given, else the file."""

    def __init__(self, file: Path | None, variables: Mapping[Key, str]) -> None:
        self.file = file
        self.variables = variables

    def of(self, key: Key) -> str:
        for end in range(len(key), 0, -1):
            if key[:end] in self.variables:
                return self.variables[key[:end]]
        return str(self.file) if self.file else "no settings file"


def _explain(error: ErrorDetails, key: Key) -> str:
    name = ".".join(key)
    kind = error["type"]
    if kind in _EXPECTED:
        return f"{name} must be a {_EXPECTED[kind]}"
    if kind in _MISSING:
        return f"{name} is required"
    if kind == "value_error" and "ctx" in error:
        return str(error["ctx"]["error"])
    return f"{name}: {error['msg']}"


def settings_error(exc: ValidationError, origins: Origins) -> SettingsError:
    """One SettingsError listing every mistake, each prefixed with its file or variable."""
    unknown: dict[Key, list[str]] = {}
    lines: list[str] = []
    for error in exc.errors():
        key = tuple(str(part) for part in error["loc"])
        if error["type"] in _UNKNOWN:
            unknown.setdefault(key[:-1], []).append(key[-1])
        else:
            lines.append(f"{origins.of(key)}: {_explain(error, key)}")
    for section, names in unknown.items():
        where = f" in [{'.'.join(section)}]" if section else ""
        listed = ", ".join(sorted(names))
        lines.append(f"{origins.of(section)}: unknown setting(s){where}: {listed}")
    return SettingsError("; ".join(lines))
