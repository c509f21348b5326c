"""Which media agent to start and how: no gevent here, so asyncio code (loadtests.asyncagent,
the capacity runner, their tests) can use it without Locust's monkey-patching library loaded
into its process."""

from __future__ import annotations

import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
GO_AGENT = REPO_ROOT / ".tools" / "bin" / "evr-media-agent"
MEDIA_DIR = REPO_ROOT / ".tools" / "media"
"""Both built by scripts/setup.sh (loadtests/mediaagent)."""


def agent_argv(kind: str) -> list[str]:
    """The command line of a media agent of `kind` ("python" or "go")."""
    if kind == "go":
        return [str(GO_AGENT), "-media", str(MEDIA_DIR)]
    if kind == "python":
        return [sys.executable, "-m", "loadtests.agent"]
    raise ValueError(f"unknown media agent kind {kind!r}")
