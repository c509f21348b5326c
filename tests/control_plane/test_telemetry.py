"""The tracer provider, OTLP export (off by default), trace ids in logs, recording spans."""

import asyncio
import io
import json
import logging
from datetime import UTC, datetime, timedelta

from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from core.logs import JsonFormatter
from core.telemetry import (
    RecordingSpans,
    build_tracer_provider,
    context_from_traceparent,
    current_traceparent,
    tracer_from,
)
from core.tracing_settings import TracingSettings
from tests.support.otlp import otlp_receiver


async def test_spans_are_sent_over_otlp_when_configured() -> None:
    async with otlp_receiver() as receiver:
        settings = TracingSettings(
            exporter="otlp",
            endpoint=receiver.endpoint,
            headers=(("x-tenant", "evr"),),
            resource_attributes=(("deployment.environment", "test"),),
        )
        provider = build_tracer_provider(settings, service_name="evr-control-plane")
        with tracer_from(provider).start_as_current_span("GET /healthz") as span:
            trace_id = trace.format_trace_id(span.get_span_context().trace_id)
        # Shutting down flushes the batch; it blocks, and the receiver runs on this loop.
        await asyncio.to_thread(provider.shutdown)
    (received,) = receiver.spans
    assert (received.service, received.name, received.trace_id) == (
        "evr-control-plane",
        "GET /healthz",
        trace_id,
    )
    assert receiver.headers[0]["x-tenant"] == "evr"
    assert receiver.headers[0]["Content-Type"] == "application/x-protobuf"


async def test_nothing_is_sent_unless_an_exporter_is_chosen() -> None:
    async with otlp_receiver() as receiver:
        # The endpoint alone in settings (not from the environment) does not switch it on.
        provider = build_tracer_provider(
            TracingSettings(endpoint=receiver.endpoint), service_name="evr-control-plane"
        )
        with tracer_from(provider).start_as_current_span("GET /healthz") as span:
            assert span.get_span_context().is_valid  # spans exist, for the logs' trace ids
        await asyncio.to_thread(provider.shutdown)
    assert receiver.headers == []


def test_service_name_from_settings_wins() -> None:
    exporter = InMemorySpanExporter()
    provider = build_tracer_provider(
        TracingSettings(service_name="evr-cp-east"),
        service_name="evr-control-plane",
        exporter=exporter,
    )
    with tracer_from(provider).start_as_current_span("x"):
        pass
    (span,) = exporter.get_finished_spans()
    assert span.resource.attributes["service.name"] == "evr-cp-east"
    provider.shutdown()


def _json_line(logger: logging.Logger, message: str) -> dict[str, object]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter())
    logger.addHandler(handler)
    try:
        logger.warning(message, extra={"visit_id": "v-1"})
    finally:
        logger.removeHandler(handler)
    line: dict[str, object] = json.loads(out.getvalue())
    return line


def test_json_log_lines_carry_the_current_trace_and_span_ids() -> None:
    provider = build_tracer_provider(TracingSettings(), service_name="evr-control-plane")
    logger = logging.getLogger("tests.telemetry")
    with tracer_from(provider).start_as_current_span("POST /api/v1/visits") as span:
        inside = _json_line(logger, "inside")
    outside = _json_line(logger, "outside")
    ctx = span.get_span_context()
    assert inside["trace_id"] == trace.format_trace_id(ctx.trace_id)
    assert inside["span_id"] == trace.format_span_id(ctx.span_id)
    assert inside["visit_id"] == "v-1"
    assert "trace_id" not in outside
    assert "span_id" not in outside
    provider.shutdown()


def test_recording_spans_continue_the_stored_trace() -> None:
    exporter = InMemorySpanExporter()
    provider = build_tracer_provider(TracingSettings(), service_name="t", exporter=exporter)
    tracer = tracer_from(provider)
    with tracer.start_as_current_span("POST /api/v1/visits/{visit_id}/recording/start") as request:
        stored = current_traceparent()
    assert stored is not None
    assert context_from_traceparent(stored) is not None

    spans = RecordingSpans(tracer, recording_id="rec-1", visit_id="v-1", traceparent=stored)
    with spans.start():
        pass
    spans.first_frame("video")
    spans.first_frame("video")  # only the first one counts
    opened = datetime.now(UTC) - timedelta(seconds=30)
    spans.segment(1, opened_at=opened, sha256="ab" * 32, size=1234)
    with spans.seal():
        pass
    spans.failed("seal_failed", OSError("disk"))

    finished = [s for s in exporter.get_finished_spans() if s.name.startswith("recording")]
    assert [s.name for s in finished] == [
        "recording start",
        "recording first frame",
        "recording segment",
        "recording seal",
        "recording failed",
    ]
    req = request.get_span_context()
    for span in finished:
        assert span.context.trace_id == req.trace_id, span.name
        assert span.parent is not None
        assert span.parent.span_id == req.span_id, span.name
        assert span.attributes is not None
        assert span.attributes["evr.recording_id"] == "rec-1"
    segment = finished[2]
    assert segment.start_time == int(opened.timestamp() * 1e9)
    assert segment.attributes is not None
    assert segment.attributes["evr.segment_index"] == 1
    assert finished[-1].status.status_code is trace.StatusCode.ERROR
    provider.shutdown()


def test_without_a_stored_trace_the_recording_starts_its_own() -> None:
    exporter = InMemorySpanExporter()
    provider = build_tracer_provider(TracingSettings(), service_name="t", exporter=exporter)
    for stored in (None, "", "00-not-a-trace-01"):
        assert context_from_traceparent(stored) is None
        spans = RecordingSpans(
            tracer_from(provider), recording_id="r", visit_id="v", traceparent=stored
        )
        with spans.seal():
            pass
    assert all(s.parent is None for s in exporter.get_finished_spans())
    provider.shutdown()
