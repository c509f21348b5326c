"""The [bandwidth] section of the settings file."""

from datetime import timedelta
from pathlib import Path

import pytest

from core.settings import BandwidthSettings, SettingsError, load_settings


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "keys.yaml"
    path.write_text("APIkey: " + "s" * 48 + "\n")
    path.chmod(0o600)
    return path


def _load(tmp_path: Path, key_file: Path, bandwidth: str) -> BandwidthSettings:
    path = tmp_path / "evr.toml"
    path.write_text(f'[livekit]\nkey_file = "{key_file}"\n\n[bandwidth]\n{bandwidth}\n')
    return load_settings(path, environ={}).bandwidth


def test_defaults_without_a_section(tmp_path: Path, key_file: Path) -> None:
    path = tmp_path / "evr.toml"
    path.write_text(f'[livekit]\nkey_file = "{key_file}"\n')
    assert load_settings(path, environ={}).bandwidth == BandwidthSettings()


def test_every_key_is_read(tmp_path: Path, key_file: Path) -> None:
    bw = _load(
        tmp_path,
        key_file,
        "window_minutes = 5\nhd_kbps = 3000\nsd_540_kbps = 1500\nsd_kbps = 800\n"
        "audio_kbps = 120\nvideo_max_rtt_ms = 250\naudio_max_rtt_ms = 600\n"
        "video_max_loss = 0.02\nvideo_min_fps = 12\nrtt_rounds = 7\nupload_seconds = 1.5\n"
        "upload_max_bytes = 500000\ndownload_seconds = 1.5\ndownload_max_bytes = 600000\n"
        "probe_seconds = 1.5\nprobe_max_seconds = 4\nprobe_max_bitrate = 300000\n"
        "check_ttl_seconds = 30",
    )
    assert bw == BandwidthSettings(
        window=timedelta(minutes=5),
        hd_kbps=3000,
        sd_540_kbps=1500,
        sd_kbps=800,
        audio_kbps=120,
        video_max_rtt_ms=250.0,
        audio_max_rtt_ms=600.0,
        video_max_loss=0.02,
        video_min_fps=12.0,
        rtt_rounds=7,
        upload_seconds=1.5,
        upload_max_bytes=500_000,
        download_seconds=1.5,
        download_max_bytes=600_000,
        probe_seconds=1.5,
        probe_max_seconds=4.0,
        probe_max_bitrate=300_000,
        check_ttl_seconds=30.0,
    )


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("hd_kbps = 500", "hd_kbps >= sd_540_kbps >= sd_kbps > audio_kbps"),
        ("audio_kbps = 0", "hd_kbps >= sd_540_kbps >= sd_kbps > audio_kbps > 0"),
        ("video_max_rtt_ms = 900", "video_max_rtt_ms <= audio_max_rtt_ms"),
        ("video_max_loss = 1.5", "video_max_loss must be in [0, 1)"),
        ("probe_max_seconds = 1", "probe_max_seconds >= probe_seconds"),
        ("upload_max_bytes = 0", "bandwidth.upload_max_bytes must be positive"),
        ("window_minutes = -1", "bandwidth.window_minutes must be positive"),
        ("hd_kbps = 'fast'", "bandwidth.hd_kbps must be a int"),
        ("hd_kbps = 2300.5", "bandwidth.hd_kbps must be a int"),
        ("uplink = 3", "unknown setting(s) in [bandwidth]: uplink"),
    ],
)
def test_bad_values_are_refused_with_a_reason(
    tmp_path: Path, key_file: Path, line: str, message: str
) -> None:
    with pytest.raises(SettingsError) as refused:
        _load(tmp_path, key_file, line)
    assert message in str(refused.value)
