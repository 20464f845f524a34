"""Tables of appointments' wallet holds and their settlement, and the repository over them.

On the booking metadata of tables.py, which imports this module to register them. The hold
itself is the appointment's `hold` JSONB column (tables.py): the `AppointmentHold` message as a
dict with the proto's field names, `state` as the enum's name.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    Column,
    DateTime,
    Index,
    Integer,
    PrimaryKeyConstraint,
    Table,
    Text,
    func,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from services.booking.adapters.tables import appointments, metadata

# One decided settlement (capture or void) per wallet hold, written by the lifecycle transaction
# that decides it and carried out by the jobs step (holds.settle_pending) with an idempotent
# wallet request id: pending → done, or failed (a permanent wallet refusal, with its reason).
hold_settlements = Table(
    "hold_settlements",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("hold_id", Text, nullable=False),  # the wallet's hold id (`holds/{hold_id}`)
    Column("appointment_id", UUID(as_uuid=False), nullable=False),
    Column("action", Text, nullable=False),  # capture | void
    Column("reason", Text, nullable=False),  # complete | cancel | late_cancel | no_show | …
    Column("state", Text, nullable=False, server_default=text("'pending'")),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("last_error", Text, nullable=True),
    # the wallet's hold state once settled (captured | voided | expired)
    Column("outcome", Text, nullable=True),
    Column("create_time", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("done_time", DateTime(timezone=True), nullable=True),
    PrimaryKeyConstraint("tenant_id", "hold_id", name="pk_hold_settlements"),
    CheckConstraint("action IN ('capture', 'void')", name="ck_hold_settlements_action"),
    CheckConstraint("state IN ('pending', 'done', 'failed')", name="ck_hold_settlements_state"),
    # the job's scan of what is due
    Index("ix_hold_settlements_due", "next_attempt_at", postgresql_where=text("state = 'pending'")),
    Index("ix_hold_settlements_appointment", "tenant_id", "appointment_id"),
)


class HoldRepository:
    """Appointments' holds (their `hold` column) and hold settlements of one tenant."""

    def __init__(self, session: AsyncSession, tenant: str):
        self.session = session
        self.tenant = tenant

    async def set_hold(self, appointment_id: str, hold: dict[str, Any]) -> None:
        c = appointments.c
        await self.session.execute(
            update(appointments)
            .where(c.tenant_id == self.tenant, c.appointment_id == appointment_id)
            .values(hold=hold, update_time=func.now())
        )

    async def hold_of(self, appointment_id: str, *, for_update: bool = False) -> dict[str, Any] | None:
        c = appointments.c
        stmt = select(c.hold).where(c.tenant_id == self.tenant, c.appointment_id == appointment_id)
        if for_update:
            stmt = stmt.with_for_update()
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def add_settlement(self, *, hold_id: str, appointment_id: str, action: str, reason: str) -> bool:
        """Records a decided settlement; False when the hold already has one (decided once)."""
        inserted = await self.session.execute(
            pg_insert(hold_settlements)
            .values(
                tenant_id=self.tenant,
                hold_id=hold_id,
                appointment_id=appointment_id,
                action=action,
                reason=reason,
            )
            .on_conflict_do_nothing()
            .returning(hold_settlements.c.hold_id)
        )
        return inserted.first() is not None

    async def lock_pending(self, hold_id: str) -> Row | None:
        """The settlement if still pending, locked; None when done or another runner holds it."""
        c = hold_settlements.c
        return (
            await self.session.execute(
                select(hold_settlements)
                .where(c.tenant_id == self.tenant, c.hold_id == hold_id, c.state == "pending")
                .with_for_update(skip_locked=True)
            )
        ).first()

    async def finish(
        self, hold_id: str, *, state: str, outcome: str | None, error: str | None = None
    ) -> None:
        c = hold_settlements.c
        await self.session.execute(
            update(hold_settlements)
            .where(c.tenant_id == self.tenant, c.hold_id == hold_id)
            .values(
                state=state,
                outcome=outcome,
                last_error=error,
                attempts=c.attempts + 1,
                done_time=func.now(),
            )
        )

    async def retry_later(self, hold_id: str, *, at: datetime, error: str) -> None:
        c = hold_settlements.c
        await self.session.execute(
            update(hold_settlements)
            .where(c.tenant_id == self.tenant, c.hold_id == hold_id)
            .values(attempts=c.attempts + 1, next_attempt_at=at, last_error=error)
        )

    async def settlements_of(self, appointment_id: str) -> list[Row]:
        c = hold_settlements.c
        return list(
            (
                await self.session.execute(
                    select(hold_settlements)
                    .where(c.tenant_id == self.tenant, c.appointment_id == appointment_id)
                    .order_by(c.create_time)
                )
            ).all()
        )
