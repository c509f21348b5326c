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
    # Missing bundles are a failure, not a pass: the pages would 404 in production.
    assert static.is_dir(), f"{static} is missing: build the web bundles (cd web && npm run build)"
    built = {p.relative_to(REPO).as_posix() for p in static.rglob("*") if p.is_file()}
    assert {"control_plane/static/join.html", "control_plane/static/console.html"} <= built
    assert built <= names
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "evr = evr.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()
    assert not any(n.startswith(("tests/", "loadtests/")) for n in names)
