"""A minimal OTLP/HTTP trace receiver on loopback: what a collector would get from a process.

Used where the spans come from another process (the recorder), or to prove the OTLP exporter
really sends: it decodes each `ExportTraceServiceRequest` with the OTLP protobuf definitions.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

TRACES_PATH = "/v1/traces"


@dataclass(frozen=True)
class ReceivedSpan:
    service: str
    name: str
    trace_id: str
    span_id: str
    parent_span_id: str
    attributes: dict[str, object]
    error: bool


@dataclass
class OtlpReceiver:
    endpoint: str
    spans: list[ReceivedSpan] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)


def _value(value: AnyValue) -> object:
    kind = value.WhichOneof("value")
    return getattr(value, kind) if kind else None


def _decode(body: bytes) -> list[ReceivedSpan]:
    request = ExportTraceServiceRequest.FromString(body)
    out = []
    for resource_spans in request.resource_spans:
        resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                out.append(
                    ReceivedSpan(
                        service=str(resource.get("service.name")),
                        name=span.name,
                        trace_id=span.trace_id.hex(),
                        span_id=span.span_id.hex(),
                        parent_span_id=span.parent_span_id.hex(),
                        attributes={a.key: _value(a.value) for a in span.attributes},
                        error=span.status.code == span.status.STATUS_CODE_ERROR,
                    )
                )
    return out


@contextlib.asynccontextmanager
async def otlp_receiver(host: str = "127.0.0.1") -> AsyncIterator[OtlpReceiver]:
    """Serve `POST /v1/traces` on `host` (a free port) for the duration of the block."""
    receiver = OtlpReceiver(endpoint="")

    async def traces(request: web.Request) -> web.Response:
        receiver.headers.append(dict(request.headers))
        receiver.spans.extend(_decode(await request.read()))
        return web.Response(
            body=ExportTraceServiceResponse().SerializeToString(),
            content_type="application/x-protobuf",
        )

    app = web.Application()
    app.router.add_post(TRACES_PATH, traces)
    runner = web.AppRunner(app)
    await runner.setup()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((host, 0))
    port = sock.getsockname()[1]
    try:
        await web.SockSite(runner, sock).start()
        receiver.endpoint = f"http://{host}:{port}{TRACES_PATH}"
        yield receiver
    finally:
        await runner.cleanup()
