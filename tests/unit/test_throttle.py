"""kit/throttle.py's arithmetic and settings (the behaviour through real gRPC calls is in
tests/integration/kit/test_client_throttle.py and tests/integration/gateway/test_client_throttle.py)."""

from __future__ import annotations

import pytest

from kit.config import ConfigError, load_config
from kit.throttle import (
    REQUESTS_PADDING,
    WINDOW_BUCKETS,
    AdaptiveThrottle,
    ThrottleSettings,
    load_throttle_settings,
)
from tests.unit.test_config_ops import BASE


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_refusal_probability_is_the_sre_formula_with_padding():
    throttle = AdaptiveThrottle("t", k=2.0, window_s=60, clock=Clock(), rng=lambda: 1.0)
    for _ in range(70):
        throttle.record(False)
    for _ in range(30):
        throttle.record(True)
    # 100 requests, 30 accepts: (100 - 2 * 30) / (100 + padding)
    assert throttle.refusal_probability() == pytest.approx(40 / (100 + REQUESTS_PADDING))
    for _ in range(40):
        throttle.record(True)
    assert throttle.requests == 140 and throttle.accepts == 70
    assert throttle.refusal_probability() == 0.0  # half accepted: K = 2 tolerates it


def test_outcomes_leave_the_window_a_bucket_at_a_time():
    clock = Clock()
    throttle = AdaptiveThrottle("t", k=2.0, window_s=60, clock=clock, rng=lambda: 1.0)
    for _ in range(50):
        throttle.record(False)
    clock.now += 30  # half a window later: still counted
    assert throttle.requests == 50
    clock.now += 60 / WINDOW_BUCKETS * (WINDOW_BUCKETS // 2 + 1)  # past the window
    assert throttle.refusal_probability() == 0.0
    assert throttle.requests == 0 and throttle.accepts == 0
    clock.now += 10_000  # a long idle spell empties it too, without walking every tick
    throttle.record(False)
    assert throttle.requests == 1


def test_refusals_are_counted_as_requests():
    throttle = AdaptiveThrottle("t", k=2.0, window_s=60, clock=Clock(), rng=lambda: 0.0)
    for _ in range(20):
        throttle.record(False)
    refused = [throttle.admit() for _ in range(10)]
    assert not any(refused)
    assert throttle.requests == 30 and throttle.refused_locally == 10


def test_calls_in_flight_are_not_refusals():
    """A burst of slow calls to a healthy target: nothing is known about them yet, so nothing is
    held against the target (counted at send time, 100 calls in flight would read as 100
    refusals)."""
    throttle = AdaptiveThrottle("t", k=2.0, window_s=60, clock=Clock(), rng=lambda: 0.0)
    assert all(throttle.admit() for _ in range(100))
    assert throttle.requests == 0 and throttle.refusal_probability() == 0.0


def test_settings_from_the_environment():
    assert load_throttle_settings({}) == ThrottleSettings(enabled=True, k=2.0, window_s=120.0)
    got = load_throttle_settings(
        {
            "PEONY_CLIENT_THROTTLE": "off",
            "PEONY_CLIENT_THROTTLE_K": "1.5",
            "PEONY_CLIENT_THROTTLE_WINDOW_S": "30",
        }
    )
    assert got == ThrottleSettings(enabled=False, k=1.5, window_s=30.0)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PEONY_CLIENT_THROTTLE", "maybe"),
        ("PEONY_CLIENT_THROTTLE_K", "0.5"),
        ("PEONY_CLIENT_THROTTLE_K", "nan"),
        ("PEONY_CLIENT_THROTTLE_K", "two"),
        ("PEONY_CLIENT_THROTTLE_WINDOW_S", "0"),
        ("PEONY_CLIENT_THROTTLE_WINDOW_S", "1e9"),
    ],
)
def test_a_bad_setting_stops_the_service_at_start(name, value):
    with pytest.raises(ConfigError, match=name):
        load_config("wallet", {**BASE, name: value})
