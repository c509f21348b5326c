"""Each profile proven against the real livekit-server v1.13.5 in a test network namespace."""

from __future__ import annotations

import datetime as dt
import socket
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from livekit import api
from livekit.protocol import rtc as rtc_proto

from sfu_config import Profile
from tests.support.netns import TestNet, create_testnet, destroy_testnet
from tests.support.sfu import (
    RunningSfu,
    sfu_log_text,
    start_redis,
    start_sfu,
    stop_redis,
    stop_sfu,
)

TURN_DOMAIN = "turn.evr.test"


@pytest.fixture(scope="module")
def testnet() -> Iterator[TestNet]:
    net = create_testnet("sfu-config")
    try:
        yield net
    finally:
        destroy_testnet(net)


def make_self_signed_cert(directory: Path, domain: str) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, domain)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(domain)]), critical=False)
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


@pytest.fixture(scope="module", params=list(Profile), ids=lambda p: str(p.value))
def sfu(
    request: pytest.FixtureRequest, testnet: TestNet, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningSfu]:
    """The real server, started once per profile (module scope keeps the run short)."""
    profile: Profile = request.param
    workdir = tmp_path_factory.mktemp(f"sfu-{profile.value}")
    # Nothing listens there: webhook deliveries fail, which the SFU only logs.
    webhook_url = f"http://{testnet.host_ip}:9/livekit/webhook"
    redis = None
    overrides: dict[str, Any] = {}
    if profile is not Profile.DEV:
        cert, key = make_self_signed_cert(workdir, TURN_DOMAIN)
        overrides |= {"turn_domain": TURN_DOMAIN, "turn_cert_file": cert, "turn_key_file": key}
    try:
        if profile is Profile.PRODUCTION_MULTINODE:
            redis = start_redis(net=testnet, workdir=workdir)
            overrides["redis_address"] = redis.address
        running = start_sfu(
            net=testnet, webhook_url=webhook_url, workdir=workdir, profile=profile, **overrides
        )
        try:
            yield running
        finally:
            stop_sfu(running)
    finally:
        if redis is not None:
            stop_redis(redis)


def profile_of(sfu: RunningSfu) -> Profile:
    return Profile(sfu.config_path.stem.removeprefix("livekit-"))


def join_token(sfu: RunningSfu, room: str, identity: str) -> str:
    return (
        api.AccessToken(sfu.api_key, sfu.api_secret)
        .with_identity(identity)
        .with_grants(api.VideoGrants(room_join=True, room=room))
        .with_ttl(dt.timedelta(minutes=2))
        .to_jwt()
    )


async def test_room_service_lists_and_creates_rooms(sfu: RunningSfu) -> None:
    name = f"room-{uuid.uuid4().hex[:8]}"
    lkapi = api.LiveKitAPI(sfu.url, sfu.api_key, sfu.api_secret)
    try:
        await lkapi.room.list_rooms(api.ListRoomsRequest())
        created = await lkapi.room.create_room(api.CreateRoomRequest(name=name))
        assert created.name == name
        listed = await lkapi.room.list_rooms(api.ListRoomsRequest(names=[name]))
        assert [room.name for room in listed.rooms] == [name]
        await lkapi.room.delete_room(api.DeleteRoomRequest(room=name))
    finally:
        await lkapi.aclose()


def test_prometheus_endpoint_serves_livekit_metrics(sfu: RunningSfu) -> None:
    with urllib.request.urlopen(sfu.metrics_url, timeout=5) as response:  # noqa: S310
        body = response.read().decode()
    assert "livekit_" in body


def test_key_file_is_private_and_no_keys_inline(sfu: RunningSfu) -> None:
    key_file = sfu.config_path.parent / "livekit-keys.yaml"
    assert key_file.stat().st_mode & 0o077 == 0
    assert sfu.api_secret not in sfu.config_path.read_text()


def test_multinode_routes_through_redis(sfu: RunningSfu) -> None:
    if profile_of(sfu) is not Profile.PRODUCTION_MULTINODE:
        assert "using single-node routing" in sfu_log_text(sfu)
        return
    assert "using single-node routing" not in sfu_log_text(sfu)
    # The node registers itself in Redis (pkg/routing/redisrouter.go NodesKey).
    host, port = sfu_redis_address(sfu)
    with socket.create_connection((host, port), timeout=2) as conn:
        conn.sendall(b"*2\r\n$5\r\nHKEYS\r\n$5\r\nnodes\r\n")
        reply = conn.recv(4096)
    assert b"ND_" in reply


def sfu_redis_address(sfu: RunningSfu) -> tuple[str, int]:
    conf = yaml.safe_load(sfu.config_path.read_text())
    host, _, port = str(conf["redis"]["address"]).rpartition(":")
    return host, int(port)


async def test_join_offers_only_this_node_as_ice_server(sfu: RunningSfu) -> None:
    """Read the join response a client gets: every ICE server must be this node (or, with
    TURN/TLS, its own TURN domain); LiveKit's Google/Twilio fallback must never appear."""
    name = f"ice-{uuid.uuid4().hex[:8]}"
    lkapi = api.LiveKitAPI(sfu.url, sfu.api_key, sfu.api_secret)
    try:
        await lkapi.room.create_room(api.CreateRoomRequest(name=name))
        token = join_token(sfu, name, "ice-probe")
        async with (
            aiohttp.ClientSession() as session,
            session.ws_connect(
                f"{sfu.ws_url}/rtc",
                params={"access_token": token, "protocol": "16", "auto_subscribe": "1"},
                timeout=aiohttp.ClientWSTimeout(ws_close=5),
            ) as ws,
        ):
            message = await ws.receive(timeout=10)
            assert message.type is aiohttp.WSMsgType.BINARY, message
            response = rtc_proto.SignalResponse()
            response.ParseFromString(message.data)
        assert response.WhichOneof("message") == "join"
        urls = [url for server in response.join.ice_servers for url in server.urls]
    finally:
        await lkapi.room.delete_room(api.DeleteRoomRequest(room=name))
        await lkapi.aclose()

    allowed_hosts = {sfu.node_ip}
    if profile_of(sfu) is not Profile.DEV:
        allowed_hosts.add(TURN_DOMAIN)
    assert urls, "the join must carry this node's STUN/TURN, or clients fall back to public STUN"
    assert f"stun:{sfu.node_ip}:3478" in urls
    assert f"turn:{sfu.node_ip}:3478?transport=udp" in urls
    for url in urls:
        host = urlsplit("//" + url.split(":", 1)[1]).hostname
        assert host in allowed_hosts, url
        assert "google" not in url
        assert "twilio" not in url
