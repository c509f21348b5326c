"""Dashboards: committed JSON equals regeneration, uids are stable, every panel uses $datasource."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from monitoring import dashboards
from monitoring.dashboards import __main__ as generator

EXPECTED_UIDS = {
    "evr-service-overview",
    "evr-evidential-recording",
    "evr-programme-outcomes",
    "evr-hosts",
}
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}


def _load(uid: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(
        (dashboards.JSON_DIR / f"{uid}.json").read_text(encoding="utf-8")
    )
    return data


def _panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    panels: list[dict[str, Any]] = []
    for panel in dashboard["panels"]:
        panels.append(panel)
        panels.extend(panel.get("panels", []))
    return panels


def test_committed_json_equals_regeneration() -> None:
    rendered = dashboards.render_all()
    for uid, text in rendered.items():
        path = dashboards.JSON_DIR / f"{uid}.json"
        assert path.read_text(encoding="utf-8") == text, f"{path} is stale: run the generator"
    assert {p.stem for p in dashboards.JSON_DIR.glob("*.json")} == set(rendered)


_RENDER = (
    "import json, sys; from monitoring import dashboards; "
    "json.dump(dashboards.render_all(), sys.stdout)"
)


@pytest.mark.parametrize("seed", ["1", "2"])
def test_generation_is_deterministic(seed: str) -> None:
    """Rendered in a fresh process under another hash seed (set and dict iteration order
    change), the output still equals the committed JSON."""
    env = {**os.environ, "PYTHONHASHSEED": seed}
    out = subprocess.run(
        [sys.executable, "-c", _RENDER], env=env, capture_output=True, text=True, check=True
    )
    rendered: dict[str, str] = json.loads(out.stdout)
    for uid, text in rendered.items():
        assert text == (dashboards.JSON_DIR / f"{uid}.json").read_text(encoding="utf-8"), uid


def test_generator_check_mode(tmp_path: Path) -> None:
    assert generator.main(["--check"]) == 0
    assert generator.main(["--check", "--output-dir", str(tmp_path)]) == 1
    assert generator.main(["--output-dir", str(tmp_path)]) == 0
    assert generator.main(["--check", "--output-dir", str(tmp_path)]) == 0


def test_uids_are_stable_unique_and_match_file_names() -> None:
    assert set(dashboards.DASHBOARDS) == EXPECTED_UIDS
    for uid in EXPECTED_UIDS:
        assert _load(uid)["uid"] == uid


@pytest.mark.parametrize("uid", sorted(EXPECTED_UIDS))
def test_datasource_variable_used_by_every_panel_and_query(uid: str) -> None:
    dashboard = _load(uid)
    variables = dashboard["templating"]["list"]
    assert [v["name"] for v in variables if v["type"] == "datasource"] == ["datasource"]
    assert next(v for v in variables if v["name"] == "datasource")["query"] == "prometheus"
    graph_panels = [p for p in _panels(dashboard) if p["type"] != "row"]
    assert graph_panels
    for panel in graph_panels:
        assert panel["datasource"] == DATASOURCE, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == DATASOURCE, panel["title"]


@pytest.mark.parametrize("uid", sorted(EXPECTED_UIDS))
def test_panel_ids_are_unique_and_titles_set(uid: str) -> None:
    panels = _panels(_load(uid))
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids))
    assert all(p["title"] for p in panels)


def test_all_panel_queries_covers_every_target() -> None:
    queries = dashboards.all_panel_queries()
    targets = sum(len(p.get("targets", [])) for uid in EXPECTED_UIDS for p in _panels(_load(uid)))
    assert len(queries) == targets
    assert {uid for uid, _, _ in queries} == EXPECTED_UIDS


def test_no_aggregation_without_by() -> None:
    aggregation = re.compile(r"\b(sum|avg|min|max|count|stddev|topk|bottomk)\s*\(")
    for uid, title, expr in dashboards.all_panel_queries():
        assert not aggregation.search(expr), f"{uid} / {title}: aggregate with `by (...)`"


def test_every_query_selects_a_job() -> None:
    for uid, title, expr in dashboards.all_panel_queries():
        for selector in re.findall(r"[a-z_:]+\{([^}]*)\}", expr):
            assert "job=" in selector, f"{uid} / {title}: {expr}"


def test_expand_macros_leaves_plain_promql() -> None:
    for _, _, expr in dashboards.all_panel_queries():
        assert "$" not in dashboards.expand_macros(expr)
    assert dashboards.expand_macros("rate(x[$__rate_interval])") == "rate(x[1m])"


#: Gauges every control-plane replica recomputes from the shared database at scrape time.
DATABASE_GAUGES = re.compile(r"\b(evr_visits|evr_programme_[a-z_]+)\{")
INNER_AGGREGATION = re.compile(r"\b(sum|avg|min|max|count) by \([^)]*\) \(\s*(evr_[a-z_]+)\{")


def test_database_gauges_are_combined_with_max_never_summed() -> None:
    # Summing them would multiply every figure by the number of replicas.
    checked = 0
    for uid, title, expr in dashboards.all_panel_queries():
        if not DATABASE_GAUGES.search(expr):
            continue
        inner = [
            op
            for op, metric in INNER_AGGREGATION.findall(expr)
            if DATABASE_GAUGES.match(metric + "{")
        ]
        assert inner, f"{uid} / {title}: aggregate the database gauges with max by: {expr}"
        assert set(inner) == {"max"}, f"{uid} / {title}: use max by, not {inner}: {expr}"
        checked += 1
    assert checked >= 2
