"""The notify unit of work: one transaction with the notify repositories bound to it.

Notify's changes are mostly caused by events, and an event consumer already owns the transaction
(it holds the inbox row). :meth:`NotifyUnitOfWork.joining` makes a unit of work on *that* session:
handlers use it exactly like a standalone one (repositories, ``emit()``, ``commit()``), but its
``commit()`` only writes the emitted events to the outbox — the consumer commits inbox row,
message rows and outbox rows together, or rolls all of them back.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from kit.messaging import add_to_outbox, new_envelope
from kit.uow import UnitOfWork
from services.notify.adapters.repository import MessageRepository, SpendRepository, TemplateRepository

SERVICE = "notify"


class NotifyUnitOfWork(UnitOfWork):
    messages: MessageRepository
    templates: TemplateRepository
    spend: SpendRepository

    def _bind(self) -> None:
        self.messages = MessageRepository(self.session, self.tenant)
        self.templates = TemplateRepository(self.session, self.tenant)
        self.spend = SpendRepository(self.session, self.tenant)

    @classmethod
    def joining(
        cls, session: AsyncSession, *, tenant: str, service: str = SERVICE, **deps: Any
    ) -> JoinedUnitOfWork:
        return JoinedUnitOfWork(session, tenant=tenant, service=service, **deps)


class JoinedUnitOfWork(NotifyUnitOfWork):
    """A unit of work inside a transaction someone else began and will commit (or roll back)."""

    def __init__(self, session: AsyncSession, *, tenant: str, service: str = SERVICE, **deps: Any):
        super().__init__(None, service=service, tenant=tenant, **deps)  # type: ignore[arg-type]
        self.session = session
        self._bind()

    async def __aenter__(self) -> JoinedUnitOfWork:
        return self

    async def __aexit__(self, exc_type, exc, tb) -> None:
        """The owner of the transaction decides; nothing to close here."""

    async def commit(self) -> None:
        """Writes the emitted events to the outbox in the owner's transaction (which commits them)."""
        for event, aggregate_type, aggregate_id in self._pending:
            envelope = new_envelope(
                event, tenant=self.tenant, aggregate_type=aggregate_type, aggregate_id=aggregate_id
            )
            await add_to_outbox(self.session, self.service, envelope)
        self._pending = []
        await self.session.flush()
