"""The message repository: the only code that knows how messages are stored.

Every statement is filtered by the tenant the repository was built for. It works on a session (the
consumer's transaction) or on a plain connection (autocommit reads).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from services.notify.adapters import tables as t
from services.notify.domain.message import Message

_m = t.messages


def _from_row(r: Row) -> Message:
    return Message(
        message_id=r.message_id,
        recipient=r.recipient,
        channel=r.channel,
        trigger=r.trigger,
        trigger_event_id=r.trigger_event_id,
        locale=r.locale,
        body=r.body,
        state=r.state,
        attempts=r.attempts,
        last_error=r.last_error,
        create_time=r.create_time,
        send_time=r.send_time,
    )


class MessageRepository:
    def __init__(self, session: AsyncSession | AsyncConnection, tenant: str):
        self.session = session
        self.tenant = tenant

    def _where(self, *clauses):
        return and_(_m.c.tenant_id == self.tenant, *clauses)

    async def add(self, m: Message) -> bool:
        """Inserts a new message; False (and nothing written) when the message for the same
        (trigger event, channel, recipient) already exists — whoever made it, it is the one message."""
        stmt = (
            pg_insert(_m)
            .values(
                tenant_id=self.tenant,
                message_id=m.message_id,
                recipient=m.recipient,
                channel=m.channel,
                trigger=m.trigger,
                trigger_event_id=m.trigger_event_id,
                locale=m.locale,
                body=m.body,
                state=m.state,
                attempts=m.attempts,
                last_error=m.last_error,
                send_time=m.send_time,
            )
            # Both the primary key and uq_messages_trigger mean "this message exists already".
            .on_conflict_do_nothing()
            .returning(_m.c.create_time)
        )
        row = (await self.session.execute(stmt)).first()
        if row is None:
            return False
        m.create_time = row.create_time
        return True

    async def save_delivery(self, m: Message) -> None:
        """Writes back the delivery outcome (state, attempts, error, send time)."""
        await self.session.execute(
            update(_m)
            .where(self._where(_m.c.message_id == m.message_id))
            .values(state=m.state, attempts=m.attempts, last_error=m.last_error, send_time=m.send_time)
        )

    async def get(self, message_id: str) -> Message | None:
        row = (
            await self.session.execute(select(_m).where(self._where(_m.c.message_id == message_id)))
        ).first()
        return _from_row(row) if row else None

    async def list(
        self,
        *,
        limit: int,
        after: tuple[datetime, str] | None = None,
        recipient: str | None = None,
        trigger: str | None = None,
    ) -> list[Message]:
        """Newest first, keyset-paged on (create_time, message_id) descending."""
        clauses = []
        if recipient is not None:
            clauses.append(_m.c.recipient == recipient)
        if trigger is not None:
            clauses.append(_m.c.trigger == trigger)
        if after is not None:
            clauses.append(tuple_(_m.c.create_time, _m.c.message_id) < (after[0], after[1]))
        stmt = (
            select(_m)
            .where(self._where(*clauses))
            .order_by(_m.c.create_time.desc(), _m.c.message_id.desc())
            .limit(limit)
        )
        return [_from_row(r) for r in (await self.session.execute(stmt)).all()]
