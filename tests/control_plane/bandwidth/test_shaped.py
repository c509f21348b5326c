"""Shaped bandwidth, for real: the check client runs in a network namespace of its own (the
phone), whose veth is shaped with tc tbf, against the real control plane and SFU.

The phone reaches the control plane on its own veth's host address (a second site of the
stack's runner) and the SFU, in the suite's namespace, through the host: routing between the
two test namespaces is switched on for them alone (tests.support.netns.route_between), so
no packet can leave the machine.
"""

import asyncio
import json
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.netns import (
    TestNet,
)
from tests.support.phone import Phone, phone_namespace
from tests.support.shaping import block, link_bytes, shape, unblock, unshape
from tests.support.stack import Api, Stack

REPO_ROOT = Path(__file__).resolve().parents[3]
DOWN_KBIT = 10_000
"""The phone's downlink in the rate tests: 4G-class, so the uplink decides."""
CAPS = {
    "h720": {"max_width": 1280, "max_height": 720, "max_bitrate": 1_700_000, "max_framerate": 30},
    "h360": {"max_width": 640, "max_height": 360, "max_bitrate": 450_000, "max_framerate": 20},
}


@pytest.fixture(scope="module")
async def phone(stack: Stack, testnet: TestNet) -> AsyncIterator[Phone]:
    async with phone_namespace(stack, testnet, "phone") as p:
        yield p


async def _check_from_phone(phone: Phone, session: str) -> dict[str, Any]:
    """Run loadtests.check_client inside the phone's namespace; return its JSON line."""
    proc = await asyncio.create_subprocess_exec(
        "ip", "netns", "exec", phone.net.name,
        sys.executable, "-m", "loadtests.check_client",
        f"--api-base={phone.base_url}", f"--session={session}",  # secrets may start with -
        cwd=REPO_ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 90)
    assert out, err.decode(errors="replace")[-3000:]
    result: dict[str, Any] = json.loads(out)
    assert "error" not in result, result
    return result


async def _shaped_check(phone: Phone, session: str, *, up: int, down: int) -> dict[str, Any]:
    shape(phone.net, up_kbit=up, down_kbit=down)
    try:
        return await _check_from_phone(phone, session)
    finally:
        unshape(phone.net)


async def _token(api: Api, session: str, mode: str) -> tuple[int, Any]:
    return await api.call("POST", "/api/v1/participant/token", bearer=session, json={"mode": mode})


@pytest.mark.parametrize(
    ("up_kbit", "verdict", "preset"),
    [
        pytest.param(3000, "hd", "h720", id="3mbit-hd"),
        pytest.param(1000, "sd", "h360", id="1mbit-sd"),
        pytest.param(300, "audio_only", None, id="300kbit-audio-only"),
        pytest.param(60, "insufficient", None, id="60kbit-insufficient"),
    ],
)
async def test_shaped_uplink_lands_in_its_class_and_the_token_follows(
    api: Api, phone: Phone, up_kbit: int, verdict: str, preset: str | None
) -> None:
    _, session = await api.live_ready_visit()
    result = await _shaped_check(phone, session, up=up_kbit, down=DOWN_KBIT)

    assert result["verdict"] == verdict, result
    assert result["video_preset"] == preset
    # The server cannot be told more than the link carried (tbf's burst is the slack).
    assert result["uplink_kbps"] <= up_kbit * 1.05 + 20, result

    video_status, video = await _token(api, session, "video")
    audio_status, audio = await _token(api, session, "audio_only")
    if preset is not None:
        assert video_status == 200, video
        assert video["publish_caps"] == CAPS[preset]
        assert audio_status == 200, audio
    elif verdict == "audio_only":
        assert video_status == 409, video
        assert video["error"]["code"] == "video_not_available"
        assert video["error"]["details"]["offered"] == ["audio_only", "in_person"]
        assert audio_status == 200, audio
        assert audio["publish_caps"] is None
        claims = _claims(api, audio["token"])
        assert claims.video.can_publish_sources == ["microphone"]
    else:
        for status, body in ((video_status, video), (audio_status, audio)):
            assert status == 409, body
            assert body["error"]["code"] == "connection_insufficient"
            assert body["error"]["details"]["offered"] == ["in_person"]


def _claims(api: Api, token: str) -> Any:
    from livekit import api as lk  # noqa: PLC0415 - only this test decodes tokens

    sfu = api.stack.sfu
    return lk.TokenVerifier(sfu.api_key, sfu.api_secret).verify(token)


async def test_the_check_stays_within_its_data_and_time_budget_on_a_4g_class_link(
    api: Api, phone: Phone
) -> None:
    """A functional budget the issue sets (victims pay for data), not a speed benchmark."""
    _, session = await api.live_ready_visit()
    before = link_bytes(phone.net)
    result = await _shaped_check(phone, session, up=8_000, down=20_000)
    moved = link_bytes(phone.net) - before

    assert result["verdict"] == "hd", result
    assert moved <= 2_000_000, f"the check moved {moved} bytes"
    assert result["client"]["duration_s"] <= 6.0, result["client"]


def _rtc_tcp_port(stack: Stack) -> int:
    config = yaml.safe_load(stack.sfu.config_path.read_text())
    return int(config["rtc"]["tcp_port"])


def _nft(net: TestNet, *args: str, script: str | None = None) -> str:
    done = subprocess.run(
        ["ip", "netns", "exec", net.name, "nft", *args],
        input=script, check=True, capture_output=True, text=True, timeout=10,
    )  # fmt: skip
    return done.stdout


def _sfu_received_bytes(net: TestNet) -> dict[str, int]:
    """The counters of `_count_at_sfu`, by protocol."""
    listing = json.loads(_nft(net, "-j", "list", "table", "inet", _COUNT_TABLE))
    out: dict[str, int] = {}
    for item in listing["nftables"]:
        rule = item.get("rule")
        if rule is not None:
            counter = next(e["counter"] for e in rule["expr"] if "counter" in e)
            out[rule["comment"]] = int(counter["bytes"])
    return out


_COUNT_TABLE = "evr_transport_count"


def _count_at_sfu(sfu_net: TestNet, phone_ip: str, tcp_port: int) -> None:
    """Count, in the SFU's own namespace, what the phone sends it over ICE/TCP and over UDP."""
    _nft(
        sfu_net,
        "-f",
        "-",
        script=f"""
        table inet {_COUNT_TABLE} {{
          chain input {{
            type filter hook input priority 0; policy accept;
            ip saddr {phone_ip} tcp dport {tcp_port} counter comment "tcp"
            ip saddr {phone_ip} meta l4proto udp counter comment "udp"
          }}
        }}
        """,
    )


async def test_a_network_that_blocks_udp_is_carried_over_tcp(
    api: Api, phone: Phone, stack: Stack, testnet: TestNet
) -> None:
    _, session = await api.live_ready_visit()
    _count_at_sfu(testnet, phone.net.ns_ip, _rtc_tcp_port(stack))
    block(phone.net, udp=True)
    try:
        result = await _check_from_phone(phone, session)
        received = _sfu_received_bytes(testnet)
    finally:
        unblock(phone.net)
        _nft(testnet, "delete", "table", "inet", _COUNT_TABLE)
    webrtc = result["measurements"]["webrtc"]
    assert webrtc["connected"], result
    assert result["video_capable"], result
    # Observed at the SFU, not taken from the phone's report: the media came over ICE/TCP.
    assert received["udp"] == 0, received
    assert received["tcp"] > 20_000, received  # media, not just ICE connectivity checks
    # And the phone's own report (its WebRTC stats, passed through by the check) agrees.
    assert webrtc["transport"]["protocol"] == "tcp", webrtc


async def test_a_network_that_blocks_udp_and_ice_tcp_is_refused(
    api: Api, phone: Phone, stack: Stack
) -> None:
    _, session = await api.live_ready_visit()
    # UDP and ICE/TCP are gone; the dev profile's TURN is UDP only, so nothing is left.
    block(phone.net, udp=True, tcp_ports=(_rtc_tcp_port(stack),))
    try:
        result = await _check_from_phone(phone, session)
    finally:
        unblock(phone.net)
    assert result["verdict"] == "insufficient", result
    assert any("no media" in r for r in result["reasons"]), result
    status, body = await _token(api, session, "audio_only")
    assert status == 409, body
    assert body["error"]["details"]["offered"] == ["in_person"]


@pytest.mark.parametrize(
    ("up_kbit", "down_kbit"),
    [
        pytest.param(700, 700, id="0.7mbit"),
        pytest.param(3000, 600, id="3up-0.6down"),
    ],
)
async def test_both_directions_read_within_15_percent_of_the_shaped_rate(
    api: Api, phone: Phone, up_kbit: int, down_kbit: int
) -> None:
    """Slow and asymmetric links, where the downlink used to read 17-38 % low. (0.8 up with
    20 down is in the benchmark, not here: its uplink read 83 % in one run of three there,
    a TCP stall on the phone's side under load.)"""
    _, session = await api.live_ready_visit()
    result = await _shaped_check(phone, session, up=up_kbit, down=down_kbit)
    figures = result["measurements"]
    assert result["uplink_kbps"] == pytest.approx(up_kbit, rel=0.15), figures
    assert result["downlink_kbps"] == pytest.approx(down_kbit, rel=0.15), figures
