"""Unit tests for sfu_config.render: every profile's shape, and the inputs it refuses."""

from __future__ import annotations

import dataclasses
import os
import stat
from pathlib import Path
from typing import Any

import pytest
import yaml

from sfu_config import (
    MIN_SECRET_LENGTH,
    Profile,
    SfuSettings,
    generate_credentials,
    render,
    write_key_file,
)

PUBLIC_STUN_MARKERS = ("google", "twilio", "19302")


def make_settings(**overrides: Any) -> SfuSettings:
    base = SfuSettings(
        node_ip="10.213.0.2",
        bind_addresses=("10.213.0.2",),
        key_file=Path("/etc/livekit/keys.yaml"),
        webhook_api_key="APIexample",
        webhook_url="http://10.213.0.1:8080/livekit/webhook",
        turn_domain="turn.evr.test",
        turn_cert_file=Path("/etc/livekit/turn.crt"),
        turn_key_file=Path("/etc/livekit/turn.key"),
    )
    return dataclasses.replace(base, **overrides)


def settings_for(profile: Profile) -> SfuSettings:
    if profile is Profile.PRODUCTION_MULTINODE:
        return make_settings(redis_address="10.0.0.5:6379")
    return make_settings()


def rendered(profile: Profile) -> dict[str, Any]:
    parsed = yaml.safe_load(render(profile, settings_for(profile)))
    assert isinstance(parsed, dict)
    return parsed


@pytest.mark.parametrize("profile", list(Profile))
def test_every_profile_has_the_common_safety_settings(profile: Profile) -> None:
    conf = rendered(profile)
    assert conf["key_file"] == "/etc/livekit/keys.yaml"
    assert "keys" not in conf
    assert conf["webhook"] == {
        "api_key": "APIexample",
        "urls": ["http://10.213.0.1:8080/livekit/webhook"],
    }
    assert conf["prometheus"] == {"port": 6789}
    assert "prometheus_port" not in conf  # deprecated spelling
    assert conf["rtc"]["node_ip"] == "10.213.0.2"
    assert conf["rtc"]["use_external_ip"] is False
    assert conf["rtc"]["stun_servers"] == ["10.213.0.2:3478"]
    assert "turn_servers" not in conf["rtc"]
    assert conf["room"]["auto_create"] is False
    assert conf["turn"]["enabled"] is True
    assert conf["turn"]["udp_port"] == 3478
    assert conf["turn"]["allow_restricted_peer_cidrs"] == ["10.213.0.2/32"]


@pytest.mark.parametrize("profile", list(Profile))
def test_no_public_stun_anywhere_even_in_comments(profile: Profile) -> None:
    """Comments included: an operator copying a commented line must not get one either."""
    text = render(profile, settings_for(profile)).lower()
    for marker in PUBLIC_STUN_MARKERS:
        assert marker not in text, marker


@pytest.mark.parametrize("profile", list(Profile))
def test_every_line_is_documented(profile: Profile) -> None:
    """config-sample.yaml habit: every top-level section is introduced by a comment."""
    lines = render(profile, settings_for(profile)).splitlines()
    for number, line in enumerate(lines[1:], start=1):
        if line and not line[0].isspace() and not line.startswith("#"):
            assert lines[number - 1].startswith("#"), f"undocumented key: {line}"


def test_dev_turn_is_udp_only() -> None:
    turn = rendered(Profile.DEV)["turn"]
    assert "tls_port" not in turn
    assert "domain" not in turn
    assert "redis" not in rendered(Profile.DEV)


@pytest.mark.parametrize("profile", [Profile.PRODUCTION, Profile.PRODUCTION_MULTINODE])
def test_production_has_turn_tls_and_udp(profile: Profile) -> None:
    turn = rendered(profile)["turn"]
    assert turn["tls_port"] == 5349
    assert turn["domain"] == "turn.evr.test"
    assert turn["cert_file"] == "/etc/livekit/turn.crt"
    assert turn["key_file"] == "/etc/livekit/turn.key"
    assert turn["udp_port"] == 3478
    assert (turn["relay_range_start"], turn["relay_range_end"]) == (30000, 30100)


def test_only_multinode_has_redis() -> None:
    assert "redis" not in rendered(Profile.PRODUCTION)
    assert rendered(Profile.PRODUCTION_MULTINODE)["redis"] == {"address": "10.0.0.5:6379", "db": 0}


def test_redis_password_is_never_rendered() -> None:
    text = render(Profile.PRODUCTION_MULTINODE, settings_for(Profile.PRODUCTION_MULTINODE))
    assert "password:" not in text.replace("# password:", "").replace('#   password: ""', "")


def test_values_are_quoted_so_odd_paths_stay_strings() -> None:
    conf = yaml.safe_load(render(Profile.DEV, make_settings(key_file=Path("/srv/a: b/#keys.yaml"))))
    assert conf["key_file"] == "/srv/a: b/#keys.yaml"


def test_ipv6_node_ip_is_bracketed_in_stun_url() -> None:
    conf = yaml.safe_load(render(Profile.DEV, make_settings(node_ip="fd00::2")))
    assert conf["rtc"]["stun_servers"] == ["[fd00::2]:3478"]
    assert conf["turn"]["allow_restricted_peer_cidrs"] == ["fd00::2/128"]


@pytest.mark.parametrize(
    ("profile", "overrides", "message"),
    [
        (Profile.PRODUCTION, {"turn_domain": None}, "turn_domain"),
        (Profile.PRODUCTION, {"turn_cert_file": None}, "turn_cert_file"),
        (Profile.PRODUCTION, {"turn_key_file": None}, "turn_key_file"),
        (Profile.PRODUCTION_MULTINODE, {"turn_domain": None}, "turn_domain"),
        (Profile.PRODUCTION_MULTINODE, {}, "redis_address"),
        (Profile.PRODUCTION_MULTINODE, {"redis_address": "redis"}, "host:port"),
        (Profile.DEV, {"redis_address": "10.0.0.5:6379"}, "only used by"),
        (Profile.PRODUCTION, {"turn_domain": "not a domain"}, "turn_domain"),
        (Profile.DEV, {"node_ip": "0.0.0.0"}, "node_ip"),  # noqa: S104 - must be refused
        (Profile.DEV, {"node_ip": "sfu.local"}, "node_ip"),
        (Profile.DEV, {"bind_addresses": ()}, "bind_addresses"),
        (Profile.DEV, {"webhook_api_key": ""}, "webhook_api_key"),
        (Profile.DEV, {"webhook_url": "10.0.0.1:8080/hook"}, "webhook_url"),
        (Profile.DEV, {"log_level": "verbose"}, "log_level"),
        (Profile.DEV, {"rtc_udp_port": 3478}, "collide"),
        (Profile.DEV, {"http_port": 70000}, "http_port"),
        (Profile.DEV, {"turn_relay_range": (40000, 30000)}, "turn_relay_range"),
    ],
)
def test_missing_or_bad_inputs_raise_value_error(
    profile: Profile, overrides: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        render(profile, make_settings(**overrides))


def test_key_file_is_0600_and_parses(tmp_path: Path) -> None:
    key, secret = generate_credentials()
    path = tmp_path / "keys.yaml"
    write_key_file(path, key, secret)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert yaml.safe_load(path.read_text()) == {key: secret}
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind


def test_key_file_replaces_existing_file_and_keeps_0600(tmp_path: Path) -> None:
    path = tmp_path / "keys.yaml"
    path.write_text("old")
    path.chmod(0o644)
    key, secret = generate_credentials()
    write_key_file(path, key, secret)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert yaml.safe_load(path.read_text()) == {key: secret}


def test_key_file_is_never_created_with_wider_mode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Catch a create-then-chmod implementation: every file created in the directory must
    already be 0600 at the moment its content is written."""
    seen: list[int] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        seen.append(stat.S_IMODE(os.fstat(fd).st_mode))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    old_umask = os.umask(0)  # the worst case: nothing masks a careless mode
    try:
        write_key_file(tmp_path / "keys.yaml", *generate_credentials())
    finally:
        os.umask(old_umask)
    assert seen == [0o600]


def test_short_secret_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "keys.yaml"
    with pytest.raises(ValueError, match=str(MIN_SECRET_LENGTH)):
        write_key_file(path, "APIkey", "s" * (MIN_SECRET_LENGTH - 1))
    assert not path.exists()


@pytest.mark.parametrize(("key", "secret"), [("API key", "s" * 40), ("APIkey", "s" * 39 + ":")])
def test_key_file_refuses_characters_that_need_yaml_quoting(
    tmp_path: Path, key: str, secret: str
) -> None:
    with pytest.raises(ValueError, match="may only contain"):
        write_key_file(tmp_path / "keys.yaml", key, secret)


def test_generated_credentials_are_long_and_unique() -> None:
    pairs = {generate_credentials() for _ in range(20)}
    assert len(pairs) == 20
    for key, secret in pairs:
        assert key.startswith("API")
        assert len(secret) >= MIN_SECRET_LENGTH
