"""Shared defaults for every EVR dashboard: datasource variable, selectors, layout, encoding."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import dashboard as dm

from monitoring import alerts_gen

#: Name of the datasource template variable; every panel and query refers to it.
DATASOURCE_VARIABLE = "datasource"
DATASOURCE = dm.DataSourceRef(type_val="prometheus", uid=f"${{{DATASOURCE_VARIABLE}}}")

#: Selectors come from the alert generator so dashboards and alerts cannot drift apart.
CONTROL_PLANE = alerts_gen.selector(alerts_gen.CONTROL_PLANE_JOB)
RECORDER = alerts_gen.selector(alerts_gen.RECORDER_JOB)
SFU = alerts_gen.selector(alerts_gen.SFU_JOB)

TAGS = ["evr"]
REFRESH = "1m"
#: Grafana's rate window: at least four scrape intervals, so short ranges still show data.
RATE = "$__rate_interval"

PanelBuilder = cogbuilder.Builder[dm.Panel]


@dataclass(frozen=True)
class Row:
    """A titled row of panels, laid out left to right."""

    title: str
    panels: Sequence[PanelBuilder]


def datasource_variable() -> dash.DatasourceVariable:
    """Return the ``$datasource`` variable: any Prometheus data source the viewer picks."""
    return (
        dash.DatasourceVariable(DATASOURCE_VARIABLE)
        .label("Data source")
        .type("prometheus")
        .current(dm.VariableOption(selected=True, text="default", value="default"))
    )


def build_dashboard(
    *, uid: str, title: str, description: str, rows: Sequence[Row], time_from: str = "now-6h"
) -> dm.Dashboard:
    """Assemble a dashboard with the shared defaults; panel ids are numbered in order."""
    builder = (
        dash.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(TAGS)
        .refresh(REFRESH)
        .time(time_from, "now")
        .timezone("browser")
        .editable()
        .tooltip(dm.DashboardCursorSync.CROSSHAIR)
        .with_variable(datasource_variable())
    )
    panel_id = 0
    for row in rows:
        # Expanded rows: Grafana expects their panels at the top level, after the row.
        panel_id += 1
        builder = builder.with_row(dash.Row(row.title).id(panel_id).collapsed(False))
        for panel in row.panels:
            panel_id += 1
            built = panel.build()
            # Explicit ids keep JSON diffs small and panel deep links stable.
            built.id_val = panel_id
            builder = builder.with_panel(_Built(built))
    return builder.build()


class _Built(cogbuilder.Builder[dm.Panel]):
    """Wraps an already-built panel so it can be handed back to ``Dashboard.with_panel``."""

    def __init__(self, panel: dm.Panel) -> None:
        self._panel = panel

    def build(self) -> dm.Panel:
        return self._panel


def to_json(dashboard: dm.Dashboard) -> str:
    """Encode a dashboard deterministically: sorted keys, two-space indent, final newline."""
    return json.dumps(dashboard, cls=JSONEncoder, sort_keys=True, indent=2) + "\n"
