"""The notify unit of work: one transaction with the notify repositories bound to it.

Notify's changes are mostly caused by events, and an event consumer already owns the transaction
(it holds the inbox row). The kit's :meth:`UnitOfWork.joined` makes a unit of work on *that*
session: handlers use it exactly like a standalone one (repositories, ``emit()``, ``commit()``),
but its ``commit()`` only writes the emitted events to the outbox — the consumer commits inbox
row, message rows and outbox rows together, or rolls all of them back.
"""

from __future__ import annotations

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
