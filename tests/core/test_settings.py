"""Settings are parsed once, strictly, and secrets come only from a 0600 key file."""

import re
from datetime import timedelta
from pathlib import Path

import pytest

from core.settings import SettingsError, load_settings
from sfu_config import write_key_file

SECRET = "s" * 40


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "keys.yaml"
    write_key_file(path, "APIkey", SECRET)
    return path


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "evr.toml"
    path.write_text(text)
    return path


def test_a_full_file_parses(tmp_path: Path, key_file: Path) -> None:
    config = _write(
        tmp_path,
        f"""
port = 9000
database_url = "postgresql+asyncpg://evr@db/evr"
reconcile_interval = 5
[livekit]
key_file = "{key_file.name}"
api_url = "http://sfu:7880"
client_url = "wss://sfu.example.police.uk"
[rooms]
max_participants = 4
[join]
link_ttl_hours = 24
token_ttl_seconds = 120
public_base_url = "https://evr.example.police.uk"
""",
    )
    s = load_settings(config, environ={})
    assert s.port == 9000
    assert s.reconcile_interval == 5.0
    assert (s.livekit.api_key, s.livekit.api_secret) == ("APIkey", SECRET)
    assert s.livekit.client_url == "wss://sfu.example.police.uk"
    assert s.rooms.max_participants == 4
    assert s.join.link_ttl == timedelta(hours=24)
    assert s.join.token_ttl == timedelta(seconds=120)
    assert SECRET not in repr(s)


def test_environment_overrides_the_file(tmp_path: Path, key_file: Path) -> None:
    config = _write(tmp_path, f'port = 9000\n[livekit]\nkey_file = "{key_file}"\n')
    s = load_settings(
        config, environ={"EVR_PORT": "9100", "EVR_DATABASE_URL": "sqlite+aiosqlite:///x"}
    )
    assert s.port == 9100
    assert s.database_url == "sqlite+aiosqlite:///x"
    assert s.livekit.client_url == "ws://127.0.0.1:7880"


def test_unknown_keys_are_errors(tmp_path: Path, key_file: Path) -> None:
    config = _write(tmp_path, f'prot = 9000\n[livekit]\nkey_file = "{key_file}"\n')
    with pytest.raises(SettingsError, match="prot"):
        load_settings(config, environ={})
    config = _write(tmp_path, f'[livekit]\nkey_file = "{key_file}"\napi_secret = "inline"\n')
    with pytest.raises(SettingsError, match="api_secret"):
        load_settings(config, environ={})


def test_a_key_file_readable_by_others_is_refused(tmp_path: Path, key_file: Path) -> None:
    key_file.chmod(0o644)
    config = _write(tmp_path, f'[livekit]\nkey_file = "{key_file}"\n')
    with pytest.raises(SettingsError, match="chmod 600"):
        load_settings(config, environ={})


def test_wrong_types_say_what_is_wrong(tmp_path: Path, key_file: Path) -> None:
    config = _write(tmp_path, f'port = "eighty"\n[livekit]\nkey_file = "{key_file}"\n')
    with pytest.raises(SettingsError, match="port must be a int"):
        load_settings(config, environ={})
    config = _write(tmp_path, f'[livekit]\nkey_file = "{key_file}"\n')
    with pytest.raises(SettingsError, match="EVR_PORT"):
        load_settings(config, environ={"EVR_PORT": "x"})


def test_the_key_file_is_required(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="key_file"):
        load_settings(_write(tmp_path, "port = 1\n"), environ={})


@pytest.mark.parametrize(
    "line",
    [
        "port = true",
        "reconcile_interval = false",
        "[join]\nlink_ttl_hours = true",
        "[join]\ntoken_ttl_seconds = true",
        "[rooms]\nmax_participants = true",
        "[recording]\nmetrics_port = true",
        "[bandwidth]\nwindow_minutes = true",
    ],
)
def test_a_bool_is_never_a_number(tmp_path: Path, key_file: Path, line: str) -> None:
    # The top-level keys come first: TOML puts any key after a [table] header into that table.
    config = _write(tmp_path, f'{line}\n[livekit]\nkey_file = "{key_file}"\n')
    with pytest.raises(SettingsError, match=r"must be a (int|float)"):
        load_settings(config, environ={})


def test_mistakes_name_the_file_or_the_variable(tmp_path: Path, key_file: Path) -> None:
    config = _write(tmp_path, f'[web]\nquick_exit = "x"\n[livekit]\nkey_file = "{key_file}"\n')
    with pytest.raises(SettingsError, match="^" + re.escape(f"{config}: unknown setting")):
        load_settings(config, environ={})
    config = _write(tmp_path, f'[livekit]\nkey_file = "{key_file}"\n')
    with pytest.raises(SettingsError, match=r"^EVR_QUICK_EXIT_URL: web\.quick_exit_url"):
        load_settings(config, environ={"EVR_QUICK_EXIT_URL": "javascript:alert(1)"})
