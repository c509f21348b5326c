"""Programme outcomes: is video attendance working for victims?

These gauges are recomputed from the database by every control-plane replica, so replicas
export the same value: they are combined with ``max by``, never summed.
"""

from __future__ import annotations

from grafana_foundation_sdk.models import dashboard as dm

from monitoring import alerts_gen
from monitoring.dashboards.defaults import CONTROL_PLANE, Row, build_dashboard
from monitoring.dashboards.panels import HALF, QUARTER, bar_gauge, single_stat

UID = "evr-programme-outcomes"

_VIDEO = alerts_gen.selector(alerts_gen.CONTROL_PLANE_JOB, 'mode="video"')
_YES = alerts_gen.selector(alerts_gen.CONTROL_PLANE_JOB, 'recommend="yes"')


def _headline() -> Row:
    return Row(
        "Headline",
        [
            single_stat(
                "Visits by video",
                f"max by (job) (evr_programme_visits{_VIDEO})\n/\n"
                f"sum by (job) (max by (job, mode) (evr_programme_visits{CONTROL_PLANE}))",
                legend="video share",
                unit="percentunit",
                width=QUARTER,
            ),
            single_stat(
                "Would recommend",
                f"max by (job) (evr_programme_feedback{_YES})\n/\n"
                f"sum by (job) (max by (job, recommend) "
                f"(evr_programme_feedback{CONTROL_PLANE}))",
                legend="recommend",
                unit="percentunit",
                width=QUARTER,
            ),
            single_stat(
                "Mean satisfaction (1-5)",
                f"max by (job) (evr_programme_satisfaction_sum{CONTROL_PLANE})\n/\n"
                f"max by (job) (evr_programme_satisfaction_count{CONTROL_PLANE})",
                legend="satisfaction",
                width=QUARTER,
                decimals=2,
            ),
            single_stat(
                "Officer journeys avoided",
                f"max by (job) (evr_programme_travel_avoided_total{CONTROL_PLANE})",
                legend="journeys",
                description="Visits done by video: journeys an officer did not drive.",
                width=QUARTER,
                decimals=0,
            ),
        ],
    )


def _breakdown() -> Row:
    return Row(
        "Breakdown",
        [
            bar_gauge(
                "Visits by mode",
                f"max by (mode) (evr_programme_visits{CONTROL_PLANE})",
                "{{mode}}",
                width=HALF,
            ),
            bar_gauge(
                "Outcomes",
                f"max by (outcome) (evr_programme_outcomes{CONTROL_PLANE})",
                "{{outcome}}",
                width=HALF,
            ),
        ],
    )


def build() -> dm.Dashboard:
    """Return the programme outcomes dashboard."""
    return build_dashboard(
        uid=UID,
        title="EVR programme outcomes",
        description="Programme totals from the EVR database: modes, outcomes, feedback.",
        rows=[_headline(), _breakdown()],
        time_from="now-30d",
    )
