"""The dispatcher's loops inside the notify process: drain due messages, then wait for a wake-up
(new messages committed) or the poll interval (deferred and retried messages falling due)."""

from __future__ import annotations

import asyncio
import contextlib

import asyncpg

from kit.logging import get_logger
from kit.workers import PeriodicWorker
from services.notify.adapters.repository import DISPATCH_CHANNEL
from services.notify.service_layer.dispatch import Dispatcher

log = get_logger("peony.notify.jobs")


class DispatchWake:
    """``LISTEN peony_notify_dispatch`` on its own connection: the consumer's commit of new messages
    (``add_messages`` notifies) wakes every dispatch loop of every replica at once, so a message
    waits for no poll and an idle notify does not poll the queue many times a second. Lost
    connections are reopened; while down, the loops simply poll."""

    name = "notify-dispatch-wake"

    def __init__(self, dsn: str):
        self._dsn = dsn
        self._events: list[asyncio.Event] = []
        self._task: asyncio.Task[None] | None = None
        self.listening = asyncio.Event()

    def subscribe(self) -> asyncio.Event:
        event = asyncio.Event()
        self._events.append(event)
        return event

    def _wake(self, *_args: object) -> None:
        for event in self._events:
            event.set()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._listen(), name=self.name)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _listen(self) -> None:
        delay = 0.5
        while True:
            conn: asyncpg.Connection | None = None
            try:
                conn = await asyncpg.connect(
                    self._dsn, timeout=10, server_settings={"application_name": "peony-notify-dispatch-wake"}
                )
                lost = asyncio.Event()
                conn.add_termination_listener(lambda _conn, ev=lost: ev.set())
                await conn.add_listener(DISPATCH_CHANNEL, self._wake)
                self.listening.set()
                self._wake()  # messages committed while nobody listened
                delay = 0.5
                while not lost.is_set():
                    try:
                        await asyncio.wait_for(lost.wait(), 30)
                    except TimeoutError:
                        await conn.fetchval("SELECT 1", timeout=10)  # a silently dropped connection
                log.warning("notify.dispatch_wake_lost")
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("notify.dispatch_wake_failed", error=type(exc).__name__, retry_in_s=delay)
            finally:
                self.listening.clear()
                if conn is not None:
                    conn.terminate()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)


class DispatchWorker(PeriodicWorker):
    name = "notify-dispatch"

    def __init__(
        self, dispatcher: Dispatcher, *, interval_s: float, batch: int, wake: DispatchWake | None = None
    ):
        super().__init__(interval_s=interval_s)
        self._dispatcher = dispatcher
        self._batch = batch
        self._woken = wake.subscribe() if wake is not None else None

    async def tick(self) -> int:
        total = 0
        while True:  # a full batch means more may be due: keep going before sleeping
            if self._woken is not None:
                self._woken.clear()  # what was committed before this claim, this claim sees
            n = await self._dispatcher.run_once()
            total += n
            if n < self._batch:
                return total

    async def _loop(self) -> None:
        if self._woken is None:
            await super()._loop()
            return
        while True:
            try:
                await self.tick()
            except Exception:
                log.exception("periodic work failed; will retry", worker=self.name)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._woken.wait(), self.interval_s)
