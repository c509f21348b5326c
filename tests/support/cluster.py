"""A LiveKit cluster for tests: livekit-server nodes sharing one Redis, each in its own
network namespace.

Each node runs the `production-multinode` profile (sfu_config) in a namespace of its own, with
the same API key and secret, so a token from the control plane is good on every node. Redis
(Debian's redis-server) runs in the root namespace, bound to the host end of every node's veth:
a node reaches it over its own veth and nothing else. Participants and the control plane, in
the root namespace, reach every node's address directly.

Where a room lives is LiveKit's own record in Redis (`room_node_map`, room -> node id), read
here with a few lines of RESP, so a test can kill the node that hosts a visit.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from sfu_config import Profile, generate_credentials
from tests.support.netns import TestNet, create_testnet, destroy_testnet
from tests.support.sfu import (
    RunningSfu,
    kill_sfu,
    restart_sfu,
    sfu_log_text,
    start_sfu,
    stop_sfu,
)
from tests.support.stack import Stack, bind_socket, start_control_plane

__all__ = [
    "ClusterNode",
    "SfuCluster",
    "kill_node",
    "node_hosting",
    "redis_command",
    "restart_node",
    "start_cluster",
    "start_cluster_stack",
    "stop_cluster",
    "stop_cluster_stack",
]

TURN_DOMAIN = "turn.evr.test"
START_TIMEOUT = 20.0
_NODE_ID = re.compile(r"\bND_[A-Za-z0-9]+")


@dataclass
class ClusterNode:
    name: str
    net: TestNet
    sfu: RunningSfu
    node_id: str

    @property
    def alive(self) -> bool:
        return self.sfu.process.poll() is None


@dataclass
class SfuCluster:
    redis_address: str
    """host:port of the shared Redis (root namespace, host end of the first node's veth)."""
    redis_process: subprocess.Popen[bytes]
    api_key: str
    api_secret: str
    nodes: list[ClusterNode] = field(default_factory=list)

    def node(self, node_id: str) -> ClusterNode:
        (found,) = [n for n in self.nodes if n.node_id == node_id]
        return found


def _self_signed_cert(directory: Path) -> tuple[Path, Path]:
    # The production profiles need TURN/TLS; nothing in these tests connects to it.
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, TURN_DOMAIN)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "turn.crt", directory / "turn.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    return cert_path, key_path


def _free_port(hosts: list[str]) -> int:
    """A port free on every one of `hosts` (tried on the first, checked on the rest)."""
    for _ in range(50):
        with socket.socket() as sock:
            sock.bind((hosts[0], 0))
            port: int = sock.getsockname()[1]
        try:
            for host in hosts[1:]:
                with socket.socket() as other:
                    other.bind((host, port))
        except OSError:
            continue
        return port
    raise RuntimeError("no port free on every node's host address")


def redis_command(address: str, *args: str) -> bytes | int | list[object] | None:
    """One Redis command over RESP (enough for the replies used here)."""
    host, port = address.rsplit(":", 1)
    payload = f"*{len(args)}\r\n" + "".join(f"${len(a.encode())}\r\n{a}\r\n" for a in args)
    with socket.create_connection((host, int(port)), timeout=2) as conn:
        conn.sendall(payload.encode())
        reader = conn.makefile("rb")
        return _read_reply(reader)


def _read_reply(reader: BinaryIO) -> bytes | int | list[object] | None:
    line = reader.readline()
    kind, rest = line[:1], line[1:].rstrip(b"\r\n")
    if kind == b"+":
        return rest
    if kind == b"-":
        raise RuntimeError(f"redis: {rest.decode()}")
    if kind == b":":
        return int(rest)
    if kind == b"$":
        size = int(rest)
        if size < 0:
            return None
        return reader.read(size + 2)[:-2]
    if kind == b"*":
        return [_read_reply(reader) for _ in range(int(rest))]
    raise RuntimeError(f"redis: unexpected reply {line!r}")


def _start_redis(hosts: list[str], workdir: Path) -> tuple[str, subprocess.Popen[bytes]]:
    port = _free_port(hosts)
    log_path = workdir / "redis.log"
    argv = [
        "redis-server",
        "--bind", *hosts,
        "--port", str(port),
        # Reached over the veths, so not "loopback" to Redis; it listens on the test
        # namespaces' host ends only.
        "--protected-mode", "no",
        # As deployed (infra/ansible/roles/redis): LiveKit's room-to-node map must survive a
        # Redis restart, or a live room gets placed again on another node (tests/faults).
        "--save", "",
        "--appendonly", "yes",
        "--appendfsync", "everysec",
        "--dir", str(workdir),
    ]  # fmt: skip
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
        )
    address = f"{hosts[0]}:{port}"
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"redis-server exited: {log_path.read_text()[-2000:]}")
        with contextlib.suppress(OSError, RuntimeError):
            if redis_command(address, "PING") == b"PONG":
                return address, process
        time.sleep(0.1)
    process.kill()
    process.wait(timeout=5)
    raise RuntimeError(f"redis-server not answering: {log_path.read_text()[-2000:]}")


def _node_id(sfu: RunningSfu, *, after: int = 0) -> str:
    # livekit-server logs its node id (ND_...) as it starts; a restart gets a new one.
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        found = _NODE_ID.search(sfu_log_text(sfu)[after:])
        if found:
            return found.group(0)
        time.sleep(0.1)
    raise RuntimeError(f"no node id in {sfu.log_path}")


def start_cluster(
    workdir: Path, *, webhook_url: str, nets: list[TestNet] | None = None, size: int = 2
) -> SfuCluster:
    """Start Redis and `size` livekit-server nodes, each in a fresh namespace (or in `nets`,
    created beforehand with `create_testnet` so that a control plane can bind to their host
    ends first). Every node sends its webhooks to `webhook_url`. Returns once every node
    answers HTTP and has registered in Redis."""
    workdir.mkdir(parents=True, exist_ok=True)
    own = nets is None
    nets = nets if nets is not None else [create_testnet(f"node{i}") for i in range(size)]
    api_key, api_secret = generate_credentials()
    try:
        address, redis = _start_redis([n.host_ip for n in nets], workdir)
    except BaseException:
        for net in nets if own else []:
            destroy_testnet(net)
        raise
    cluster = SfuCluster(address, redis, api_key, api_secret)
    try:
        cert, key = _self_signed_cert(workdir)
        for i, net in enumerate(nets):
            name = f"node{i}"
            sfu = start_sfu(
                net=net,
                webhook_url=webhook_url,
                workdir=workdir / name,
                profile=Profile.PRODUCTION_MULTINODE,
                credentials=(api_key, api_secret),
                redis_address=address,
                turn_domain=TURN_DOMAIN,
                turn_cert_file=cert,
                turn_key_file=key,
                # Short, so that rooms left by a test do not outlive it by minutes.
                room_empty_timeout=30,
            )
            cluster.nodes.append(ClusterNode(name, net, sfu, _node_id(sfu)))
        _wait_registered(cluster)
    except BaseException:
        stop_cluster(cluster, destroy_nets=False)
        for net in nets if own else []:
            destroy_testnet(net)
        raise
    return cluster


def _wait_registered(cluster: SfuCluster) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    want = {n.node_id for n in cluster.nodes}
    while time.monotonic() < deadline:
        keys = redis_command(cluster.redis_address, "HKEYS", "nodes")
        if isinstance(keys, list) and want <= {k.decode() for k in keys if isinstance(k, bytes)}:
            return
        time.sleep(0.1)
    raise RuntimeError(f"not every node registered in Redis: {want}")


def node_hosting(cluster: SfuCluster, room: str) -> ClusterNode | None:
    """The node LiveKit placed `room` on (its `room_node_map` in Redis), or None."""
    node_id = redis_command(cluster.redis_address, "HGET", "room_node_map", room)
    if not isinstance(node_id, bytes):
        return None
    return cluster.node(node_id.decode())


def kill_node(node: ClusterNode) -> None:
    """kill -9 the node's livekit-server, as a crash or a lost host would."""
    kill_sfu(node.sfu)


def restart_node(cluster: SfuCluster, node: ClusterNode) -> None:
    """Run a dead node again (same config and namespace); it joins the cluster under a new
    node id."""
    offset = len(sfu_log_text(node.sfu))
    restart_sfu(node.sfu, node.net)
    node.node_id = _node_id(node.sfu, after=offset)
    _wait_registered(cluster)


def stop_cluster(cluster: SfuCluster, *, destroy_nets: bool = True) -> None:
    """Stop every node and Redis, and delete the nodes' namespaces (unless the caller owns
    them). Safe after a node was killed."""
    for node in cluster.nodes:
        stop_sfu(node.sfu)
        if destroy_nets:
            destroy_testnet(node.net)
    if cluster.redis_process.poll() is None:
        cluster.redis_process.terminate()
        try:
            cluster.redis_process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            cluster.redis_process.kill()
            cluster.redis_process.wait(timeout=5)


async def start_cluster_stack(
    workdir: Path,
    *,
    database_url: str,
    size: int = 2,
    all_nodes: bool = False,
    client_node: int = 0,
) -> tuple[Stack, SfuCluster]:
    """The control plane (as `start_stack` runs it) pointed at a fresh cluster: its API calls
    go to the first node, which routes them through Redis to whichever node hosts a room
    (with `all_nodes`, every node is configured, `livekit.api_urls`, and calls move on when
    one is lost); participants are told node `client_node`'s URL (as a name resolving to a
    live node would be), and a test may connect them to any node. Every node's webhooks come
    to this control plane."""
    nets = [create_testnet(f"node{i}") for i in range(size)]
    try:
        sock = bind_socket(nets[0].host_ip)
        port = sock.getsockname()[1]
        cluster = start_cluster(
            workdir,
            webhook_url=f"http://{nets[0].host_ip}:{port}/api/v1/livekit/webhook",
            nets=nets,
        )
    except BaseException:
        for net in nets:
            destroy_testnet(net)
        raise
    try:
        stack = await start_control_plane(
            cluster.nodes[0].sfu,
            sock,
            database_url=database_url,
            workdir=workdir,
            api_urls=tuple(n.sfu.url for n in cluster.nodes) if all_nodes else (),
            client_url=cluster.nodes[client_node].sfu.ws_url,
        )
    except BaseException:
        stop_cluster(cluster)
        raise
    return stack, cluster


async def stop_cluster_stack(stack: Stack, cluster: SfuCluster) -> None:
    await stack.runner.cleanup()
    stop_cluster(cluster)
