"""Drive infra/ansible against test hosts: inventories, secrets, and ansible-playbook runs.

The inventory a test converges is the repository's example topology (its group_vars copied
as they are) with the test hosts' addresses, fresh secrets in a vault file, and TLS material
made for the run. Results are read from Ansible's PLAY RECAP.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import signal
import string
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
ANSIBLE_DIR = REPO / "infra" / "ansible"
PLAYBOOK_BIN = REPO / ".venv" / "bin" / "ansible-playbook"
_RECAP = re.compile(
    r"^(?P<host>\S+)\s*:\s*ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)\s+"
    r"unreachable=(?P<unreachable>\d+)\s+failed=(?P<failed>\d+)",
    re.MULTILINE,
)

__all__ = ["PlayResult", "make_inventory", "new_secrets", "run_playbook", "stop_playbooks"]


@dataclass(frozen=True)
class PlayResult:
    returncode: int
    output: str
    recap: dict[str, dict[str, int]]
    # The playbook and the arguments it ran with.
    args: tuple[str, ...] = ()

    def changed(self) -> int:
        return sum(host["changed"] for host in self.recap.values())

    def changed_tasks(self) -> list[str]:
        """The tasks that reported a change (what a failed idempotence check should show)."""
        task, found = "", []
        for line in self.output.splitlines():
            if line.startswith("TASK ["):
                task = line.split("]")[0].removeprefix("TASK [")
            elif line.startswith("changed:"):
                found.append(f"{task}: {line}")
        return found

    def failed(self) -> int:
        return sum(host["failed"] + host["unreachable"] for host in self.recap.values())


def _token(length: int) -> str:
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(length))


def new_secrets() -> dict[str, str]:
    """A vault's worth of fresh secrets, as an operator would put in vault.yml."""
    return {
        "vault_livekit_api_key": "API" + _token(12),
        "vault_livekit_api_secret": _token(48),
        "vault_postgres_owner_password": _token(24),
        "vault_postgres_app_password": _token(24),
        "vault_redis_password": _token(24),
        "vault_minio_root_password": _token(24),
        "vault_minio_evr_password": _token(24),
    }


def make_inventory(
    directory: Path,
    *,
    topology: str,
    groups: dict[str, dict[str, dict[str, Any]]],
    vault: dict[str, str],
    tls_dir: Path,
    ssh_key: Path,
) -> Path:
    """Write an inventory for `topology` into `directory`: the example's group_vars, hosts
    from `groups` (group -> host -> host vars), `vault`, and `tls_dir` as its tls/."""
    example = ANSIBLE_DIR / "inventories" / topology
    shutil.copytree(example / "group_vars", directory / "group_vars", dirs_exist_ok=True)
    (directory / "group_vars" / "all" / "vault.yml").write_text(yaml.safe_dump(vault))
    tls = directory / "tls"
    if not tls.exists():
        tls.symlink_to(tls_dir)
    connection = {
        "ansible_user": "root",
        "ansible_ssh_private_key_file": str(ssh_key),
        "ansible_ssh_common_args": "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null",
    }
    hosts = {
        "all": {
            "vars": connection,
            "children": {group: {"hosts": members} for group, members in groups.items()},
        }
    }
    path = directory / "hosts.yml"
    path.write_text(yaml.safe_dump(hosts, sort_keys=False))
    return directory


def run_playbook(
    inventory: Path,
    playbook: str = "site.yml",
    *args: str,
    timeout: float = 2400,
    nice: int = 0,
) -> PlayResult:
    """Run `playbook` from infra/ansible against `inventory` at niceness `nice` (its forks
    inherit it); never raises on a failed play. `stop_playbooks` ends it early."""
    env = {
        **os.environ,
        "ANSIBLE_CONFIG": str(ANSIBLE_DIR / "ansible.cfg"),
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_HOME": str(inventory / ".ansible"),
        "ANSIBLE_LOCAL_TEMP": str(inventory / ".ansible" / "tmp"),
    }
    argv = ["nice", "-n", str(nice), str(PLAYBOOK_BIN), "-i", str(inventory / "hosts.yml")]
    with subprocess.Popen(
        [*argv, playbook, *args],
        cwd=ANSIBLE_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    ) as process:
        _RUNNING[process] = inventory
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            raise
        finally:
            del _RUNNING[process]
    output = stdout + stderr
    recap = {
        m["host"]: {k: int(m[k]) for k in ("ok", "changed", "unreachable", "failed")}
        for m in _RECAP.finditer(output)
    }
    return PlayResult(process.returncode, output, recap, (playbook, *args))


# Each playbook run going on, and its inventory.
_RUNNING: dict[subprocess.Popen[str], Path] = {}


def stop_playbooks(under: Path) -> None:
    """Kill (with their forks) the playbook runs going on against inventories inside `under`:
    a session that ends before a background converge does."""
    for process, inventory in list(_RUNNING.items()):
        if inventory.is_relative_to(under):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
