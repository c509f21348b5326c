"""Prometheus metrics of the control plane, in a registry owned by the app (no globals).

Labels stay low-cardinality: route templates, states, roles, never ids or raw paths.
"""

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from control_plane.safeguarding import AlertKind
from core.domain import VisitState

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Around the connection check's thresholds (100, 700, 1150, 2300 kbps).
KBPS_BUCKETS = (50, 100, 300, 700, 1150, 1700, 2300, 5000, 10000, 30000)


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
        self.join_throttled = Counter(
            "evr_join_code_throttled",
            "Join-code attempts refused with 429, by the budget that was spent",
            ["scope"],
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
        # Labelled by the node's configured API URL (livekit.api_urls): a handful at most.
        self.sfu_node_failures = Counter(
            "evr_sfu_node_failures",
            "LiveKit API calls that could not reach a node (refused, reset, timed out)",
            ["node"],
            registry=r,
        )
        self.sfu_node_up = Gauge(
            "evr_sfu_node_up",
            "1 while the node's HTTP port answers the control plane's probe",
            ["node"],
            registry=r,
        )
        self.sfu_node_losses = Counter(
            "evr_sfu_node_losses",
            "Times a node that had answered stopped answering the probe",
            ["node"],
            registry=r,
        )
        self.audit_checkpoint_time = Gauge(
            "evr_audit_checkpoint_timestamp_seconds",
            "When the leader last wrote a signed checkpoint of the audit and custody chains",
            registry=r,
        )
        self.audit_checkpoint_failures = Counter(
            "evr_audit_checkpoint_failures",
            "Signed checkpoints of the audit and custody chains that could not be written",
            registry=r,
        )
        self.leader = Gauge(
            "evr_leader", "1 while this replica runs the cluster's periodic jobs", registry=r
        )
        self.sfu_rooms_recreated = Counter(
            "evr_sfu_rooms_recreated",
            "Open visits' rooms created again because the SFU had lost them (restart, node loss)",
            registry=r,
        )
        # Every reason from the start, so the first failure is an increase the alert sees.
        for reason in ("bad_signature", "malformed", "apply_error"):
            self.webhook_failures.labels(reason=reason)
        # Programme outcomes: recomputed from the database at each scrape (so they survive
        # restarts and every replica reports the same figure; dashboards use max by).
        self.programme_visits = Gauge(
            "evr_programme_visits",
            "Visits completed by video (the victim joined), or chosen in person",
            ["mode"],
            registry=r,
        )
        self.programme_outcomes = Gauge(
            "evr_programme_outcomes",
            "Visits with each outcome recorded by the officer",
            ["outcome"],
            registry=r,
        )
        self.programme_feedback = Gauge(
            "evr_programme_feedback",
            "Victims' answers to 'would you recommend it'",
            ["recommend"],
            registry=r,
        )
        self.programme_satisfaction_sum = Gauge(
            "evr_programme_satisfaction_sum", "Sum of victims' satisfaction (1-5)", registry=r
        )
        self.programme_satisfaction_count = Gauge(
            "evr_programme_satisfaction_count", "Victims who rated their satisfaction", registry=r
        )
        self.programme_travel_avoided = Gauge(
            "evr_programme_travel_avoided_total",
            "Officer journeys not driven: visits completed by video",
            registry=r,
        )
        self.bandwidth_verdicts = Counter(
            "evr_bandwidth_verdicts", "Connection-check verdicts", ["verdict"], registry=r
        )
        self.bandwidth_uplink = Histogram(
            "evr_bandwidth_uplink_kbps",
            "Uplink measured by the server in connection checks",
            buckets=KBPS_BUCKETS,
            registry=r,
        )
        self.bandwidth_downlink = Histogram(
            "evr_bandwidth_downlink_kbps",
            "Downlink measured by the server in connection checks",
            buckets=KBPS_BUCKETS,
            registry=r,
        )
        self.bandwidth_rtt = Histogram(
            "evr_bandwidth_rtt_ms",
            "Median round-trip time measured by the server in connection checks",
            buckets=(10, 25, 50, 100, 150, 200, 300, 500, 800, 1500),
            registry=r,
        )
        self.safeguarding_alerts = Counter(
            "evr_safeguarding_alerts",
            "Safeguarding alerts raised from the victim's page (control_plane/safeguarding.py)",
            ["kind"],
            registry=r,
        )
        for kind in AlertKind:
            self.safeguarding_alerts.labels(kind=kind.value)
        for verdict in ("hd", "sd", "audio_only", "insufficient"):
            self.bandwidth_verdicts.labels(verdict=verdict)
        for state in VisitState:
            self.visits.labels(state=state.value)
