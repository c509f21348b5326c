"""The served OpenAPI document, fuzzed by schemathesis: no input gets a 5xx (issue 12, 9).

Run as an officer, as a victim's participant session and with no credentials, against a
stack of its own on PostgreSQL (where NUL characters and over-long text used to fail in the
driver; SQLite stores both). The visit id is pinned to a real visit so that generated bodies
reach the handlers instead of stopping at a 404. The number of examples per operation is
bounded so the three runs take about two minutes in CI; --seed makes a failure reproducible.
"""

import asyncio
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from xml.etree import ElementTree

import aiohttp
import pytest

from tests.support.netns import TestNet
from tests.support.postgres import RunningPostgres, create_database
from tests.support.stack import Api, start_stack, stop_stack

ST = Path(sys.executable).parent / "st"
EXAMPLES = 2
"""Examples per operation in the fuzzing phase (the coverage phase adds its boundary cases:
empty and over-long strings, NUL, wrong types, missing fields)."""
SEED = 1216
RUN_TIMEOUT = 300


@pytest.fixture(scope="module")
async def fuzzed(
    testnet: TestNet,
    postgres: RunningPostgres,
    http: aiohttp.ClientSession,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Api]:
    """A stack of its own, so that what the fuzzer creates never meets other tests' data."""
    stack = await start_stack(
        net=testnet,
        database_url=create_database(postgres, "evr_schemathesis"),
        workdir=tmp_path_factory.mktemp("schemathesis"),
        http_port=17960,
    )
    try:
        yield Api(http, stack)
    finally:
        await stop_stack(stack)


async def _schemathesis(
    api: Api, workdir: Path, *, headers: dict[str, str], visit_id: str, only: list[str]
) -> str:
    """Run `st run` against the served document; return its output. Fails the test on any
    5xx (the not_a_server_error check) or if schemathesis itself could not run."""
    config = workdir / "schemathesis.toml"
    config.write_text(f'[parameters]\n"path.visit_id" = "{visit_id}"\n', encoding="utf-8")
    argv = [
        str(ST), "--config-file", str(config), "run",
        f"{api.stack.base_url}/api/v1/openapi.json",
        "--checks", "not_a_server_error",
        "--phases", "examples,coverage,fuzzing",
        "--max-examples", str(EXAMPLES),
        "--seed", str(SEED),
        "--workers", "2",
        "--no-shrink",
        "--generation-database", "none",
        "--request-timeout", "30",
        "--suppress-health-check", "all",
        "--report", "junit", "--report-dir", str(workdir),
        "--no-color",
    ]  # fmt: skip
    for name, value in headers.items():
        argv += ["-H", f"{name}: {value}"]
    argv += only
    proc = await asyncio.create_subprocess_exec(
        *argv, cwd=workdir, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    out, _ = await asyncio.wait_for(proc.communicate(), RUN_TIMEOUT)
    text = out.decode(errors="replace")
    if proc.returncode != 0:
        # Any check failure (a 5xx) fails. So does any error of schemathesis's own, except one
        # CPython 3.11 bug that hypothesis can hit while drawing from a regex ("AST constructor
        # recursion depth mismatch"): it says nothing about the server, and that operation's
        # other phases still ran.
        failures, errors = _junit_problems(workdir)
        assert not failures, "\n".join(failures) + text[-12_000:]
        unexplained = [e for e in errors if "AST constructor recursion depth mismatch" not in e]
        assert errors, text[-12_000:]
        assert not unexplained, "\n".join(unexplained) + text[-12_000:]
    return text


def _junit_problems(workdir: Path) -> tuple[list[str], list[str]]:
    """The failed checks and the runtime errors named in schemathesis's JUnit report."""
    failures: list[str] = []
    errors: list[str] = []
    for report in workdir.glob("junit-*.xml"):
        # The report is the test's own tool's output, not untrusted input.
        for case in ElementTree.parse(report).getroot().iter("testcase"):  # noqa: S314
            for kind, found in (("failure", failures), ("error", errors)):
                for element in case.iter(kind):
                    found.append(f"{case.get('name')}: {element.text or element.get('message')}")
    return failures, errors


PUBLIC = "^/api/v1/(join|livekit)/"
PARTICIPANT = "^/api/v1/participant/"
SCOPE = {
    # Each caller fuzzes the operations it can reach; anonymous also tries every other one.
    "officer": ["--exclude-path-regex", f"{PUBLIC}|{PARTICIPANT}"],
    "participant": ["--include-path-regex", PARTICIPANT],
    "anonymous": [],
}


@pytest.mark.parametrize("who", list(SCOPE))
async def test_no_generated_request_gets_a_server_error(
    who: str, fuzzed: Api, tmp_path: Path
) -> None:
    # A fresh started visit each time: an earlier run may have ended or cancelled its own.
    vid, session = await fuzzed.live_ready_visit()
    headers = {
        "officer": fuzzed.stack.headers("alice"),
        "participant": {"Authorization": f"Bearer {session}"},
        "anonymous": {},
    }[who]
    await _schemathesis(fuzzed, tmp_path, headers=headers, visit_id=vid, only=SCOPE[who])
