"""What the route table does before a handler runs: resolve the caller, then parse the body.

A `Guard` pairs the kind of authentication a route declares (which the OpenAPI document
shows) with the function that resolves the caller from the request, or raises a 401. The
route table declares each route with `route` (or `public`), which binds the handler to its
guard and body model: the handler receives both, typed, and mypy refuses a table entry whose
handler does not take what its guard and body model give.
"""

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Generic, TypeVar, overload

from aiohttp import web
from pydantic import BaseModel

from control_plane.api.bodies import parse_body
from control_plane.auth import Principal, bearer_token
from control_plane.joining import ParticipantSession
from control_plane.keys import AUTHENTICATOR, JOINING

C = TypeVar("C")
D = TypeVar("D")
C_co = TypeVar("C_co", covariant=True)
B = TypeVar("B", bound=BaseModel)

Endpoint = Callable[[web.Request], Awaitable[web.StreamResponse]]
"""What aiohttp calls."""
CallerHandler = Callable[[web.Request, C], Awaitable[web.StreamResponse]]
"""A handler that is given its resolved caller."""
BodyHandler = Callable[[web.Request, C, B], Awaitable[web.StreamResponse]]
"""A handler that is given its resolved caller and its parsed body."""

ARRIVED = web.RequestKey("arrived", float)
"""`time.monotonic()` when the request reached its route, before the caller was resolved
(the connection check times round trips from it, without the database lookup)."""


class Auth(StrEnum):
    NONE = "none"
    OFFICER = "officer"
    PARTICIPANT = "participant"
    LIVEKIT = "livekit"


@dataclass(frozen=True)
class Guard(Generic[C_co]):
    """A route's authentication: the declared kind, and how to resolve the caller from the
    request (raising `Unauthenticated` without valid credentials)."""

    auth: Auth
    resolve: Callable[[web.Request], Awaitable[C_co]]


async def officer(request: web.Request) -> Principal:
    token = bearer_token(request.headers.get("Authorization"))
    return await request.app[AUTHENTICATOR].authenticate(token)


async def participant(request: web.Request) -> ParticipantSession:
    secret = bearer_token(request.headers.get("Authorization"))
    return await request.app[JOINING].session(secret)


OFFICER = Guard(Auth.OFFICER, officer)
PARTICIPANT = Guard(Auth.PARTICIPANT, participant)


def narrowed(guard: Guard[C], narrow: Callable[[web.Request, C], Awaitable[D]]) -> Guard[D]:
    """The same authentication, narrowed to what the caller may reach (e.g. only the victim,
    or the caller's own connection check). It runs before the body is read."""

    async def resolve(request: web.Request) -> D:
        return await narrow(request, await guard.resolve(request))

    return Guard(guard.auth, resolve)


def bind(guard: Guard[C], handler: CallerHandler[C]) -> Endpoint:
    """The handler, called with the caller its guard resolves."""

    async def endpoint(request: web.Request) -> web.StreamResponse:
        request[ARRIVED] = time.monotonic()
        return await handler(request, await guard.resolve(request))

    return endpoint


def bind_body(
    guard: Guard[C], handler: BodyHandler[C, B], model: type[B], *, required: bool
) -> Endpoint:
    """The handler, called with the caller and then the body parsed into `model`. A body that
    is not required may be left out; the model's defaults apply."""

    async def endpoint(request: web.Request) -> web.StreamResponse:
        request[ARRIVED] = time.monotonic()
        caller = await guard.resolve(request)
        body = await parse_body(request, model) if required or request.can_read_body else model()
        return await handler(request, caller, body)

    return endpoint


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    handler: Callable[..., Awaitable[web.StreamResponse]]
    """The handler as written; its name is the operationId."""
    summary: str
    auth: Auth
    endpoint: Endpoint
    """What aiohttp calls: the handler behind its guard and body parsing."""
    body: type[BaseModel] | None = None
    response: str | None = None
    """Name of the response schema in the OpenAPI components."""
    status: int = 200
    tags: tuple[str, ...] = ()
    in_openapi: bool = True
    """False for HTML pages and their assets, which are not part of the API."""
    body_required: bool = True
    """False where the JSON body may be left out and defaults apply."""
    throttled: bool = False
    """Answers 429 with Retry-After once its attempt budget is spent (control_plane.rate_limit)."""


def public(
    method: str,
    path: str,
    handler: Endpoint,
    summary: str,
    *,
    response: str | None = None,
    status: int = 200,
    tags: tuple[str, ...] = (),
    in_openapi: bool = True,
    throttled: bool = False,
) -> Route:
    """A route anyone may call; the handler reads what it needs from the request."""
    return Route(
        method,
        path,
        handler,
        summary,
        Auth.NONE,
        endpoint=handler,
        response=response,
        status=status,
        tags=tags,
        in_openapi=in_openapi,
        throttled=throttled,
    )


@overload
def route(
    method: str,
    path: str,
    handler: CallerHandler[C],
    summary: str,
    auth: Guard[C],
    *,
    response: str | None = None,
    status: int = 200,
    tags: tuple[str, ...] = (),
) -> Route: ...


@overload
def route(
    method: str,
    path: str,
    handler: BodyHandler[C, B],
    summary: str,
    auth: Guard[C],
    *,
    body: type[B],
    body_required: bool = True,
    response: str | None = None,
    status: int = 200,
    tags: tuple[str, ...] = (),
) -> Route: ...


def route(
    method: str,
    path: str,
    handler: Callable[..., Awaitable[web.StreamResponse]],
    summary: str,
    auth: Guard[object],
    *,
    body: type[BaseModel] | None = None,
    body_required: bool = True,
    response: str | None = None,
    status: int = 200,
    tags: tuple[str, ...] = (),
) -> Route:
    """An authenticated route: the handler is given the caller `auth` resolves, then the
    body parsed into `body` if the route has one."""
    endpoint = (
        bind(auth, handler)
        if body is None
        else bind_body(auth, handler, body, required=body_required)
    )
    return Route(
        method,
        path,
        handler,
        summary,
        auth.auth,
        endpoint=endpoint,
        body=body,
        body_required=body_required,
        response=response,
        status=status,
        tags=tags,
    )
