"""The write-or-check helper behind the alert and dashboard generators."""

from __future__ import annotations

import io
from pathlib import Path

from monitoring.generated import write_or_check

REGENERATE = "python -m example"


def test_writing_creates_folders_and_then_checks_clean(tmp_path: Path) -> None:
    files = {tmp_path / "a.yml": "a: 1\n", tmp_path / "sub" / "b.json": "{}\n"}
    assert write_or_check(files, check=False, regenerate=REGENERATE) == 0
    assert (tmp_path / "sub" / "b.json").read_text(encoding="utf-8") == "{}\n"
    err = io.StringIO()
    assert write_or_check(files, check=True, regenerate=REGENERATE, stderr=err) == 0
    assert err.getvalue() == ""


def test_checking_names_missing_and_differing_files_and_writes_nothing(tmp_path: Path) -> None:
    current, changed, missing = tmp_path / "current", tmp_path / "changed", tmp_path / "missing"
    current.write_text("same", encoding="utf-8")
    changed.write_text("old", encoding="utf-8")
    err = io.StringIO()
    status = write_or_check(
        {current: "same", changed: "new", missing: "x"},
        check=True,
        regenerate=REGENERATE,
        stderr=err,
    )
    assert status == 1
    assert err.getvalue() == f"stale, regenerate with {REGENERATE}: {changed} {missing}\n"
    assert changed.read_text(encoding="utf-8") == "old"
    assert not missing.exists()
