"""The all-in-one topology on a real Debian 12 systemd host (systemd-nspawn, own namespace).

infra/ansible/site.yml with the example inventory converges it twice, then runs with
`--check --diff`, in the background while the rest of the suite runs (tests/infra/headstart.py);
then each test checks one promise of the issue from outside the host, or through SSH where the
answer only exists inside it.
"""

from __future__ import annotations

import itertools
import json
import shutil
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.infra.conftest import Deployment
from tests.infra.deploy import REPO, PlayResult, run_playbook
from tests.infra.hosts import TestHost
from tests.infra.release import next_release
from tests.infra.upgrade import (
    PROBE_REVISION,
    PROBE_TABLE,
    UPGRADE_VERSION,
    Answer,
    probe_migration,
    psql,
    upgrade_while_polling,
)
from tests.infra.visit import COLLAR, evr_on_host, officer_api_token, phone_namespace, play_visit

# The first test waits for the host's background converges if they have not finished yet.
pytestmark = pytest.mark.timeout(1800)

SERVICES = (
    "postgresql@15-main",
    "redis-server",
    "minio",
    "livekit",
    "evr-serve",
    "evr-recorder",
    "haproxy",
    "prometheus",
    "prometheus-alertmanager",
    "prometheus-node-exporter",
    "nftables",
)


def _https_get(d: Deployment, path: str) -> tuple[int, bytes]:
    context = ssl.create_default_context(cafile=str(d.tls.ca))
    url = f"https://{d.host.address}{path}"
    with urllib.request.urlopen(url, context=context, timeout=10) as response:
        return response.status, response.read()


def _wait_ready(d: Deployment, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            status, _ = _https_get(d, "/readyz")
            if status == 200:
                return
        except urllib.error.HTTPError as exc:
            exc.close()  # a 503 while the services start: it holds the response open
            last = exc
        except OSError as exc:
            last = exc
        time.sleep(1)
    raise AssertionError(f"/readyz through the load balancer never answered 200: {last}")


# The converges ran in the background since the session started (tests/infra/headstart.py):
# these two read what site.yml reported on its second run and on its `--check --diff` run.
def test_second_converge_changes_nothing(all_in_one: Deployment) -> None:
    assert all_in_one.first_run.changed() > 0
    again = all_in_one.second_run
    assert again.args == ("site.yml",)
    assert again.returncode == 0, again.output[-4000:]
    assert again.recap.keys() == {all_in_one.host.name}, again.output[-4000:]
    assert again.changed() == 0, again.changed_tasks()


def test_check_diff_on_the_converged_host_reports_no_change(all_in_one: Deployment) -> None:
    check = all_in_one.check_run
    assert check.args == ("site.yml", "--check", "--diff")
    assert check.returncode == 0, check.output[-4000:]
    assert check.recap.keys() == {all_in_one.host.name}, check.output[-4000:]
    assert check.changed() == 0, check.changed_tasks()


def test_readyz_answers_through_the_load_balancer_from_outside(all_in_one: Deployment) -> None:
    status, body = _https_get(all_in_one, "/readyz")
    assert status == 200
    assert json.loads(body)["checks"] == {"database": "ok", "sfu": "ok"}


def _serve_starts(host: TestHost) -> list[dict[str, Any]]:
    journal = host.run("journalctl", "-u", "evr-serve", "-o", "cat", "--no-pager")
    return [json.loads(line) for line in journal.stdout.splitlines() if "serve.started" in line]


def test_serve_logs_its_start_line(all_in_one: Deployment) -> None:
    starts = _serve_starts(all_in_one.host)
    assert starts
    assert starts[-1]["database"] == "postgresql"
    assert starts[-1]["listen"] == "0.0.0.0:8080"
    assert starts[-1]["sfu_url"] == "http://127.0.0.1:7880"


def test_secrets_are_0600_and_units_are_sandboxed(all_in_one: Deployment) -> None:
    host = all_in_one.host
    for path in (
        "/etc/evr/livekit-keys.yaml",
        "/etc/evr/evr.env",
        "/etc/livekit/keys.yaml",
        "/etc/livekit/redis.env",
        "/etc/minio/minio.env",
    ):
        mode = host.run("stat", "-c", "%a", path).stdout.strip()
        assert mode == "600", f"{path} is {mode}"
    for unit in ("evr-serve", "evr-recorder", "livekit", "minio"):
        props = host.run(
            "systemctl", "show", unit, "-p", "ProtectSystem,NoNewPrivileges,PrivateTmp,User"
        ).stdout
        assert "ProtectSystem=strict" in props, (unit, props)
        assert "NoNewPrivileges=yes" in props, (unit, props)
        assert "PrivateTmp=yes" in props, (unit, props)
        assert "User=root" not in props, (unit, props)
        assert "User=\n" not in props, (unit, props)


def _connects_from(net: str, address: str, port: int) -> bool:
    probe = subprocess.run(
        ["ip", "netns", "exec", net, "timeout", "3", "bash", "-c", f"</dev/tcp/{address}/{port}"],
        capture_output=True,
        timeout=10,
        check=False,
    )
    return probe.returncode == 0


def test_firewall_opens_only_the_listed_ports(all_in_one: Deployment) -> None:
    ruleset = all_in_one.host.run("nft", "list", "table", "inet", "evr_filter").stdout
    assert "policy drop" in ruleset
    assert "30000-30100" in ruleset  # the SFU's TURN relay range
    # From a namespace outside the inventory (where a phone is), the control plane's own port
    # is closed (it listens on every address): only the load balancer's 443 and the SFU's
    # signalling are public on this host.
    address = all_in_one.host.address
    with phone_namespace([all_in_one.host]) as outside:
        assert _connects_from(outside.name, address, 443)
        assert _connects_from(outside.name, address, 7880)
        assert not _connects_from(outside.name, address, 8080)
        assert not _connects_from(outside.name, address, 22)


def test_prometheus_has_every_target_up_and_every_rule_loaded(all_in_one: Deployment) -> None:
    host = all_in_one.host

    def api(path: str) -> Any:
        out = host.run(
            "python3",
            "-c",
            "import sys,urllib.request;"
            f"sys.stdout.write(urllib.request.urlopen('http://127.0.0.1:9090{path}').read().decode())",
        )
        return json.loads(out.stdout)

    deadline = time.monotonic() + 90
    targets: list[Any] = []
    while time.monotonic() < deadline:
        targets = api("/api/v1/targets")["data"]["activeTargets"]
        groups = api("/api/v1/rules")["data"]["groups"]
        rules = [r for g in groups for r in g["rules"]]
        if (
            targets
            and all(t["health"] == "up" for t in targets)
            and rules
            and all(r["health"] == "ok" for r in rules)
        ):
            break
        time.sleep(2)
    jobs = {t["labels"]["job"] for t in targets}
    assert jobs == {"prometheus", "evr-control-plane", "evr-recorder", "livekit", "node"}
    assert [t for t in targets if t["health"] != "up"] == []
    loaded = {g["file"].rsplit("/", 1)[-1] for g in groups}
    repo_rules = {p.name for p in (REPO / "monitoring" / "alerts").glob("*.rules.yml")}
    assert loaded == repo_rules
    assert [r["name"] for r in rules if r["health"] != "ok"] == []


async def test_a_whole_visit_through_the_deployed_system(all_in_one: Deployment) -> None:
    host = all_in_one.host
    token = officer_api_token(host)
    with phone_namespace([host]) as phone:
        visit = await play_visit(
            base_url=f"https://{host.address}",
            ca=all_in_one.tls.ca,
            api_token=token,
            phone=phone,
            reference="CR/2026/0410",
        )
    # The victim's check found video possible; each side saw the other's colour.
    assert visit.phone["verdict"]["video_capable"], visit.phone["verdict"]
    officer_saw, victim_saw = visit.phone["officer_got"]["rgb"], visit.phone["victim_got"]["rgb"]
    assert officer_saw[2] > 150 > officer_saw[0], officer_saw  # the victim's blue
    assert victim_saw[0] > 150 > victim_saw[2], victim_saw  # the officer's red
    assert visit.recording["secured"] is True, visit.recording
    assert [s for s in visit.api_statuses if not 200 <= s < 300] == []
    # Sealed into MinIO by the recorder host, exported as a disclosure bundle, and verified
    # with nothing but the bundle and the key the deployment trusts.
    bundle = f"/var/lib/evr/exports/deploy-test-{visit.evidence_id}"
    evr_on_host(
        host,
        "evidence",
        "export",
        visit.evidence_id,
        "--out",
        bundle,
        "--actor",
        f"officer:local:{COLLAR}",
        "--justification",
        "deploy test: disclosure to the CPS",
        "--recipient",
        "CPS",
    )
    verified = evr_on_host(host, "evidence", "verify", bundle, check=False)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    # The store entry itself, against the custody chain in PostgreSQL.
    entry = evr_on_host(host, "evidence", "verify", visit.evidence_id, check=False)
    assert entry.returncode == 0, entry.stdout + entry.stderr
    stored = host.run("ls", "/var/lib/minio/data/evr-evidence/evidence").stdout.split()
    assert visit.evidence_id in stored


# As the evr user, with EVR's own S3 credentials from evr.toml: write, then try to delete.
_S3_PROBE = """
import io, json, tomllib
from minio import Minio
from minio.error import S3Error
s3 = tomllib.load(open("/etc/evr/evr.toml", "rb"))["recording"]["s3"]
secret = open("/etc/evr/s3-secret").read().strip()
c = Minio(s3["endpoint"], s3["access_key"], secret, secure=s3["secure"], region="eu-west-2")
c.put_object(s3["bucket"], "deploy-test/probe", io.BytesIO(b"x"), 1)
out = {"user": s3["access_key"]}
for name, call in (
    ("delete", lambda: c.remove_object(s3["bucket"], "deploy-test/probe")),
    ("new_bucket", lambda: c.make_bucket("deploy-test-other")),
):
    try:
        call()
        out[name] = "allowed"
    except S3Error as exc:
        out[name] = exc.code
print(json.dumps(out))
"""


def test_evr_reaches_minio_as_its_own_user_that_cannot_delete(all_in_one: Deployment) -> None:
    host = all_in_one.host
    probe = host.run("runuser", "-u", "evr", "--", "/opt/evr/current/bin/python", "-c", _S3_PROBE)
    seen = json.loads(probe.stdout)
    assert seen == {"user": "evr-app", "delete": "AccessDenied", "new_bucket": "AccessDenied"}
    # The root user still can: the refusal is the policy, not the object (it has no lock).
    removed = host.run(
        "/opt/evr/current/bin/python",
        "-c",
        "from minio import Minio; "
        "env = dict(l.split('=', 1) for l in open('/etc/minio/minio.env') if '=' in l); "
        "Minio('127.0.0.1:9000', env['MINIO_ROOT_USER'].strip(), env['MINIO_ROOT_PASSWORD']"
        ".strip(), secure=False, region='eu-west-2').remove_object('evr-evidence', "
        "'deploy-test/probe')",
    )
    assert removed.returncode == 0


def test_no_password_is_left_on_disk_or_in_an_environment(all_in_one: Deployment) -> None:
    host = all_in_one.host
    assert host.run("test", "-e", "/var/lib/postgresql/evr-roles.sql", check=False).returncode
    places = ["/etc", "/root", "/var/lib/postgresql", "/var/lib/evr", "/var/log", "/tmp", "/run"]
    # Where each may be: the 0600 files that must hold it (test_secrets_are_0600...), and the
    # environment systemd gives the one service that uses it from such a file.
    expected = {
        "vault_postgres_owner_password": (set(), set()),
        "vault_postgres_app_password": ({"/etc/evr/evr.env"}, {"evr"}),
        "vault_minio_root_password": ({"/etc/minio/minio.env"}, {"minio"}),
    }
    for key, (files, processes) in expected.items():
        secret = all_in_one.vault[key]
        found = host.run("grep", "-rlsF", "--", secret, *places, check=False).stdout.split()
        assert set(found) == files, (key, found)
        environ = host.run(
            "sh",
            "-c",
            'for f in $(grep -lsF -- "$1" /proc/[0-9]*/environ); do cat "${f%/environ}/comm"; done',
            "sh",
            secret,
            check=False,
        ).stdout.split()
        assert set(environ) <= processes, (key, environ)


def _inventory_copy(d: Deployment, tmp_path: Path, drop: str | None = None) -> Path:
    copy = tmp_path / "inventory"
    shutil.copytree(d.inventory, copy, symlinks=True, ignore=shutil.ignore_patterns(".ansible"))
    if drop is not None:
        vault = {k: v for k, v in d.vault.items() if k != drop}
        (copy / "group_vars" / "all" / "vault.yml").write_text(yaml.safe_dump(vault))
    return copy


def test_preflight_names_a_missing_vault_key(all_in_one: Deployment, tmp_path: Path) -> None:
    inventory = _inventory_copy(all_in_one, tmp_path, drop="vault_livekit_api_secret")
    result = run_playbook(inventory, "site.yml", "--tags", "preflight")
    assert result.returncode != 0
    assert "vault_livekit_api_secret" in result.output, result.output[-4000:]
    assert result.changed() == 0


def test_preflight_stops_an_sfu_without_a_node_ip(all_in_one: Deployment, tmp_path: Path) -> None:
    inventory = _inventory_copy(all_in_one, tmp_path)
    result = run_playbook(inventory, "site.yml", "--tags", "preflight", "-e", "livekit_node_ip=")
    assert result.returncode != 0
    assert "livekit_node_ip is not set" in result.output, result.output[-4000:]
    assert result.changed() == 0, result.output[-4000:]


def test_services_come_back_after_a_reboot(all_in_one: Deployment) -> None:
    all_in_one.host.reboot()
    _wait_ready(all_in_one)
    for unit in SERVICES:
        state = all_in_one.host.run("systemctl", "is-active", unit, check=False).stdout.strip()
        assert state == "active", unit


# HAProxy's own answer when no replica may take a request (its built-in 503 page).
_NO_REPLICA = "No server is available to handle this request"


async def test_a_rolling_upgrade_with_a_visit_live(all_in_one: Deployment, tmp_path: Path) -> None:
    """upgrade.yml on the all-in-one host, run while a visit's call is live and its API polled.

    The one replica cannot keep answering while it restarts; what one host can show is the
    rest of the rolling behaviour: the replica is drained in HAProxy before it stops, so every
    poll got a clean answer (the visit, or HAProxy's own 503 while drained; never a request
    sent to a replica that was stopping), in one window that ends when the play puts it back.
    """
    host = all_in_one.host
    token = officer_api_token(host)
    (deployed_head,) = psql(host, "SELECT version_num FROM alembic_version")
    visits_before = set(psql(host, "SELECT id FROM visits"))
    sealed_before = psql(host, "SELECT id FROM recordings WHERE status = 'sealed'")
    old_release = host.run("readlink", "-f", "/opt/evr/current").stdout.strip()
    starts_before = len(_serve_starts(host))
    release = next_release(
        REPO / ".tools" / "artifacts",
        tmp_path / "artifacts",
        UPGRADE_VERSION,
        add=probe_migration(deployed_head),
    )
    base = f"https://{host.address}"
    upgraded: list[tuple[PlayResult, list[Answer]]] = []

    async def upgrade_during_the_call(vid: str) -> None:
        upgraded.append(
            await upgrade_while_polling(
                all_in_one.inventory,
                release,
                f"{base}/api/v1/visits/{vid}",
                {"Authorization": f"Bearer {token}"},
                all_in_one.tls.ca,
            )
        )

    with phone_namespace([host]) as phone:
        visit = await play_visit(
            base_url=base,
            ca=all_in_one.tls.ca,
            api_token=token,
            phone=phone,
            reference="CR/2026/0413",
            during_call=upgrade_during_the_call,
        )
    ((play, answers),) = upgraded
    assert play.returncode == 0, play.output[-8000:]

    # The new release is what runs: a new venv beside the old one (kept to roll back to), and
    # evr serve started again from it, saying so.
    new_release = host.run("readlink", "-f", "/opt/evr/current").stdout.strip()
    assert new_release != old_release
    assert host.run("test", "-x", f"{old_release}/bin/evr", check=False).returncode == 0
    installed = host.run(
        f"{new_release}/bin/python", "-c", "import importlib.metadata as m; print(m.version('evr'))"
    )
    assert installed.stdout.strip() == UPGRADE_VERSION
    starts = _serve_starts(host)
    assert len(starts) > starts_before
    assert starts[-1]["version"] == UPGRADE_VERSION, starts[-1]

    # `evr migrate` of the new release ran: the schema is at the release's own new revision.
    assert psql(host, "SELECT version_num FROM alembic_version") == [PROBE_REVISION]
    assert psql(host, f"SELECT to_regclass('{PROBE_TABLE}')") == [PROBE_TABLE]

    # Back and ready, both services on the host that run the release.
    status, body = _https_get(all_in_one, "/readyz")
    assert status == 200
    assert json.loads(body)["checks"] == {"database": "ok", "sfu": "ok"}
    for unit in ("evr-serve", "evr-recorder"):
        assert host.run("systemctl", "is-active", unit, check=False).stdout.strip() == "active"

    # Drained before it stopped: HAProxy answered 503 itself while the replica was out, every
    # other answer was the live visit, and the window closed once the play had put it back
    # (the last poll is after the play ended).
    statuses = [a.status for a in answers]
    out = [a.at for a in answers if a.status != 200]
    print(
        f"upgrade.yml took {answers[-1].at - answers[0].at:.1f} s; the API through HAProxy "
        f"answered 503 for {out[-1] - out[0] if out else 0:.1f} s ({len(answers)} polls)"
    )
    assert [key for key, _ in itertools.groupby(statuses)] == [200, 503, 200], statuses
    assert [a.body for a in answers if a.status == 503 and _NO_REPLICA not in a.body] == []
    assert {a.visit_status for a in answers if a.status == 200} == {"live"}

    # The call carried on through it: media kept flowing, the statement recorded after the
    # upgrade was sealed (play_visit waits for it), and the visit ended through the new release.
    assert visit.left["officer_video"] > visit.phone["officer_got"]["video"] + 100, visit.left
    assert visit.left["victim_video"] > visit.phone["victim_got"]["video"] + 100, visit.left
    assert [s for s in visit.api_statuses if not 200 <= s < 300] == []

    # What was there before is still there: every visit, and every sealed recording still
    # verifies (signature, segments, custody chain) with the new release.
    assert visits_before <= set(psql(host, "SELECT id FROM visits"))
    sealed_after = psql(host, "SELECT id FROM recordings WHERE status = 'sealed'")
    assert {*sealed_before, visit.evidence_id} <= set(sealed_after)
    for evidence_id in sealed_before:
        verified = evr_on_host(host, "evidence", "verify", evidence_id, check=False)
        assert verified.returncode == 0, verified.stdout + verified.stderr
