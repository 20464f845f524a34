"""Booking repositories: the catalogue (stores' zones, services, staff, rooms, equipment) and
appointments with their resource reservations. All filter by the tenant they were built for."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, insert, select, update
from sqlalchemy.dialects.postgresql import Range
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from kit.db import sqlstate
from kit.errors import AlreadyExists
from services.booking.adapters import tables as t
from services.booking.domain.schedule import Busy, Equipment, Room, Service, Staff, WeeklyHours

EXCLUSION_VIOLATION = "23P01"
UNIQUE_VIOLATION = "23505"


@dataclass(frozen=True)
class ServiceRecord:
    service: Service
    display_name: str
    list_price_minor: int
    currency_code: str
    row: Row


def staff_name(store: str, staff_id: str) -> str:
    return f"stores/{store}/staff/{staff_id}"


def room_name(store: str, room_id: str) -> str:
    return f"stores/{store}/rooms/{room_id}"


def equipment_name(store: str, equipment_id: str) -> str:
    return f"stores/{store}/equipment/{equipment_id}"


def weekly_hours_of(intervals: Sequence[dict]) -> WeeklyHours:
    days: dict[int, list[tuple[str, str]]] = {}
    for i in intervals:
        days.setdefault(int(i["day"]), []).append((i["start"], i["end"]))
    return WeeklyHours({d: tuple(sorted(r)) for d, r in days.items()})


class CatalogRepository:
    def __init__(self, db: AsyncSession, tenant: str):
        self.db, self.tenant = db, tenant

    async def _insert(self, table, what: str, **values) -> Row:
        try:
            async with self.db.begin_nested():
                return (
                    await self.db.execute(
                        insert(table).values(tenant_id=self.tenant, **values).returning(table)
                    )
                ).one()
        except IntegrityError as exc:
            if sqlstate(exc) == UNIQUE_VIOLATION:
                raise AlreadyExists(f"{what} already exists", reason="ALREADY_EXISTS") from None
            raise

    # --- stores -----------------------------------------------------------------------------
    async def put_store_zone(self, store_id: str, time_zone: str) -> None:
        """Stores come from the members service's events (``MemberProjection.apply_store``);
        tools and tests may register a store's zone directly here."""
        stmt = pg_insert(t.store_zones).values(tenant_id=self.tenant, store_id=store_id, time_zone=time_zone)
        await self.db.execute(
            stmt.on_conflict_do_update(
                index_elements=[t.store_zones.c.tenant_id, t.store_zones.c.store_id],
                set_={"time_zone": stmt.excluded.time_zone},
            )
        )

    async def store_zone(self, store_id: str) -> str | None:
        return await self.db.scalar(
            select(t.store_zones.c.time_zone).where(
                t.store_zones.c.tenant_id == self.tenant, t.store_zones.c.store_id == store_id
            )
        )

    # --- services ---------------------------------------------------------------------------
    async def add_service(self, **values) -> Row:
        return await self._insert(t.services, f"services/{values['service_id']}", **values)

    async def services(self, service_ids: Sequence[str]) -> dict[str, ServiceRecord]:
        rows = (
            await self.db.execute(
                select(t.services).where(
                    t.services.c.tenant_id == self.tenant,
                    t.services.c.service_id.in_(list(service_ids)),
                    t.services.c.active,
                )
            )
        ).all()
        return {r.service_id: service_record(r) for r in rows}

    # --- staff, rooms, equipment ------------------------------------------------------------
    async def add_staff(self, **values) -> Row:
        return await self._insert(t.staff, staff_name(values["store_id"], values["staff_id"]), **values)

    async def add_room(self, **values) -> Row:
        return await self._insert(t.rooms, room_name(values["store_id"], values["room_id"]), **values)

    async def staff(self, store_id: str) -> list[Staff]:
        """Active staff of the store; ids are resource names (`stores/{s}/staff/{id}`)."""
        rows = (
            await self.db.execute(
                select(t.staff)
                .where(t.staff.c.tenant_id == self.tenant, t.staff.c.store_id == store_id, t.staff.c.active)
                .order_by(t.staff.c.staff_id)
            )
        ).all()
        return [
            Staff(
                staff_id=staff_name(store_id, r.staff_id),
                skills=frozenset(r.skills),
                weekly_hours=weekly_hours_of(r.weekly_hours),
            )
            for r in rows
        ]

    async def rooms(self, store_id: str) -> list[Room]:
        rows = (
            await self.db.execute(
                select(t.rooms)
                .where(t.rooms.c.tenant_id == self.tenant, t.rooms.c.store_id == store_id, t.rooms.c.active)
                .order_by(t.rooms.c.room_id)
            )
        ).all()
        return [Room(room_name(store_id, r.room_id), r.room_type, r.capacity) for r in rows]

    async def equipment(self, store_id: str) -> list[Equipment]:
        rows = (
            await self.db.execute(
                select(t.equipment)
                .where(
                    t.equipment.c.tenant_id == self.tenant,
                    t.equipment.c.store_id == store_id,
                    t.equipment.c.active,
                )
                .order_by(t.equipment.c.equipment_id)
            )
        ).all()
        return [Equipment(equipment_name(store_id, r.equipment_id), r.kind) for r in rows]


def service_record(r: Row) -> ServiceRecord:
    return ServiceRecord(
        Service(
            service_id=r.service_id,
            duration_minutes=r.duration_minutes,
            buffer_before_minutes=r.buffer_before_minutes,
            buffer_after_minutes=r.buffer_after_minutes,
            skill=r.skill or None,
            room_type=r.room_type or None,
            equipment_kind=r.equipment_kind or None,
        ),
        r.display_name,
        r.list_price_minor,
        r.currency_code,
        r,
    )


class AppointmentRepository:
    def __init__(self, db: AsyncSession, tenant: str):
        self.db, self.tenant = db, tenant

    async def add(self, **values) -> None:
        await self.db.execute(insert(t.appointments).values(tenant_id=self.tenant, **values))

    async def count_open(self, member_id: str, now: datetime) -> int:
        """The member's open future appointments: booked and not yet ended at `now`."""
        a = t.appointments
        return await self.db.scalar(
            select(func.count()).where(
                a.c.tenant_id == self.tenant,
                a.c.member_id == member_id,
                a.c.state == "booked",
                a.c.end_time > now,
            )
        )

    async def get(self, appointment_id: str, *, for_update: bool = False) -> Row | None:
        stmt = select(t.appointments).where(
            t.appointments.c.tenant_id == self.tenant, t.appointments.c.appointment_id == appointment_id
        )
        if for_update:
            stmt = stmt.with_for_update()
        return (await self.db.execute(stmt)).first()

    async def reserve(
        self,
        appointment_id: str,
        resource_id: str,
        kind: str,
        spans: Sequence[tuple[datetime, datetime]],
        seat: int = 1,
    ) -> bool:
        """Reserves `spans` of one resource seat in a savepoint. False (and nothing written) when
        the exclusion constraint finds an overlapping active reservation."""
        try:
            async with self.db.begin_nested():
                await self.db.execute(
                    insert(t.appointment_resources),
                    [
                        {
                            "tenant_id": self.tenant,
                            "appointment_id": appointment_id,
                            "resource_id": resource_id,
                            "kind": kind,
                            "seat": seat,
                            "during": Range(start, end, bounds="[)"),
                        }
                        for start, end in spans
                    ],
                )
            return True
        except IntegrityError as exc:
            if sqlstate(exc) == EXCLUSION_VIOLATION:
                return False
            raise

    async def release(self, appointment_id: str) -> None:
        await self.db.execute(
            update(t.appointment_resources)
            .where(
                t.appointment_resources.c.tenant_id == self.tenant,
                t.appointment_resources.c.appointment_id == appointment_id,
            )
            .values(active=False)
        )

    async def set_state(self, appointment_id: str, state: str, **values) -> Row:
        return (
            await self.db.execute(
                update(t.appointments)
                .where(
                    t.appointments.c.tenant_id == self.tenant,
                    t.appointments.c.appointment_id == appointment_id,
                )
                .values(state=state, update_time=datetime.now().astimezone(), **values)
                .returning(t.appointments)
            )
        ).one()

    # --- reminders --------------------------------------------------------------------------
    async def schedule_reminders(self, appointment_id: str, reminders: Sequence[dict]) -> None:
        """Inserts the appointment's reminder rows (state scheduled); each dict carries kind,
        minutes_before, due_utc, start_time, local_start, time_zone."""
        if reminders:
            await self.db.execute(
                insert(t.scheduled_reminders),
                [
                    {"tenant_id": self.tenant, "appointment_id": appointment_id, "state": "scheduled", **r}
                    for r in reminders
                ],
            )

    async def cancel_reminders(self, appointment_id: str) -> int:
        """Cancels the appointment's reminders not fired yet; returns how many."""
        r = t.scheduled_reminders
        result = await self.db.execute(
            update(r)
            .where(
                r.c.tenant_id == self.tenant,
                r.c.appointment_id == appointment_id,
                r.c.state == "scheduled",
            )
            .values(state="cancelled")
        )
        return result.rowcount

    async def lock_due_reminder(self, appointment_id: str, kind: str) -> Row | None:
        """The reminder, locked, if it is still scheduled and no other transaction holds it
        (`FOR UPDATE SKIP LOCKED`): None means another replica has it, or it is done."""
        r = t.scheduled_reminders
        return (
            await self.db.execute(
                select(r)
                .where(
                    r.c.tenant_id == self.tenant,
                    r.c.appointment_id == appointment_id,
                    r.c.kind == kind,
                    r.c.state == "scheduled",
                )
                .with_for_update(skip_locked=True)
            )
        ).first()

    async def mark_reminder_fired(self, appointment_id: str, kind: str, fired_at: datetime) -> None:
        r = t.scheduled_reminders
        await self.db.execute(
            update(r)
            .where(r.c.tenant_id == self.tenant, r.c.appointment_id == appointment_id, r.c.kind == kind)
            .values(state="fired", fired_at=fired_at)
        )

    async def busy(self, resource_ids: Sequence[str], start: datetime, end: datetime) -> list[Busy]:
        """Active reservations of these resources overlapping [start, end) (a read for
        availability only; booking never relies on it)."""
        r = t.appointment_resources
        rows = (
            await self.db.execute(
                select(r.c.resource_id, r.c.during).where(
                    r.c.tenant_id == self.tenant,
                    r.c.active,
                    r.c.resource_id.in_(list(resource_ids)),
                    r.c.during.op("&&")(Range(start, end, bounds="[)")),
                )
            )
        ).all()
        return [Busy(row.resource_id, row.during.lower, row.during.upper) for row in rows]
