"""Deployment installs the control plane from the project's wheel: it must carry everything."""

import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_the_wheel_carries_code_templates_and_the_entry_point(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(tmp_path), str(REPO)],
        check=True,
        capture_output=True,
        timeout=300,
    )  # fmt: skip
    (wheel,) = tmp_path.glob("evr-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())

    packages = ("core", "evidence", "control_plane", "recorder", "evr", "sfu_config", "monitoring")
    for package in packages:
        assert f"{package}/__init__.py" in names
    templates = {n for n in names if n.startswith("sfu_config/templates/")}
    assert {Path(n).name for n in templates} >= {"dev.yaml.j2", "production.yaml.j2"}
    static = REPO / "control_plane" / "static"
    for path in static.rglob("*") if static.exists() else []:
        if path.is_file():
            assert path.relative_to(REPO).as_posix() in names
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "evr = evr.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()
    assert not any(n.startswith(("tests/", "loadtests/")) for n in names)
