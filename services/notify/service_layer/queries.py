"""Notify reads. Single statements on autocommit connections (no BEGIN/ROLLBACK round trips)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from kit import auth
from kit.auth import Principal
from kit.errors import NotFound
from services.notify.adapters.repository import MessageRepository, TemplateRepository
from services.notify.domain.default_templates import DEFAULT_TEMPLATES
from services.notify.domain.message import Message, message_name
from services.notify.domain.templates import Template


class NotifyQueries:
    def __init__(self, engine: AsyncEngine):
        self._engine = engine.execution_options(isolation_level="AUTOCOMMIT")

    async def get_message(self, caller: Principal, message_id: str) -> Message:
        caller.require(auth.NOTIFY_READ)
        async with self._engine.connect() as conn:
            message = await MessageRepository(conn, caller.tenant).get(message_id)
        if message is None:
            raise NotFound(f"{message_name(message_id)} not found", reason="MESSAGE_NOT_FOUND")
        return message

    async def list_messages(
        self,
        caller: Principal,
        *,
        limit: int,
        after: tuple[datetime, str] | None,
        recipient: str | None,
        trigger: str | None,
        state: str | None = None,
    ) -> list[Message]:
        caller.require(auth.NOTIFY_READ)
        async with self._engine.connect() as conn:
            return await MessageRepository(conn, caller.tenant).list(
                limit=limit, after=after, recipient=recipient, trigger=trigger, state=state
            )

    async def templates(
        self, caller: Principal, trigger: str
    ) -> list[tuple[str, str, Template, datetime | None, datetime | None, bool]]:
        """(channel, locale, template, create_time, update_time, built_in): the tenant's own first."""
        caller.require(auth.NOTIFY_READ)
        async with self._engine.connect() as conn:
            stored = await TemplateRepository(conn, caller.tenant).all()
        own = [
            (channel, locale, tpl, created, updated, False)
            for (trig, channel, locale), (tpl, created, updated) in sorted(stored.items())
            if trig == trigger
        ]
        defaults = [
            (channel, locale, tpl, None, None, True)
            for (trig, channel, locale), tpl in sorted(DEFAULT_TEMPLATES.items())
            if trig == trigger and (trig, channel, locale) not in stored
        ]
        return own + defaults
