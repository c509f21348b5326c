"""Tracing: the tracer provider, trace-context hand-over, and recording lifecycle spans.

The provider belongs to whoever builds it (the control plane's cleanup context, the
recorder's main); nothing here sets OpenTelemetry's global provider, so tests can run many
apps in one process. Code that makes spans is handed a `Tracer`.

A recording outlives the request that asked for it and runs in another process, so the
request's W3C `traceparent` is stored with the recording job (`current_traceparent`) and
the recorder continues that trace with `RecordingSpans`.
"""

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    ALWAYS_ON,
    ParentBased,
    Sampler,
    TraceIdRatioBased,
)
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from core import __version__
from core.tracing_settings import TracingSettings

INSTRUMENTATION = "evr"
_PROPAGATOR = TraceContextTextMapPropagator()


def _sampler(settings: TracingSettings) -> Sampler:
    root: Sampler
    base = settings.sampler.removeprefix("parentbased_")
    if base == "always_on":
        root = ALWAYS_ON
    elif base == "always_off":
        root = ALWAYS_OFF
    else:
        root = TraceIdRatioBased(settings.sampler_ratio)
    return ParentBased(root) if settings.sampler.startswith("parentbased_") else root


def _otlp(settings: TracingSettings) -> OTLPSpanExporter:
    # Every option is passed explicitly: the exporter would otherwise read OTEL_* itself.
    def path(p: object) -> str | None:
        return str(p) if p is not None else None

    compression = {
        None: Compression.NoCompression,
        "gzip": Compression.Gzip,
        "deflate": Compression.Deflate,
    }[settings.compression]
    return OTLPSpanExporter(
        endpoint=settings.endpoint,
        certificate_file=path(settings.certificate_file),
        client_key_file=path(settings.client_key_file),
        client_certificate_file=path(settings.client_certificate_file),
        headers=dict(settings.headers),
        timeout=settings.timeout,
        compression=compression,
    )


def build_tracer_provider(
    settings: TracingSettings, *, service_name: str, exporter: SpanExporter | None = None
) -> TracerProvider:
    """A provider for one process. OTLP export only if `settings` ask for it.

    `exporter` is an extra exporter fed synchronously as each span ends (tests pass
    `InMemorySpanExporter`). The caller owns the provider and must `shutdown()` it, which
    flushes spans still queued for OTLP.
    """
    attributes: dict[str, str] = {"service.version": __version__}
    attributes.update(settings.resource_attributes)
    attributes[SERVICE_NAME] = settings.service_name or service_name
    provider = TracerProvider(resource=Resource(attributes), sampler=_sampler(settings))
    if settings.exporter == "otlp":
        provider.add_span_processor(BatchSpanProcessor(_otlp(settings)))
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider


def tracer_from(provider: TracerProvider) -> Tracer:
    return provider.get_tracer(INSTRUMENTATION, __version__)


def current_traceparent() -> str | None:
    """The W3C `traceparent` of the current span, to store with work done elsewhere."""
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return carrier.get("traceparent")


def context_from_traceparent(traceparent: str | None) -> Context | None:
    """The remote parent context for a stored `traceparent`; None if absent or malformed."""
    if not traceparent:
        return None
    ctx = _PROPAGATOR.extract({"traceparent": traceparent})
    return ctx if trace.get_current_span(ctx).get_span_context().is_valid else None


def context_from_headers(headers: Mapping[str, str]) -> Context | None:
    """The caller's trace context from incoming `traceparent`/`tracestate` headers, if any."""
    ctx = _PROPAGATOR.extract(headers)
    return ctx if trace.get_current_span(ctx).get_span_context().is_valid else None


def _ns(at: datetime) -> int:
    return int(at.timestamp() * 1_000_000_000)


class RecordingSpans:
    """Spans of one recording's lifecycle, in the trace of the request that asked for it.

    For the recorder, which makes one per recording job it claims:

        spans = RecordingSpans(tracer, recording_id=job.id, visit_id=job.visit_id,
                               traceparent=job.traceparent)
        with spans.start():            # claim, join the room, subscribe
            ...
        spans.first_frame("video")     # on the first decoded frame of a kind
        spans.segment(index, opened_at=..., sha256=..., size=...)  # as each segment closes
        with spans.seal():             # manifest, signature, upload
            ...
        spans.failed("disk_full", exc) # instead, when the recording fails

    Every span is a child of the stored context, so with a `traceparent` they join the
    visit's trace; without one each starts a trace of its own. Methods may be called from
    any thread.
    """

    def __init__(
        self, tracer: Tracer, *, recording_id: str, visit_id: str, traceparent: str | None
    ) -> None:
        self._tracer = tracer
        self._parent = context_from_traceparent(traceparent)
        self._attributes = {"evr.recording_id": recording_id, "evr.visit_id": visit_id}
        self._joined_ns: int | None = None
        self._first_frames: set[str] = set()

    @contextmanager
    def _span(self, name: str, **attributes: str | int) -> Iterator[Span]:
        with self._tracer.start_as_current_span(
            name,
            context=self._parent,
            kind=SpanKind.INTERNAL,
            attributes={**self._attributes, **attributes},
        ) as span:
            yield span

    @contextmanager
    def start(self) -> Iterator[Span]:
        """Around joining the room until subscribed; an exception marks the span failed."""
        with self._span("recording start") as span:
            yield span
        self._joined_ns = time.time_ns()

    def first_frame(self, kind: str) -> None:
        """Once per media kind: a span from joining the room to the first frame of `kind`."""
        if kind in self._first_frames:
            return
        self._first_frames.add(kind)
        span = self._tracer.start_span(
            "recording first frame",
            context=self._parent,
            attributes={**self._attributes, "evr.media_kind": kind},
            start_time=self._joined_ns,
        )
        span.end()

    def segment(self, index: int, *, opened_at: datetime, sha256: str, size: int) -> None:
        """A span per closed segment: from when it was opened until it was hashed and closed."""
        span = self._tracer.start_span(
            "recording segment",
            context=self._parent,
            attributes={
                **self._attributes,
                "evr.segment_index": index,
                "evr.segment_sha256": sha256,
                "evr.segment_bytes": size,
            },
            start_time=_ns(opened_at),
        )
        span.end()

    @contextmanager
    def seal(self) -> Iterator[Span]:
        """Around sealing: manifest, signature and the write to the evidence store."""
        with self._span("recording seal") as span:
            yield span

    def failed(self, reason: str, error: BaseException | None = None) -> None:
        """A span marking the recording failed, with the reason counted in the metrics."""
        span = self._tracer.start_span(
            "recording failed",
            context=self._parent,
            attributes={**self._attributes, "evr.failure_reason": reason},
        )
        if error is not None:
            span.record_exception(error)
        span.set_status(Status(StatusCode.ERROR, reason))
        span.end()
