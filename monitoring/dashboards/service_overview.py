"""Service overview: API, visits, join funnel, SFU, recording and bandwidth at a glance."""

from __future__ import annotations

from grafana_foundation_sdk.models import dashboard as dm

from monitoring import alerts_gen
from monitoring.dashboards.defaults import CONTROL_PLANE, RATE, RECORDER, SFU, Row, build_dashboard
from monitoring.dashboards.panels import HALF, THIRD, bar_gauge, single_stat, time_series

UID = "evr-service-overview"

_REQ = "evr_http_requests_total"
_BY_DIRECTION = "sum by (instance, direction)"
_ERR = alerts_gen.selector(alerts_gen.CONTROL_PLANE_JOB, 'status=~"5.."')


def _api() -> Row:
    return Row(
        "Control-plane API",
        [
            time_series(
                "API request rate by route",
                [(f"sum by (route) (rate({_REQ}{CONTROL_PLANE}[{RATE}]))", "{{route}}")],
                unit="reqps",
                width=THIRD,
            ),
            time_series(
                "API error rate (5xx) by route",
                [
                    (
                        f"sum by (route) (rate({_REQ}{_ERR}[{RATE}]))\n/\n"
                        f"sum by (route) (rate({_REQ}{CONTROL_PLANE}[{RATE}]))",
                        "{{route}}",
                    )
                ],
                unit="percentunit",
                width=THIRD,
                threshold=1 - alerts_gen.API_AVAILABILITY_SLO,
            ),
            time_series(
                "API p95 latency by route",
                [
                    (
                        "histogram_quantile(0.95, sum by (route, le) "
                        f"(rate(evr_http_request_duration_seconds_bucket{CONTROL_PLANE}[{RATE}])))",
                        "{{route}}",
                    )
                ],
                unit="s",
                width=THIRD,
                threshold=alerts_gen.API_LATENCY_THRESHOLD_SECONDS,
            ),
        ],
    )


def _visits() -> Row:
    return Row(
        "Visits",
        [
            time_series(
                "Visits by state",
                # Every replica recomputes this from the database: combine with max, not sum.
                [(f"max by (state) (evr_visits{CONTROL_PLANE})", "{{state}}")],
                stacked=True,
                width=THIRD,
            ),
            bar_gauge(
                "Join funnel (selected range)",
                f"sum by (step) (increase(evr_join_funnel_total{CONTROL_PLANE}[$__range]))",
                "{{step}}",
                width=THIRD,
            ),
            bar_gauge(
                "Bandwidth verdicts by class (selected range)",
                f"sum by (verdict) (increase(evr_bandwidth_verdicts_total{CONTROL_PLANE}"
                "[$__range]))",
                "{{verdict}}",
                width=THIRD,
            ),
        ],
    )


def _sfu() -> Row:
    return Row(
        "LiveKit SFU",
        [
            time_series(
                "SFU rooms and participants",
                [
                    (f"sum by (instance) (livekit_room_total{SFU})", "rooms {{instance}}"),
                    (
                        f"sum by (instance) (livekit_participant_total{SFU})",
                        "participants {{instance}}",
                    ),
                ],
                width=THIRD,
            ),
            time_series(
                "SFU packet loss",
                [
                    (
                        f"{_BY_DIRECTION} (rate(livekit_packet_loss_total{SFU}[{RATE}]))\n/\n"
                        f"{_BY_DIRECTION} (rate(livekit_packet_total{SFU}[{RATE}]))",
                        "{{direction}} {{instance}}",
                    )
                ],
                unit="percentunit",
                width=THIRD,
                threshold=alerts_gen.SFU_PACKET_LOSS_RATIO,
            ),
            time_series(
                "SFU p95 RTT",
                [
                    (
                        "histogram_quantile(0.95, sum by (instance, le) "
                        f"(rate(livekit_rtt_ms_bucket{SFU}[{RATE}])))",
                        "{{instance}}",
                    )
                ],
                unit="ms",
                width=THIRD,
            ),
            time_series(
                "SFU nodes answering (each control-plane replica's probe)",
                [
                    (
                        f"min by (node) (evr_sfu_node_up{CONTROL_PLANE})",
                        "{{node}}",
                    )
                ],
                width=HALF,
            ),
            single_stat(
                "SFU nodes lost (selected range)",
                f"max by (node) (increase(evr_sfu_node_losses_total{CONTROL_PLANE}[$__range]))",
                legend="{{node}}",
                width=HALF,
                red_at=1,
                decimals=0,
            ),
        ],
    )


def _recording() -> Row:
    return Row(
        "Evidential recording",
        [
            single_stat(
                "Recordings active",
                f"sum by (instance) (evr_recordings_active{RECORDER})",
                width=THIRD,
            ),
            single_stat(
                "Recordings failed (selected range)",
                f"sum by (reason) (increase(evr_recordings_failed_total{RECORDER}[$__range]))",
                legend="{{reason}}",
                width=THIRD,
                red_at=1,
                decimals=0,
            ),
            single_stat(
                "Recordings not secured",
                f"max by (instance) (evr_recordings_not_secured{RECORDER})",
                width=THIRD,
                red_at=1,
            ),
        ],
    )


def build() -> dm.Dashboard:
    """Return the service overview dashboard."""
    return build_dashboard(
        uid=UID,
        title="EVR service overview",
        description="Health of an EVR deployment: API, visits, SFU, recording.",
        rows=[_api(), _visits(), _sfu(), _recording()],
    )


__all__ = ["UID", "build"]
