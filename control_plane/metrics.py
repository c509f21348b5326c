"""Prometheus metrics of the control plane, in a registry owned by the app (no globals).

Labels stay low-cardinality: route templates, states, roles, never ids or raw paths.
"""

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from control_plane.domain import VisitState

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.http_requests = Counter(
            "evr_http_requests",
            "API requests by route template",
            ["method", "route", "status"],
            registry=r,
        )
        self.http_duration = Histogram(
            "evr_http_request_duration_seconds",
            "API latency by route template",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.visits = Gauge("evr_visits", "Visits by state", ["state"], registry=r)
        self.join_funnel = Counter(
            "evr_join_funnel",
            "Victims reaching each step of the join funnel",
            ["step"],
            registry=r,
        )
        self.tokens_issued = Counter(
            "evr_tokens_issued", "LiveKit tokens issued by role", ["role"], registry=r
        )
        self.webhooks_received = Counter(
            "evr_webhooks_received", "LiveKit webhooks accepted, by event", ["event"], registry=r
        )
        self.webhook_failures = Counter(
            "evr_webhook_failures",
            "LiveKit webhooks refused or not applied",
            ["reason"],
            registry=r,
        )
        self.webhook_lag = Histogram(
            "evr_webhook_lag_seconds",
            "Delay from the SFU creating an event to its receipt",
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30),
            registry=r,
        )
        self.sfu_api_requests = Counter(
            "evr_sfu_api_requests",
            "Calls to LiveKit's server API",
            ["call", "outcome"],
            registry=r,
        )
        self.sfu_reachable = Gauge(
            "evr_sfu_reachable", "1 when the last SFU call succeeded", registry=r
        )
        for state in VisitState:
            self.visits.labels(state=state.value)
