"""One small builder function per panel kind, each wired to ``$datasource``."""

from __future__ import annotations

from collections.abc import Sequence

from grafana_foundation_sdk.builders import bargauge, common, prometheus, stat, timeseries
from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.models import common as cm
from grafana_foundation_sdk.models import dashboard as dm

from monitoring.dashboards.defaults import DATASOURCE

#: (PromQL, legend) pairs; a panel may draw several queries.
Query = tuple[str, str]

HEIGHT = 8
FULL, HALF, THIRD, QUARTER = 24, 12, 8, 6


def query(expr: str, legend: str, *, ref_id: str, instant: bool = False) -> prometheus.Dataquery:
    """Return a Prometheus query against ``$datasource``."""
    q = (
        prometheus.Dataquery()
        .expr(expr)
        .legend_format(legend)
        .ref_id(ref_id)
        .datasource(DATASOURCE)
    )
    return q.instant() if instant else q.range()


def _ref_id(index: int) -> str:
    return chr(ord("A") + index)


def thresholds(*steps: tuple[float | None, str]) -> dash.ThresholdsConfig:
    """Return absolute thresholds; the first step's value is None (the base colour)."""
    return (
        dash.ThresholdsConfig()
        .mode(dm.ThresholdsMode.ABSOLUTE)
        .steps([dm.Threshold(value=value, color=color) for value, color in steps])
    )


def time_series(
    title: str,
    queries: Sequence[Query],
    *,
    unit: str = "short",
    description: str = "",
    width: int = HALF,
    stacked: bool = False,
    bars: bool = False,
    threshold: float | None = None,
) -> timeseries.Panel:
    """A time series; ``threshold`` draws a dashed red line (for example an alert threshold)."""
    panel = (
        timeseries.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .unit(unit)
        .span(width)
        .height(HEIGHT)
        .min(0)
        .fill_opacity(10)
        .legend(
            common.VizLegendOptions()
            .display_mode(cm.LegendDisplayMode.TABLE)
            .placement(cm.LegendPlacement.BOTTOM)
            .show_legend(True)
            .calcs(["lastNotNull", "max"])
        )
        .tooltip(common.VizTooltipOptions().mode(cm.TooltipDisplayMode.MULTI))
    )
    for i, (expr, legend) in enumerate(queries):
        panel = panel.with_target(query(expr, legend, ref_id=_ref_id(i)))
    if stacked:
        panel = panel.stacking(common.StackingConfig().mode(cm.StackingMode.NORMAL))
    if bars:
        panel = panel.draw_style(cm.GraphDrawStyle.BARS).fill_opacity(80)
    if threshold is not None:
        panel = panel.thresholds(thresholds((None, "green"), (threshold, "red"))).thresholds_style(
            common.GraphThresholdsStyleConfig().mode(cm.GraphThresholdsStyleMode.DASHED)
        )
    return panel


def single_stat(
    title: str,
    expr: str,
    *,
    legend: str = "{{instance}}",
    unit: str = "short",
    description: str = "",
    width: int = QUARTER,
    red_at: float | None = None,
    decimals: float | None = None,
) -> stat.Panel:
    """A single value per series (instant query); ``red_at`` turns it red at that value."""
    panel = (
        stat.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .unit(unit)
        .span(width)
        .height(HEIGHT // 2 + 1)
        .graph_mode(cm.BigValueGraphMode.NONE)
        .color_mode(
            cm.BigValueColorMode.BACKGROUND if red_at is not None else cm.BigValueColorMode.VALUE
        )
        .reduce_options(common.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
        .with_target(query(expr, legend, ref_id="A", instant=True))
    )
    if red_at is not None:
        panel = panel.thresholds(thresholds((None, "green"), (red_at, "red")))
    else:
        panel = panel.thresholds(thresholds((None, "blue")))
    if decimals is not None:
        panel = panel.decimals(decimals)
    return panel


def bar_gauge(
    title: str,
    expr: str,
    legend: str,
    *,
    unit: str = "short",
    description: str = "",
    width: int = HALF,
) -> bargauge.Panel:
    """Horizontal bars, one per series of an instant query (categories such as a funnel)."""
    return (
        bargauge.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .unit(unit)
        .span(width)
        .height(HEIGHT)
        .min(0)
        .orientation(cm.VizOrientation.HORIZONTAL)
        .display_mode(cm.BarGaugeDisplayMode.GRADIENT)
        .reduce_options(common.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
        .thresholds(thresholds((None, "blue")))
        .with_target(query(expr, legend, ref_id="A", instant=True))
    )
