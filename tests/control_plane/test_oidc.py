"""OIDC bearer JWTs: checked against the identity provider's JWKS, served here on loopback."""

import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from typing import Any

import aiohttp
import jwt
import pytest
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa

from control_plane.app import create_app
from control_plane.auth import OidcAuthenticator
from control_plane.errors import Unauthenticated
from core.settings import OidcSettings
from tests.support.stack import Api, bind_socket

ISSUER = "https://idp.force.example"
AUDIENCE = "evr"


@dataclass
class Idp:
    keys: dict[str, rsa.RSAPrivateKey]
    jwks_url: str
    fetches: int = 0
    cache_control: str | None = None
    """The JWKS response's Cache-Control header, if any."""

    def token(self, kid: str, **claims: Any) -> str:
        now = int(time.time())
        body = {
            "iss": ISSUER, "aud": AUDIENCE, "sub": "u-123", "iat": now, "exp": now + 300,
            "collar_number": "7777", "evr_unit": "EVR-EAST", "evr_role": "officer",
            "name": "PC Seven",
        } | claims  # fmt: skip
        return jwt.encode(body, self.keys[kid], algorithm="RS256", headers={"kid": kid})


@pytest.fixture
async def idp() -> AsyncIterator[Idp]:
    state = Idp(
        keys={"k1": rsa.generate_private_key(public_exponent=65537, key_size=2048)}, jwks_url=""
    )

    async def jwks(_request: web.Request) -> web.Response:
        state.fetches += 1
        keys = []
        for kid, key in state.keys.items():
            jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
            keys.append(jwk | {"kid": kid, "use": "sig", "alg": "RS256"})
        headers = {"Cache-Control": state.cache_control} if state.cache_control else None
        return web.json_response({"keys": keys}, headers=headers)

    app = web.Application()
    app.router.add_get("/jwks", jwks)
    runner = web.AppRunner(app)
    await runner.setup()
    sock = bind_socket("127.0.0.1")
    await web.SockSite(runner, sock).start()
    state.jwks_url = f"http://127.0.0.1:{sock.getsockname()[1]}/jwks"
    try:
        yield state
    finally:
        await runner.cleanup()


def _settings(idp: Idp) -> OidcSettings:
    return OidcSettings(issuer=ISSUER, audience=AUDIENCE, jwks_url=idp.jwks_url)


async def test_a_valid_token_becomes_a_principal(idp: Idp, http: aiohttp.ClientSession) -> None:
    auth = OidcAuthenticator(_settings(idp), http)
    p = await auth.authenticate(idp.token("k1", evr_role="supervisor"))
    assert (p.officer_id, p.collar_number, p.unit, p.role.value) == (
        "oidc:u-123", "7777", "EVR-EAST", "supervisor",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("claims", "problem"),
    [
        ({"aud": "someone-else"}, "(?i)audience"),
        ({"iss": "https://evil.example"}, "(?i)issuer"),
        ({"exp": int(time.time()) - 10}, "(?i)expired"),
        ({"evr_role": "admiral"}, "role"),
        ({"evr_unit": None}, "claim"),
    ],
)
async def test_bad_tokens_are_refused(
    idp: Idp, http: aiohttp.ClientSession, claims: dict[str, Any], problem: str
) -> None:
    auth = OidcAuthenticator(_settings(idp), http)
    with pytest.raises(Unauthenticated, match=problem):
        await auth.authenticate(idp.token("k1", **claims))


async def test_a_token_signed_by_another_key_is_refused(
    idp: Idp, http: aiohttp.ClientSession
) -> None:
    auth = OidcAuthenticator(_settings(idp), http)
    forged = Idp(
        keys={"k1": rsa.generate_private_key(public_exponent=65537, key_size=2048)}, jwks_url=""
    )
    with pytest.raises(Unauthenticated, match="rejected"):
        await auth.authenticate(forged.token("k1"))


async def test_key_rotation_needs_no_restart(idp: Idp, http: aiohttp.ClientSession) -> None:
    auth = OidcAuthenticator(_settings(idp), http)
    await auth.authenticate(idp.token("k1"))
    idp.keys["k2"] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    # At once: a new key id right after a fetch is fetched for, not refused.
    p = await auth.authenticate(idp.token("k2"))
    assert p.officer_id == "oidc:u-123"
    assert idp.fetches == 2


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


async def test_a_withdrawn_key_is_refused_once_the_cache_expires(
    idp: Idp, http: aiohttp.ClientSession
) -> None:
    idp.cache_control = "public, max-age=60"
    clock = Clock()
    auth = OidcAuthenticator(_settings(idp), http, clock=clock)
    token = idp.token("k1")
    await auth.authenticate(token)
    del idp.keys["k1"]  # the provider withdraws it
    idp.keys["k2"] = _new_key()

    clock.now += 59
    await auth.authenticate(token)  # the provider said it may be kept this long
    clock.now += 2
    with pytest.raises(Unauthenticated, match="unknown key"):
        await auth.authenticate(token)
    assert idp.fetches == 2


async def test_cache_control_is_honoured_for_at_most_an_hour(
    idp: Idp, http: aiohttp.ClientSession
) -> None:
    idp.cache_control = "max-age=86400"
    clock = Clock()
    auth = OidcAuthenticator(_settings(idp), http, clock=clock)
    await auth.authenticate(idp.token("k1"))
    clock.now += 3599
    await auth.authenticate(idp.token("k1"))
    assert idp.fetches == 1
    clock.now += 2
    await auth.authenticate(idp.token("k1"))
    assert idp.fetches == 2


async def test_no_store_means_every_check_fetches(idp: Idp, http: aiohttp.ClientSession) -> None:
    idp.cache_control = "no-store"
    auth = OidcAuthenticator(_settings(idp), http, clock=Clock())
    for _ in range(3):
        await auth.authenticate(idp.token("k1"))
    assert idp.fetches == 3


async def test_unknown_key_ids_cannot_flood_the_provider(
    idp: Idp, http: aiohttp.ClientSession
) -> None:
    clock = Clock()
    auth = OidcAuthenticator(_settings(idp), http, clock=clock)
    await auth.authenticate(idp.token("k1"))
    stranger = Idp(keys={}, jwks_url="")
    for i in range(20):
        stranger.keys[f"made-up-{i}"] = idp.keys["k1"]
        with pytest.raises(Unauthenticated, match="unknown key"):
            await auth.authenticate(stranger.token(f"made-up-{i}"))
    assert idp.fetches == 1 + OidcAuthenticator.REFETCH_BURST
    clock.now += OidcAuthenticator.REFETCH_INTERVAL
    idp.keys["k2"] = _new_key()
    await auth.authenticate(idp.token("k2"))  # the budget refills: rotation still works
    assert idp.fetches == 2 + OidcAuthenticator.REFETCH_BURST


async def test_the_api_accepts_oidc_officers(
    idp: Idp, api: Api, http: aiohttp.ClientSession
) -> None:
    settings = replace(api.stack.settings, oidc=_settings(idp))
    runner = web.AppRunner(create_app(settings, reconcile=False))
    await runner.setup()
    sock = bind_socket(settings.host)
    base = f"http://{settings.host}:{sock.getsockname()[1]}"
    await web.SockSite(runner, sock).start()
    try:
        headers = {"Authorization": f"Bearer {idp.token('k1')}"}
        async with http.get(base + "/api/v1/me", headers=headers) as resp:
            assert resp.status == 200
            me = await resp.json()
        async with http.get(
            base + "/api/v1/me", headers={"Authorization": "Bearer not.a.jwt"}
        ) as resp:
            assert resp.status == 401
    finally:
        await runner.cleanup()
    assert me["officer_id"] == "oidc:u-123"
