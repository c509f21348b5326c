"""Typed application state: one `web.AppKey` per resource, set by the cleanup contexts."""

import aiohttp
from aiohttp import web
from livekit import api
from opentelemetry.trace import Tracer
from sqlalchemy.ext.asyncio import AsyncEngine

from control_plane.auth import Authenticator
from control_plane.joining import Joining
from control_plane.journey import Journey
from control_plane.metrics import Metrics
from control_plane.programme import Programme
from control_plane.rate_limit import FailureWindow
from control_plane.recordings import RecordingService
from control_plane.sfu import Sfu
from control_plane.sfu_events import SfuEvents
from control_plane.visits import VisitService
from core.settings import Settings

SETTINGS = web.AppKey("settings", Settings)
METRICS = web.AppKey("metrics", Metrics)
ENGINE = web.AppKey("engine", AsyncEngine)
HTTP = web.AppKey("http", aiohttp.ClientSession)
SFU = web.AppKey("sfu", Sfu)
AUTHENTICATOR = web.AppKey("authenticator", Authenticator)
VISITS = web.AppKey("visits", VisitService)
JOINING = web.AppKey("joining", Joining)
JOURNEY = web.AppKey("journey", Journey)
SFU_EVENTS = web.AppKey("sfu_events", SfuEvents)
WEBHOOK_RECEIVER = web.AppKey("webhook_receiver", api.WebhookReceiver)
OPENAPI = web.AppKey("openapi", dict)
TRACER = web.AppKey("tracer", Tracer)
PROGRAMME = web.AppKey("programme", Programme)
RECORDINGS = web.AppKey("recordings", RecordingService)
JOIN_FAILURES = web.AppKey("join_failures", FailureWindow)
MANAGEMENT_URL = web.AppKey("management_url", str)
"""Where the management listener (/metrics) is, once it started."""
