"""Canonical JSON: the exact bytes that are hashed and signed.

Sorted keys, no insignificant whitespace, UTF-8, no NaN/Infinity. The same bytes come out
of ``jq -cS`` for the values used here (strings, integers, booleans, null, lists, objects),
which lets a third party re-derive hashes without this software. Floats are refused for
that reason: their textual form differs between implementations.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import TypeAlias

JsonValue: TypeAlias = "str | int | bool | Sequence[JsonValue] | Mapping[str, JsonValue] | None"


def _check(value: object, where: str) -> None:
    if isinstance(value, float):
        raise TypeError(f"{where}: floats are not allowed in canonical JSON")
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"{where}: keys must be strings")
            _check(item, f"{where}.{key}")
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            _check(item, f"{where}[{i}]")
    elif not isinstance(value, str | int | bool) and value is not None:
        raise TypeError(f"{where}: {type(value).__name__} is not JSON")


def canonical_json(value: JsonValue) -> bytes:
    """Serialise ``value`` to canonical JSON bytes (see module docstring)."""
    _check(value, "$")
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def sha256_hex(data: bytes) -> str:
    """Lower-case hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()
