"""A next release of the project for the upgrade test: the controller's artifacts, with the
wheel re-issued under another version (its dist-info renamed, METADATA and RECORD rewritten),
as `build_artifacts.py` would produce after a version bump, and optionally files added to it
(a new migration). The wheelhouse is shared."""

from __future__ import annotations

import base64
import hashlib
import shutil
import zipfile
from collections.abc import Mapping
from pathlib import Path

__all__ = ["next_release"]


def _digest(data: bytes) -> str:
    raw = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"sha256={raw}"


def next_release(
    artifacts: Path, out: Path, version: str, add: Mapping[str, bytes] | None = None
) -> Path:
    """Copy `artifacts` into `out` with the evr wheel re-versioned to `version` and the files
    in `add` (path inside the wheel -> content) added to it; return `out`."""
    out.mkdir(parents=True)
    for name in ("runtime.lock", "wheelhouse.tar"):
        shutil.copy2(artifacts / name, out / name)
    (wheel,) = artifacts.glob("evr-*.whl")
    old = wheel.name.split("-")[1]
    old_info, new_info = f"evr-{old}.dist-info/", f"evr-{version}.dist-info/"
    files: dict[str, bytes] = {}
    with zipfile.ZipFile(wheel) as source:
        for item in source.infolist():
            name = item.filename.replace(old_info, new_info, 1)
            data = source.read(item)
            if name == new_info + "METADATA":
                data = data.replace(
                    f"\nVersion: {old}\n".encode(), f"\nVersion: {version}\n".encode()
                )
            files[name] = data
    files.update(add or {})
    record = new_info + "RECORD"
    files[record] = (
        "".join(
            f"{name},{_digest(data)},{len(data)}\n"
            for name, data in files.items()
            if name != record
        ).encode()
        + f"{record},,\n".encode()
    )
    target = out / f"evr-{version}-py3-none-any.whl"
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as built:
        for name, data in files.items():
            built.writestr(name, data)
    return out
