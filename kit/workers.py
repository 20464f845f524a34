"""Background work inside a service process that runs every N seconds until the process stops."""

from __future__ import annotations

import asyncio
import contextlib

from kit.logging import get_logger

log = get_logger("peony.workers")


class PeriodicWorker:
    """Subclasses implement `tick()`; a failing tick is logged and retried at the next interval.

    With `final_tick=True` the worker ticks once more on stop (e.g. to flush buffered records).
    """

    name = "periodic"
    final_tick = False

    def __init__(self, *, interval_s: float):
        self.interval_s = interval_s
        self._task: asyncio.Task[None] | None = None

    async def tick(self) -> object:
        raise NotImplementedError

    async def _loop(self) -> None:
        while True:
            try:
                await self.tick()
            except Exception:
                log.exception("periodic work failed; will retry", worker=self.name)
            await asyncio.sleep(self.interval_s)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name=self.name)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self.final_tick:
            await self.tick()
