"""`[livekit]` names one node (`api_url`) or every node of a cluster (`api_urls`)."""

from pathlib import Path

import pytest

from core.settings import SettingsError, load_settings
from sfu_config import write_key_file


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "keys.yaml"
    write_key_file(path, "APIkey", "s" * 40)
    return path


def _config(tmp_path: Path, key_file: Path, lines: str = "") -> Path:
    path = tmp_path / "evr.toml"
    path.write_text(f'[livekit]\nkey_file = "{key_file}"\n{lines}')
    return path


def test_one_url_is_the_only_node(tmp_path: Path, key_file: Path) -> None:
    lk = load_settings(_config(tmp_path, key_file, 'api_url = "http://sfu:7880"\n'), {}).livekit
    assert lk.node_urls == ("http://sfu:7880",)
    assert lk.api_url == "http://sfu:7880"


def test_a_cluster_lists_its_nodes_in_order(tmp_path: Path, key_file: Path) -> None:
    lines = 'api_urls = ["http://sfu-1:7880", "http://sfu-2:7880"]\n'
    lk = load_settings(_config(tmp_path, key_file, lines), {}).livekit
    assert lk.node_urls == ("http://sfu-1:7880", "http://sfu-2:7880")
    assert lk.api_url == "http://sfu-1:7880"  # the recorder and the check use the first
    assert lk.client_url == "ws://sfu-1:7880"


def test_the_environment_gives_a_comma_separated_list(tmp_path: Path, key_file: Path) -> None:
    environ = {"EVR_LIVEKIT_API_URLS": "http://a:7880, http://b:7880"}
    lk = load_settings(_config(tmp_path, key_file), environ).livekit
    assert lk.node_urls == ("http://a:7880", "http://b:7880")


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (
            'api_url = "http://a:7880"\napi_urls = ["http://b:7880"]\n',
            "livekit: give api_url .* or api_urls .*not both",
        ),
        ("api_urls = []\n", "livekit.api_urls"),
        ('api_urls = ["http://a:7880", "http://a:7880"]\n', "livekit.api_urls lists a node twice"),
        ('api_urls = ["sfu-1:7880"]\n', "livekit.api_urls: 'sfu-1:7880' is not an http"),
        ("api_urls = [7880]\n", "livekit.api_urls"),
    ],
)
def test_bad_node_lists_are_refused_with_the_key_named(
    tmp_path: Path, key_file: Path, lines: str, message: str
) -> None:
    with pytest.raises(SettingsError, match=message) as caught:
        load_settings(_config(tmp_path, key_file, lines), {})
    assert "evr.toml" in str(caught.value)
