"""Hosts: CPU, memory, disk, network and UDP errors per host, from the node exporter.

SFU nodes come first, in a row of their own: a node running out of CPU or UDP buffers shows
here before LiveKit's own metrics degrade. Hosts are told apart by the `role` label that the
Ansible monitoring role's scrape config sets (`sfu` or `other`).
"""

from __future__ import annotations

from grafana_foundation_sdk.models import dashboard as dm

from monitoring import alerts_gen
from monitoring.dashboards.defaults import RATE, PanelBuilder, Row, build_dashboard
from monitoring.dashboards.panels import THIRD, time_series

UID = "evr-hosts"
#: The node exporter's scrape job in infra/ansible's Prometheus config.
NODE_JOB = "node"


def _selector(role: str, *matchers: str) -> str:
    return alerts_gen.selector(NODE_JOB, f'role="{role}"', *matchers)


def _cpu(role: str) -> PanelBuilder:
    idle = _selector(role, 'mode="idle"')
    return time_series(
        "CPU busy",
        [(f"1 - avg by (instance) (rate(node_cpu_seconds_total{idle}[{RATE}]))", "{{instance}}")],
        unit="percentunit",
        width=THIRD,
    )


def _memory(role: str) -> PanelBuilder:
    s = _selector(role)
    return time_series(
        "Memory used",
        [
            (
                f"1 - node_memory_MemAvailable_bytes{s} / node_memory_MemTotal_bytes{s}",
                "{{instance}}",
            )
        ],
        unit="percentunit",
        width=THIRD,
    )


def _disk(role: str) -> PanelBuilder:
    s = _selector(role, 'fstype!~"tmpfs|overlay|squashfs"')
    return time_series(
        "Disk used",
        [
            (
                f"1 - node_filesystem_avail_bytes{s} / node_filesystem_size_bytes{s}",
                "{{instance}} {{mountpoint}}",
            )
        ],
        unit="percentunit",
        width=THIRD,
    )


def _network(role: str) -> PanelBuilder:
    s = _selector(role, 'device!="lo"')
    return time_series(
        "Network",
        [
            (
                f"sum by (instance) (rate(node_network_receive_bytes_total{s}[{RATE}]))",
                "in {{instance}}",
            ),
            (
                f"sum by (instance) (rate(node_network_transmit_bytes_total{s}[{RATE}]))",
                "out {{instance}}",
            ),
        ],
        unit="Bps",
        width=THIRD,
    )


def _udp_errors(role: str) -> PanelBuilder:
    s = _selector(role)
    return time_series(
        "UDP errors",
        [
            (f"rate(node_netstat_Udp_InErrors{s}[{RATE}])", "in errors {{instance}}"),
            (f"rate(node_netstat_Udp_RcvbufErrors{s}[{RATE}])", "receive buffer {{instance}}"),
            (f"rate(node_netstat_Udp_SndbufErrors{s}[{RATE}])", "send buffer {{instance}}"),
        ],
        unit="pps",
        description="Receive-buffer errors: media packets dropped before LiveKit saw them.",
        width=THIRD,
    )


def _row(title: str, role: str) -> Row:
    return Row(title, [p(role) for p in (_cpu, _memory, _disk, _network, _udp_errors)])


def build() -> dm.Dashboard:
    """Return the hosts dashboard: SFU nodes first, then every other host."""
    return build_dashboard(
        uid=UID,
        title="EVR hosts",
        description="CPU, memory, disk, network and UDP errors per host; SFU nodes first.",
        rows=[_row("SFU nodes", "sfu"), _row("Other hosts", "other")],
    )
