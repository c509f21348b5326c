"""Export and verify show progress on a terminal's stderr, and nothing more when piped."""

from __future__ import annotations

import io
import os
import pty
import select
import subprocess
import sys
from pathlib import Path

from evidence.progress import TerminalProgress, advance, reporting
from evidence.seal import SealedStatement
from evidence.store import LocalEvidenceStore
from tests.evidence.conftest import EVIDENCE_ID

ERASE = "\r\033[K"


def run(*argv: str, tty: bool) -> tuple[int, str, str]:
    """Run the examiner CLI in a child process; stderr is a pseudo-terminal if `tty`."""
    command = [sys.executable, "-m", "evidence.cli", *argv]
    if not tty:
        done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
        return done.returncode, done.stdout, done.stderr
    master, slave = pty.openpty()
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=slave, text=True)
    os.close(slave)
    seen = b""
    try:
        while True:
            ready, _, _ = select.select([master], [], [], 60)
            if not ready:
                raise TimeoutError("no output from the CLI in 60 s")
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the child closed its end
                break
            if not data:
                break
            seen += data
        stdout = child.stdout.read() if child.stdout else ""
        code = child.wait(60)
    finally:
        os.close(master)
        if child.stdout:
            child.stdout.close()
    return code, stdout, seen.decode()


def export_argv(store: LocalEvidenceStore, out: Path, key: Path) -> list[str]:
    return [
        "export", EVIDENCE_ID, "--store", str(store.root), "--out", str(out),
        "--actor", "u-5", "--justification", "disclosure to defence",
        "--recipient", "Defence", "--signing-key", str(key),
    ]  # fmt: skip


def test_piped_output_is_unchanged_and_a_terminal_gets_progress(
    store: LocalEvidenceStore, sealed: SealedStatement, tmp_path: Path, signing_key_path: Path
) -> None:
    masters = sum(s.bytes for s in sealed.manifest.segments)
    assert masters > 0

    code, out, err = run(*export_argv(store, tmp_path / "piped", signing_key_path), tty=False)
    assert (code, err) == (0, ""), err
    assert out == f"exported {EVIDENCE_ID} to {tmp_path / 'piped'}\n"

    code, out_tty, err_tty = run(*export_argv(store, tmp_path / "tty", signing_key_path), tty=True)
    assert code == 0, err_tty
    assert out_tty == f"exported {EVIDENCE_ID} to {tmp_path / 'tty'}\n"
    assert "exporting: " in err_tty
    assert " hashed, " in err_tty
    assert err_tty.endswith(ERASE), "the status line is erased when the work ends"

    verify = ["verify", str(tmp_path / "piped"), "--trusted-key", sealed.key_id]
    code, out, err = run(*verify, tty=False)
    assert (code, err) == (0, "")
    code, out_tty, err_tty = run(*verify, tty=True)
    assert code == 0
    assert out_tty == out, "stdout is the same report either way"
    assert out.rstrip().endswith("VERIFIED")
    assert "verifying: " in err_tty
    assert err_tty.endswith(ERASE)


def test_the_status_line_is_redrawn_at_most_every_interval() -> None:
    now = [0.0]
    stream = io.StringIO()
    meter = TerminalProgress(stream, "verifying", interval=0.1, clock=lambda: now[0])
    advance(1)  # no meter installed: nothing happens
    with reporting(meter):
        for _ in range(10):  # 10 MB within 0.05 s: drawn once
            now[0] += 0.005
            advance(1_000_000)
        now[0] = 1.0
        advance(0)
    meter.close()
    assert stream.getvalue().split(ERASE) == [
        "",
        "verifying: 1.0 MB hashed, 200.0 MB/s",
        "verifying: 10.0 MB hashed, 10.0 MB/s",
        "",
    ]
