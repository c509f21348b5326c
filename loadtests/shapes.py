"""Staged load for EVR visits: a ramp, a soak and a spike, in concurrent visits.

Each shape reads its sizes from the load test's options (--visits, --ramp-time, ...), so one
set of files serves a laptop smoke run and a capacity run. Pick one with its scenario file,
e.g. `locust -f loadtests/scenarios/ramp.py`.
"""

from __future__ import annotations

from typing import Any

from locust import LoadTestShape

from loadtests.stages import Stage, ramp_stages, soak_stages, spike_stages, stage_at


class StagedShape(LoadTestShape):
    """Plays `stages()` in order, then stops the test."""

    abstract = True

    def _options(self) -> Any:
        assert self.runner is not None
        return self.runner.environment.parsed_options

    def stages(self) -> list[Stage]:
        raise NotImplementedError

    def tick(self) -> tuple[int, float] | None:
        stage = stage_at(self.stages(), self.get_run_time())  # type: ignore[no-untyped-call]
        return None if stage is None else (stage.visits, stage.spawn_rate)


class RampShape(StagedShape):
    """A step ramp to --visits over --ramp-time, held for --peak-time."""

    def stages(self) -> list[Stage]:
        o = self._options()
        return ramp_stages(max(1, o.visits), o.ramp_time, o.peak_time)


class SoakShape(StagedShape):
    """--visits held for --soak-time."""

    def stages(self) -> list[Stage]:
        o = self._options()
        return soak_stages(max(1, o.visits), o.soak_time)


class SpikeShape(StagedShape):
    """--spike-base visits, a jump to --visits for --peak-time, then back."""

    def stages(self) -> list[Stage]:
        o = self._options()
        return spike_stages(max(1, o.visits), o.spike_base, o.peak_time)
