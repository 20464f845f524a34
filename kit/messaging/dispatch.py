"""A consumer's handler as a table keyed by event type, instead of an if/elif chain per service.

    table = EventTable(lambda session, tenant: MemberProjection(session, tenant), invalid=InvalidEvent)

    @table.on(members_events.TierChanged)
    async def _tier_changed(projection, envelope, event): ...

    EventConsumer(..., subjects=table.subjects("members"), handler=table.handler())

The handler requires a tenant (an event without one can never be applied: ``invalid`` is raised,
so the consumer retries, then dead-letters it), builds the per-event context (a projection, a
joined unit of work, ...) on the consumer's session, unpacks the event into its registered message
type and calls the entry. The subjects the consumer subscribes to come from the same table, so the
two cannot drift; an event type the table does not know (a producer mislabelling one) is logged
and acked, as before.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

from google.protobuf.message import Message
from sqlalchemy.ext.asyncio import AsyncSession

from kit.logging import get_logger
from kit.messaging.consumer import EventHandler
from kit.messaging.envelope import EventEnvelope, event_type_of, subject_for, unpack

__all__ = ["EventTable", "InvalidEvent"]

C = TypeVar("C")
Entry = Callable[[Any, EventEnvelope, Any], Awaitable[None]]

_log = get_logger("kit.messaging.dispatch")


class InvalidEvent(ValueError):
    """An event that can never be applied, whatever is retried (dead-lettered after the retries)."""


class EventTable(Generic[C]):
    """Event message type -> ``async entry(context, envelope, event)``."""

    def __init__(
        self, context: Callable[[AsyncSession, str], C], *, invalid: type[Exception] = InvalidEvent
    ) -> None:
        self._context = context
        self._invalid = invalid
        self._entries: dict[str, tuple[type[Message], Entry]] = {}

    def on(self, *kinds: type[Message]) -> Callable[[Entry], Entry]:
        """Register the decorated entry for each of ``kinds`` (one entry may serve several)."""

        def register(entry: Entry) -> Entry:
            for kind in kinds:
                event_type = event_type_of(kind)
                if event_type in self._entries:
                    raise ValueError(f"{event_type} already has an entry")
                self._entries[event_type] = (kind, entry)
            return entry

        return register

    @property
    def event_types(self) -> list[str]:
        return list(self._entries)

    def subjects(self, stream_service: str) -> list[str]:
        """The subjects of every event type in the table, on ``stream_service``'s stream."""
        return [subject_for(stream_service, event_type) for event_type in self._entries]

    async def apply(self, session: AsyncSession, envelope: EventEnvelope) -> None:
        if not envelope.tenant:
            raise self._invalid(f"event {envelope.event_id} has no tenant")
        found = self._entries.get(envelope.event_type)
        if found is None:
            # Subscribed by subject, so only when a producer mislabels an event; nothing to do (acked).
            _log.info("consumer.event_ignored", event_type=envelope.event_type, event_id=envelope.event_id)
            return
        kind, entry = found
        await entry(self._context(session, envelope.tenant), envelope, unpack(envelope, kind))

    def handler(self) -> EventHandler:
        """The ``EventConsumer`` handler that dispatches through this table."""
        return self.apply
