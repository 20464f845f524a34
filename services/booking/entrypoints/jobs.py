"""The booking's scheduled work, kept in the database (no in-memory timers).

Each step of `BookingJobs` is a function `(engine, uows, now) -> how many it did`, run once per
tick: appointment reminders (`ReminderDue`) here; follow-ups, complaint SLAs, wallet-hold
settlements and lapsed waitlist offers live with their area (see `STEPS`).

Each due reminder is handled in its own transaction that re-locks it with `FOR UPDATE SKIP LOCKED`
and re-checks its state, so several replicas can run the jobs at once and every reminder fires
exactly once, across restarts too: marking it fired commits together with its outbox event.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from kit.logging import get_logger
from kit.uow import UnitOfWorkFactory
from kit.workers import PeriodicWorker
from services.booking.adapters import tables as t
from services.booking.service_layer.appointments import fire_reminder
from services.booking.service_layer.feedback import check_complaint_slas
from services.booking.service_layer.holds import settle_pending as settle_pending_holds
from services.booking.service_layer.plans import fire_follow_ups
from services.booking.service_layer.unit_of_work import BookingUnitOfWork
from services.booking.service_layer.waitlist import expire_waitlist

log = get_logger("peony.booking.jobs")
BATCH = 200


class BookingJobs(PeriodicWorker):
    name = "booking-jobs"

    def __init__(
        self, engine: AsyncEngine, uows: UnitOfWorkFactory[BookingUnitOfWork], *, interval_s: float = 1.0
    ):
        super().__init__(interval_s=interval_s)
        self._engine = engine
        self._uows = uows

    async def tick(self) -> dict[str, int]:
        """Runs every step once. A step that fails is logged and counted as -1: the others still
        run, and it is tried again next tick (each step's work is idempotent and re-checked)."""
        now = datetime.now(UTC)
        done: dict[str, int] = {}
        for name, step in STEPS:
            try:
                done[name] = await step(self._engine, self._uows, now)
            except Exception:
                log.exception("booking job step failed", step=name)
                done[name] = -1
        if any(done.values()):
            log.info("booking jobs", **done)
        return done

    async def fire_reminders(self, now: datetime) -> int:
        return await fire_reminders(self._engine, self._uows, now)


async def fire_reminders(
    engine: AsyncEngine, uows: UnitOfWorkFactory[BookingUnitOfWork], now: datetime
) -> int:
    c = t.scheduled_reminders.c
    async with engine.connect() as conn:
        due = (
            await conn.execute(
                select(c.tenant_id, c.appointment_id, c.kind)
                .where(c.state == "scheduled", c.due_utc <= now)
                .order_by(c.due_utc)
                .limit(BATCH)
            )
        ).all()
    count = 0
    for tenant, appointment_id, kind in due:

        async def one(uow: BookingUnitOfWork, appointment_id=appointment_id, kind=kind) -> bool:
            return await fire_reminder(uow, appointment_id, kind, now)

        count += await uows.run(tenant, one)
    return count


Step = Callable[[AsyncEngine, UnitOfWorkFactory[BookingUnitOfWork], datetime], Awaitable[int]]
# name (as logged and returned by `tick`) -> step, in the order they run
STEPS: tuple[tuple[str, Step], ...] = (
    ("reminders_fired", fire_reminders),
    ("follow_ups_fired", fire_follow_ups),
    ("complaint_slas_breached", check_complaint_slas),
    ("waitlist_offers_expired", expire_waitlist),
    ("hold_settlements_ended", settle_pending_holds),
)
