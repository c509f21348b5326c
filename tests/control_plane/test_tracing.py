"""Traces of a visit: server spans by route, a span per SFU call, the recording in the same
trace as the request that started it, and trace ids in the JSON logs.

The control plane's spans come from the stack's in-memory exporter; the recorder is another
process, so its spans are sent over OTLP to a receiver in this test, as to a collector.
"""

import asyncio
import io
import json
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest
from livekit import api as lk
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy import select

from control_plane.errors import DependencyUnavailable
from control_plane.keys import ENGINE
from control_plane.metrics import Metrics
from control_plane.sfu import Sfu
from core import schema
from core.logs import JsonFormatter
from core.telemetry import build_tracer_provider, context_from_traceparent, tracer_from
from core.tracing_settings import TracingSettings
from tests.recorder.statement import consent_and_start, open_call, wait_recording
from tests.support.otlp import otlp_receiver
from tests.support.recorder import eventually, start_recorder, stop_recorder
from tests.support.stack import Api


def _server_span(spans: Sequence[ReadableSpan], name: str) -> ReadableSpan:
    found = [s for s in spans if s.name == name and s.kind is trace.SpanKind.SERVER]
    assert found, f"no server span {name!r} in {[s.name for s in spans]}"
    return found[-1]


def _children(spans: Sequence[ReadableSpan], parent: ReadableSpan) -> list[ReadableSpan]:
    return [
        s
        for s in spans
        if s.parent is not None
        and s.parent.span_id == parent.context.span_id
        and s.context.trace_id == parent.context.trace_id
    ]


@contextmanager
def _json_logs() -> Iterator[io.StringIO]:
    """The control plane's JSON log lines while the block runs."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield out
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


async def test_server_spans_are_named_by_route_never_by_raw_path(api: Api) -> None:
    spans = api.stack.spans
    visit = await api.new_visit()
    link = await api.ok(
        "POST", f"/api/v1/visits/{visit['id']}/links", who="alice", json={}, expect=201
    )
    code = link["url"].rsplit("/", 1)[1]
    spans.clear()
    await api.ok("GET", f"/api/v1/visits/{visit['id']}", who="alice")
    await api.ok("POST", f"/api/v1/join/{code}", expect=201)
    status, _ = await api.call("GET", "/api/v1/no-such-thing")
    assert status == 404

    get, join, unmatched = spans.get_finished_spans()[-3:]
    assert get.name == "GET /api/v1/visits/{visit_id}"
    assert join.name == "POST /api/v1/join/{code}"
    assert unmatched.name == "GET"
    assert get.attributes is not None
    assert get.attributes["http.route"] == "/api/v1/visits/{visit_id}"
    assert get.attributes["http.response.status_code"] == 200
    assert join.attributes is not None
    assert join.attributes["http.response.status_code"] == 201
    # The join code is a secret and visit ids are personal data's keys: neither is recorded.
    for span in (get, join, unmatched):
        text = json.dumps(dict(span.attributes or {}))
        assert code not in text
        assert visit["id"] not in text


async def test_a_callers_traceparent_is_continued(api: Api) -> None:
    caller_trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    header = f"00-{caller_trace}-00f067aa0ba902b7-01"
    await api.ok("GET", "/api/v1/me", who="alice", headers={"traceparent": header})
    span = _server_span(api.stack.spans.get_finished_spans(), "GET /api/v1/me")
    assert trace.format_trace_id(span.context.trace_id) == caller_trace
    assert span.parent is not None
    assert trace.format_span_id(span.parent.span_id) == "00f067aa0ba902b7"


async def test_starting_a_visit_and_its_sfu_call_share_a_trace(api: Api) -> None:
    visit = await api.eligible_visit()
    await api.ok("POST", f"/api/v1/visits/{visit['id']}/start", who="alice")
    spans = api.stack.spans.get_finished_spans()
    request = _server_span(spans, "POST /api/v1/visits/{visit_id}/start")
    (create_room,) = [
        s for s in _children(spans, request) if s.name == "livekit.RoomService/CreateRoom"
    ]
    assert create_room.kind is trace.SpanKind.CLIENT
    assert create_room.attributes is not None
    assert create_room.attributes["rpc.system"] == "twirp"
    assert create_room.status.is_ok


async def test_a_call_the_sfu_refuses_is_an_error_span(api: Api) -> None:
    sfu = api.stack.sfu
    exporter = InMemorySpanExporter()
    provider = build_tracer_provider(TracingSettings(), service_name="t", exporter=exporter)
    stale = lk.LiveKitAPI(sfu.url, sfu.api_key, "stale" * 10, session=api.session)
    with pytest.raises(DependencyUnavailable):
        await Sfu(stale, Metrics(), tracer=tracer_from(provider)).ping()
    (span,) = exporter.get_finished_spans()
    assert span.name == "livekit.RoomService/ListRooms"
    assert span.status.status_code is trace.StatusCode.ERROR
    assert span.attributes is not None
    assert span.attributes["http.response.status_code"] == 401
    assert span.status.description == "HTTP 401 (unknown)"
    provider.shutdown()


async def test_the_recording_continues_the_trace_of_the_request_that_started_it(
    api: Api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with otlp_receiver() as receiver:
        # The recorder is configured as an SRE would: by the standard OTEL_* variables.
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", receiver.endpoint)
        recorder = await asyncio.to_thread(
            start_recorder, api.stack, tmp_path, name="recorder-traced"
        )
        try:
            call = await open_call(api)
            try:
                with _json_logs() as logs:
                    await consent_and_start(api, call)
                await wait_recording(api, call.visit_id, status="recording")
                await wait_recording(api, call.visit_id, status="recording", secured=True)

                # Secured can come before the first video frame (audio and the placeholder
                # picture are enough), and the first-frame span is made only when one comes.
                async def first_frame() -> bool:
                    return bool(recorder.logged("first frame recorded", call.visit_id))

                await eventually(first_frame, timeout=30)
                await api.ok(
                    "POST",
                    f"/api/v1/visits/{call.visit_id}/recording/stop",
                    who="alice",
                    expect=202,
                )
                await wait_recording(api, call.visit_id, status="sealed")
            finally:
                await call.close()
        finally:
            # A graceful stop flushes its spans, to the receiver on this loop: keep it free.
            await asyncio.to_thread(stop_recorder, recorder)

    spans = api.stack.spans.get_finished_spans()
    request = _server_span(spans, "POST /api/v1/visits/{visit_id}/recording/start")
    trace_id = trace.format_trace_id(request.context.trace_id)
    request_span_id = trace.format_span_id(request.context.span_id)

    # The API request's own SFU calls are its children.
    sfu_calls = {s.name for s in _children(spans, request)}
    assert "livekit.RoomService/UpdateRoomMetadata" in sfu_calls

    # The job row carries the request's trace context to the recorder...
    r = schema.recordings
    async with api.stack.app[ENGINE].connect() as conn:
        stored = await conn.scalar(select(r.c.traceparent).where(r.c.visit_id == call.visit_id))
    parent = context_from_traceparent(stored)
    assert parent is not None
    assert trace.get_current_span(parent).get_span_context().span_id == request.context.span_id

    # ...which continues the trace: start, first frame, each segment, seal.
    # This visit's spans: the recorder may also pick up jobs other tests left behind.
    recording = [
        s
        for s in receiver.spans
        if s.name.startswith("recording ")
        and s.attributes.get("evr.visit_id") in (None, call.visit_id)
    ]
    assert {s.service for s in recording} == {"evr-recorder"}
    names = [s.name for s in recording]
    for name in ("recording start", "recording first frame", "recording segment", "recording seal"):
        assert name in names, names
    for span in recording:
        assert span.trace_id == trace_id, span
        assert span.parent_span_id == request_span_id, span
        assert not span.error, span

    # And the log lines of both processes carry the same trace id.
    lines = [json.loads(line) for line in logs.getvalue().splitlines()]
    requested = [line for line in lines if line["msg"] == "statement recording requested"]
    assert [line["trace_id"] for line in requested] == [trace_id]
    joined = recorder.logged("recorder joined the room", call.visit_id)
    assert [line["trace_id"] for line in joined] == [trace_id]
