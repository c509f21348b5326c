"""Officer authentication: local API tokens (the default) or OIDC bearer JWTs.

Both produce a `Principal`; who may see what (`control_plane.visibility`) works on principals
only, so it does not care which authenticator is configured.
"""

import asyncio
import hashlib
import math
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import aiohttp
import jwt
from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from control_plane.errors import Conflict, NotFound, Unauthenticated, ValidationFailed
from core import db, schema
from core.domain import OfficerRole
from core.driver_sql import DriverStatement
from core.settings import OidcSettings

TOKEN_PREFIX = "evr_"  # noqa: S105 - a visible prefix, not a secret


@dataclass(frozen=True, kw_only=True)
class Principal:
    officer_id: str
    collar_number: str
    display_name: str
    unit: str
    role: OfficerRole

    @property
    def actor(self) -> str:
        """How the principal appears in audit and custody logs."""
        return f"officer:{self.officer_id}"


def hash_secret(secret: str) -> str:
    # Tokens are 256-bit random values, so a plain SHA-256 is enough: no dictionary to resist.
    return hashlib.sha256(secret.encode()).hexdigest()


def bearer_token(header: str | None) -> str:
    if not header:
        raise Unauthenticated("missing Authorization header (expected 'Bearer <token>')")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("Authorization header must be 'Bearer <token>'")
    token = token.strip()
    # Every token this service issues is printable ASCII; anything else (a non-ASCII byte
    # arrives as a lone surrogate) would only fail later, deep in hashing or the driver.
    if not (token.isascii() and token.isprintable() and " " not in token):
        raise Unauthenticated("the bearer token has characters no token contains")
    return token


class Authenticator(Protocol):
    async def authenticate(self, token: str) -> Principal: ...


_o, _t = schema.officers, schema.api_tokens
_TOKEN_OFFICER = DriverStatement(
    select(_o, _t.c.expires_at)
    .join(_t, _t.c.officer_id == _o.c.id)
    .where(_t.c.token_hash == bindparam("token_hash"), _t.c.revoked_at.is_(None)),
    point_read=True,
)
"""Built once and run on the driver's cursor: every officer request runs it (issue 14)."""


class LocalAuthenticator:
    """Officer accounts and API tokens kept in the database (tokens stored hashed)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def authenticate(self, token: str) -> Principal:
        """The token's officer. Looked up on every request, so a revocation or expiry takes
        effect on the next one."""
        async with db.one_read(self._engine) as conn:
            params = {"token_hash": hash_secret(token)}
            row = await conn.run_sync(_TOKEN_OFFICER.first, params)
        if row is None:
            raise Unauthenticated("unknown or revoked API token")
        if row["expires_at"] <= datetime.now(UTC):
            raise Unauthenticated("this API token has expired; ask for a new one")
        return Principal(
            officer_id=row["id"],
            collar_number=row["collar_number"],
            display_name=row["display_name"],
            unit=row["unit"],
            role=OfficerRole(row["role"]),
        )


async def add_officer(
    engine: AsyncEngine,
    *,
    collar_number: str,
    display_name: str,
    unit: str,
    role: OfficerRole,
    rank: str | None = None,
) -> str:
    """Create a local officer account (``rank`` as the victim should read it, e.g. "PC");
    return its id."""
    officer_id = f"local:{collar_number}"
    async with engine.begin() as conn:
        exists = await conn.scalar(
            select(schema.officers.c.id).where(schema.officers.c.id == officer_id)
        )
        if exists:
            raise Conflict(f"officer with collar number {collar_number} already exists")
        await conn.execute(
            insert(schema.officers).values(
                id=officer_id,
                collar_number=collar_number,
                display_name=display_name,
                unit=unit,
                role=role.value,
                created_at=datetime.now(UTC),
                rank=rank,
            )
        )
    return officer_id


TOKEN_TTL = timedelta(days=90)
"""How long an API token lives unless `evr token-create --days` says otherwise."""
TOKEN_TTL_MAX = timedelta(days=365)


async def create_api_token(
    engine: AsyncEngine, *, collar_number: str, label: str, ttl: timedelta = TOKEN_TTL
) -> str:
    """Mint an API token for a local officer, valid for `ttl` (at most a year). The token is
    returned once and stored hashed."""
    if not timedelta(0) < ttl <= TOKEN_TTL_MAX:
        raise ValidationFailed(f"a token lives more than 0 and at most {TOKEN_TTL_MAX.days} days")
    officer_id = f"local:{collar_number}"
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    async with engine.begin() as conn:
        exists = await conn.scalar(
            select(schema.officers.c.id).where(schema.officers.c.id == officer_id)
        )
        if not exists:
            raise NotFound(f"no local officer with collar number {collar_number}")
        await conn.execute(
            insert(schema.api_tokens).values(
                id=str(uuid.uuid4()),
                officer_id=officer_id,
                token_hash=hash_secret(token),
                label=label,
                created_at=now,
                expires_at=now + ttl,
            )
        )
    return token


@dataclass(frozen=True, kw_only=True)
class TokenInfo:
    """An API token as `evr token-list` shows it: never the token itself."""

    id: str
    collar_number: str
    label: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None

    def state(self, now: datetime) -> str:
        if self.revoked_at is not None:
            return "revoked"
        return "expired" if self.expires_at <= now else "active"


async def list_api_tokens(engine: AsyncEngine, *, collar_number: str | None) -> list[TokenInfo]:
    """Every API token (of one officer, if given), oldest first."""
    o, t = schema.officers, schema.api_tokens
    query = select(t, o.c.collar_number).join(o, o.c.id == t.c.officer_id).order_by(t.c.created_at)
    if collar_number is not None:
        query = query.where(o.c.collar_number == collar_number)
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).mappings().all()
    return [
        TokenInfo(
            id=r["id"],
            collar_number=r["collar_number"],
            label=r["label"],
            created_at=r["created_at"],
            expires_at=r["expires_at"],
            revoked_at=r["revoked_at"],
        )
        for r in rows
    ]


async def revoke_api_token(engine: AsyncEngine, token_id: str) -> None:
    """Revoke one API token by its id; it is refused from the next request on."""
    t = schema.api_tokens
    async with engine.begin() as conn:
        done = await conn.execute(
            update(t)
            .where(t.c.id == token_id, t.c.revoked_at.is_(None))
            .values(revoked_at=datetime.now(UTC))
        )
        if done.rowcount != 1:
            exists = await conn.scalar(select(t.c.id).where(t.c.id == token_id))
            if not exists:
                raise NotFound(f"no API token {token_id}")
            raise Conflict(f"API token {token_id} is already revoked")


class OidcAuthenticator:
    """Bearer JWTs from the force's identity provider, checked against its JWKS.

    Keys are fetched with the app's own HTTP session and kept for as long as the JWKS
    response's `Cache-Control: max-age` says, at most an hour (`DEFAULT_MAX_AGE` without one),
    so a key the provider withdrew stops being accepted within that time. Once the cache is
    stale it is fetched again before any token is checked; if the provider cannot be reached
    then, tokens are refused (a stale key set might still hold a withdrawn key). A token with
    an unknown `kid` triggers a refetch at once (key rotation needs no restart), from a small
    budget (`REFETCH_BURST`, then one per `REFETCH_INTERVAL` s), so a flood of made-up key ids
    cannot turn into a flood of requests to the provider.
    """

    MAX_AGE_CAP = 3600.0
    DEFAULT_MAX_AGE = 300.0
    REFETCH_BURST = 3
    REFETCH_INTERVAL = 10.0

    def __init__(
        self,
        settings: OidcSettings,
        session: aiohttp.ClientSession,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings = settings
        self._session = session
        self._clock = clock
        self._keys: dict[str, Any] = {}
        self._expires_at = -math.inf
        self._budget = float(self.REFETCH_BURST)
        self._budget_at = clock()
        self._lock = asyncio.Lock()

    def _max_age(self, cache_control: str | None) -> float:
        """Seconds the key set may be kept: the response's max-age (0 for no-store or
        no-cache), capped at an hour; the default when it says nothing usable."""
        directives = [d.strip().lower() for d in (cache_control or "").split(",")]
        if "no-store" in directives or "no-cache" in directives:
            return 0.0
        for d in directives:
            name, _, value = d.partition("=")
            if name.strip() == "max-age" and value.strip().isdigit():
                return min(float(value.strip()), self.MAX_AGE_CAP)
        return self.DEFAULT_MAX_AGE

    async def _fetch(self) -> None:
        async with self._session.get(self._settings.jwks_url) as resp:
            resp.raise_for_status()
            jwks = await resp.json()
            max_age = self._max_age(resp.headers.get("Cache-Control"))
        keyset = jwt.PyJWKSet.from_dict(jwks)
        self._keys = {k.key_id: k for k in keyset.keys if k.key_id}
        self._expires_at = self._clock() + max_age

    def _take_refetch(self) -> bool:
        """Spend one unknown-kid refetch from the budget, if there is one."""
        now = self._clock()
        refill = (now - self._budget_at) / self.REFETCH_INTERVAL
        self._budget = min(float(self.REFETCH_BURST), self._budget + refill)
        self._budget_at = now
        if self._budget < 1.0:
            return False
        self._budget -= 1.0
        return True

    async def _key_for(self, kid: str) -> Any:
        try:
            async with self._lock:
                stale = self._clock() >= self._expires_at
                if stale or (kid not in self._keys and self._take_refetch()):
                    await self._fetch()
        except (aiohttp.ClientError, TimeoutError, ValueError, jwt.PyJWTError) as exc:
            raise Unauthenticated(f"cannot fetch the identity provider's keys: {exc}") from exc
        if kid not in self._keys:
            raise Unauthenticated("token signed with an unknown key")
        return self._keys[kid]

    async def authenticate(self, token: str) -> Principal:
        s = self._settings
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise Unauthenticated(f"malformed bearer token: {exc}") from exc
        kid = header.get("kid")
        if not isinstance(kid, str):
            raise Unauthenticated("bearer token has no key id (kid)")
        key = await self._key_for(kid)
        try:
            claims = jwt.decode(
                token,
                key=key,
                algorithms=["RS256", "ES256", "PS256", "EdDSA"],
                audience=s.audience,
                issuer=s.issuer,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.PyJWTError as exc:
            raise Unauthenticated(f"bearer token rejected: {exc}") from exc
        try:
            role = OfficerRole(str(claims.get(s.role_claim, OfficerRole.OFFICER.value)))
        except ValueError as exc:
            raise Unauthenticated(f"claim {s.role_claim!r} is not a known role") from exc
        unit = claims.get(s.unit_claim)
        collar = claims.get(s.collar_claim)
        if not isinstance(unit, str) or not isinstance(collar, str):
            raise Unauthenticated(f"token lacks the {s.unit_claim!r} or {s.collar_claim!r} claim")
        return Principal(
            officer_id=f"oidc:{claims['sub']}",
            collar_number=collar,
            display_name=str(claims.get(s.name_claim, collar)),
            unit=unit,
            role=role,
        )
