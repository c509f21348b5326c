"""The recorder's Prometheus registry, its own (served on the recorder's ``/metrics`` port)."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from recorder.states import FAILURE_REASONS


class _ExportsCollector(Collector):
    """``evr_evidence_exports_total`` from the custody chain, read at scrape time.

    Exports happen in whichever process serves the API or the CLI; the chain in the database
    is the one count all of them share, and it only grows.
    """

    def __init__(self) -> None:
        self.value = 0

    def collect(self) -> Any:
        yield CounterMetricFamily(
            "evr_evidence_exports",
            "Evidence disclosure bundles exported (custody 'exported' entries)",
            value=self.value,
        )


class RecorderMetrics:
    """The recorder's own registry (served on its ``/metrics`` port, default 9465)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.active = Gauge("evr_recordings_active", "Statements being recorded here", registry=r)
        self.started = Counter(
            "evr_recordings_started", "Statements this recorder started recording", registry=r
        )
        self.sealed = Counter("evr_recordings_sealed", "Statements sealed", registry=r)
        self.failed = Counter(
            "evr_recordings_failed", "Recording failures by reason", ["reason"], registry=r
        )
        for reason in FAILURE_REASONS:
            self.failed.labels(reason=reason)
        self.fenced = Counter(
            "evr_recorder_fenced",
            "Statements this recorder stopped writing because another took them over "
            "(its claim lapsed while it was stopped or starved)",
            registry=r,
        )
        self.not_secured = Gauge(
            "evr_recordings_not_secured",
            "Statements this recorder knows are not secured (problem, failure, unsealed)",
            registry=r,
        )
        self.lag = Gauge(
            "evr_recorder_lag_seconds", "How far the slowest writer is behind real time", registry=r
        )
        self.video_dropped = Counter(
            "evr_recording_video_frames_dropped",
            "Video frames dropped because the recorder was behind real time (audio never is)",
            registry=r,
        )
        self.bytes_written = Counter(
            "evr_recorder_bytes_written", "Bytes of Master segments written", registry=r
        )
        self.exports = _ExportsCollector()
        r.register(self.exports)
        self.store_free = Gauge(
            "evr_evidence_store_free_bytes", "Free bytes where the store keeps Masters", registry=r
        )
        self.store_size = Gauge(
            "evr_evidence_store_size_bytes", "Size of the filesystem holding the store", registry=r
        )
