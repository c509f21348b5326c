"""The [web] settings: the quick-exit URL is configurable, and must be a web address."""

import re
from pathlib import Path

import pytest

from core.settings import SettingsError, WebSettings, load_settings
from sfu_config import write_key_file


def _config(tmp_path: Path, web: str) -> Path:
    write_key_file(tmp_path / "keys.yaml", "APIkey", "s" * 40)
    path = tmp_path / "evr.toml"
    path.write_text(f'[livekit]\nkey_file = "keys.yaml"\n{web}')
    return path


def test_the_default_is_a_neutral_page(tmp_path: Path) -> None:
    settings = load_settings(_config(tmp_path, ""), environ={})
    assert settings.web == WebSettings()
    assert settings.web.quick_exit_url.startswith("https://")


def test_the_file_and_the_environment_set_it(tmp_path: Path) -> None:
    path = _config(tmp_path, '[web]\nquick_exit_url = "https://example.org/news"\n')
    assert load_settings(path, environ={}).web.quick_exit_url == "https://example.org/news"
    env = {"EVR_QUICK_EXIT_URL": "https://example.net/"}
    assert load_settings(path, environ=env).web.quick_exit_url == "https://example.net/"


@pytest.mark.parametrize(
    ("web", "message"),
    [
        ('[web]\nquick_exit_url = "javascript:alert(1)"\n', "http(s) URL"),
        ("[web]\nquick_exit_url = 3\n", "must be a str"),
        ('[web]\nexit = "https://example.org"\n', "unknown setting(s) in [web]: exit"),
    ],
)
def test_bad_values_are_refused(tmp_path: Path, web: str, message: str) -> None:
    with pytest.raises(SettingsError, match=re.escape(message)):
        load_settings(_config(tmp_path, web), environ={})


def test_the_force_and_its_non_emergency_number_come_from_the_file(tmp_path: Path) -> None:
    path = _config(tmp_path, '[web]\nforce_name = "Wessex Police"\nnon_emergency_number = "101"\n')
    web = load_settings(path, environ={}).web
    assert (web.force_name, web.non_emergency_number) == ("Wessex Police", "101")
    with pytest.raises(SettingsError, match="force_name"):
        load_settings(_config(tmp_path, '[web]\nforce_name = ""\n'), environ={})
