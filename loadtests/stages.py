"""Stage tables for the load shapes (loadtests/shapes.py), kept free of Locust so that they
can be tested (and imported) without gevent monkey-patching the importer."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Stage:
    until: float
    """Seconds since the start at which this stage ends."""
    visits: int
    spawn_rate: float
    """Visits started (or stopped) per second while moving to `visits`."""


def ramp_stages(visits: int, ramp_time: float, peak_time: float) -> list[Stage]:
    """One more visit every ramp_time/visits seconds, then `peak_time` at the peak."""
    step = ramp_time / visits
    stages = [Stage(until=step * (i + 1), visits=i + 1, spawn_rate=1) for i in range(visits)]
    stages.append(Stage(until=ramp_time + peak_time, visits=visits, spawn_rate=1))
    return stages


def soak_stages(visits: int, soak_time: float) -> list[Stage]:
    """Up to `visits` at one a second, then held for `soak_time`."""
    return [Stage(until=visits + soak_time, visits=visits, spawn_rate=1)]


def spike_stages(visits: int, base: int, peak_time: float) -> list[Stage]:
    """`base` visits for a minute, all `visits` at once for `peak_time`, back to `base`."""
    base = base or max(1, visits // 4)
    return [
        Stage(until=60, visits=base, spawn_rate=1),
        Stage(until=60 + peak_time, visits=visits, spawn_rate=max(1, visits - base)),
        Stage(until=120 + peak_time, visits=base, spawn_rate=max(1, visits - base)),
    ]


def stage_at(stages: list[Stage], seconds: float) -> Stage | None:
    """The stage in force `seconds` after the start, or None once the last has ended."""
    for stage in stages:
        if seconds < stage.until:
            return stage
    return None
