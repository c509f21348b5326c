"""The media agent's pipe protocol, with the real agent process (no room needed)."""

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]


async def _ask(proc: asyncio.subprocess.Process, line: bytes) -> dict[str, Any]:
    assert proc.stdin is not None
    assert proc.stdout is not None
    proc.stdin.write(line)
    await proc.stdin.drain()
    reply: dict[str, Any] = json.loads(await asyncio.wait_for(proc.stdout.readline(), 60))
    return reply


async def test_agent_answers_by_id_reports_errors_and_exits_at_eof() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "loadtests.agent",
        cwd=REPO_ROOT,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        pong = await _ask(proc, b'{"id": 1, "op": "ping"}\n')
        assert pong == {"id": 1, "ok": True, "result": {"pid": proc.pid, "participants": 0}}
        # A line that is not a request is logged and skipped; the next one is still served.
        missing = await _ask(
            proc, b'not json\n{"id": 2, "op": "measure", "args": {"participant": "x"}}\n'
        )
        assert missing["id"] == 2
        assert not missing["ok"]
        assert "no participant 'x'" in missing["error"]
        left = await _ask(proc, b'{"id": 3, "op": "leave", "args": {"participant": "x"}}\n')
        assert left == {"id": 3, "ok": True, "result": {"left": False}}
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        code = await asyncio.wait_for(proc.wait(), 30)
    assert code == 0
