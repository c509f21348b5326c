"""The [recording] settings: paths relative to the file, typed timings, S3, strictness."""

from pathlib import Path

import pytest

from core.recording_settings import RecordingSettings
from core.settings import SettingsError, load_settings
from sfu_config import write_key_file


def _config(tmp_path: Path, recording: str) -> Path:
    write_key_file(tmp_path / "keys.yaml", "APIkey", "s" * 40)
    path = tmp_path / "evr.toml"
    path.write_text(f'[livekit]\nkey_file = "keys.yaml"\n{recording}')
    return path


def test_defaults(tmp_path: Path) -> None:
    settings = load_settings(_config(tmp_path, ""), environ={})
    assert settings.recording == RecordingSettings()
    assert settings.recording.metrics_port == 9465
    assert settings.recording.s3 is None


def test_a_full_section_parses(tmp_path: Path) -> None:
    (tmp_path / "s3-secret").write_text("very-secret\n")
    path = _config(
        tmp_path,
        "\n".join(
            [
                "[recording]",
                'store_dir = "evidence"',
                'spool_dir = "/srv/spool"',
                "metrics_port = 9500",
                "stale_after = 4",
                "segment_seconds = 120.5",
                'worker_id = "rec-1"',
                "[recording.s3]",
                'endpoint = "minio.internal:9000"',
                'bucket = "evidence"',
                'access_key = "evr"',
                'secret_key_file = "s3-secret"',
                "min_retention_days = 30",
            ]
        ),
    )
    rs = load_settings(path, environ={"EVR_RECORDING_METRICS_PORT": "9600"}).recording
    assert rs.store_dir == tmp_path / "evidence"
    assert rs.spool_dir == Path("/srv/spool")
    assert rs.metrics_port == 9600
    assert rs.stale_after == 4.0
    assert rs.segment_seconds == 120.5
    assert rs.worker_id == "rec-1"
    assert rs.s3 is not None
    assert rs.s3.secret_key == "very-secret"
    assert rs.s3.min_retention_days == 30
    assert "very-secret" not in repr(rs)


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ("[recording]\nbogus = 1\n", "unknown setting"),
        ('[recording]\nmetrics_port = "x"\n', "recording.metrics_port must be a int"),
        ('[recording.s3]\nendpoint = "x"\nbucket = "b"\naccess_key = "a"\nregion_x = 1\n', "s3"),
    ],
)
def test_mistakes_say_what_is_wrong(tmp_path: Path, section: str, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        load_settings(_config(tmp_path, section), environ={})
