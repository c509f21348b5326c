"""Soak: concurrent recorded visits for a long time on the scaled layout (issue 11, item 7).

The layout of the fault suite (tests/faults/test_faults.py): a two-node LiveKit cluster
sharing Redis, two `evr serve` replicas behind HAProxy on PostgreSQL, MinIO with Object Lock
as the evidence store, and two recorders. `--visits` visits run at once, each with a
synthetic officer and victim publishing video and audio. Each visit records statements of
`--statement` seconds back to back (stop, sealed, start the next) until `--minutes` have
passed. Every `--sample` seconds the resident memory (VmRSS) of every process is read from
/proc; the benchmark process itself (the synthetic participants) is reported too.

At the end every statement must be sealed, or shown on the visit with a problem (failed, or
not secured and why): one that is neither is a recording lost silently, and the run exits 1.

    sudo .venv/bin/python -m benchmarks.soak --visits 3 --minutes 30

Needs root (network namespaces). Prints RSS samples as they are taken and a JSON summary:
per process, the first, last and peak RSS, and the change from the first to the last.

The synthetic participants run in this process. LiveKit's Rust SDK can abort it outright
(seen once under a load average of 38: "FFI Panic: timed out waiting for
ReadyForRoomEventRequest"); no cleanup runs then, and the stack's processes, whose files are
all under the work directory printed first, are left running and must be stopped by hand.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import glob
import json
import os
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
from livekit import api as lk

from core.domain import TokenRole, room_name_for
from core.recording_settings import S3Settings
from core.tokens import identity_for, mint
from loadtests.media import SyntheticParticipant
from tests.support.cluster import start_cluster, stop_cluster
from tests.support.minio import start_minio, stop_minio
from tests.support.netns import create_testnet, destroy_testnet
from tests.support.postgres import RunningPostgres, create_database, start_postgres, stop_postgres
from tests.support.recorder import RunningRecorder, start_recorder, stop_recorder
from tests.support.replicas import ReplicaSet, as_stack, start_replicas, stop_replicas
from tests.support.stack import Api, bind_socket

MINIO_PORT = 19030


def rss_kib(pid: int) -> int:
    """VmRSS of `pid` in KiB (0 if it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _children(pid: int) -> list[int]:
    out = []
    for path in glob.glob(f"/proc/{pid}/task/*/children"):
        with contextlib.suppress(OSError):
            out += [int(p) for p in Path(path).read_text().split()]
    return out


def processes(rs: ReplicaSet, recorders: list[RunningRecorder], pg: RunningPostgres,
              cluster_pids: dict[str, int], minio_pid: int) -> dict[str, list[int]]:  # fmt: skip
    """name -> pids whose RSS is summed (PostgreSQL: the postmaster and its backends)."""
    procs = {r.name: [r.process.pid] for r in rs.replicas}
    procs.update({r.name: [r.process.pid] for r in recorders})
    procs["haproxy"] = [rs.haproxy.process.pid]
    procs["postgresql"] = [pg.pid, *_children(pg.pid)]
    procs.update({k: [v] for k, v in cluster_pids.items()})
    procs["minio"] = [minio_pid]
    procs["participants (this process)"] = [os.getpid()]
    return procs


async def one_visit(
    api: Api,
    *,
    rs: ReplicaSet,
    node_id: str,
    admin: lk.LiveKitAPI,
    stop_at: float,
    statement: float,
    outcomes: list[dict[str, Any]],
) -> None:
    """A visit recording statements back to back until `stop_at`; each outcome appended."""
    visit = await api.eligible_visit()
    vid = visit["id"]
    link = await api.ok("POST", f"/api/v1/visits/{vid}/links", who="alice", json={}, expect=201)
    joined = await api.ok("POST", f"/api/v1/join/{link['url'].rsplit('/', 1)[1]}", expect=201)
    await admin.room.create_room(lk.CreateRoomRequest(name=room_name_for(vid), node_id=node_id))
    await api.ok("POST", f"/api/v1/visits/{vid}/start", who="alice")
    otok = await api.ok("POST", f"/api/v1/visits/{vid}/token", who="alice")
    vtok = mint(
        rs.settings.livekit,
        role=TokenRole.VICTIM,
        room=room_name_for(vid),
        identity=identity_for(TokenRole.VICTIM, vid),
        display_name="Victim",
        ttl=timedelta(minutes=2),
    )
    officer = SyntheticParticipant(rgb=(200, 40, 40), inspect_pixels=False)
    victim = SyntheticParticipant(rgb=(40, 40, 200), inspect_pixels=False)
    try:
        await officer.connect(otok["url"], otok["token"])
        await victim.connect(vtok.url, vtok.token)
        await officer.publish()
        await victim.publish()
        await api.ok(
            "POST", "/api/v1/participant/recording/consent", bearer=joined["session"],
            json={"consent": True}, expect=201,
        )  # fmt: skip
        while time.monotonic() < stop_at:
            await api.ok("POST", f"/api/v1/visits/{vid}/recording/start", who="alice", expect=202)
            await asyncio.sleep(statement)
            await api.ok("POST", f"/api/v1/visits/{vid}/recording/stop", who="alice", expect=202)
            deadline = time.monotonic() + 120
            rec: dict[str, Any] = {}
            while time.monotonic() < deadline:
                rec = (await api.ok("GET", f"/api/v1/visits/{vid}", who="alice"))["recording"]
                if rec["status"] in ("sealed", "failed"):
                    break
                await asyncio.sleep(1)
            outcomes.append(rec)
    finally:
        await officer.close()
        await victim.close()
        await api.call("POST", f"/api/v1/visits/{vid}/end", who="alice", json={"reason": "soak"})


async def soak(args: argparse.Namespace) -> int:  # noqa: PLR0915 - one linear script
    work = Path(tempfile.mkdtemp(prefix="evr-soak-"))
    print(json.dumps({"workdir": str(work)}), flush=True)
    pg = start_postgres()
    nets = [create_testnet(f"soak{i}") for i in range(2)]
    sock = bind_socket(nets[0].host_ip)
    lb_port = sock.getsockname()[1]
    sock.close()
    cluster = start_cluster(
        work / "cluster",
        webhook_url=f"http://{nets[0].host_ip}:{lb_port}/api/v1/livekit/webhook",
        nets=nets,
    )
    minio = start_minio(nets[0], work / "minio", port=MINIO_PORT)
    recorders: list[RunningRecorder] = []
    rs: ReplicaSet | None = None
    try:
        rs = await start_replicas(
            net=nets[0],
            database_url=create_database(pg, f"evr_soak_{uuid.uuid4().hex[:8]}"),
            workdir=work,
            sfu_port=0,
            sfu=cluster.nodes[0].sfu,
            lb_port=lb_port,
            s3=S3Settings(
                endpoint=minio.endpoint, bucket="evr-soak", access_key=minio.access_key,
                secret_key=minio.secret_key, secure=False, min_retention_days=1,
            ),
            stale_after=6.0,
        )  # fmt: skip
        for name in ("rec-a", "rec-b"):
            recorders.append(start_recorder(as_stack(rs), work / "rec", name=name))
        cluster_pids = {n.name: n.sfu.process.pid for n in cluster.nodes}
        cluster_pids["redis"] = cluster.redis_process.pid
        procs = processes(rs, recorders, pg, cluster_pids, minio.process.pid)
        samples: list[dict[str, Any]] = []
        outcomes: list[dict[str, Any]] = []
        started = time.monotonic()
        stop_at = started + args.minutes * 60

        async def sampler() -> None:
            while True:
                row = {
                    "t_s": round(time.monotonic() - started),
                    **{k: sum(rss_kib(p) for p in v) // 1024 for k, v in procs.items()},
                }
                samples.append(row)
                print(json.dumps({"rss_mib": row}), flush=True)
                await asyncio.sleep(args.sample)

        async with aiohttp.ClientSession() as http:
            api = Api(http, as_stack(rs))
            admin = lk.LiveKitAPI(
                cluster.nodes[0].sfu.url, cluster.api_key, cluster.api_secret, session=http
            )
            task = asyncio.create_task(sampler())
            try:
                await asyncio.gather(
                    *[
                        one_visit(
                            api,
                            rs=rs,
                            node_id=cluster.nodes[i % 2].node_id,
                            admin=admin,
                            stop_at=stop_at,
                            statement=args.statement,
                            outcomes=outcomes,
                        )
                        for i in range(args.visits)
                    ]
                )
            finally:
                task.cancel()
        sealed = [o for o in outcomes if o.get("status") == "sealed"]
        # Not sealed, but the visit shows why (failed, or not secured with a problem): loud.
        loud = [o for o in outcomes if o.get("status") != "sealed" and o.get("problem")]
        silent = [o for o in outcomes if o not in sealed and o not in loud]
        first, last = samples[0], samples[-1]
        summary = {
            "visits": args.visits,
            "minutes": args.minutes,
            "statements": len(outcomes),
            "sealed": len(sealed),
            "failed_loudly": len(loud),
            "lost_silently": len(silent),
            "not_sealed": [
                {
                    "status": o.get("status"),
                    "secured": o.get("secured"),
                    "problem": o.get("problem"),
                }
                for o in outcomes
                if o not in sealed
            ],
            "rss_mib": {
                k: {
                    "first": first[k],
                    "last": last[k],
                    "peak": max(s[k] for s in samples),
                    "change": last[k] - first[k],
                }
                for k in procs
            },
        }
        print(json.dumps(summary))
        return 1 if silent else 0
    finally:
        for rec in recorders:
            stop_recorder(rec)
        if rs is not None:
            stop_replicas(rs)
        stop_minio(minio)
        stop_cluster(cluster, destroy_nets=False)
        for net in nets:
            destroy_testnet(net)
        stop_postgres(pg)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--visits", type=int, default=3)
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--statement", type=float, default=60.0, help="seconds per statement")
    parser.add_argument("--sample", type=float, default=15.0, help="seconds between samples")
    return asyncio.run(soak(parser.parse_args()))


if __name__ == "__main__":
    raise SystemExit(main())
