"""The split topology on real Debian 12 systemd hosts: one nspawn container per inventory host.

Ten hosts, as infra/ansible/inventories/split names them (2 SFU nodes with Redis beside the
first, 2 control-plane replicas behind HAProxy, 2 recorders, PostgreSQL, MinIO, the load
balancer and monitoring), each in its own network namespace; the namespaces are routed to each
other and to nothing else. site.yml converges them twice in the background while the rest of
the suite runs (tests/infra/headstart.py); then each test checks one promise from outside the
hosts.
"""

from __future__ import annotations

import json
import ssl
import time
import tomllib
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.infra.deploy import REPO, PlayResult, run_playbook
from tests.infra.hosts import TestHost
from tests.infra.release import next_release
from tests.infra.tls import TestTls
from tests.infra.topologies import SPLIT_GROUPS, SPLIT_NAMES, Converged
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

# The first test waits for the ten hosts' background converges if they have not finished yet.
pytestmark = pytest.mark.timeout(3600)

GROUPS = SPLIT_GROUPS
NAMES = SPLIT_NAMES


@dataclass(frozen=True)
class Split:
    hosts: dict[str, TestHost]
    inventory: Path
    tls: TestTls
    first_run: PlayResult
    second_run: PlayResult

    @property
    def lb(self) -> TestHost:
        return self.hosts["evr-lb"]


@pytest.fixture(scope="module")
def split(split_converged: Converged) -> Split:
    c = split_converged
    return Split(c.hosts, c.inventory, c.tls, c.first_run, c.second_run)


def _readyz(d: Split, timeout: float) -> dict[str, Any]:
    context = ssl.create_default_context(cafile=str(d.tls.ca))
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            url = f"https://{d.lb.address}/readyz"
            with urllib.request.urlopen(url, context=context, timeout=10) as response:
                body: dict[str, Any] = json.loads(response.read())
                return body
        except urllib.error.HTTPError as exc:
            exc.close()
            last = exc
        except OSError as exc:
            last = exc
        time.sleep(1)
    raise AssertionError(f"/readyz through the load balancer never answered 200: {last}")


# The converges ran in the background since the session started (tests/infra/headstart.py):
# this reads what site.yml reported on its second run over the ten hosts.
def test_second_converge_changes_nothing(split: Split) -> None:
    assert split.first_run.changed() > 0
    again = split.second_run
    assert again.args == ("site.yml", "--forks", str(len(NAMES)))
    assert again.returncode == 0, again.output[-4000:]
    assert again.recap.keys() == set(NAMES), again.output[-4000:]
    assert again.changed() == 0, again.changed_tasks()


def test_readyz_answers_through_the_load_balancer(split: Split) -> None:
    assert _readyz(split, timeout=30)["checks"] == {"database": "ok", "sfu": "ok"}


def _sfu_urls(d: Split) -> list[str]:
    return [f"http://{d.hosts[name].address}:7880" for name in GROUPS["sfu"]]


def _get_inside(host: TestHost, url: str) -> str:
    """GET `url` from inside the host (its firewall leaves the management ports internal)."""
    out = host.run(
        "python3",
        "-c",
        "import sys,urllib.request;"
        f"sys.stdout.write(urllib.request.urlopen('{url}').read().decode())",
    )
    return out.stdout


def test_each_replica_is_configured_with_every_sfu_node_and_probes_them(split: Split) -> None:
    for name in GROUPS["control_plane"]:
        host = split.hosts[name]
        toml = tomllib.loads(host.run("cat", "/etc/evr/evr.toml").stdout)
        assert toml["livekit"]["api_urls"] == _sfu_urls(split), name
        # The replica's node probe reaches each of them (evr_sfu_node_up, one per node).
        deadline = time.monotonic() + 30
        up: dict[str, float] = {}
        while time.monotonic() < deadline:
            metrics = _get_inside(host, "http://127.0.0.1:9464/metrics")
            up = {
                line.split('node="')[1].split('"')[0]: float(line.rsplit(" ", 1)[1])
                for line in metrics.splitlines()
                if line.startswith("evr_sfu_node_up{")
            }
            if up and set(up.values()) == {1.0}:
                break
            time.sleep(1)
        assert up == dict.fromkeys(_sfu_urls(split), 1.0), (name, up)


def test_preflight_names_an_sfu_url_that_is_not_http(split: Split) -> None:
    bad = json.dumps({"evr_app_livekit_api_urls": [_sfu_urls(split)[0], "evr-sfu-2:7880"]})
    result = run_playbook(
        split.inventory, "site.yml", "--tags", "preflight", "--limit", "evr-cp-1", "-e", bad
    )
    assert result.returncode != 0
    assert "evr_app_livekit_api_urls must list" in result.output, result.output[-4000:]
    assert result.changed() == 0, result.output[-4000:]


def _fingerprint(host: TestHost) -> str:
    out = host.run(
        "runuser",
        "-u",
        "evr",
        "--",
        "/opt/evr/current/bin/python",
        "-c",
        "from pathlib import Path; from evidence.keys import key_id, load_signing_key; "
        "print(key_id(load_signing_key(Path('/var/lib/evr/recorder-signing-key.pem'))"
        ".public_key()))",
    )
    return out.stdout.strip()


async def test_a_whole_visit_through_the_split_deployment(split: Split) -> None:
    cp = split.hosts["evr-cp-1"]
    token = officer_api_token(cp)
    # Joined to the hosts' mesh (their firewalls leave the phone only the public ports).
    with phone_namespace(list(split.hosts.values())) as phone:
        visit = await play_visit(
            base_url=f"https://{split.lb.address}",
            ca=split.tls.ca,
            api_token=token,
            phone=phone,
            reference="CR/2026/0411",
        )
    assert visit.phone["verdict"]["video_capable"], visit.phone["verdict"]
    assert visit.phone["officer_got"]["video"] >= 10
    assert visit.phone["victim_got"]["video"] >= 10
    assert [s for s in visit.api_statuses if not 200 <= s < 300] == []
    # Sealed by one of the recorder hosts, with its own key (made there, never copied).
    keys = {name: _fingerprint(split.hosts[name]) for name in GROUPS["recorder"]}
    assert len(set(keys.values())) == 2, keys
    bundle = f"/var/lib/evr/exports/deploy-test-{visit.evidence_id}"
    evr_on_host(
        cp,
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
        *(arg for key in keys.values() for arg in ("--trusted-key", key)),
    )
    # The bundle itself is signed by the host that exported it, with its own key (made there
    # at the first export): the examiner trusts the recorders' keys and that one.
    exporter = _fingerprint(cp)
    trusted = [arg for key in (*keys.values(), exporter) for arg in ("--trusted-key", key)]
    verified = evr_on_host(cp, "evidence", "verify", bundle, *trusted, check=False)
    assert verified.returncode == 0, verified.stdout + verified.stderr


def _serve_versions(host: TestHost) -> list[str]:
    """The version of each `evr serve` start on the host, oldest first (its start line)."""
    journal = host.run("journalctl", "-u", "evr-serve", "-o", "cat")
    return [json.loads(x)["version"] for x in journal.stdout.splitlines() if "serve.started" in x]


async def test_a_rolling_upgrade_keeps_the_call_and_the_api(split: Split, tmp_path: Path) -> None:
    """upgrade.yml over the two replicas while a visit's call is live and its API is polled
    through HAProxy every 0.2 s: one replica is drained while the other answers, so every
    poll must get the live visit (no 503, no error), and the call must carry on."""
    cp, db = split.hosts["evr-cp-1"], split.hosts["evr-db"]
    token = officer_api_token(cp)
    (deployed_head,) = psql(db, "SELECT version_num FROM alembic_version")
    releases_before = {
        name: split.hosts[name].run("readlink", "-f", "/opt/evr/current").stdout.strip()
        for name in GROUPS["control_plane"]
    }
    release = next_release(
        REPO / ".tools" / "artifacts",
        tmp_path / "artifacts",
        UPGRADE_VERSION,
        add=probe_migration(deployed_head),
    )
    base = f"https://{split.lb.address}"
    upgraded: list[tuple[PlayResult, list[Answer]]] = []

    async def upgrade_during_the_call(vid: str) -> None:
        upgraded.append(
            await upgrade_while_polling(
                split.inventory,
                release,
                f"{base}/api/v1/visits/{vid}",
                {"Authorization": f"Bearer {token}"},
                split.tls.ca,
            )
        )

    # Joined to the hosts' mesh (their firewalls leave the phone only the public ports).
    with phone_namespace(list(split.hosts.values())) as phone:
        visit = await play_visit(
            base_url=base,
            ca=split.tls.ca,
            api_token=token,
            phone=phone,
            reference="CR/2026/0412",
            during_call=upgrade_during_the_call,
        )
    ((play, answers),) = upgraded
    assert play.returncode == 0, play.output[-8000:]
    # Both replicas run the new release from a new venv, and said so when they started.
    for name in GROUPS["control_plane"]:
        host = split.hosts[name]
        assert (
            host.run("readlink", "-f", "/opt/evr/current").stdout.strip() != (releases_before[name])
        )
        assert _serve_versions(host)[-1] == UPGRADE_VERSION, (name, _serve_versions(host))
    # `evr migrate` of the new release ran once against the shared database.
    assert psql(db, "SELECT version_num FROM alembic_version") == [PROBE_REVISION]
    assert psql(db, f"SELECT to_regclass('{PROBE_TABLE}')") == [PROBE_TABLE]
    # The API answered every poll with the live visit while each replica in turn was out.
    print(f"upgrade.yml took {answers[-1].at - answers[0].at:.1f} s, {len(answers)} polls")
    assert len(answers) > 20, answers
    assert [(a.status, a.body) for a in answers if a.status != 200] == []
    assert {a.visit_status for a in answers} == {"live"}
    # The call carried on throughout: media kept flowing, and the statement recorded after
    # the upgrade sealed (play_visit waits for it).
    assert visit.left["officer_video"] > visit.phone["officer_got"]["video"] + 100, visit.left
    assert visit.left["victim_video"] > visit.phone["victim_got"]["video"] + 100, visit.left
    assert [s for s in visit.api_statuses if not 200 <= s < 300] == []


def test_prometheus_has_every_target_up_and_every_rule_loaded(split: Split) -> None:
    mon = split.hosts["evr-mon"]

    def api(path: str) -> Any:
        return json.loads(_get_inside(mon, f"http://127.0.0.1:9090{path}"))

    deadline = time.monotonic() + 90
    targets: list[Any] = []
    groups: list[Any] = []
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
    per_job: dict[str, int] = {}
    for t in targets:
        per_job[t["labels"]["job"]] = per_job.get(t["labels"]["job"], 0) + 1
    # Every host of the inventory, each service where the inventory puts it.
    assert per_job == {
        "prometheus": 1,
        "evr-control-plane": 2,
        "evr-recorder": 2,
        "livekit": 2,
        "node": len(NAMES),
    }
    assert [t["scrapeUrl"] for t in targets if t["health"] != "up"] == []
    # The repo's alert rules, every file of them, each rule evaluating.
    loaded = {g["file"].rsplit("/", 1)[-1] for g in groups}
    assert loaded == {p.name for p in (REPO / "monitoring" / "alerts").glob("*.rules.yml")}
    rules = [r for g in groups for r in g["rules"]]
    assert rules
    assert [r["name"] for r in rules if r["health"] != "ok"] == []


def test_a_rebooted_sfu_and_redis_host_comes_back_by_itself(split: Split) -> None:
    host = split.hosts["evr-sfu-1"]
    host.reboot()
    deadline = time.monotonic() + 120
    states: dict[str, str] = {}
    while time.monotonic() < deadline:
        states = {
            unit: host.run("systemctl", "is-active", unit, check=False).stdout.strip()
            for unit in ("redis-server", "livekit", "prometheus-node-exporter", "nftables")
        }
        if set(states.values()) == {"active"}:
            break
        time.sleep(1)
    assert set(states.values()) == {"active"}, states
    assert _readyz(split, timeout=90)["checks"] == {"database": "ok", "sfu": "ok"}
