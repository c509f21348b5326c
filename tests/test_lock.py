"""requirements.lock is what setup installs: every dependency pyproject.toml names and all that
they need in turn, each pinned to one version with its file hashes, and nothing else. After
editing pyproject.toml's dependencies run `make lock`; these tests fail until the lock follows.
"""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

REPO = Path(__file__).resolve().parent.parent
LOCK = REPO / "requirements.lock"

# The lock's target (scripts/lock.sh): markers in pyproject and in package metadata are
# evaluated for it, as uv did when resolving (packaging fills in the rest from this interpreter).
TARGET: dict[str, str] = {
    "implementation_name": "cpython",
    "os_name": "posix",
    "platform_machine": "x86_64",
    "platform_python_implementation": "CPython",
    "platform_system": "Linux",
    "python_version": "3.11",
    "sys_platform": "linux",
}

HASH = re.compile(r"sha256:[0-9a-f]{64}")
COMMENT = re.compile(r"(^|\s)#.*$")


def read_lock(text: str) -> dict[NormalizedName, tuple[Requirement, list[str]]]:
    """Each entry of a `pip install --require-hashes -r` file, by canonical name: the
    requirement as written and its `--hash` values."""
    entries: dict[NormalizedName, tuple[Requirement, list[str]]] = {}
    for line in text.replace("\\\n", " ").splitlines():
        words = COMMENT.sub("", line).split()
        if not words:
            continue
        requirement = Requirement(words[0])
        hashes = [w.removeprefix("--hash=") for w in words[1:] if w.startswith("--hash=")]
        name = canonicalize_name(requirement.name)
        assert name not in entries, f"{name} is locked twice"
        entries[name] = (requirement, hashes)
    return entries


def pyproject_requirements() -> list[Requirement]:
    """What pyproject.toml asks for: the build backend, the runtime list and the dev extra
    (setup installs the project with the locked setuptools, without build isolation)."""
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    named = [
        *pyproject["build-system"]["requires"],
        *pyproject["project"]["dependencies"],
        *pyproject["project"]["optional-dependencies"]["dev"],
    ]
    return [r for r in map(Requirement, named) if r.marker is None or r.marker.evaluate(TARGET)]


def locked_version(requirement: Requirement) -> Version:
    (pin,) = requirement.specifier
    return Version(pin.version)


LOCKED = read_lock(LOCK.read_text())


def test_every_entry_is_pinned_to_one_version_with_hashes() -> None:
    assert LOCKED
    for name, (requirement, hashes) in LOCKED.items():
        pins = list(requirement.specifier)
        assert len(pins) == 1, f"{requirement}: one pin expected"
        assert pins[0].operator == "==", f"{requirement}: pin with =="
        assert "*" not in pins[0].version, f"{requirement}: no wildcard pins"
        assert not requirement.marker, f"{requirement}: the lock is for one platform"
        assert hashes, f"{name} has no --hash"
        bad = [h for h in hashes if not HASH.fullmatch(h)]
        assert not bad, f"{name}: not sha256 hashes: {bad}"


@pytest.mark.parametrize("requirement", pyproject_requirements(), ids=str)
def test_pyproject_dependency_is_locked_within_its_range(requirement: Requirement) -> None:
    name = canonicalize_name(requirement.name)
    assert name in LOCKED, f"{requirement.name} is not in requirements.lock: run `make lock`"
    version = locked_version(LOCKED[name][0])
    assert requirement.specifier.contains(version, prereleases=True), (
        f"{requirement.name} is locked at {version}, outside {requirement.specifier}: "
        "run `make lock`"
    )


def test_the_lock_holds_the_dependency_tree_and_nothing_else() -> None:
    # Walked through the installed packages' metadata, which is the locked versions' metadata
    # because setup installs from the lock (checked on the way).
    needed: set[NormalizedName] = set()
    pending = [(canonicalize_name(r.name), frozenset(r.extras)) for r in pyproject_requirements()]
    seen: set[tuple[NormalizedName, frozenset[str]]] = set()
    while pending:
        name, extras = pending.pop()
        if (name, extras) in seen:
            continue
        seen.add((name, extras))
        needed.add(name)
        if name not in LOCKED:
            continue  # reported below; what it needs is known once it is locked and installed
        locked = locked_version(LOCKED[name][0])
        try:
            distribution = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            pytest.fail(f"{name} is locked but not installed: run scripts/setup.sh")
        assert Version(distribution.version) == locked, (
            f"{name} {distribution.version} is installed but {locked} is locked: "
            "run scripts/setup.sh"
        )
        for text in distribution.requires or []:
            dependency = Requirement(text)
            wanted = dependency.marker is None or any(
                dependency.marker.evaluate(TARGET | {"extra": extra}) for extra in {"", *extras}
            )
            if wanted:
                pending.append((canonicalize_name(dependency.name), frozenset(dependency.extras)))

    missing = sorted(needed - LOCKED.keys())
    assert not missing, f"needed but not locked: {missing}: run `make lock`"
    unneeded = sorted(LOCKED.keys() - needed)
    assert not unneeded, f"locked but not needed: {unneeded}: run `make lock`"
