"""Evidential recording: are statements being recorded, sealed and kept safe?"""

from __future__ import annotations

from grafana_foundation_sdk.models import dashboard as dm

from monitoring import alerts_gen
from monitoring.dashboards.defaults import RATE, RECORDER, Row, build_dashboard
from monitoring.dashboards.panels import HALF, QUARTER, THIRD, single_stat, time_series

UID = "evr-evidential-recording"


def _status() -> Row:
    return Row(
        "Now",
        [
            single_stat(
                "Recordings active",
                f"sum by (instance) (evr_recordings_active{RECORDER})",
                width=THIRD,
            ),
            single_stat(
                "Recordings not secured",
                f"max by (instance) (evr_recordings_not_secured{RECORDER})",
                description="Statements recorded but not sealed. Anything above 0 is an emergency.",
                width=THIRD,
                red_at=1,
            ),
            single_stat(
                "Evidence exports (selected range)",
                f"sum by (instance) (increase(evr_evidence_exports_total{RECORDER}[$__range]))",
                width=THIRD,
                decimals=0,
            ),
        ],
    )


def _throughput() -> Row:
    return Row(
        "Recordings",
        [
            time_series(
                "Recordings started and sealed per hour",
                [
                    (
                        f"sum by (instance) (rate(evr_recordings_started_total{RECORDER}[{RATE}]))"
                        " * 3600",
                        "started {{instance}}",
                    ),
                    (
                        f"sum by (instance) (rate(evr_recordings_sealed_total{RECORDER}[{RATE}]))"
                        " * 3600",
                        "sealed {{instance}}",
                    ),
                ],
                width=HALF,
            ),
            time_series(
                "Recordings failed by reason",
                [
                    (
                        "sum by (instance, reason) "
                        f"(increase(evr_recordings_failed_total{RECORDER}[{RATE}]))",
                        "{{reason}} {{instance}}",
                    )
                ],
                width=HALF,
                bars=True,
            ),
        ],
    )


def _writer() -> Row:
    return Row(
        "Writer and evidence store",
        [
            time_series(
                "Recorder lag",
                [(f"max by (instance) (evr_recorder_lag_seconds{RECORDER})", "{{instance}}")],
                unit="s",
                width=QUARTER,
                threshold=alerts_gen.RECORDER_LAG_SECONDS,
            ),
            time_series(
                # A writer behind real time drops video (never audio): less movement recorded.
                "Video frames dropped (recorder behind)",
                [
                    (
                        "sum by (instance) "
                        f"(increase(evr_recording_video_frames_dropped_total{RECORDER}[{RATE}]))",
                        "{{instance}}",
                    )
                ],
                width=QUARTER,
                bars=True,
            ),
            time_series(
                "Bytes written",
                [
                    (
                        "sum by (instance) "
                        f"(rate(evr_recorder_bytes_written_total{RECORDER}[{RATE}]))",
                        "{{instance}}",
                    )
                ],
                unit="Bps",
                width=QUARTER,
            ),
            time_series(
                "Evidence store free",
                [
                    (
                        f"evr_evidence_store_free_bytes{RECORDER}\n/\n"
                        f"evr_evidence_store_size_bytes{RECORDER}",
                        "{{instance}}",
                    )
                ],
                unit="percentunit",
                width=QUARTER,
                threshold=alerts_gen.EVIDENCE_STORE_FREE_RATIO_CRITICAL,
            ),
        ],
    )


def build() -> dm.Dashboard:
    """Return the evidential recording dashboard."""
    return build_dashboard(
        uid=UID,
        title="EVR evidential recording",
        description="Recorder health and the evidence store: started, sealed, failed, secured.",
        rows=[_status(), _throughput(), _writer()],
    )
