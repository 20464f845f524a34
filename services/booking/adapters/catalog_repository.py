"""The catalogue repository: stores' time zones, the service menu, staff, rooms and equipment.
Every query filters by the tenant it was built for."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from kit.db import sqlstate
from kit.errors import AlreadyExists
from services.booking.adapters import tables as t
from services.booking.domain.schedule import Equipment, Room, Service, Staff, WeeklyHours

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
