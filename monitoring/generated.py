"""Committed generated files: write them, or check that the committed copies are current."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TextIO


def write_or_check(
    files: Mapping[Path, str], *, check: bool, regenerate: str, stderr: TextIO | None = None
) -> int:
    """Write each ``{path: text}``, or with ``check`` only compare; return the exit status.

    Checking writes nothing: every missing or differing file is named on ``stderr`` with the
    ``regenerate`` command that fixes it, and the status is 1. Otherwise it is 0.
    """
    stale = []
    for path, text in files.items():
        if check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(str(path))
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    if stale:
        print(f"stale, regenerate with {regenerate}:", *stale, file=stderr or sys.stderr)
        return 1
    return 0
