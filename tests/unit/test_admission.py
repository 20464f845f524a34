"""kit.grpc_server.AdmissionControl: the static bound, queueing-time shedding (CoDel) and the
optional event-loop-lag signal."""

from __future__ import annotations

import asyncio
import time

import pytest

from kit import deadline
from kit.config import (
    DEFAULT_SHED_QUEUE_INTERVAL_MS,
    DEFAULT_SHED_QUEUE_TARGET_MS,
    ConfigError,
    load_config,
)
from kit.grpc_server import QUEUE_MIN_CALLS, AdmissionControl


def test_the_static_bound_refuses_at_the_limit() -> None:
    admission = AdmissionControl(2)
    assert not admission.full()
    admission.in_flight = 2
    assert admission.full()


def test_a_lagging_loop_admits_only_the_floor_when_lag_shedding_is_on() -> None:
    admission = AdmissionControl(80, lag_limit_s=0.02, lag_floor=2)
    admission.in_flight = 5
    admission.loop_lag_s = 0.001
    assert not admission.full()  # on time: the static bound applies
    admission.loop_lag_s = 0.05
    assert admission.full()  # late: only the floor runs
    admission.in_flight = 1
    assert not admission.full()  # below the floor calls still run, so the server makes progress
    off = AdmissionControl(80)
    off.in_flight, off.loop_lag_s = 5, 10.0
    assert not off.full()  # off by default


async def test_the_lag_watch_sees_a_blocked_loop() -> None:
    admission = AdmissionControl(80, lag_limit_s=0.02)
    watch = asyncio.create_task(admission.watch_loop_lag(0.005))
    try:
        await asyncio.sleep(0.05)
        time.sleep(0.1)  # the loop is busy: the watcher wakes ~100 ms late
        await asyncio.sleep(0.001)
        await asyncio.sleep(0.001)
        assert admission.loop_lag_s > 0.02
    finally:
        watch.cancel()


# Queueing-time shedding (CoDel): the time a call waited before its handler, from the caller's
# timeout header (kit.deadline.BUDGET_HEADER) less time_remaining().

TARGET_S, INTERVAL_S = 0.02, 0.1


def test_a_burst_that_drains_within_an_interval_is_not_shed() -> None:
    admission = AdmissionControl(80, queue_target_s=TARGET_S, queue_interval_s=INTERVAL_S)
    now = 1000.0
    assert not admission.queued_too_long(0.001, now)  # starts an interval
    # A burst: long waits, but one call in the interval did not wait -> no standing queue.
    for i, wait in enumerate((0.5, 0.4, 0.3, 0.002, 0.2)):
        assert not admission.queued_too_long(wait, now + 0.01 * i)
    assert not admission.queued_too_long(0.3, now + INTERVAL_S + 0.001)  # next interval: judged
    assert not admission.queue_standing
    assert not admission.queued_too_long(0.3, now + INTERVAL_S + 0.002)


def test_a_standing_queue_sheds_the_calls_that_waited_over_twice_the_target() -> None:
    admission = AdmissionControl(80, queue_target_s=TARGET_S, queue_interval_s=INTERVAL_S)
    now = 1000.0
    for i in range(QUEUE_MIN_CALLS):  # an interval in which every call waited
        admission.queued_too_long(0.3 - 0.01 * i, now + 0.01 * i)
    # The next interval's first call is served (it starts the new minimum); a queue now stands.
    assert not admission.queued_too_long(0.3, now + INTERVAL_S + 0.001)
    assert admission.queue_standing
    assert admission.queued_too_long(0.3, now + INTERVAL_S + 0.002)  # waited long: refused
    assert admission.queued_too_long(2 * TARGET_S + 0.001, now + INTERVAL_S + 0.003)
    assert not admission.queued_too_long(2 * TARGET_S, now + INTERVAL_S + 0.004)  # not over twice
    assert not admission.queued_too_long(0.001, now + INTERVAL_S + 0.005)  # did not wait: served
    assert not admission.queued_too_long(None, now + INTERVAL_S + 0.006)  # unknown wait: served
    # That short wait means the queue emptied in this interval: the next one is not standing.
    admission.queued_too_long(0.3, now + 2 * INTERVAL_S + 0.01)
    assert not admission.queue_standing
    assert not admission.queued_too_long(0.3, now + 2 * INTERVAL_S + 0.02)


def test_sparse_slow_calls_and_an_idle_gap_are_not_a_standing_queue() -> None:
    """A busy machine delays a lone call now and then: that is not a queue to shed."""
    admission = AdmissionControl(80, queue_target_s=TARGET_S, queue_interval_s=INTERVAL_S)
    now = 1000.0
    for i in range(QUEUE_MIN_CALLS - 1):  # too few calls, however long they waited
        admission.queued_too_long(0.3, now + 0.01 * i)
    admission.queued_too_long(0.3, now + INTERVAL_S + 0.001)
    assert not admission.queue_standing
    assert not admission.queued_too_long(0.3, now + INTERVAL_S + 0.002)
    # enough calls that all waited, but the next call comes after an idle gap: nothing queued
    later = now + 10.0
    for i in range(QUEUE_MIN_CALLS):
        admission.queued_too_long(0.3, later + 0.01 * i)
    admission.queued_too_long(0.3, later + 3 * INTERVAL_S)
    assert not admission.queue_standing
    assert not admission.queued_too_long(0.3, later + 3 * INTERVAL_S + 0.001)


def test_queueing_time_shedding_is_off_with_a_zero_target() -> None:
    admission = AdmissionControl(80)
    for i in range(10):
        assert not admission.queued_too_long(5.0, 1000.0 + i)


def test_the_wait_is_the_callers_timeout_less_what_is_left() -> None:
    assert deadline.waited("5000", 4.7) == pytest.approx(0.3)
    assert deadline.waited("5000", 5.0) == 0.0
    assert deadline.waited("5000", 5.2) == 0.0  # a clock's noise is not a negative wait
    assert deadline.budget_metadata(2.5) == (deadline.BUDGET_HEADER, "2500")
    # Without a header, a deadline, or with anything but a plain number of ms: unknown.
    for header, left in (
        (None, 4.0),
        ("5000", None),
        ("", 4.0),
        ("-5", 4.0),
        ("5e3", 4.0),
        ("²", 4.0),
        ("5000 ", 4.0),
        ("9" * 13, 4.0),
        (str(deadline.MAX_BUDGET_MS + 1), 4.0),
    ):
        assert deadline.waited(header, left) is None, header


def test_queueing_time_shedding_is_off_by_default_and_configurable() -> None:
    base = {"PEONY_WALLET_DATABASE_URL": "postgresql://peony@localhost/wallet"}
    defaults = load_config("wallet", base)
    assert (defaults.shed_queue_target_ms, defaults.shed_queue_interval_ms) == (
        DEFAULT_SHED_QUEUE_TARGET_MS,
        DEFAULT_SHED_QUEUE_INTERVAL_MS,
    )
    assert defaults.shed_queue_target_ms == 0
    tuned = load_config(
        "wallet", {**base, "PEONY_SHED_QUEUE_TARGET_MS": "20", "PEONY_SHED_QUEUE_INTERVAL_MS": "250"}
    )
    assert (tuned.shed_queue_target_ms, tuned.shed_queue_interval_ms) == (20, 250)
    for name, value in (
        ("PEONY_SHED_QUEUE_TARGET_MS", "-1"),
        ("PEONY_SHED_QUEUE_TARGET_MS", "10001"),
        ("PEONY_SHED_QUEUE_INTERVAL_MS", "0"),
        ("PEONY_SHED_QUEUE_INTERVAL_MS", "soon"),
    ):
        with pytest.raises(ConfigError, match=name):
            load_config("wallet", {**base, name: value})
