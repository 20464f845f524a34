"""Notify's repositories: the only code that knows how messages, templates and spend are stored.

Every statement is filtered by the tenant the repository was built for (the dispatcher's queue
read is the one cross-tenant statement, and it hands each row to its tenant's unit of work). They
work on a session (a transaction) or on a plain connection (autocommit reads).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import (
    DateTime,
    LargeBinary,
    Text,
    and_,
    bindparam,
    delete,
    func,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from services.notify.adapters import tables as t
from services.notify.domain.message import (
    DUE_STATES,
    PENDING_STATES,
    STATE_DELIVERED,
    STATE_SENDING,
    STATE_SENT,
    STATE_SUPPRESSED,
    Message,
)
from services.notify.domain.templates import Template

_m = t.messages
_t = t.templates
_s = t.spend_daily

# Columns a message read returns (not the event payload, which only the dispatcher needs).
_COLUMNS = [c for c in _m.c if c.name != "event_payload"]


def message_from_row(r: Row) -> Message:
    return Message(
        message_id=r.message_id,
        recipient=r.recipient,
        trigger=r.trigger,
        trigger_event_id=r.trigger_event_id,
        purpose=r.purpose,
        channel=r.channel,
        locale=r.locale,
        body=r.body,
        state=r.state,
        attempts=r.attempts,
        last_error=r.last_error,
        decision=r.decision,
        due_time=r.due_time,
        provider=r.provider,
        provider_message_id=r.provider_message_id,
        address_hash=r.address_hash,
        address_masked=r.address_masked,
        billable_units=r.billable_units,
        cost_minor=r.cost_minor,
        create_time=r.create_time,
        send_time=r.send_time,
        deliver_time=r.deliver_time,
    )


def _values(m: Message) -> dict:
    return {
        "channel": m.channel,
        "locale": m.locale,
        "body": m.body,
        "state": m.state,
        "attempts": m.attempts,
        "last_error": m.last_error,
        "decision": m.decision,
        "due_time": m.due_time,
        "provider": m.provider,
        "provider_message_id": m.provider_message_id,
        "address_hash": m.address_hash,
        "address_masked": m.address_masked,
        "billable_units": m.billable_units,
        "cost_minor": m.cost_minor,
        "send_time": m.send_time,
        "deliver_time": m.deliver_time,
    }


# New queued messages, any number of them, in ONE statement whose SQL text never changes (each
# column an array parameter, ``unnest`` makes the rows): prepared once per connection, and a batch
# of events costs one round trip. (An executemany with RETURNING is rewritten per batch size: a
# new SQL text, compiled and prepared again, for every distinct number of rows.) Both the primary
# key and uq_messages_trigger mean "this message exists already".
_QUEUE_COLUMNS = (
    ("tenant_id", Text),
    ("message_id", UUID(as_uuid=False)),
    ("recipient", Text),
    ("trigger", Text),
    ("trigger_event_id", UUID(as_uuid=False)),
    ("purpose", Text),
    ("state", Text),
    ("due_time", DateTime(timezone=True)),
    ("event_type", Text),
    ("event_payload", LargeBinary),
)
_QUEUE_ROWS = func.unnest(*(bindparam(name, type_=ARRAY(type_)) for name, type_ in _QUEUE_COLUMNS))
_ADD_MANY = (
    pg_insert(_m)
    .from_select(
        [name for name, _ in _QUEUE_COLUMNS],
        select(_QUEUE_ROWS.table_valued(*(name for name, _ in _QUEUE_COLUMNS)).render_derived("queued")),
    )
    .on_conflict_do_nothing()
    .returning(_m.c.message_id)
)


async def add_messages(session: AsyncSession, rows: list[tuple[str, Message, str, bytes]]) -> int:
    """Inserts new queued messages (tenant, message, event type, event payload) of any tenants in
    one statement; rows whose (trigger event, trigger, recipient) exists already are skipped.
    Returns how many were new."""
    if not rows:
        return 0
    columns: dict[str, list] = {name: [] for name, _ in _QUEUE_COLUMNS}
    for tenant, m, event_type, payload in rows:
        for name, value in (
            ("tenant_id", tenant),
            ("message_id", m.message_id),
            ("recipient", m.recipient),
            ("trigger", m.trigger),
            ("trigger_event_id", m.trigger_event_id),
            ("purpose", m.purpose),
            ("state", m.state),
            ("due_time", m.due_time),
            ("event_type", event_type),
            ("event_payload", payload),
        ):
            columns[name].append(value)
    added = len((await session.execute(_ADD_MANY, columns)).all())
    if added:
        # Delivered on commit: the dispatchers listening (entrypoints.jobs.DispatchWake) claim the
        # new messages now instead of at their next poll.
        await session.execute(_WAKE_DISPATCHERS)
    return added


DISPATCH_CHANNEL = "peony_notify_dispatch"
_WAKE_DISPATCHERS = text(f"SELECT pg_notify('{DISPATCH_CHANNEL}', '')")


class MessageRepository:
    def __init__(self, session: AsyncSession | AsyncConnection, tenant: str):
        self.session = session
        self.tenant = tenant

    def _where(self, *clauses):
        return and_(_m.c.tenant_id == self.tenant, *clauses)

    async def add_many(self, rows: list[tuple[Message, str, bytes]]) -> int:
        """Inserts new queued messages (message, event type, event payload) of this tenant in one
        statement (``add_messages``); returns how many were new."""
        return await add_messages(self.session, [(self.tenant, m, et, payload) for m, et, payload in rows])

    async def erase_recipient(self, recipient: str) -> None:
        """MemberErased: the member's messages stay as a count (trigger, channel, state, times,
        cost), everything that could say who they were goes — the rendered text, the triggering
        event's copy, the masked address and its keyed hash, provider errors. Messages still
        waiting are suppressed: there is nobody to send them to any more."""
        erased = {
            "body": "",
            "event_payload": None,
            "address_masked": "",
            "address_hash": "",
            "last_error": "",
        }
        await self.session.execute(update(_m).where(self._where(_m.c.recipient == recipient)).values(erased))
        await self.session.execute(
            update(_m)
            .where(self._where(_m.c.recipient == recipient, _m.c.state.in_(PENDING_STATES)))
            .values(state=STATE_SUPPRESSED, decision="member_erased", due_time=None)
        )

    async def save(self, m: Message) -> None:
        await self.session.execute(
            update(_m).where(self._where(_m.c.message_id == m.message_id)).values(_values(m))
        )

    async def get(self, message_id: str, *, for_update: bool = False) -> Message | None:
        stmt = select(*_COLUMNS).where(self._where(_m.c.message_id == message_id))
        if for_update:
            stmt = stmt.with_for_update()
        row = (await self.session.execute(stmt)).first()
        return message_from_row(row) if row else None

    async def list(
        self,
        *,
        limit: int,
        after: tuple[datetime, str] | None = None,
        recipient: str | None = None,
        trigger: str | None = None,
        state: str | None = None,
    ) -> list[Message]:
        """Newest first, keyset-paged on (create_time, message_id) descending."""
        clauses = []
        if recipient is not None:
            clauses.append(_m.c.recipient == recipient)
        if trigger is not None:
            clauses.append(_m.c.trigger == trigger)
        if state is not None:
            clauses.append(_m.c.state == state)
        if after is not None:
            clauses.append(tuple_(_m.c.create_time, _m.c.message_id) < (after[0], after[1]))
        stmt = (
            select(*_COLUMNS)
            .where(self._where(*clauses))
            .order_by(_m.c.create_time.desc(), _m.c.message_id.desc())
            .limit(limit)
        )
        return [message_from_row(r) for r in (await self.session.execute(stmt)).all()]

    async def lock_recipient(self, recipient: str) -> None:
        """A transaction-scoped advisory lock on (tenant, recipient): serialises the frequency-cap
        check and the send it allows across replicas."""
        await self.session.execute(
            select(func.pg_advisory_xact_lock(func.hashtextextended(f"notify|{self.tenant}|{recipient}", 0)))
        )

    async def marketing_sent(self, recipient: str, now: datetime) -> tuple[int, int]:
        """Marketing messages sent to ``recipient`` in the last 24 hours and 7 days."""
        day_ago, week_ago = now - timedelta(days=1), now - timedelta(days=7)
        stmt = select(func.count().filter(_m.c.send_time > day_ago), func.count()).where(
            self._where(
                _m.c.recipient == recipient,
                _m.c.purpose == "marketing",
                _m.c.state.in_((STATE_SENDING, STATE_SENT, STATE_DELIVERED)),
                _m.c.send_time > week_ago,
            )
        )
        day, week = (await self.session.execute(stmt)).one()
        return int(day), int(week)


_SAVE_MANY = (
    update(_m)
    .where(_m.c.tenant_id == bindparam("k_tenant"), _m.c.message_id == bindparam("k_message"))
    .values({name: bindparam(name) for name in _values(Message("", "", "", "", ""))})
)


async def save_many(session: AsyncSession, rows: list[tuple[str, Message]]) -> None:
    """Writes back many (tenant, message) in one executemany (pipelined by the driver)."""
    if rows:
        await session.execute(
            _SAVE_MANY, [{"k_tenant": tenant, "k_message": m.message_id, **_values(m)} for tenant, m in rows]
        )


async def lock_due(
    session: AsyncSession, *, now: datetime, limit: int
) -> list[tuple[str, Message, str, bytes]]:
    """Locks up to ``limit`` due messages of any tenant (pending, or claims whose lease ran out),
    skipping rows another dispatcher holds: (tenant, message, event type, event payload), oldest
    due first."""
    stmt = (
        select(_m)
        .where(_m.c.state.in_(DUE_STATES), _m.c.due_time <= now)
        .order_by(_m.c.due_time)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    rows = (await session.execute(stmt)).all()
    return [(r.tenant_id, message_from_row(r), r.event_type, r.event_payload) for r in rows]


# The claimed rows still held by their claim, locked in a fixed order: one SQL text for any
# number of claims (arrays, not an expanding IN, which renders — and prepares — a new statement
# for every batch size).
_LOCK_CLAIMS = text(
    """
    SELECT m.tenant_id, m.message_id
    FROM messages m
    JOIN unnest(CAST(:tenants AS text[]), CAST(:messages AS uuid[]), CAST(:attempts AS integer[]))
         AS c(tenant_id, message_id, attempts)
      ON m.tenant_id = c.tenant_id AND m.message_id = c.message_id AND m.attempts = c.attempts
    WHERE m.state = :sending
    ORDER BY m.tenant_id, m.message_id
    FOR UPDATE OF m
    """
)


async def lock_claims(session: AsyncSession, claims: list[tuple[str, str, int]]) -> set[tuple[str, str]]:
    """Locks the claimed rows (tenant, message id, attempts) and returns those still held by that
    claim: a row whose lease ran out and that another dispatcher took over is not ours to record."""
    if not claims:
        return set()
    rows = await session.execute(
        _LOCK_CLAIMS,
        {
            "tenants": [tenant for tenant, _, _ in claims],
            "messages": [message_id for _, message_id, _ in claims],
            "attempts": [attempts for _, _, attempts in claims],
            "sending": STATE_SENDING,
        },
    )
    return {(r.tenant_id, str(r.message_id)) for r in rows.all()}


async def find_by_provider_id(
    session: AsyncSession, provider: str, provider_message_id: str
) -> tuple[str, Message] | None:
    """The message a receipt is about, locked: (tenant, message)."""
    stmt = (
        select(*_COLUMNS)
        .where(_m.c.provider == provider, _m.c.provider_message_id == provider_message_id)
        .with_for_update()
    )
    row = (await session.execute(stmt)).first()
    return (row.tenant_id, message_from_row(row)) if row else None


class TemplateRepository:
    def __init__(self, session: AsyncSession | AsyncConnection, tenant: str):
        self.session = session
        self.tenant = tenant

    async def all(self) -> dict[tuple[str, str, str], tuple[Template, datetime, datetime]]:
        rows = (await self.session.execute(select(_t).where(_t.c.tenant_id == self.tenant))).all()
        return {
            (r.trigger, r.channel, r.locale): (
                Template(r.body, r.subject, r.template_code),
                r.create_time,
                r.update_time,
            )
            for r in rows
        }

    async def get(
        self, trigger: str, channel: str, locale: str
    ) -> tuple[Template, datetime, datetime] | None:
        row = (
            await self.session.execute(
                select(_t).where(
                    _t.c.tenant_id == self.tenant,
                    _t.c.trigger == trigger,
                    _t.c.channel == channel,
                    _t.c.locale == locale,
                )
            )
        ).first()
        return (
            (Template(row.body, row.subject, row.template_code), row.create_time, row.update_time)
            if row
            else None
        )

    async def create(
        self, trigger: str, channel: str, locale: str, tpl: Template
    ) -> tuple[datetime, datetime] | None:
        """None when the tenant has that template already."""
        row = (
            await self.session.execute(
                pg_insert(_t)
                .values(
                    tenant_id=self.tenant,
                    trigger=trigger,
                    channel=channel,
                    locale=locale,
                    body=tpl.body,
                    subject=tpl.subject,
                    template_code=tpl.template_code,
                )
                .on_conflict_do_nothing()
                .returning(_t.c.create_time, _t.c.update_time)
            )
        ).first()
        return (row.create_time, row.update_time) if row else None

    async def update(
        self, trigger: str, channel: str, locale: str, tpl: Template
    ) -> tuple[datetime, datetime] | None:
        row = (
            await self.session.execute(
                update(_t)
                .where(
                    _t.c.tenant_id == self.tenant,
                    _t.c.trigger == trigger,
                    _t.c.channel == channel,
                    _t.c.locale == locale,
                )
                .values(
                    body=tpl.body,
                    subject=tpl.subject,
                    template_code=tpl.template_code,
                    update_time=func.now(),
                )
                .returning(_t.c.create_time, _t.c.update_time)
            )
        ).first()
        return (row.create_time, row.update_time) if row else None

    async def delete(self, trigger: str, channel: str, locale: str) -> bool:
        result = await self.session.execute(
            delete(_t)
            .where(
                _t.c.tenant_id == self.tenant,
                _t.c.trigger == trigger,
                _t.c.channel == channel,
                _t.c.locale == locale,
            )
            .returning(_t.c.trigger)
        )
        return result.first() is not None


class SpendRepository:
    def __init__(self, session: AsyncSession, tenant: str):
        self.session = session
        self.tenant = tenant

    async def exhausted(self, day: date, cap_minor: int) -> bool:
        spent = await self.session.scalar(
            select(_s.c.spent_minor).where(_s.c.tenant_id == self.tenant, _s.c.day == day)
        )
        return (spent or 0) >= cap_minor

    async def reserve(self, day: date, cost_minor: int, units: int, cap_minor: int) -> bool:
        """Adds ``cost_minor`` to the day's spend if it stays within ``cap_minor``, in one
        conditional upsert (the row lock orders concurrent senders). False: the cap says no."""
        if cost_minor > cap_minor:
            return False
        stmt = (
            pg_insert(_s)
            .values(tenant_id=self.tenant, day=day, spent_minor=cost_minor, units=units)
            .on_conflict_do_update(
                index_elements=[_s.c.tenant_id, _s.c.day],
                set_={"spent_minor": _s.c.spent_minor + cost_minor, "units": _s.c.units + units},
                where=(_s.c.spent_minor + cost_minor) <= cap_minor,
            )
            .returning(_s.c.spent_minor)
        )
        return (await self.session.execute(stmt)).first() is not None

    async def release(self, day: date, cost_minor: int, units: int) -> None:
        """Gives back a reservation whose message was not sent."""
        await self.session.execute(
            update(_s)
            .where(_s.c.tenant_id == self.tenant, _s.c.day == day)
            .values(spent_minor=_s.c.spent_minor - cost_minor, units=_s.c.units - units)
        )

    async def mark_cap_reached(self, day: date) -> bool:
        """True only for the first caller of the day (so SpendCapReached is emitted once)."""
        await self.session.execute(
            pg_insert(_s).values(tenant_id=self.tenant, day=day).on_conflict_do_nothing()
        )
        row = (
            await self.session.execute(
                update(_s)
                .where(_s.c.tenant_id == self.tenant, _s.c.day == day, _s.c.cap_reached_at.is_(None))
                .values(cap_reached_at=func.now())
                .returning(_s.c.spent_minor)
            )
        ).first()
        return row is not None

    async def spent(self, day: date) -> tuple[int, int]:
        row = (
            await self.session.execute(
                select(_s.c.spent_minor, _s.c.units).where(_s.c.tenant_id == self.tenant, _s.c.day == day)
            )
        ).first()
        return (int(row.spent_minor), int(row.units)) if row else (0, 0)


_e = t.early_receipts


async def lock_recipients(session: AsyncSession, recipients: list[tuple[str, str]]) -> None:
    """``MessageRepository.lock_recipient`` for many (tenant, recipient) in one statement, in a
    fixed order (sorted keys): a dispatch batch takes all its marketing recipients' locks before
    counting any of them, so two batches in flight (loops or replicas) never wait on each other
    in a cycle."""
    await _advisory_xact_locks(session, {f"notify|{tenant}|{recipient}" for tenant, recipient in recipients})


async def lock_provider_ids(session: AsyncSession, keys: list[tuple[str, str]]) -> None:
    """Transaction-scoped advisory locks on (provider, provider message id), in a fixed order, in
    one statement: taken by the dispatcher before it records sends and by receipts before they
    look for them."""
    await _advisory_xact_locks(session, {f"receipt|{provider}|{pmid}" for provider, pmid in keys})


_ADVISORY_XACT_LOCKS = text(
    "SELECT pg_advisory_xact_lock(hashtextextended(k, 0))"
    " FROM (SELECT unnest(CAST(:keys AS text[])) AS k ORDER BY 1) AS ordered"
)


async def _advisory_xact_locks(session: AsyncSession, names: set[str]) -> None:
    """Transaction-scoped advisory locks on ``names`` in one statement, taken in sorted order so
    two transactions locking overlapping sets never wait on each other in a cycle."""
    if names:
        await session.execute(_ADVISORY_XACT_LOCKS, {"keys": sorted(names)})


async def keep_early_receipt(
    session: AsyncSession, provider: str, pmid: str, status: str, reason: str, occurred_at: datetime
) -> None:
    await session.execute(
        pg_insert(_e)
        .values(
            provider=provider, provider_message_id=pmid, status=status, reason=reason, occurred_at=occurred_at
        )
        .on_conflict_do_nothing()
    )


_TAKE_EARLY_RECEIPTS = text(
    """
    DELETE FROM early_receipts e
    USING unnest(CAST(:providers AS text[]), CAST(:ids AS text[])) AS k(provider, provider_message_id)
    WHERE e.provider = k.provider AND e.provider_message_id = k.provider_message_id
    RETURNING e.provider, e.provider_message_id, e.status, e.reason, e.occurred_at
    """
)


async def take_early_receipts(session: AsyncSession, keys: list[tuple[str, str]]) -> list[Row]:
    """Removes and returns the receipts that arrived before their sends were recorded (one SQL
    text for any number of keys, as ``lock_claims``)."""
    if not keys:
        return []
    result = await session.execute(
        _TAKE_EARLY_RECEIPTS,
        {"providers": [provider for provider, _ in keys], "ids": [pmid for _, pmid in keys]},
    )
    return list(result.all())
