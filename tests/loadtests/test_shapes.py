"""The load shapes' stage tables, and which stage is in force over time.

(loadtests/shapes.py wraps these in Locust's LoadTestShape; importing Locust here would
monkey-patch the test process, so the tables live in loadtests/stages.py.)
"""

from loadtests.stages import Stage, ramp_stages, soak_stages, spike_stages, stage_at


def test_ramp_adds_one_visit_per_step_then_holds_the_peak() -> None:
    stages = ramp_stages(4, ramp_time=20, peak_time=30)
    assert [(s.until, s.visits) for s in stages] == [(5, 1), (10, 2), (15, 3), (20, 4), (50, 4)]


def test_soak_holds_after_a_one_per_second_climb() -> None:
    assert soak_stages(10, soak_time=600) == [Stage(until=610, visits=10, spawn_rate=1)]


def test_spike_jumps_from_a_quarter_to_the_peak_and_back() -> None:
    base, peak, after = spike_stages(20, base=0, peak_time=30)
    assert (base.visits, peak.visits, after.visits) == (5, 20, 5)
    assert peak.spawn_rate == 15  # the whole jump within a second
    assert after.until == 150


def test_the_stage_in_force_follows_the_clock_then_the_run_stops() -> None:
    stages = [Stage(10, 2, 1), Stage(20, 5, 5)]
    assert stage_at(stages, 0) == stages[0]
    assert stage_at(stages, 12) == stages[1]
    assert stage_at(stages, 20) is None
