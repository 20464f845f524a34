"""The dispatcher's loop inside the notify process: drains due messages, then polls."""

from __future__ import annotations

from kit.workers import PeriodicWorker
from services.notify.service_layer.dispatch import Dispatcher


class DispatchWorker(PeriodicWorker):
    name = "notify-dispatch"

    def __init__(self, dispatcher: Dispatcher, *, interval_s: float, batch: int):
        super().__init__(interval_s=interval_s)
        self._dispatcher = dispatcher
        self._batch = batch

    async def tick(self) -> int:
        total = 0
        while True:  # a full batch means more may be due: keep going before sleeping
            n = await self._dispatcher.run_once()
            total += n
            if n < self._batch:
                return total
