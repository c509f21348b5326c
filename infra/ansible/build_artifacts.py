"""Build what the Ansible roles copy to the hosts, so that no host downloads anything itself.

    .venv/bin/python infra/ansible/build_artifacts.py [--out .tools/artifacts]

writes into OUT:
- the project's wheel (`evr-<version>-py3-none-any.whl`, with the built web pages),
- `runtime.lock`: the entries of requirements.lock that `evr` needs at run time (its own
  dependencies and theirs, no dev tools), hashes kept,
- `wheelhouse/`: exactly those wheels, fetched by pip with `--require-hashes` (pip's cache
  makes later runs fast; `scripts/setup.sh` fills it, `--offline` never downloads), and
  `wheelhouse.tar`, the same files in one reproducible
  archive (one copy and one checksum per deploy instead of one per wheel).
Run it from the project's .venv (it reads the installed distributions' metadata).
"""

from __future__ import annotations

import argparse
import io
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from importlib.metadata import PackageNotFoundError, requires
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name, parse_wheel_filename

ROOT = Path(__file__).resolve().parents[2]
_ENTRY = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==")


def lock_entries(lock: Path) -> dict[str, str]:
    """requirements.lock split into one text block (the pin and its hashes) per package."""
    blocks: dict[str, str] = {}
    current: list[str] = []
    name = ""
    for line in lock.read_text().splitlines():
        match = _ENTRY.match(line)
        if match:
            if name:
                blocks[name] = "\n".join(current)
            name, current = canonicalize_name(match.group(1)), [line]
        elif name and line.startswith(" ") and not line.strip().startswith("#"):
            current.append(line)
    if name:
        blocks[name] = "\n".join(current)
    return blocks


def runtime_closure(root: str = "evr") -> set[str]:
    """Canonical names of every distribution `root` needs at run time (no extras)."""
    seen: set[str] = set()
    todo = [Requirement(root)]
    while todo:
        req = todo.pop()
        name = canonicalize_name(req.name)
        if name in seen:
            continue
        seen.add(name)
        try:
            deps = requires(req.name) or []
        except PackageNotFoundError as exc:
            raise SystemExit(
                f"{req.name} is not installed in this venv: run scripts/setup.sh"
            ) from exc
        extras = set(req.extras) or {""}
        for text in deps:
            dep = Requirement(text)
            if dep.marker is None or any(dep.marker.evaluate({"extra": e}) for e in extras):
                todo.append(dep)
    return seen - {canonicalize_name(root)}


def runtime_lock(lock: Path) -> str:
    """The runtime part of `lock`, in its order, as a requirements file."""
    needed = runtime_closure()
    entries = lock_entries(lock)
    missing = needed - entries.keys()
    if missing:
        raise SystemExit(f"requirements.lock lacks {sorted(missing)}: run `make lock`")
    header = "# The runtime part of requirements.lock (infra/ansible/build_artifacts.py).\n"
    return header + "\n".join(text for name, text in entries.items() if name in needed) + "\n"


def missing_wheels(wheelhouse: Path, lock_text: str) -> list[str]:
    """`name==version` pins of `lock_text` with no wheel of that version in `wheelhouse`."""
    have = {
        (name, str(version))
        for name, version, _build, _tags in (
            parse_wheel_filename(p.name) for p in wheelhouse.glob("*.whl")
        )
    }
    pins = (line.split(" ", 1)[0] for line in lock_text.splitlines() if _ENTRY.match(line))
    return [
        pin
        for pin in pins
        if (canonicalize_name(pin.split("==")[0]), pin.split("==")[1]) not in have
    ]


def build(out: Path, *, offline: bool = False, download_only: bool = False) -> None:
    """Write the artifacts into `out`. Only the download needs the network (PyPI, through
    pip and its cache): `scripts/setup.sh` does it; `offline` refuses to, naming what lacks."""
    out.mkdir(parents=True, exist_ok=True)
    lock_text = runtime_lock(ROOT / "requirements.lock")
    lock_path = out / "runtime.lock"
    if not lock_path.exists() or lock_path.read_text() != lock_text:
        lock_path.write_text(lock_text)
    wheelhouse = out / "wheelhouse"
    wheelhouse.mkdir(exist_ok=True)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    missing = missing_wheels(wheelhouse, lock_text)
    if missing and offline:
        raise SystemExit(f"{wheelhouse} lacks {', '.join(missing)}: run scripts/setup.sh")
    if missing:
        platforms = ("manylinux2014_x86_64", "manylinux_2_28_x86_64", "manylinux_2_17_x86_64")
        subprocess.run(
            [
                *pip,
                "download",
                "--require-hashes",
                "--only-binary",
                ":all:",
                "--no-deps",
                "--python-version",
                "3.11",
                *(arg for platform in platforms for arg in ("--platform", platform)),
                "-d",
                str(wheelhouse),
                "-r",
                str(lock_path),
            ],
            check=True,
        )
    if download_only:
        return
    _tar(wheelhouse, out / "wheelhouse.tar")
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", tmp, str(ROOT)],
            check=True,
            cwd=tmp,
        )
        (built,) = Path(tmp).glob("evr-*.whl")
        for old in out.glob("evr-*.whl"):
            old.unlink()
        shutil.copy2(built, out / built.name)


def _tar(directory: Path, target: Path) -> None:
    """`directory`'s files in name order with fixed metadata; rewritten only on change."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(directory.glob("*.whl")):
            info = tarfile.TarInfo(path.name)
            info.size = path.stat().st_size
            info.mode = 0o644
            with path.open("rb") as handle:
                tar.addfile(info, handle)
    data = buffer.getvalue()
    if not target.exists() or target.read_bytes() != data:
        target.write_bytes(data)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / ".tools" / "artifacts")
    parser.add_argument("--offline", action="store_true", help="never download (tests)")
    parser.add_argument("--download-only", action="store_true", help="only fill the wheelhouse")
    args = parser.parse_args()
    build(args.out, offline=args.offline, download_only=args.download_only)


if __name__ == "__main__":
    main()
