"""bench_overload's verdict: the issue 16 goals computed from the steps' figures."""

from __future__ import annotations

import copy
from typing import Any

from bench.bench_overload import _verdict


def _step(
    multiplier: float, goodput: float, p99_ms: float | None, refused_p99_ms: float | None
) -> dict[str, Any]:
    return {
        "multiplier": multiplier,
        "goodput_rps": goodput,
        "accepted_latency": {"p99_ms": p99_ms},
        "refused": {"p99_ms": refused_p99_ms},
        "recovery": {"notify_lag_below_1s_after_s": 2.0},
        "correctness": {"lost": 0, "duplicated": 0, "refused_that_wrote": 0},
        "generator_lag_ms": {"p99": 3.0},
    }


# Admission control working: goodput flat past saturation, refusals fast, latency bounded.
FLAT = [
    _step(0.5, 5.0, 100.0, None),
    _step(1.0, 9.8, 150.0, None),
    _step(2.0, 9.5, 300.0, 4.0),
    _step(3.0, 9.2, 450.0, 8.0),
]


def test_flat_goodput_fast_refusals_and_no_loss_meet_the_target() -> None:
    v = _verdict(10.0, True, FLAT)
    assert v["goodput_of_peak"] == {"2x": 0.95, "3x": 0.92}
    assert v["p99_over_half_load_p99"] == {"2x": 3.0, "3x": 4.5}
    assert v["refused_p99_ms"] == 8.0
    assert v["meets_target"] is True


def test_each_goal_missed_fails_the_verdict() -> None:
    collapsed = copy.deepcopy(FLAT)
    collapsed[3]["goodput_rps"] = 0.0
    slow_refusals = copy.deepcopy(FLAT)
    slow_refusals[2]["refused"]["p99_ms"] = 250.0
    lost = copy.deepcopy(FLAT)
    lost[1]["correctness"]["lost"] = 1
    queued = copy.deepcopy(FLAT)
    queued[3]["accepted_latency"]["p99_ms"] = 4_900.0
    late_notify = copy.deepcopy(FLAT)
    late_notify[3]["recovery"]["notify_lag_below_1s_after_s"] = None  # never caught up
    for steps, check in (
        (collapsed, "goodput"),
        (slow_refusals, "refused_p99"),
        (lost, "no_loss"),
        (queued, "p99"),
        (late_notify, "notify_recovery"),
    ):
        v = _verdict(10.0, True, steps)
        assert v["checks"][check] is False, check
        assert v["meets_target"] is False


def test_a_saturation_given_on_the_command_line_is_not_a_peak() -> None:
    # Nothing reached 100/s: the peak is what the steps did, so 2x and 3x are judged against 9.8/s.
    assert _verdict(100.0, False, FLAT)["peak_goodput_rps"] == 9.8
    assert _verdict(100.0, True, FLAT)["goodput_of_peak"]["3x"] == 0.092
