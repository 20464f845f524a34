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

An event type may also have a *batch entry*, for a write that takes many events at once
(a projection's upsert of many rows in one round trip)::

    @table.on_batch(members_events.MemberRegistered)
    async def _registered_many(projection, items): ...  # items: [(envelope, event)], stream order

    EventConsumer(..., handler=table.handler(), batch_handlers=table.batch_handlers())

The consumer hands it a run of consecutive events of that type (grouped here by tenant, each
tenant's in stream order); the per-event entry stays required: it is what the consumer falls back
to when a batch fails, to find the one event that cannot be applied.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, TypeVar

from google.protobuf.message import Message
from sqlalchemy.ext.asyncio import AsyncSession

from kit.logging import get_logger
from kit.messaging.consumer import BatchHandler, EventHandler
from kit.messaging.envelope import EventEnvelope, event_type_of, subject_for, unpack

__all__ = ["EventTable", "InvalidEvent"]

C = TypeVar("C")
Entry = Callable[[Any, EventEnvelope, Any], Awaitable[None]]
BatchEntry = Callable[[Any, list[tuple[EventEnvelope, Any]]], Awaitable[None]]

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
        self._batch_entries: dict[str, tuple[type[Message], BatchEntry]] = {}

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

    def on_batch(self, *kinds: type[Message]) -> Callable[[BatchEntry], BatchEntry]:
        """Register the decorated batch entry for each of ``kinds`` (each needs its ``on`` entry too)."""

        def register(entry: BatchEntry) -> BatchEntry:
            for kind in kinds:
                event_type = event_type_of(kind)
                if event_type in self._batch_entries:
                    raise ValueError(f"{event_type} already has a batch entry")
                self._batch_entries[event_type] = (kind, entry)
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

    def batch_handlers(self) -> dict[str, BatchHandler]:
        """The ``EventConsumer`` batch handlers (event type -> handler of a run of its events)."""
        missing = [t for t in self._batch_entries if t not in self._entries]
        if missing:
            raise ValueError(f"batch entries without a per-event entry: {missing}")
        return {
            event_type: self._batch_handler(kind, entry)
            for event_type, (kind, entry) in self._batch_entries.items()
        }

    def _batch_handler(self, kind: type[Message], entry: BatchEntry) -> BatchHandler:
        async def apply_many(session: AsyncSession, envelopes: Sequence[EventEnvelope]) -> None:
            by_tenant: dict[str, list[tuple[EventEnvelope, Any]]] = {}
            for envelope in envelopes:
                if not envelope.tenant:
                    raise self._invalid(f"event {envelope.event_id} has no tenant")
                by_tenant.setdefault(envelope.tenant, []).append((envelope, unpack(envelope, kind)))
            for tenant, items in by_tenant.items():
                await entry(self._context(session, tenant), items)

        return apply_many
