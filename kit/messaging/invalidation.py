"""Follow a service's own event stream on every replica, to keep in-process read caches honest.

Each replica runs an ephemeral, ordered JetStream consumer starting at "now": every change any
replica commits reaches every other replica as soon as the outbox relay publishes it (the relay
wakes on LISTEN/NOTIFY, so typically within milliseconds). Ordered consumers re-create themselves
after a gap; whenever we cannot trust what we saw (a message we cannot parse, a (re)start) the
caller's `on_reset` drops everything. Cache TTLs bound the damage of anything still missed.
"""

from __future__ import annotations

from collections.abc import Callable

from nats.js import JetStreamContext
from nats.js.api import DeliverPolicy

from kit.logging import get_logger
from kit.messaging.envelope import EventEnvelope

log = get_logger("peony.invalidation")


class StreamInvalidator:
    def __init__(
        self,
        js: JetStreamContext,
        service: str,
        *,
        on_event: Callable[[EventEnvelope], None],
        on_reset: Callable[[], None],
    ):
        self._js = js
        self._subject = f"peony.{service}.>"
        self._on_event = on_event
        self._on_reset = on_reset
        self._sub = None

    async def _handle(self, msg) -> None:
        try:
            envelope = EventEnvelope.FromString(msg.data)
        except Exception:
            log.warning("unparseable event on own stream; dropping caches", subject=msg.subject)
            self._on_reset()
            return
        self._on_event(envelope)

    async def start(self) -> None:
        self._sub = await self._js.subscribe(
            self._subject, cb=self._handle, ordered_consumer=True, deliver_policy=DeliverPolicy.NEW
        )
        self._on_reset()

    async def stop(self) -> None:
        if self._sub is not None:
            try:
                await self._sub.unsubscribe()
            except Exception:
                log.warning("could not unsubscribe the invalidation consumer")
            self._sub = None
