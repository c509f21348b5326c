"""Generate the Prometheus rule files in ``monitoring/alerts/`` from one place.

Every job name, selector, threshold and ``for`` duration is a named constant in this module;
the rule files are output, committed, and checked by a test that regenerates them.

Run ``python -m monitoring.alerts_gen`` to rewrite the files, ``--check`` to fail when they are
stale, and ``--runbook-base-url URL`` to point the ``runbook_url`` annotations at your own copy
of ``monitoring/runbooks/`` (a Git forge URL, a wiki, ...).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from monitoring.generated import write_or_check

# --- Where things live ------------------------------------------------------------------------

#: Default prefix of every ``runbook_url`` annotation: the runbooks' path inside this repository.
#: Operators regenerate with ``--runbook-base-url`` to get absolute links in their pager.
DEFAULT_RUNBOOK_BASE_URL = "monitoring/runbooks"

ALERTS_DIR = Path(__file__).resolve().parent / "alerts"

# --- Scrape jobs (must match monitoring/prometheus.yml and the SRE's own scrape config) -------

CONTROL_PLANE_JOB = "evr-control-plane"
RECORDER_JOB = "evr-recorder"
SFU_JOB = "livekit"

# --- Thresholds -------------------------------------------------------------------------------

#: A failed recording is evidence at risk: alert on any failure seen in this window.
RECORDING_FAILED_WINDOW = "15m"
RECORDING_FAILED_FOR = "1m"
#: Any statement not secured is an emergency; ``for`` only rides out one scrape.
RECORDING_NOT_SECURED_FOR = "1m"
#: The writer buffers what it has not written; more than this is data at risk if it dies.
RECORDER_LAG_SECONDS = 30
RECORDER_LAG_FOR = "5m"
RECORDER_DOWN_FOR = "2m"
#: Free space on the evidence store, as a fraction of its size, below which we page.
EVIDENCE_STORE_FREE_RATIO_CRITICAL = 0.05
EVIDENCE_STORE_NEARLY_FULL_FOR = "5m"
#: Warn when the linear trend over the lookback reaches zero free bytes within the horizon.
EVIDENCE_STORE_TREND_LOOKBACK = "6h"
EVIDENCE_STORE_TREND_HORIZON_SECONDS = 24 * 3600
#: ...but only once the store is below this free fraction, so a big import does not page.
EVIDENCE_STORE_TREND_FREE_RATIO = 0.25
EVIDENCE_STORE_FILLING_UP_FOR = "1h"

SFU_DOWN_FOR = "1m"
SFU_UNREACHABLE_FOR = "2m"
#: A cluster node the control plane's probe no longer reaches (control_plane/sfu_nodes.py,
#: which already waits for 2 missed probes): long enough to ride out a restart.
SFU_NODE_DOWN_FOR = "1m"
#: Packets lost per packet sent or received, per SFU node and direction.
SFU_PACKET_LOSS_RATIO = 0.05
SFU_PACKET_LOSS_WINDOW = "5m"
SFU_PACKET_LOSS_FOR = "10m"
#: A room the SFU lost (restart, dead node) was created again: the visits survived, the SFU
#: did not. One re-creation is worth a look, so any in this window warns.
SFU_ROOMS_RECREATED_WINDOW = "15m"
SFU_ROOMS_RECREATED_FOR = "1m"

CONTROL_PLANE_DOWN_FOR = "1m"
#: Exactly one replica runs the periodic jobs (reconciler, room watch); none, or two, for
#: longer than a leader hand-over takes is a fault.
LEADER_COUNT_FOR = "2m"
WEBHOOK_FAILURES_WINDOW = "15m"
WEBHOOK_FAILURES_FOR = "5m"
#: Join-code attempts refused with 429: someone guessing codes, or many phones behind one
#: address. Any in this window warns; it fires before the budget refills (1 minute).
JOIN_THROTTLED_WINDOW = "15m"
JOIN_THROTTLED_FOR = "1m"
#: Signed checkpoints of the audit and custody chains: the leader writes one every 600 s by
#: default (`audit_checkpoint_interval`); none for three intervals leaves edits unchecked.
AUDIT_CHECKPOINT_MAX_AGE_SECONDS = 1800
AUDIT_CHECKPOINT_STALE_FOR = "5m"
AUDIT_CHECKPOINT_FAILURES_WINDOW = "30m"
AUDIT_CHECKPOINT_FAILURES_FOR = "1m"

#: Availability SLO of the control-plane API: non-5xx responses over 30 days.
API_AVAILABILITY_SLO = 0.995
#: Latency SLO of the control-plane API: this fraction of requests within the threshold.
API_LATENCY_SLO = 0.99
#: Must be a bucket boundary of ``evr_http_request_duration_seconds``.
API_LATENCY_THRESHOLD_SECONDS = 1


Severity = Literal["critical", "warning"]


@dataclass(frozen=True)
class BurnWindow:
    """One row of the multi-window, multi-burn-rate table (Google SRE workbook, ch. 5)."""

    factor: float
    long: str
    short: str
    for_: str
    severity: Severity


#: Page on a fast burn (2 % of a 30-day budget in 1 h, 5 % in 6 h); ticket on a slow one.
BURN_WINDOWS: tuple[BurnWindow, ...] = (
    BurnWindow(14.4, "1h", "5m", "2m", "critical"),
    BurnWindow(6, "6h", "30m", "15m", "critical"),
    BurnWindow(3, "1d", "2h", "1h", "warning"),
    BurnWindow(1, "3d", "6h", "3h", "warning"),
)
BURN_RATE_WINDOWS: tuple[str, ...] = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")

# --- Rule model -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Alert:
    """An alerting rule; labels and annotations are completed by :func:`render_rule`."""

    name: str
    expr: str
    for_: str
    severity: Severity
    summary: str
    description: str
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Record:
    """A recording rule."""

    record: str
    expr: str


@dataclass(frozen=True)
class Group:
    """A rule group."""

    name: str
    rules: Sequence[Alert | Record]


@dataclass(frozen=True)
class RuleFile:
    """One file under ``monitoring/alerts/``; each has its own promtool test file."""

    filename: str
    groups: Sequence[Group]


def selector(job: str, *matchers: str) -> str:
    """Return a PromQL label selector for ``job`` plus raw ``matchers`` such as ``'le="1"'``."""
    return "{" + ", ".join([f'job="{job}"', *matchers]) + "}"


def runbook_url(alert_name: str, base_url: str = DEFAULT_RUNBOOK_BASE_URL) -> str:
    """Return the runbook link for an alert: ``<base_url>/<AlertName>.md``."""
    return f"{base_url.rstrip('/')}/{alert_name}.md"


def _target_down(job: str) -> str:
    # absent() catches a target that vanished from service discovery altogether.
    return f"up{selector(job)} == 0\nor\nabsent(up{selector(job)})"


def _down_description(job: str, for_: str) -> str:
    # absent() yields no instance label, hence the `with`.
    return (
        f"Job {job} has had no successful scrape{{{{ with $labels.instance }}}} from "
        f"{{{{ . }}}}{{{{ end }}}} for {for_}. "
    )


def _counter_increased(metric: str, job: str, window: str) -> str:
    # The second arm catches a labelled child that first appears already above zero
    # (increase() needs two samples, so it misses the first failure of a fresh series).
    sel = selector(job)
    return (
        f"increase({metric}{sel}[{window}]) > 0\n"
        f"or\n"
        f"({metric}{sel} > 0 unless {metric}{sel} offset {window})"
    )


# --- Recorder ---------------------------------------------------------------------------------


def _recording_rules() -> RuleFile:
    rec = selector(RECORDER_JOB)
    store_ratio = f"evr_evidence_store_free_bytes{rec}\n/\nevr_evidence_store_size_bytes{rec}"
    alerts = [
        Alert(
            name="EVRRecordingFailed",
            expr=_counter_increased(
                "evr_recordings_failed_total", RECORDER_JOB, RECORDING_FAILED_WINDOW
            ),
            for_=RECORDING_FAILED_FOR,
            severity="critical",
            summary="An evidential recording failed ({{ $labels.reason }}).",
            description=(
                "Recorder {{ $labels.instance }} reported a recording failure with reason "
                f"{{{{ $labels.reason }}}} in the last {RECORDING_FAILED_WINDOW}. A victim's "
                "statement may be incomplete: tell the officer in the visit now."
            ),
        ),
        Alert(
            name="EVRRecordingNotSecured",
            expr=f"evr_recordings_not_secured{rec} > 0",
            for_=RECORDING_NOT_SECURED_FOR,
            severity="critical",
            summary="{{ $value }} evidential recording(s) not secured.",
            description=(
                "Recorder {{ $labels.instance }} holds {{ $value }} statement(s) that are not "
                "sealed in the evidence store. Evidence can be lost or challenged until they are."
            ),
        ),
        Alert(
            name="EVRRecorderLagging",
            expr=f"evr_recorder_lag_seconds{rec} > {RECORDER_LAG_SECONDS}",
            for_=RECORDER_LAG_FOR,
            severity="warning",
            summary="Recorder is {{ $value | humanizeDuration }} behind real time.",
            description=(
                "Recorder {{ $labels.instance }} has been more than "
                f"{RECORDER_LAG_SECONDS}s behind real time for {RECORDER_LAG_FOR}. Unwritten "
                "media is lost if the process dies."
            ),
        ),
        Alert(
            name="EVRRecorderDown",
            expr=_target_down(RECORDER_JOB),
            for_=RECORDER_DOWN_FOR,
            severity="critical",
            summary="The recorder is down or not scraped.",
            description=(
                _down_description(RECORDER_JOB, RECORDER_DOWN_FOR)
                + "Live visits may not be recorded, and recording failures would go unseen."
            ),
        ),
        Alert(
            name="EVREvidenceStoreNearlyFull",
            expr=f"(\n{store_ratio}\n) < {EVIDENCE_STORE_FREE_RATIO_CRITICAL}",
            for_=EVIDENCE_STORE_NEARLY_FULL_FOR,
            severity="critical",
            summary="Evidence store has {{ $value | humanizePercentage }} free.",
            description=(
                "The evidence store of recorder {{ $labels.instance }} has less than "
                f"{EVIDENCE_STORE_FREE_RATIO_CRITICAL:.0%} free space. New recordings will fail "
                "with disk_full."
            ),
        ),
        Alert(
            name="EVREvidenceStoreFillingUp",
            expr=(
                f"(\n{store_ratio}\n) < {EVIDENCE_STORE_TREND_FREE_RATIO}\nand\n"
                f"predict_linear(evr_evidence_store_free_bytes{rec}"
                f"[{EVIDENCE_STORE_TREND_LOOKBACK}], {EVIDENCE_STORE_TREND_HORIZON_SECONDS}) < 0"
            ),
            for_=EVIDENCE_STORE_FILLING_UP_FOR,
            severity="warning",
            summary="Evidence store is predicted to fill within a day.",
            description=(
                "At the rate of the last "
                f"{EVIDENCE_STORE_TREND_LOOKBACK}, the evidence store of recorder "
                "{{ $labels.instance }} runs out of space within "
                f"{EVIDENCE_STORE_TREND_HORIZON_SECONDS // 3600}h; it is "
                f"below {EVIDENCE_STORE_TREND_FREE_RATIO:.0%} free now."
            ),
        ),
    ]
    return RuleFile("evr-recorder.rules.yml", [Group("evr-recorder.alerts", alerts)])


# --- SFU --------------------------------------------------------------------------------------


def _sfu_rules() -> RuleFile:
    sfu = selector(SFU_JOB)
    w = SFU_PACKET_LOSS_WINDOW
    by = "sum by (job, instance, direction)"
    alerts = [
        Alert(
            name="EVRSFUDown",
            expr=_target_down(SFU_JOB),
            for_=SFU_DOWN_FOR,
            severity="critical",
            summary="The LiveKit SFU is down or not scraped.",
            description=(
                _down_description(SFU_JOB, SFU_DOWN_FOR)
                + "Victims and officers cannot join or stay in video visits."
            ),
        ),
        Alert(
            name="EVRSFUUnreachable",
            expr=f"evr_sfu_reachable{selector(CONTROL_PLANE_JOB)} == 0",
            for_=SFU_UNREACHABLE_FOR,
            severity="critical",
            summary="The control plane cannot reach the SFU API.",
            description=(
                "Control plane {{ $labels.instance }} has failed to reach the LiveKit API for "
                f"{SFU_UNREACHABLE_FOR}. Rooms cannot be created, so new visits cannot start."
            ),
        ),
        Alert(
            name="EVRSFUNodeDown",
            expr=f"evr_sfu_node_up{selector(CONTROL_PLANE_JOB)} == 0",
            for_=SFU_NODE_DOWN_FOR,
            severity="warning",
            summary="A LiveKit node does not answer the control plane.",
            description=(
                "Control plane {{ $labels.instance }} has had no answer from LiveKit node "
                "{{ $labels.node }} for "
                f"{SFU_NODE_DOWN_FOR}. Its visits dropped and rejoin through the other nodes; "
                "the cluster has less capacity and, with two nodes, no spare."
            ),
        ),
        Alert(
            name="EVRSFURoomsRecreated",
            expr=_counter_increased(
                "evr_sfu_rooms_recreated_total", CONTROL_PLANE_JOB, SFU_ROOMS_RECREATED_WINDOW
            ),
            for_=SFU_ROOMS_RECREATED_FOR,
            severity="warning",
            summary="The SFU lost open visits' rooms; they were created again.",
            description=(
                "Control plane {{ $labels.instance }} re-created rooms of open visits in the last "
                f"{SFU_ROOMS_RECREATED_WINDOW}: an SFU node restarted or died. The visits stayed "
                "open and the pages reconnected; find out why the SFU went away."
            ),
        ),
        Alert(
            name="EVRSFUPacketLossHigh",
            expr=(
                f"{by} (rate(livekit_packet_loss_total{sfu}[{w}]))\n/\n"
                f"{by} (rate(livekit_packet_total{sfu}[{w}]))\n"
                f"> {SFU_PACKET_LOSS_RATIO}"
            ),
            for_=SFU_PACKET_LOSS_FOR,
            severity="warning",
            summary="SFU {{ $labels.direction }} packet loss is {{ $value | humanizePercentage }}.",
            description=(
                "SFU {{ $labels.instance }} has lost more than "
                f"{SFU_PACKET_LOSS_RATIO:.0%} of {{{{ $labels.direction }}}} packets for "
                f"{SFU_PACKET_LOSS_FOR}. Victims see frozen or blocky video and broken audio."
            ),
        ),
    ]
    return RuleFile("evr-sfu.rules.yml", [Group("evr-sfu.alerts", alerts)])


# --- Control plane ----------------------------------------------------------------------------

_ERRORS_RECORD = "evr:http_request_errors:ratio_rate{window}"
_SLOW_RECORD = "evr:http_request_slow:ratio_rate{window}"


def _slo_records() -> list[Alert | Record]:
    cp = selector(CONTROL_PLANE_JOB)
    errors = selector(CONTROL_PLANE_JOB, 'status=~"5.."')
    # prometheus_client writes le="1.0", Go clients and Prometheus 3 write le="1".
    le = f"{float(API_LATENCY_THRESHOLD_SECONDS):g}".replace(".", r"\\.")
    fast = selector(CONTROL_PLANE_JOB, f'le=~"{le}(\\\\.0)?"')
    rules: list[Alert | Record] = []
    for window in BURN_RATE_WINDOWS:
        rules.append(
            Record(
                record=_ERRORS_RECORD.format(window=window),
                expr=(
                    f"sum by (job) (rate(evr_http_requests_total{errors}[{window}]))\n/\n"
                    f"sum by (job) (rate(evr_http_requests_total{cp}[{window}]))"
                ),
            )
        )
    for window in BURN_RATE_WINDOWS:
        duration = "evr_http_request_duration_seconds"
        rules.append(
            Record(
                record=_SLOW_RECORD.format(window=window),
                expr=(
                    f"1 - (\n"
                    f"sum by (job) (rate({duration}_bucket{fast}[{window}]))\n/\n"
                    f"sum by (job) (rate({duration}_count{cp}[{window}]))\n)"
                ),
            )
        )
    return rules


def _burn_alerts(name: str, record: str, slo: float, what: str, bad: str) -> list[Alert | Record]:
    budget = round(1 - slo, 6)
    alerts: list[Alert | Record] = []
    for bw in BURN_WINDOWS:
        long_rec = record.format(window=bw.long)
        short_rec = record.format(window=bw.short)
        threshold = f"({bw.factor:g} * {budget:g})"
        alerts.append(
            Alert(
                name=name,
                expr=f"{long_rec} > {threshold}\nand\n{short_rec} > {threshold}",
                for_=bw.for_,
                severity=bw.severity,
                labels={"long": bw.long, "short": bw.short},
                summary=f"The control-plane API is burning its {what} error budget.",
                description=(
                    f"{{{{ $value | humanizePercentage }}}} of API requests {bad} over the last "
                    f"{bw.long}, and still over the last {bw.short}: at least {bw.factor:g}x "
                    f"the rate that spends the 30-day error budget of the {slo:.1%} {what} SLO."
                ),
            )
        )
    return alerts


def _control_plane_rules() -> RuleFile:
    alerts: list[Alert | Record] = [
        Alert(
            name="EVRControlPlaneDown",
            expr=_target_down(CONTROL_PLANE_JOB),
            for_=CONTROL_PLANE_DOWN_FOR,
            severity="critical",
            summary="The EVR control plane is down or not scraped.",
            description=(
                _down_description(CONTROL_PLANE_JOB, CONTROL_PLANE_DOWN_FOR)
                + "Victims cannot open visit links and officers cannot start visits."
            ),
        ),
        Alert(
            name="EVRLeaderCountWrong",
            expr=f"sum(evr_leader{selector(CONTROL_PLANE_JOB)}) != 1",
            for_=LEADER_COUNT_FOR,
            severity="critical",
            summary="{{ $value }} control-plane replicas lead the periodic jobs, not 1.",
            description=(
                f"For {LEADER_COUNT_FOR}, {{{{ $value }}}} replicas have held the periodic-jobs "
                "lock. With none, lost rooms are not re-created and lost webhooks not repaired; "
                "with two, jobs run twice."
            ),
        ),
        Alert(
            name="EVRWebhookFailures",
            expr=_counter_increased(
                "evr_webhook_failures_total", CONTROL_PLANE_JOB, WEBHOOK_FAILURES_WINDOW
            ),
            for_=WEBHOOK_FAILURES_FOR,
            severity="warning",
            summary="SFU webhooks are failing ({{ $labels.reason }}).",
            description=(
                "Control plane {{ $labels.instance }} rejected or could not apply LiveKit "
                f"webhooks ({{{{ $labels.reason }}}}) in the last {WEBHOOK_FAILURES_WINDOW}. "
                "Visit states may not match the rooms on the SFU."
            ),
        ),
        Alert(
            name="EVRJoinCodesThrottled",
            expr=_counter_increased(
                "evr_join_code_throttled_total", CONTROL_PLANE_JOB, JOIN_THROTTLED_WINDOW
            ),
            for_=JOIN_THROTTLED_FOR,
            severity="warning",
            summary="Join-code attempts are being refused with 429 ({{ $labels.scope }}).",
            description=(
                "Control plane {{ $labels.instance }} spent its {{ $labels.scope }} budget of "
                f"wrong join codes in the last {JOIN_THROTTLED_WINDOW}: someone may be guessing "
                "codes, and victims trying to join meanwhile are refused."
            ),
        ),
        Alert(
            name="EVRAuditCheckpointStale",
            expr=(
                f"time() - max(evr_audit_checkpoint_timestamp_seconds"
                f"{selector(CONTROL_PLANE_JOB)}) > {AUDIT_CHECKPOINT_MAX_AGE_SECONDS}"
            ),
            for_=AUDIT_CHECKPOINT_STALE_FOR,
            severity="warning",
            summary="No signed audit checkpoint for over "
            f"{AUDIT_CHECKPOINT_MAX_AGE_SECONDS // 60} minutes.",
            description=(
                "No control-plane replica has written a signed checkpoint of the audit and "
                f"custody chains for over {AUDIT_CHECKPOINT_MAX_AGE_SECONDS} s. Edits to the "
                "logs since the last one would not be caught, and `evr audit verify` fails."
            ),
        ),
        Alert(
            name="EVRAuditCheckpointFailing",
            expr=_counter_increased(
                "evr_audit_checkpoint_failures_total",
                CONTROL_PLANE_JOB,
                AUDIT_CHECKPOINT_FAILURES_WINDOW,
            ),
            for_=AUDIT_CHECKPOINT_FAILURES_FOR,
            severity="warning",
            summary="Signed audit checkpoints cannot be written.",
            description=(
                "Control plane {{ $labels.instance }} failed to write a signed checkpoint of "
                f"the audit and custody chains in the last {AUDIT_CHECKPOINT_FAILURES_WINDOW}; "
                "its log says why (database, signing key)."
            ),
        ),
    ]
    return RuleFile(
        "evr-control-plane.rules.yml",
        [
            Group("evr-control-plane.slo.rules", _slo_records()),
            Group("evr-control-plane.alerts", alerts),
            Group(
                "evr-control-plane.slo.alerts",
                _burn_alerts(
                    "EVRAPIErrorBudgetBurn",
                    _ERRORS_RECORD,
                    API_AVAILABILITY_SLO,
                    "availability",
                    "failed with a 5xx",
                )
                + _burn_alerts(
                    "EVRAPILatencyBudgetBurn",
                    _SLOW_RECORD,
                    API_LATENCY_SLO,
                    "latency",
                    f"took longer than {API_LATENCY_THRESHOLD_SECONDS}s",
                ),
            ),
        ],
    )


# --- Rendering --------------------------------------------------------------------------------


def rule_files() -> list[RuleFile]:
    """Return every rule file, in a fixed order."""
    return [_control_plane_rules(), _recording_rules(), _sfu_rules()]


def alert_names() -> list[str]:
    """Return the sorted, de-duplicated names of every alert (one runbook each)."""
    return sorted(
        {
            rule.name
            for rf in rule_files()
            for group in rf.groups
            for rule in group.rules
            if isinstance(rule, Alert)
        }
    )


def render_rule(rule: Alert | Record, runbook_base_url: str) -> dict[str, Any]:
    """Return one rule as the mapping Prometheus expects."""
    if isinstance(rule, Record):
        return {"record": rule.record, "expr": rule.expr}
    return {
        "alert": rule.name,
        "expr": rule.expr,
        "for": rule.for_,
        "labels": {"severity": rule.severity, **rule.labels},
        "annotations": {
            "summary": rule.summary,
            "description": rule.description,
            "runbook_url": runbook_url(rule.name, runbook_base_url),
        },
    }


class _Dumper(yaml.SafeDumper):
    """Writes multi-line strings (PromQL) as literal blocks."""


def _str_representer(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(str, _str_representer)

_HEADER = (
    "# Generated by monitoring/alerts_gen.py; do not edit by hand.\n"
    "# Regenerate: python -m monitoring.alerts_gen [--runbook-base-url URL]\n"
)


def render(runbook_base_url: str = DEFAULT_RUNBOOK_BASE_URL) -> dict[str, str]:
    """Return ``{filename: YAML text}`` for every rule file. Output is deterministic."""
    out: dict[str, str] = {}
    for rf in rule_files():
        doc = {
            "groups": [
                {
                    "name": group.name,
                    "rules": [render_rule(rule, runbook_base_url) for rule in group.rules],
                }
                for group in rf.groups
            ]
        }
        body = yaml.dump(doc, Dumper=_Dumper, sort_keys=False, width=10_000, allow_unicode=True)
        out[rf.filename] = _HEADER + body
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Write (or with ``--check``, compare) the rule files; return the exit status."""
    parser = argparse.ArgumentParser(prog="python -m monitoring.alerts_gen", description=__doc__)
    parser.add_argument("--runbook-base-url", default=DEFAULT_RUNBOOK_BASE_URL)
    parser.add_argument("--output-dir", type=Path, default=ALERTS_DIR)
    parser.add_argument("--check", action="store_true", help="fail if the files are stale")
    args = parser.parse_args(argv)
    output_dir: Path = args.output_dir
    files = {output_dir / name: text for name, text in render(args.runbook_base_url).items()}
    return write_or_check(files, check=args.check, regenerate="python -m monitoring.alerts_gen")


if __name__ == "__main__":
    sys.exit(main())
