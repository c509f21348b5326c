"""`evr serve` / `evr recorder` start and stop lines: the fields operators and plays read."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from core.logs import JsonFormatter
from core.settings import load_settings
from evr import lifecycle


def test_database_kind_is_the_dialect_without_credentials() -> None:
    assert lifecycle.database_kind("postgresql+asyncpg://evr:s3cret@db/evr") == "postgresql"
    assert lifecycle.database_kind("sqlite+aiosqlite:///var/evr.sqlite3") == "sqlite"


def test_start_line_names_version_listen_database_and_sfu(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    keys = tmp_path / "keys.yaml"
    keys.write_text("APIkey: " + "x" * 32 + "\n")
    keys.chmod(0o600)
    config = tmp_path / "evr.toml"
    config.write_text(
        'database_url = "postgresql+asyncpg://evr:s3cret@db/evr"\n'
        f'[livekit]\napi_url = "http://sfu.internal:7880"\nkey_file = "{keys}"\n'
    )
    settings = load_settings(config, environ={})
    with caplog.at_level(logging.INFO, logger="evr"):
        lifecycle.started("serve", settings, listen="0.0.0.0:8080")
        lifecycle.stopped("serve")
    start, stop = (json.loads(JsonFormatter().format(r)) for r in caplog.records)
    assert start["event"] == "serve.started"
    assert start["version"] == lifecycle.evr_version() != ""
    assert start["listen"] == "0.0.0.0:8080"
    assert start["database"] == "postgresql"
    assert start["sfu_url"] == "http://sfu.internal:7880"
    assert start["event_loop"] == "none"  # called here outside any loop
    assert "s3cret" not in json.dumps(start)
    assert stop["event"] == "serve.stopped"
