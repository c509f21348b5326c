"""Officer API tokens expire, can be listed and revoked, and a revocation takes effect on the
very next request (issue 12, finding 7)."""

import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from control_plane.auth import (
    add_officer,
    create_api_token,
    hash_secret,
    list_api_tokens,
)
from control_plane.errors import ValidationFailed
from control_plane.keys import ENGINE
from core import schema
from core.domain import OfficerRole
from tests.support.stack import Api

VISITS = "/api/v1/visits"


async def _officer(api: Api) -> str:
    collar = uuid.uuid4().hex[:8]
    await add_officer(
        api.stack.app[ENGINE],
        collar_number=collar,
        display_name="PC Token",
        unit="EVR-EAST",
        role=OfficerRole.OFFICER,
    )
    return collar


async def test_an_expired_token_is_refused(api: Api) -> None:
    engine = api.stack.app[ENGINE]
    token = await create_api_token(engine, collar_number=await _officer(api), label="t")
    assert (await api.call("GET", VISITS, bearer=token))[0] == 200
    t = schema.api_tokens
    async with engine.begin() as conn:
        await conn.execute(
            update(t)
            .where(t.c.token_hash == hash_secret(token))
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )

    status, body = await api.call("GET", VISITS, bearer=token)

    assert status == 401
    assert "expired" in body["error"]["message"]


async def test_a_new_token_expires_after_its_lifetime(api: Api) -> None:
    engine = api.stack.app[ENGINE]
    collar = await _officer(api)
    before = datetime.now(UTC)
    await create_api_token(engine, collar_number=collar, label="t", ttl=timedelta(days=7))

    (info,) = await list_api_tokens(engine, collar_number=collar)

    assert before + timedelta(days=7) <= info.expires_at <= datetime.now(UTC) + timedelta(days=7)
    assert info.state(datetime.now(UTC)) == "active"
    with pytest.raises(ValidationFailed):
        await create_api_token(engine, collar_number=collar, label="t", ttl=timedelta(days=400))


def _evr(*args: str, config: Path) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "evr.cli", *args, "--config", str(config)],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return out.stdout.strip()


async def test_token_list_and_revoke_from_the_cli(api: Api, tmp_path: Path) -> None:
    stack = api.stack
    collar = await _officer(api)
    config = tmp_path / "evr.toml"
    key_file = stack.sfu.config_path.parent / "livekit-keys.yaml"
    config.write_text(
        f'database_url = "{stack.settings.database_url}"\n'
        f'[livekit]\nkey_file = "{key_file}"\napi_url = "{stack.sfu.url}"\n'
    )
    token = _evr("token-create", "--collar", collar, "--label", "laptop", config=config)
    assert (await api.call("GET", VISITS, bearer=token))[0] == 200

    listing = _evr("token-list", "--collar", collar, config=config).splitlines()
    assert listing[0].split("\t") == ["id", "collar", "label", "created", "expires", "state"]
    (row,) = [line.split("\t") for line in listing[1:]]
    token_id, shown_collar, label, *_, state = row
    assert (shown_collar, label, state) == (collar, "laptop", "active")
    assert token not in "\n".join(listing)  # the list never shows a token

    _evr("token-revoke", "--id", token_id, config=config)

    status, body = await api.call("GET", VISITS, bearer=token)
    assert status == 401
    assert "revoked" in body["error"]["message"]
    listing = _evr("token-list", "--collar", collar, config=config).splitlines()
    assert listing[1].split("\t")[-1] == "revoked"
