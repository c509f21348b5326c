"""The recorder's spool (issue 12, finding 12 leftover): segments being written are victims'
statements, so the spool root and each recording's folder are 0700, whatever the umask."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from recorder.statement import private_spool


@pytest.fixture
def loose_umask() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.usefixtures("loose_umask")
def test_a_new_spool_is_owner_only(tmp_path: Path) -> None:
    spool = tmp_path / "spool" / "rec-1"
    private_spool(spool)
    assert _mode(spool) == 0o700
    assert _mode(spool.parent) == 0o700


@pytest.mark.usefixtures("loose_umask")
def test_an_existing_open_spool_root_is_tightened(tmp_path: Path) -> None:
    root = tmp_path / "spool"
    root.mkdir(mode=0o755)
    root.chmod(0o755)
    private_spool(root / "rec-2")
    assert _mode(root) == 0o700
    assert _mode(root / "rec-2") == 0o700
