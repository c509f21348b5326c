"""Grafana dashboards as code (grafana-foundation-sdk).

``python -m monitoring.dashboards`` writes ``json/<uid>.json``; a test regenerates and compares.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path

from grafana_foundation_sdk.models import dashboard as dm

from monitoring.dashboards import (
    evidential_recording,
    hosts,
    programme_outcomes,
    service_overview,
)
from monitoring.dashboards.defaults import to_json

JSON_DIR = Path(__file__).resolve().parent / "json"

#: Every dashboard by uid. The uids are part of the contract: links and imports depend on them.
DASHBOARDS: Mapping[str, Callable[[], dm.Dashboard]] = {
    service_overview.UID: service_overview.build,
    evidential_recording.UID: evidential_recording.build,
    programme_outcomes.UID: programme_outcomes.build,
    hosts.UID: hosts.build,
}

#: Values for Grafana's macros when a query is sent straight to Prometheus.
DEFAULT_MACROS: Mapping[str, str] = {"$__rate_interval": "1m", "$__range": "1h"}


def render_all() -> dict[str, str]:
    """Return ``{uid: JSON text}`` for every dashboard; the text is deterministic."""
    return {uid: to_json(build()) for uid, build in DASHBOARDS.items()}


def all_panel_queries() -> list[tuple[str, str, str]]:
    """Return ``(dashboard_uid, panel_title, expr)`` for every query of every panel.

    Expressions still hold Grafana macros; see :func:`expand_macros` to run them directly.
    """
    out: list[tuple[str, str, str]] = []
    for uid, build in DASHBOARDS.items():
        for panel in _panels(build()):
            for target in panel.targets or []:
                expr = getattr(target, "expr", None)
                if isinstance(expr, str):
                    out.append((uid, panel.title or "", expr))
    return out


def expand_macros(expr: str, macros: Mapping[str, str] = DEFAULT_MACROS) -> str:
    """Replace Grafana's ``$__`` macros so ``expr`` can be sent to Prometheus itself."""
    pattern = "|".join(re.escape(name) for name in sorted(macros, key=len, reverse=True))
    return re.sub(pattern, lambda m: macros[m.group(0)], expr)


def _panels(dashboard: dm.Dashboard) -> list[dm.Panel]:
    panels: list[dm.Panel] = []
    for item in dashboard.panels or []:
        if isinstance(item, dm.RowPanel):
            panels.extend(p for p in item.panels if isinstance(p, dm.Panel))
        elif isinstance(item, dm.Panel):
            panels.append(item)
    return panels
