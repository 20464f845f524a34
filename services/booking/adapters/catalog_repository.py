"""The catalogue repository: stores' time zones, the service menu and the stores' overrides of it,
staff with their schedule exceptions, rooms and equipment. Every query filters by the tenant it
was built for."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, delete, func, insert, or_, select, tuple_, update
from sqlalchemy.dialects.postgresql import Range
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from kit.db import sqlstate
from kit.errors import AlreadyExists, FailedPrecondition
from kit.members_client import MembersClient
from kit.store_projection import StoreProjection
from services.booking.adapters import tables as t
from services.booking.adapters.catalog_tables import schedule_exceptions as sx
from services.booking.adapters.catalog_tables import service_overrides as so
from services.booking.domain.schedule import (
    EXTRA_SHIFT,
    LEAVE,
    Equipment,
    Room,
    ScheduleException,
    Service,
    Staff,
    WeeklyHours,
)

EXCLUSION_VIOLATION = "23P01"
UNIQUE_VIOLATION = "23505"
SERVICE_NOT_OFFERED = "SERVICE_NOT_OFFERED"

# Fields of a `ServiceOverride` that replace the service's value when set (NULL = inherit).
OVERRIDE_FIELDS = (
    "offered",
    "duration_minutes",
    "buffer_before_minutes",
    "buffer_after_minutes",
    "list_price_minor",
    "requirements",
    "online_bookable",
)
# Exception kinds as stored; every kind but an extra shift is an absence.
EXCEPTION_KINDS = ("leave", "sick_leave", "training", "blocked", "extra_shift")
EXTRA_SHIFT_KIND = "extra_shift"
# Appointment states (service_layer.appointments) whose reservations still lie ahead.
_TO_BE_SERVED = ("booked", "checked_in")
# When a caller asks for staff without a range, exceptions from this long ago on are loaded
# (enough for the reserved blocks of anything bookable now; bookings never start in the past).
_DEFAULT_LOOKBACK = timedelta(days=2)


# The roster and schedule-exception reads of every booking, built once per shape with bind
# parameters: building a statement (column comparisons, `IN` coercion) per call was a fifth of
# BookAppointment's Python time (py-spy, bench_booking).
@functools.cache
def _staff_query(named: bool, online_bookable_only: bool, lock_shared: bool):
    """Active staff of `:store` (of `:tenant`), `:ids` only when `named`."""
    st = t.staff
    stmt = select(st).where(
        st.c.tenant_id == bindparam("tenant"), st.c.store_id == bindparam("store"), st.c.active
    )
    if named:
        stmt = stmt.where(st.c.staff_id.in_(bindparam("ids", expanding=True)))
    if online_bookable_only:
        stmt = stmt.where(st.c.online_bookable)
    if lock_shared:
        stmt = stmt.with_for_update(read=True)
    return stmt.order_by(st.c.staff_id)


@functools.cache
def _exceptions_query(bounded: bool, skipping: bool):
    """Schedule exceptions of `:ids` at `:store` ending on or after `:first` (and starting on or
    before `:last` when `bounded`; other than `:skip` when `skipping`)."""
    stmt = select(sx).where(
        sx.c.tenant_id == bindparam("tenant"),
        sx.c.store_id == bindparam("store"),
        sx.c.staff_id.in_(bindparam("ids", expanding=True)),
        sx.c.end_date >= bindparam("first"),
    )
    if bounded:
        stmt = stmt.where(sx.c.start_date <= bindparam("last"))
    if skipping:
        stmt = stmt.where(sx.c.exception_id != bindparam("skip"))
    return stmt.order_by(sx.c.start_date, sx.c.exception_id)


@dataclass(frozen=True)
class ServiceRecord:
    """A service as the store offers it (the store's override applied when a store was given)."""

    service: Service
    display_name: str
    list_price_minor: int
    currency_code: str
    row: Row
    online_bookable: bool = True
    offered: bool = True  # active, and not withdrawn at the store


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


def effective_requirements(service: Row, override: Row | None) -> dict[str, str | None]:
    if override is not None and override.requirements is not None:
        r = override.requirements
        return {k: r.get(k) or None for k in ("skill", "room_type", "equipment_kind")}
    return {"skill": service.skill, "room_type": service.room_type, "equipment_kind": service.equipment_kind}


def effective(service: Row, override: Row | None, field: str) -> Any:
    """The store's value of `field`: the override's when set, else the service's."""
    value = getattr(override, field, None) if override is not None else None
    return getattr(service, field) if value is None else value


def is_offered(service: Row, override: Row | None) -> bool:
    return bool(service.active) and (override is None or override.offered is not False)


def refuse_not_offered(
    store_id: str, service_ids: Sequence[str], found: dict[str, ServiceRecord]
) -> dict[str, ServiceRecord]:
    """`found` (the store's records of `service_ids`), unless one of them is withdrawn or not
    offered at the store: FAILED_PRECONDITION `SERVICE_NOT_OFFERED` (metadata `service`)."""
    for sid in service_ids:
        record = found.get(sid)
        if record is not None and not record.offered:
            raise FailedPrecondition(
                f"services/{sid} is not offered at stores/{store_id}",
                reason=SERVICE_NOT_OFFERED,
                metadata={"service": f"services/{sid}"},
            )
    return found


def service_record(r: Row, override: Row | None = None) -> ServiceRecord:
    req = effective_requirements(r, override)
    return ServiceRecord(
        Service(
            service_id=r.service_id,
            duration_minutes=effective(r, override, "duration_minutes"),
            buffer_before_minutes=effective(r, override, "buffer_before_minutes"),
            buffer_after_minutes=effective(r, override, "buffer_after_minutes"),
            skill=req["skill"],
            room_type=req["room_type"],
            equipment_kind=req["equipment_kind"],
        ),
        r.display_name,
        effective(r, override, "list_price_minor"),
        r.currency_code,
        r,
        bool(effective(r, override, "online_bookable")),
        is_offered(r, override),
    )


def domain_exceptions(rows: Sequence[Row], first: date, last: date | None) -> tuple[ScheduleException, ...]:
    """Stored exceptions as the engine's one-date exceptions, for the dates first..last."""
    out: list[ScheduleException] = []
    for r in rows:
        day = max(r.start_date, first)
        end = r.end_date if last is None else min(r.end_date, last)
        kind = EXTRA_SHIFT if r.kind == EXTRA_SHIFT_KIND else LEAVE
        while day <= end:
            out.append(ScheduleException(day=day, kind=kind, start=r.start_time, end=r.end_time))
            day += timedelta(days=1)
    return tuple(out)


def staff_from_row(row: Row, exceptions: tuple[ScheduleException, ...] = ()) -> Staff:
    return Staff(
        staff_id=staff_name(row.store_id, row.staff_id),
        skills=frozenset(row.skills),
        weekly_hours=weekly_hours_of(row.weekly_hours),
        exceptions=exceptions,
        breaks=weekly_hours_of(row.breaks),
    )


class CatalogRepository:
    def __init__(self, db: AsyncSession, tenant: str, members: MembersClient | None = None):
        self.db, self.tenant = db, tenant
        # Stores: the projection of members' stores, read through to members on a miss.
        self.stores = StoreProjection(db, tenant, t.store_zones, members)

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

    async def _update(self, table, keys: dict[str, str], changes: dict[str, Any]) -> Row | None:
        """Applies `changes` to the row with `keys`, stamping update_time; None when missing."""
        stmt = update(table).where(table.c.tenant_id == self.tenant)
        for column, value in keys.items():
            stmt = stmt.where(table.c[column] == value)
        return (
            await self.db.execute(stmt.values(**changes, update_time=func.now()).returning(table))
        ).first()

    async def _get(self, table, keys: dict[str, str], *, for_update: bool = False) -> Row | None:
        stmt = select(table).where(table.c.tenant_id == self.tenant)
        for column, value in keys.items():
            stmt = stmt.where(table.c[column] == value)
        if for_update:
            stmt = stmt.with_for_update()
        return (await self.db.execute(stmt)).first()

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
        """The store's zone; None when neither the projection nor the members service knows it."""
        return await self.stores.resolve(store_id)

    # --- services ---------------------------------------------------------------------------
    async def add_service(self, **values) -> Row:
        return await self._insert(t.services, f"services/{values['service_id']}", **values)

    async def get_service(self, service_id: str, *, for_update: bool = False) -> Row | None:
        return await self._get(t.services, {"service_id": service_id}, for_update=for_update)

    async def update_service(self, service_id: str, changes: dict[str, Any]) -> Row | None:
        return await self._update(t.services, {"service_id": service_id}, changes)

    async def list_services(
        self, *, limit: int, after: list | None, category: str | None, show_inactive: bool
    ) -> list[Row]:
        """By category, display_order, id; `after` is the last row's key of the previous page."""
        s = t.services
        stmt = select(s).where(s.c.tenant_id == self.tenant)
        if category:
            stmt = stmt.where(s.c.category == category)
        if not show_inactive:
            stmt = stmt.where(s.c.active)
        if after:
            stmt = stmt.where(tuple_(s.c.category, s.c.display_order, s.c.service_id) > tuple(after))
        stmt = stmt.order_by(s.c.category, s.c.display_order, s.c.service_id).limit(limit)
        return list((await self.db.execute(stmt)).all())

    async def services(
        self, service_ids: Sequence[str], store_id: str | None = None
    ) -> dict[str, ServiceRecord]:
        """The services asked for that exist, by id. Without a store: the active ones, with the
        tenant's values. With `store_id`: the store's values (its override applied), and a
        service that is withdrawn (inactive) or not offered at the store raises
        FAILED_PRECONDITION `SERVICE_NOT_OFFERED` (metadata `service`); unknown ids are left out
        for the caller to report as NOT_FOUND. Online bookability is on each record."""
        s = t.services
        if store_id is None:
            rows = (
                await self.db.execute(
                    select(s).where(
                        s.c.tenant_id == self.tenant, s.c.service_id.in_(list(service_ids)), s.c.active
                    )
                )
            ).all()
            return {r.service_id: service_record(r) for r in rows}
        return refuse_not_offered(store_id, service_ids, await self.services_at(store_id, service_ids))

    async def services_at(self, store_id: str, service_ids: Sequence[str]) -> dict[str, ServiceRecord]:
        """The services asked for that exist, with the store's values, offered there or not."""
        pairs = await self._with_overrides(
            store_id, select_where=[t.services.c.service_id.in_(list(service_ids))], order=False
        )
        return {sid: service_record(service, override) for sid, (service, override) in pairs.items()}

    async def _with_overrides(
        self, store_id: str, *, select_where: list, order: bool, limit: int | None = None
    ) -> dict[str, tuple[Row, Row | None]]:
        s = t.services
        cols = [s] + [so.c[f].label(f"o_{f}") for f in OVERRIDE_FIELDS] + [so.c.service_id.label("o_id")]
        stmt = (
            select(*cols)
            .select_from(
                s.outerjoin(
                    so,
                    and_(
                        so.c.tenant_id == s.c.tenant_id,
                        so.c.service_id == s.c.service_id,
                        so.c.store_id == store_id,
                    ),
                )
            )
            .where(s.c.tenant_id == self.tenant, *select_where)
        )
        if order:
            stmt = stmt.order_by(s.c.category, s.c.display_order, s.c.service_id)
        if limit is not None:
            stmt = stmt.limit(limit)
        out: dict[str, tuple[Row, Row | None]] = {}
        for r in (await self.db.execute(stmt)).all():
            override = _OverrideView(r) if r.o_id is not None else None
            out[r.service_id] = (r, override)  # type: ignore[assignment]
        return out

    async def menu_items(
        self,
        store_id: str,
        *,
        limit: int,
        after: list | None,
        category: str | None,
        online_only: bool,
    ) -> list[tuple[Row, Row | None]]:
        """The store's menu: active services it offers, with its override, by category,
        display_order, id."""
        s = t.services
        where = [
            s.c.active,
            or_(so.c.offered.is_(None), so.c.offered),
        ]
        if category:
            where.append(s.c.category == category)
        if online_only:
            where.append(func.coalesce(so.c.online_bookable, s.c.online_bookable))
        if after:
            where.append(tuple_(s.c.category, s.c.display_order, s.c.service_id) > tuple(after))
        pairs = await self._with_overrides(store_id, select_where=where, order=True, limit=limit)
        return list(pairs.values())

    # --- service overrides ------------------------------------------------------------------
    async def add_override(self, store_id: str, service_id: str, values: dict[str, Any]) -> Row:
        return await self._insert(
            so,
            f"stores/{store_id}/serviceOverrides/{service_id}",
            store_id=store_id,
            service_id=service_id,
            **values,
        )

    async def get_override(self, store_id: str, service_id: str) -> Row | None:
        return await self._get(so, {"store_id": store_id, "service_id": service_id})

    async def update_override(self, store_id: str, service_id: str, changes: dict[str, Any]) -> Row | None:
        return await self._update(so, {"store_id": store_id, "service_id": service_id}, changes)

    async def delete_override(self, store_id: str, service_id: str) -> bool:
        result = await self.db.execute(
            delete(so).where(
                so.c.tenant_id == self.tenant, so.c.store_id == store_id, so.c.service_id == service_id
            )
        )
        return result.rowcount > 0

    async def list_overrides(self, store_id: str, *, limit: int, after: str | None) -> list[Row]:
        stmt = select(so).where(so.c.tenant_id == self.tenant, so.c.store_id == store_id)
        if after:
            stmt = stmt.where(so.c.service_id > after)
        return list((await self.db.execute(stmt.order_by(so.c.service_id).limit(limit))).all())

    # --- staff ------------------------------------------------------------------------------
    async def add_staff(self, **values) -> Row:
        return await self._insert(t.staff, staff_name(values["store_id"], values["staff_id"]), **values)

    async def get_staff(self, store_id: str, staff_id: str, *, for_update: bool = False) -> Row | None:
        return await self._get(t.staff, {"store_id": store_id, "staff_id": staff_id}, for_update=for_update)

    async def update_staff(self, store_id: str, staff_id: str, changes: dict[str, Any]) -> Row | None:
        return await self._update(t.staff, {"store_id": store_id, "staff_id": staff_id}, changes)

    async def list_staff(
        self, store_id: str, *, limit: int, after: str | None, skill: str | None, show_inactive: bool
    ) -> list[Row]:
        st = t.staff
        stmt = select(st).where(st.c.tenant_id == self.tenant, st.c.store_id == store_id)
        if skill:
            stmt = stmt.where(st.c.skills.contains([skill]))
        if not show_inactive:
            stmt = stmt.where(st.c.active)
        if after:
            stmt = stmt.where(st.c.staff_id > after)
        return list((await self.db.execute(stmt.order_by(st.c.staff_id).limit(limit))).all())

    async def staff(
        self,
        store_id: str,
        *,
        between: tuple[date, date] | None = None,
        online_bookable_only: bool = False,
        lock_shared: bool = False,
        only: Sequence[str] | None = None,
    ) -> list[Staff]:
        """Active staff of the store with their breaks and the schedule exceptions of the local
        dates `between` (inclusive); ids are resource names (`stores/{s}/staff/{id}`). Without
        `between`, every exception from two days ago on (what a booking starting now can touch).

        `lock_shared` (a booking) locks the staff rows FOR SHARE before their schedules are read:
        schedule changes lock the row FOR UPDATE, so a booking and a new absence, a deleted
        extra shift or new hours of the same staff member are judged one after the other.
        `only` (resource names) limits the read, and the lock, to those staff members."""
        params: dict[str, Any] = {"tenant": self.tenant, "store": store_id}
        if only is not None:
            prefix = staff_name(store_id, "")
            params["ids"] = [n.removeprefix(prefix) for n in only]
        stmt = _staff_query(only is not None, online_bookable_only, lock_shared)
        rows = (await self.db.execute(stmt, params)).all()
        first, last = between if between else (datetime.now(UTC).date() - _DEFAULT_LOOKBACK, None)
        by_staff = await self._exceptions_of(store_id, [r.staff_id for r in rows], first, last)
        return [staff_from_row(r, domain_exceptions(by_staff.get(r.staff_id, []), first, last)) for r in rows]

    async def _exceptions_of(
        self,
        store_id: str,
        staff_ids: Sequence[str],
        first: date,
        last: date | None,
        *,
        skip: str | None = None,
    ) -> dict[str, list[Row]]:
        if not staff_ids:
            return {}
        params = {"tenant": self.tenant, "store": store_id, "ids": list(staff_ids), "first": first}
        if last is not None:
            params["last"] = last
        if skip is not None:
            params["skip"] = skip
        stmt = _exceptions_query(last is not None, skip is not None)
        out: dict[str, list[Row]] = {}
        for r in (await self.db.execute(stmt, params)).all():
            out.setdefault(r.staff_id, []).append(r)
        return out

    async def staff_schedule(
        self, row: Row, first: date, last: date, *, skip_exception: str | None = None, **changes: Any
    ) -> Staff:
        """One staff member (their row with `changes` applied) as the engine sees them over
        first..last, leaving out the exception `skip_exception`."""
        values = row._asdict() | changes
        by_staff = await self._exceptions_of(
            values["store_id"], [values["staff_id"]], first, last, skip=skip_exception
        )
        return staff_from_row(
            _Values(values), domain_exceptions(by_staff.get(values["staff_id"], []), first, last)
        )

    # --- schedule exceptions ----------------------------------------------------------------
    async def add_exception(self, **values) -> Row:
        return await self._insert(sx, f"scheduleExceptions/{values['exception_id']}", **values)

    async def get_exception(self, store_id: str, staff_id: str, exception_id: str) -> Row | None:
        return await self._get(sx, {"store_id": store_id, "staff_id": staff_id, "exception_id": exception_id})

    async def delete_exception(self, exception_id: str) -> None:
        await self.db.execute(
            delete(sx).where(sx.c.tenant_id == self.tenant, sx.c.exception_id == exception_id)
        )

    async def list_exceptions(
        self,
        store_id: str,
        staff_id: str | None,
        *,
        from_date: date | None,
        to_date: date | None,
        limit: int,
        after: list | None,
    ) -> list[Row]:
        """By start_date then id; `staff_id` None lists the whole store's."""
        stmt = select(sx).where(sx.c.tenant_id == self.tenant, sx.c.store_id == store_id)
        if staff_id is not None:
            stmt = stmt.where(sx.c.staff_id == staff_id)
        if from_date is not None:
            stmt = stmt.where(sx.c.end_date >= from_date)
        if to_date is not None:
            stmt = stmt.where(sx.c.start_date <= to_date)
        if after:
            stmt = stmt.where(
                tuple_(sx.c.start_date, sx.c.exception_id) > (date.fromisoformat(after[0]), after[1])
            )
        return list(
            (await self.db.execute(stmt.order_by(sx.c.start_date, sx.c.exception_id).limit(limit))).all()
        )

    # --- rooms, equipment -------------------------------------------------------------------
    async def add_room(self, **values) -> Row:
        return await self._insert(t.rooms, room_name(values["store_id"], values["room_id"]), **values)

    async def get_room(self, store_id: str, room_id: str, *, for_update: bool = False) -> Row | None:
        return await self._get(t.rooms, {"store_id": store_id, "room_id": room_id}, for_update=for_update)

    async def update_room(self, store_id: str, room_id: str, changes: dict[str, Any]) -> Row | None:
        return await self._update(t.rooms, {"store_id": store_id, "room_id": room_id}, changes)

    async def list_rooms(
        self, store_id: str, *, limit: int, after: str | None, room_type: str | None, show_inactive: bool
    ) -> list[Row]:
        r = t.rooms
        stmt = select(r).where(r.c.tenant_id == self.tenant, r.c.store_id == store_id)
        if room_type:
            stmt = stmt.where(r.c.room_type == room_type)
        if not show_inactive:
            stmt = stmt.where(r.c.active)
        if after:
            stmt = stmt.where(r.c.room_id > after)
        return list((await self.db.execute(stmt.order_by(r.c.room_id).limit(limit))).all())

    async def add_equipment(self, **values) -> Row:
        return await self._insert(
            t.equipment, equipment_name(values["store_id"], values["equipment_id"]), **values
        )

    async def get_equipment(self, store_id: str, equipment_id: str) -> Row | None:
        return await self._get(t.equipment, {"store_id": store_id, "equipment_id": equipment_id})

    async def update_equipment(self, store_id: str, equipment_id: str, changes: dict[str, Any]) -> Row | None:
        return await self._update(t.equipment, {"store_id": store_id, "equipment_id": equipment_id}, changes)

    async def list_equipment(
        self, store_id: str, *, limit: int, after: str | None, kind: str | None, show_inactive: bool
    ) -> list[Row]:
        e = t.equipment
        stmt = select(e).where(e.c.tenant_id == self.tenant, e.c.store_id == store_id)
        if kind:
            stmt = stmt.where(e.c.kind == kind)
        if not show_inactive:
            stmt = stmt.where(e.c.active)
        if after:
            stmt = stmt.where(e.c.equipment_id > after)
        return list((await self.db.execute(stmt.order_by(e.c.equipment_id).limit(limit))).all())

    async def rooms(self, store_id: str, *, lock_shared: bool = False) -> list[Room]:
        """Active rooms of the store. `lock_shared` (a booking) locks them FOR SHARE, which orders
        the booking against a capacity change (UpdateRoom locks the room FOR UPDATE)."""
        stmt = (
            select(t.rooms)
            .where(t.rooms.c.tenant_id == self.tenant, t.rooms.c.store_id == store_id, t.rooms.c.active)
            .order_by(t.rooms.c.room_id)
        )
        if lock_shared:
            stmt = stmt.with_for_update(read=True)
        rows = (await self.db.execute(stmt)).all()
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

    # --- reservations of a resource (conflict reports) --------------------------------------
    async def reservations(
        self, resource_id: str, start: datetime, end: datetime | None = None, *, min_seat: int | None = None
    ) -> list[Row]:
        """Active reservations of one resource overlapping [start, end) (end None: open) by
        appointments still to be served (booked or checked in), with the appointment's id and
        booked services, by start. Waitlist holds are no appointments and are left out."""
        r, a = t.appointment_resources, t.appointments
        stmt = (
            select(r.c.appointment_id, r.c.during, r.c.seat, a.c.services)
            .select_from(
                r.join(a, and_(a.c.tenant_id == r.c.tenant_id, a.c.appointment_id == r.c.appointment_id))
            )
            .where(
                r.c.tenant_id == self.tenant,
                r.c.resource_id == resource_id,
                r.c.active,
                r.c.during.op("&&")(Range(start, end, bounds="[)")),
                a.c.state.in_(_TO_BE_SERVED),
            )
        )
        if min_seat is not None:
            stmt = stmt.where(r.c.seat >= min_seat)
        return list((await self.db.execute(stmt.order_by(r.c.during))).all())


class _OverrideView:
    """The override columns of a services-join-overrides row, under their own names."""

    def __init__(self, row: Row):
        for f in OVERRIDE_FIELDS:
            setattr(self, f, getattr(row, f"o_{f}"))


class _Values:
    """A dict read like a row (a staff row with pending changes)."""

    def __init__(self, values: dict[str, Any]):
        self.__dict__.update(values)
