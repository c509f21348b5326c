"""The packages import one way: core, then the evidence library, then the two services side by
side, then the CLI that wires them. A module importing a higher (or a sibling) layer fails here.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# What each of our packages may import, besides itself and third-party code.
ALLOWED: dict[str, frozenset[str]] = {
    "core": frozenset(),
    "evidence": frozenset({"core"}),
    "control_plane": frozenset({"core", "evidence"}),
    "recorder": frozenset({"core", "evidence"}),
    "evr": frozenset({"core", "evidence", "control_plane", "recorder", "sfu_config"}),
    # Tools beside the layers: they stand alone.
    "sfu_config": frozenset(),
    "monitoring": frozenset(),
    "loadtests": frozenset(),
}


def imported_packages(path: Path) -> set[tuple[str, int]]:
    """Every top-level package a module imports, anywhere in it (functions included)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[tuple[str, int]] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update((alias.name.split(".")[0], node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add((node.module.split(".")[0], node.lineno))
    return found


def violations(package: str) -> list[str]:
    ours = set(ALLOWED)
    allowed = ALLOWED[package] | {package}
    found = []
    for path in sorted((ROOT / package).rglob("*.py")):
        if "static" in path.parts:
            continue
        for imported, line in sorted(imported_packages(path)):
            if imported in ours and imported not in allowed:
                found.append(f"{path.relative_to(ROOT)}:{line} imports {imported}")
    return found


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_package_imports_only_layers_below_it(package: str) -> None:
    assert (ROOT / package / "__init__.py").is_file(), f"{package}/ is not a package"
    assert violations(package) == []


def test_the_rule_catches_an_upward_import(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from control_plane import app\n    import recorder.worker\n")
    assert imported_packages(module) == {("control_plane", 2), ("recorder", 3)}


def test_the_services_never_import_each_other() -> None:
    assert "recorder" not in ALLOWED["control_plane"]
    assert "control_plane" not in ALLOWED["recorder"]
