"""Alert rules: promtool accepts and unit-tests them, and the generator owns them."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from monitoring import alerts_gen

REPO = Path(__file__).resolve().parents[2]
MONITORING = REPO / "monitoring"
ALERTS = MONITORING / "alerts"
RUNBOOKS = MONITORING / "runbooks"
PROMTOOL = shutil.which("promtool")


def _promtool(*args: str) -> None:
    # scripts/setup.sh installs Debian's prometheus package, which ships promtool.
    assert PROMTOOL is not None, "promtool is missing: run scripts/setup.sh"
    result = subprocess.run(
        [PROMTOOL, *args], cwd=REPO, capture_output=True, text=True, timeout=120, check=False
    )
    if result.returncode != 0:
        pytest.fail(f"promtool {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")


def _rule_files() -> list[Path]:
    return sorted(ALERTS.glob("*.rules.yml"))


def _alert_rules() -> list[dict[str, object]]:
    rules: list[dict[str, object]] = []
    for path in _rule_files():
        for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]:
            rules.extend(rule for rule in group["rules"] if "alert" in rule)
    return rules


def test_promtool_check_rules() -> None:
    _promtool("check", "rules", *(str(p.relative_to(REPO)) for p in _rule_files()))


def test_promtool_unit_tests() -> None:
    _promtool("test", "rules", *(str(p.relative_to(REPO)) for p in _test_files()))


def test_promtool_check_config() -> None:
    _promtool("check", "config", "monitoring/prometheus.yml")


def _test_files() -> list[Path]:
    return sorted((ALERTS / "tests").glob("*.test.yml"))


def test_one_test_file_per_rules_file() -> None:
    rules = {p.name.removesuffix(".rules.yml") for p in _rule_files()}
    tests = {p.name.removesuffix(".test.yml") for p in _test_files()}
    assert rules == tests
    for test_file in _test_files():
        doc = yaml.safe_load(test_file.read_text(encoding="utf-8"))
        assert doc["rule_files"] == [f"../{test_file.name.removesuffix('.test.yml')}.rules.yml"]


def test_every_alert_is_unit_tested_before_and_after_its_for_window() -> None:
    tested: dict[str, list[bool]] = {}
    for test_file in _test_files():
        for case in yaml.safe_load(test_file.read_text(encoding="utf-8"))["tests"]:
            for check in case.get("alert_rule_test", []):
                tested.setdefault(check["alertname"], []).append(bool(check["exp_alerts"]))
    for name in alerts_gen.alert_names():
        assert name in tested, f"{name} has no promtool test"
        assert False in tested[name], f"{name}: no check that it has not fired yet"
        assert True in tested[name], f"{name}: no check that it fires"


def test_committed_rules_equal_regeneration() -> None:
    for name, text in alerts_gen.render().items():
        assert (ALERTS / name).read_text(encoding="utf-8") == text, (
            f"{name} is stale: run python -m monitoring.alerts_gen"
        )
    assert {p.name for p in _rule_files()} == set(alerts_gen.render())


def test_every_alert_has_labels_annotations_and_a_runbook() -> None:
    for rule in _alert_rules():
        name = rule["alert"]
        assert isinstance(name, str)
        assert rule.get("for"), name
        labels = rule["labels"]
        assert isinstance(labels, dict)
        assert labels["severity"] in {"critical", "warning"}, name
        annotations = rule["annotations"]
        assert isinstance(annotations, dict)
        assert annotations["summary"], name
        assert annotations["description"], name
        assert annotations["runbook_url"] == f"monitoring/runbooks/{name}.md"
        assert (REPO / annotations["runbook_url"]).is_file(), f"missing runbook for {name}"


def test_no_orphan_runbooks() -> None:
    assert sorted(p.stem for p in RUNBOOKS.glob("*.md")) == alerts_gen.alert_names()


def test_runbook_base_url_is_overridable(tmp_path: Path) -> None:
    base = "https://git.example.org/evr/-/blob/main/monitoring/runbooks/"
    assert alerts_gen.main(["--runbook-base-url", base, "--output-dir", str(tmp_path)]) == 0
    text = (tmp_path / "evr-recorder.rules.yml").read_text(encoding="utf-8")
    assert f"runbook_url: {base}EVRRecordingFailed.md" in text
    assert alerts_gen.main(["--check", "--output-dir", str(tmp_path)]) == 1


def test_job_selectors_come_from_one_place() -> None:
    jobs = {alerts_gen.CONTROL_PLANE_JOB, alerts_gen.RECORDER_JOB, alerts_gen.SFU_JOB}
    for rule in _alert_rules():
        for job in re.findall(r'job="([^"]+)"', str(rule["expr"])):
            assert job in jobs
    config = yaml.safe_load((MONITORING / "prometheus.yml").read_text(encoding="utf-8"))
    assert {job["job_name"] for job in config["scrape_configs"]} == jobs
