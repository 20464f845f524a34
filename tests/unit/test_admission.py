"""kit.grpc_server.AdmissionControl: the static bound, and the optional event-loop-lag signal."""

from __future__ import annotations

import asyncio
import time

from kit.grpc_server import AdmissionControl


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
