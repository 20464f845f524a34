"""The service menu, store overrides, staff, schedule exceptions, rooms and equipment over real
gRPC and PostgreSQL: permissions, paging, validation (a refused request writes nothing) and
that overrides, breaks and schedule exceptions take effect in availability and booking.

The server, tokens, error details and builders are the shared ones of tests/support/booking.py.
Every test uses a tenant of its own, so tests never see each other's rows."""

from __future__ import annotations

import asyncio
import importlib
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import grpc
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from google.protobuf import field_mask_pb2
from peony.booking.v1 import booking_service_pb2 as pb
from peony.booking.v1 import catalog_pb2, resources_pb2

from tests.support.booking import (
    SH,
    Harness,
    booking_database,
    error_info,
    instant,
    local_instant,
    rid,
    running_booking,
    weekly,
)

pytestmark = pytest.mark.integration
CATALOG_TABLES = (
    "store_zones",
    "services",
    "staff",
    "rooms",
    "equipment",
    "service_overrides",
    "schedule_exceptions",
)


@pytest.fixture(scope="module")
async def server(infra):
    async with running_booking(infra, "booking_catalog") as server:
        yield server


@pytest.fixture
async def h(server) -> Harness:
    harness = Harness.of(server)
    await harness.store("s1", "Asia/Shanghai")
    await harness.store("s2", "Asia/Shanghai")
    return harness


async def refused(call, code: grpc.StatusCode, reason: str | None = None):
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call
    assert info.value.code() == code, info.value.details()
    got, metadata, fields = error_info(info.value)
    if reason is not None:
        assert got == reason, info.value.details()
    return metadata, fields


def days_ahead(n: int, zone: ZoneInfo = SH) -> date:
    return datetime.now(zone).date() + timedelta(days=n)


def starts(slots, zone: ZoneInfo = SH) -> list[str]:
    return [instant(s.start_time).astimezone(zone).strftime("%H:%M") for s in slots]


# --- the service menu -------------------------------------------------------------------------------


async def test_services_need_an_hq_admin_and_write_nothing_otherwise(h):
    manager = h.md(("store_manager",), stores=["stores/s1"])
    desk = h.md(("front_desk",), stores=["stores/s1"])
    await refused(
        h.service("facial", metadata=manager), grpc.StatusCode.PERMISSION_DENIED, "HQ_SCOPE_REQUIRED"
    )
    await refused(h.service("facial", metadata=desk), grpc.StatusCode.PERMISSION_DENIED, "MISSING_PERMISSION")
    await h.service("facial")
    await refused(
        h.stub.UpdateService(
            pb.UpdateServiceRequest(
                service=catalog_pb2.Service(name="services/facial", list_price_minor=1),
                update_mask=field_mask_pb2.FieldMask(paths=["list_price_minor"]),
                request_id=rid(),
            ),
            metadata=manager,
        ),
        grpc.StatusCode.PERMISSION_DENIED,
        "HQ_SCOPE_REQUIRED",
    )
    assert await h.count("services") == 1
    got = await h.stub.GetService(pb.GetServiceRequest(name="services/facial"), metadata=desk)
    assert got.service.list_price_minor == 10_000


async def test_service_get_list_update(h):
    await h.service("facial", category="face", display_order=2, duration_minutes=60)
    await h.service("peel", category="face", display_order=1, duration_minutes=30)
    await h.service("massage", category="body", display_order=5, duration_minutes=90)
    created = await h.stub.GetService(pb.GetServiceRequest(name="services/facial"), metadata=h.hq)
    assert created.service.name == "services/facial" and created.service.active
    assert created.service.duration_minutes == 60 and created.service.currency_code == "CNY"
    await refused(
        h.stub.GetService(pb.GetServiceRequest(name="services/nope"), metadata=h.hq),
        grpc.StatusCode.NOT_FOUND,
        "SERVICE_NOT_FOUND",
    )

    # By category, then display_order, in pages of two.
    names, token = [], ""
    while True:
        page = await h.stub.ListServices(pb.ListServicesRequest(page_size=2, page_token=token), metadata=h.hq)
        names += [s.name for s in page.services]
        token = page.next_page_token
        if not token:
            break
    assert names == ["services/massage", "services/peel", "services/facial"]
    face = await h.stub.ListServices(pb.ListServicesRequest(category="face"), metadata=h.hq)
    assert [s.name for s in face.services] == ["services/peel", "services/facial"]
    await refused(
        h.stub.ListServices(pb.ListServicesRequest(page_token="forged"), metadata=h.hq),
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_PAGE_TOKEN",
    )
    # A token is bound to its query.
    first = await h.stub.ListServices(pb.ListServicesRequest(page_size=1), metadata=h.hq)
    await refused(
        h.stub.ListServices(
            pb.ListServicesRequest(page_size=1, category="face", page_token=first.next_page_token),
            metadata=h.hq,
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_PAGE_TOKEN",
    )

    # Only the masked fields change.
    updated = await h.stub.UpdateService(
        pb.UpdateServiceRequest(
            service=catalog_pb2.Service(name="services/facial", list_price_minor=12_300, duration_minutes=5),
            update_mask=field_mask_pb2.FieldMask(paths=["list_price_minor", "requirements"]),
            request_id=rid(),
        ),
        metadata=h.hq,
    )
    assert updated.service.list_price_minor == 12_300 and updated.service.duration_minutes == 60
    assert instant(updated.service.update_time) >= instant(updated.service.create_time)
    # Empty mask: the fields set.
    updated = await h.stub.UpdateService(
        pb.UpdateServiceRequest(
            service=catalog_pb2.Service(name="services/facial", description="New"), request_id=rid()
        ),
        metadata=h.hq,
    )
    assert updated.service.description == "New" and updated.service.list_price_minor == 12_300

    for service, paths, field in (
        (catalog_pb2.Service(name="services/facial"), ["currency_code"], "update_mask"),
        (catalog_pb2.Service(name="services/facial", duration_minutes=0), ["duration_minutes"], None),
        (catalog_pb2.Service(name="services/facial", list_price_minor=-1), ["list_price_minor"], None),
        (catalog_pb2.Service(name="facial"), ["display_name"], "service.name"),
    ):
        _, fields = await refused(
            h.stub.UpdateService(
                pb.UpdateServiceRequest(
                    service=service, update_mask=field_mask_pb2.FieldMask(paths=paths), request_id=rid()
                ),
                metadata=h.hq,
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
        )
        if field:
            assert field in fields
    await refused(
        h.stub.UpdateService(
            pb.UpdateServiceRequest(
                service=catalog_pb2.Service(name="services/nope", list_price_minor=1), request_id=rid()
            ),
            metadata=h.hq,
        ),
        grpc.StatusCode.NOT_FOUND,
        "SERVICE_NOT_FOUND",
    )
    got = await h.stub.GetService(pb.GetServiceRequest(name="services/facial"), metadata=h.hq)
    assert got.service.duration_minutes == 60 and got.service.list_price_minor == 12_300

    # Withdrawn services leave the list unless asked for.
    await h.stub.UpdateService(
        pb.UpdateServiceRequest(
            service=catalog_pb2.Service(name="services/peel", active=False),
            update_mask=field_mask_pb2.FieldMask(paths=["active"]),
            request_id=rid(),
        ),
        metadata=h.hq,
    )
    face = await h.stub.ListServices(pb.ListServicesRequest(category="face"), metadata=h.hq)
    assert [s.name for s in face.services] == ["services/facial"]
    face = await h.stub.ListServices(
        pb.ListServicesRequest(category="face", show_inactive=True), metadata=h.hq
    )
    assert [s.name for s in face.services] == ["services/peel", "services/facial"]


# --- store overrides and menus ----------------------------------------------------------------------


async def test_service_overrides_and_the_store_menu(h):
    manager = h.md(("store_manager",), stores=["stores/s1"])
    await h.service(
        "facial", duration_minutes=60, buffer_after_minutes=10, online_bookable=True, display_order=1
    )
    await h.service("nails", category="hands", duration_minutes=45, online_bookable=True)
    await h.service("wax", duration_minutes=20, online_bookable=False, display_order=2)

    def create(service: str, metadata=manager, store: str = "s1", **fields):
        return h.stub.CreateServiceOverride(
            pb.CreateServiceOverrideRequest(
                parent=f"stores/{store}",
                service_override=catalog_pb2.ServiceOverride(service=f"services/{service}", **fields),
                request_id=rid(),
            ),
            metadata=metadata,
        )

    await refused(
        create("facial", h.md(("store_manager",), stores=["stores/s2"])),
        grpc.StatusCode.PERMISSION_DENIED,
        "STORE_OUT_OF_SCOPE",
    )
    await refused(
        create("facial", h.md(("front_desk",), stores=["stores/s1"])),
        grpc.StatusCode.PERMISSION_DENIED,
        "MISSING_PERMISSION",
    )
    await refused(create("facial", duration_minutes=0), grpc.StatusCode.INVALID_ARGUMENT)
    await refused(create("facial", list_price_minor=-5), grpc.StatusCode.INVALID_ARGUMENT)
    await refused(create("ghost", duration_minutes=30), grpc.StatusCode.NOT_FOUND, "SERVICE_NOT_FOUND")
    await refused(
        create("facial", store="nowhere", metadata=h.hq), grpc.StatusCode.NOT_FOUND, "STORE_NOT_FOUND"
    )
    assert await h.count("service_overrides") == 0

    made = (await create("facial", duration_minutes=90, list_price_minor=15_000)).service_override
    assert made.name == "stores/s1/serviceOverrides/facial" and made.service == "services/facial"
    assert made.duration_minutes == 90 and made.list_price_minor == 15_000
    assert not made.HasField("offered") and not made.HasField("buffer_after_minutes")
    await refused(create("facial", duration_minutes=30), grpc.StatusCode.ALREADY_EXISTS, "ALREADY_EXISTS")
    await create("nails", offered=False)
    await create("wax", online_bookable=True, requirements=catalog_pb2.ResourceRequirements(skill="waxing"))

    got = await h.stub.GetServiceOverride(
        pb.GetServiceOverrideRequest(name="stores/s1/serviceOverrides/facial"), metadata=manager
    )
    assert got.service_override == made
    await refused(
        h.stub.GetServiceOverride(
            pb.GetServiceOverrideRequest(name="stores/s1/serviceOverrides/x"), metadata=h.hq
        ),
        grpc.StatusCode.NOT_FOUND,
        "SERVICE_OVERRIDE_NOT_FOUND",
    )
    listed = await h.stub.ListServiceOverrides(
        pb.ListServiceOverridesRequest(parent="stores/s1", page_size=2), metadata=h.hq
    )
    rest = await h.stub.ListServiceOverrides(
        pb.ListServiceOverridesRequest(parent="stores/s1", page_size=2, page_token=listed.next_page_token),
        metadata=h.hq,
    )
    assert [o.service for o in [*listed.service_overrides, *rest.service_overrides]] == [
        "services/facial",
        "services/nails",
        "services/wax",
    ]
    assert not rest.next_page_token

    async def menu(store: str, metadata=None, **extra) -> dict[str, catalog_pb2.MenuItem]:
        reply = await h.stub.ListMenuItems(
            pb.ListMenuItemsRequest(parent=f"stores/{store}", **extra), metadata=metadata or h.hq
        )
        return {m.service: m for m in reply.menu_items}

    s1 = await menu("s1")
    assert list(s1) == ["services/facial", "services/wax"]  # nails is not offered at s1
    assert s1["services/facial"].duration_minutes == 90 and s1["services/facial"].list_price_minor == 15_000
    assert s1["services/facial"].buffer_after_minutes == 10
    assert list(s1["services/facial"].overridden_fields) == ["duration_minutes", "list_price_minor"]
    assert s1["services/wax"].requirements.skill == "waxing" and s1["services/wax"].online_bookable
    s2 = await menu("s2")
    assert list(s2) == ["services/facial", "services/wax", "services/nails"]
    assert s2["services/facial"].duration_minutes == 60 and not s2["services/facial"].overridden_fields
    # A member sees what can be booked online only.
    member = h.md(("member",), subject="members/m1")
    assert list(await menu("s2", metadata=member)) == ["services/facial", "services/nails"]
    assert list(await menu("s1", metadata=member)) == ["services/facial", "services/wax"]
    assert list(await menu("s2", category="hands")) == ["services/nails"]

    # Naming a field and leaving it unset clears it: the store inherits the service's value again.
    updated = await h.stub.UpdateServiceOverride(
        pb.UpdateServiceOverrideRequest(
            service_override=catalog_pb2.ServiceOverride(
                name="stores/s1/serviceOverrides/facial", buffer_after_minutes=0
            ),
            update_mask=field_mask_pb2.FieldMask(paths=["list_price_minor", "buffer_after_minutes"]),
            request_id=rid(),
        ),
        metadata=manager,
    )
    o = updated.service_override
    assert (
        not o.HasField("list_price_minor") and o.HasField("buffer_after_minutes") and o.duration_minutes == 90
    )
    s1 = await menu("s1")
    assert (
        s1["services/facial"].list_price_minor == 10_000 and s1["services/facial"].buffer_after_minutes == 0
    )
    await refused(
        h.stub.UpdateServiceOverride(
            pb.UpdateServiceOverrideRequest(
                service_override=catalog_pb2.ServiceOverride(
                    name="stores/s1/serviceOverrides/facial", service="services/wax"
                ),
                update_mask=field_mask_pb2.FieldMask(paths=["service"]),
                request_id=rid(),
            ),
            metadata=manager,
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )

    deleted = await h.stub.DeleteServiceOverride(
        pb.DeleteServiceOverrideRequest(name="stores/s1/serviceOverrides/facial", request_id=rid()),
        metadata=manager,
    )
    assert deleted.menu_item.duration_minutes == 60 and not deleted.menu_item.overridden_fields
    await refused(
        h.stub.DeleteServiceOverride(
            pb.DeleteServiceOverrideRequest(name="stores/s1/serviceOverrides/facial", request_id=rid()),
            metadata=manager,
        ),
        grpc.StatusCode.NOT_FOUND,
        "SERVICE_OVERRIDE_NOT_FOUND",
    )
    assert await h.count("service_overrides") == 2


async def test_overrides_take_effect_in_availability_and_booking(h):
    await h.service(
        "spa",
        duration_minutes=60,
        list_price_minor=10_000,
        requirements=catalog_pb2.ResourceRequirements(skill="spa"),
    )
    await h.service("nails", duration_minutes=30, requirements=catalog_pb2.ResourceRequirements(skill="spa"))
    await h.staff("s1", "anna", skills=["spa"])
    await h.staff("s2", "bea", skills=["spa"])
    await h.stub.CreateServiceOverride(
        pb.CreateServiceOverrideRequest(
            parent="stores/s1",
            service_override=catalog_pb2.ServiceOverride(
                service="services/spa", duration_minutes=30, buffer_after_minutes=30, list_price_minor=5_000
            ),
            request_id=rid(),
        ),
        metadata=h.hq,
    )
    await h.stub.CreateServiceOverride(
        pb.CreateServiceOverrideRequest(
            parent="stores/s1",
            service_override=catalog_pb2.ServiceOverride(service="services/nails", offered=False),
            request_id=rid(),
        ),
        metadata=h.hq,
    )
    day = days_ahead(3)
    s1 = await h.slots("s1", ["services/spa"], day)
    # 30 minutes of customer time plus 30 of cleaning must end by 18:00.
    assert starts(s1)[0] == "09:00" and starts(s1)[-1] == "17:00"
    first = s1[0]
    assert instant(first.end_time) - instant(first.start_time) == timedelta(minutes=30)
    assert instant(first.assignments[0].reserved_end_time) - instant(first.end_time) == timedelta(minutes=30)
    assert first.list_price_minor == 5_000
    s2 = await h.slots("s2", ["services/spa"], day)
    assert starts(s2)[-1] == "17:00" and s2[0].list_price_minor == 10_000
    assert instant(s2[0].end_time) - instant(s2[0].start_time) == timedelta(minutes=60)

    await refused(
        h.slots("s1", ["services/nails"], day), grpc.StatusCode.FAILED_PRECONDITION, "SERVICE_NOT_OFFERED"
    )
    before = await h.count("appointments")
    await refused(
        h.book("s1", ["services/nails"], local_instant(day, 10, 0, SH)),
        grpc.StatusCode.FAILED_PRECONDITION,
        "SERVICE_NOT_OFFERED",
    )
    assert await h.count("appointments") == before

    booked = await h.book("s1", ["services/spa"], instant(first.start_time))
    assert instant(booked.end_time) - instant(booked.start_time) == timedelta(minutes=30)
    assert booked.list_price_minor == 5_000
    # Its cleaning time blocks the next half hour too.
    after = await h.slots("s1", ["services/spa"], day)
    assert "09:00" not in starts(after) and "09:30" not in starts(after) and "10:00" in starts(after)


# --- staff ------------------------------------------------------------------------------------------


async def test_staff_get_list_update(h):
    desk = h.md(("front_desk",), stores=["stores/s1"])
    manager = h.md(("store_manager",), stores=["stores/s1"])
    await refused(
        h.staff("s1", "anna", metadata=desk), grpc.StatusCode.PERMISSION_DENIED, "MISSING_PERMISSION"
    )
    await refused(
        h.staff("s2", "anna", metadata=manager), grpc.StatusCode.PERMISSION_DENIED, "STORE_OUT_OF_SCOPE"
    )
    await refused(
        h.staff("s1", "anna", weekly_hours=weekly("18:00", "09:00")), grpc.StatusCode.INVALID_ARGUMENT
    )
    await refused(h.staff("s1", "anna", breaks=weekly("12:00", "25:00")), grpc.StatusCode.INVALID_ARGUMENT)
    await refused(h.staff("nowhere", "anna"), grpc.StatusCode.NOT_FOUND, "STORE_NOT_FOUND")
    assert await h.count("staff") == 0

    anna = await h.staff(
        "s1",
        "anna",
        metadata=manager,
        position="beautician",
        level=3,
        skills=["facial", "massage"],
        breaks=weekly("12:00", "13:00"),
        online_bookable=True,
        principal="user:anna",
    )
    assert anna.name == "stores/s1/staff/anna" and anna.level == 3 and anna.active
    assert (anna.breaks[0].day_of_week, anna.breaks[0].start_time, anna.breaks[0].end_time) == (
        1,
        "12:00",
        "13:00",
    )
    await h.staff("s1", "bea", skills=["facial"])
    await h.staff("s1", "cleo", skills=["nails"])
    got = await h.stub.GetStaff(pb.GetStaffRequest(name="stores/s1/staff/anna"), metadata=desk)
    assert got.staff == anna
    await refused(
        h.stub.GetStaff(pb.GetStaffRequest(name="stores/s1/staff/zed"), metadata=h.hq),
        grpc.StatusCode.NOT_FOUND,
        "STAFF_NOT_FOUND",
    )
    await refused(
        h.stub.GetStaff(pb.GetStaffRequest(name="stores/s2/staff/anna"), metadata=desk),
        grpc.StatusCode.PERMISSION_DENIED,
        "STORE_OUT_OF_SCOPE",
    )
    page = await h.stub.ListStaff(pb.ListStaffRequest(parent="stores/s1", page_size=2), metadata=h.hq)
    rest = await h.stub.ListStaff(
        pb.ListStaffRequest(parent="stores/s1", page_size=2, page_token=page.next_page_token), metadata=h.hq
    )
    assert [s.name.rsplit("/", 1)[1] for s in [*page.staff, *rest.staff]] == ["anna", "bea", "cleo"]
    facial = await h.stub.ListStaff(pb.ListStaffRequest(parent="stores/s1", skill="facial"), metadata=h.hq)
    assert [s.display_name for s in facial.staff] == ["anna", "bea"]

    # Breaks are not bookable.
    await h.service(
        "massage", duration_minutes=60, requirements=catalog_pb2.ResourceRequirements(skill="massage")
    )
    day = days_ahead(2)
    offered = starts(await h.slots("s1", ["services/massage"], day))
    assert "11:00" in offered and "13:00" in offered
    assert not {"11:15", "11:45", "12:00", "12:30"} & set(offered)

    # A booking the new hours no longer cover is kept and reported.
    booked = await h.book("s1", ["services/massage"], local_instant(day, 10, 0, SH))
    updated = await h.stub.UpdateStaff(
        pb.UpdateStaffRequest(
            staff=resources_pb2.Staff(
                name="stores/s1/staff/anna", weekly_hours=weekly("13:00", "20:00"), level=9
            ),
            update_mask=field_mask_pb2.FieldMask(paths=["weekly_hours"]),
            request_id=rid(),
        ),
        metadata=manager,
    )
    assert list(updated.conflicting_appointments) == [booked.name]
    assert updated.staff.level == 3 and updated.staff.weekly_hours[0].start_time == "13:00"
    assert (await h.count("appointments")) == 1
    # Removing the skill conflicts too; a change that keeps it covered does not.
    updated = await h.stub.UpdateStaff(
        pb.UpdateStaffRequest(
            staff=resources_pb2.Staff(name="stores/s1/staff/anna", weekly_hours=weekly("08:00", "20:00")),
            request_id=rid(),
        ),
        metadata=manager,
    )
    assert not updated.conflicting_appointments
    updated = await h.stub.UpdateStaff(
        pb.UpdateStaffRequest(
            staff=resources_pb2.Staff(name="stores/s1/staff/anna", skills=["facial"]),
            update_mask=field_mask_pb2.FieldMask(paths=["skills"]),
            request_id=rid(),
        ),
        metadata=manager,
    )
    assert list(updated.conflicting_appointments) == [booked.name]
    for staff, paths in (
        (resources_pb2.Staff(name="stores/s1/staff/anna"), ["create_time"]),
        (resources_pb2.Staff(name="stores/s1/staff/anna", display_name=" "), ["display_name"]),
        (
            resources_pb2.Staff(name="stores/s1/staff/anna", weekly_hours=weekly("10:00", "09:00")),
            ["weekly_hours"],
        ),
        (resources_pb2.Staff(name="stores/s1/anna", level=1), ["level"]),
    ):
        await refused(
            h.stub.UpdateStaff(
                pb.UpdateStaffRequest(
                    staff=staff, update_mask=field_mask_pb2.FieldMask(paths=paths), request_id=rid()
                ),
                metadata=manager,
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
        )
    await refused(
        h.stub.UpdateStaff(
            pb.UpdateStaffRequest(
                staff=resources_pb2.Staff(name="stores/s1/staff/zed", level=1), request_id=rid()
            ),
            metadata=manager,
        ),
        grpc.StatusCode.NOT_FOUND,
        "STAFF_NOT_FOUND",
    )
    # Inactive staff are not offered and leave the default list.
    await h.stub.UpdateStaff(
        pb.UpdateStaffRequest(
            staff=resources_pb2.Staff(name="stores/s1/staff/anna", active=False),
            update_mask=field_mask_pb2.FieldMask(paths=["active"]),
            request_id=rid(),
        ),
        metadata=manager,
    )
    listed = await h.stub.ListStaff(pb.ListStaffRequest(parent="stores/s1"), metadata=h.hq)
    assert [s.display_name for s in listed.staff] == ["bea", "cleo"]
    assert not await h.slots("s1", ["services/massage"], day)


# --- schedule exceptions ------------------------------------------------------------------------------


def exception(kind, start: date, end: date | None = None, times: tuple[str, str] | None = None, **extra):
    return resources_pb2.ScheduleException(
        kind=kind,
        start_date=start.isoformat(),
        end_date=end.isoformat() if end else "",
        start_time=times[0] if times else "",
        end_time=times[1] if times else "",
        **extra,
    )


LEAVE = resources_pb2.SCHEDULE_EXCEPTION_KIND_LEAVE
SICK = resources_pb2.SCHEDULE_EXCEPTION_KIND_SICK_LEAVE
EXTRA = resources_pb2.SCHEDULE_EXCEPTION_KIND_EXTRA_SHIFT


async def test_schedule_exceptions_shape_availability_and_booking(h):
    manager = h.md(("store_manager",), stores=["stores/s1"])
    await h.service("cut", duration_minutes=60, requirements=catalog_pb2.ResourceRequirements(skill="cut"))
    await h.staff("s1", "bob", skills=["cut"])
    parent = "stores/s1/staff/bob"
    svc = ["services/cut"]

    def create(e, *, allow_conflicts: bool = False, metadata=manager, on: str = parent):
        return h.stub.CreateScheduleException(
            pb.CreateScheduleExceptionRequest(
                parent=on, schedule_exception=e, allow_conflicts=allow_conflicts, request_id=rid()
            ),
            metadata=metadata,
        )

    d = days_ahead(3)
    # Bad input writes nothing.
    _, fields = await refused(
        create(exception(LEAVE, d, d - timedelta(days=1))),
        grpc.StatusCode.INVALID_ARGUMENT,
        "END_BEFORE_START",
    )
    assert fields == ["schedule_exception.end_date"]
    await refused(
        create(exception(LEAVE, d, times=("14:00", "14:00"))),
        grpc.StatusCode.INVALID_ARGUMENT,
        "END_BEFORE_START",
    )
    await refused(create(exception(0, d)), grpc.StatusCode.INVALID_ARGUMENT)
    await refused(create(exception(EXTRA, d)), grpc.StatusCode.INVALID_ARGUMENT)
    await refused(create(exception(LEAVE, d, times=("14:00", ""))), grpc.StatusCode.INVALID_ARGUMENT)
    await refused(
        create(exception(LEAVE, d, d + timedelta(days=400))),
        grpc.StatusCode.INVALID_ARGUMENT,
        "RANGE_TOO_LONG",
    )
    await refused(
        create(exception(LEAVE, d), on="stores/s1/staff/zed"), grpc.StatusCode.NOT_FOUND, "STAFF_NOT_FOUND"
    )
    await refused(
        create(exception(LEAVE, d), metadata=h.md(("front_desk",), stores=["stores/s1"])),
        grpc.StatusCode.PERMISSION_DENIED,
        "MISSING_PERMISSION",
    )
    assert await h.count("schedule_exceptions") == 0

    # A whole day of sick leave, a partial day of leave, an extra evening shift.
    sick = (await create(exception(SICK, d, reason="flu"))).schedule_exception
    assert sick.name.startswith(f"{parent}/scheduleExceptions/") and sick.actor == "user:t"
    assert sick.end_date == d.isoformat() and sick.reason == "flu"
    assert not await h.slots("s1", svc, d)
    d1 = d + timedelta(days=1)
    await create(exception(LEAVE, d1, times=("14:00", "16:00")))
    offered = starts(await h.slots("s1", svc, d1))
    assert "13:00" in offered and "16:00" in offered and "17:00" in offered
    assert not {"13:15", "14:00", "15:00", "15:45"} & set(offered)
    d2 = d + timedelta(days=2)
    shift = (await create(exception(EXTRA, d2, times=("18:00", "21:00")))).schedule_exception
    offered = starts(await h.slots("s1", svc, d2))
    assert offered[-1] == "20:00" and "18:30" in offered

    # Booking honours them: inside the extra shift yes, inside the leave no.
    evening = await h.book("s1", svc, local_instant(d2, 19, 0, SH))
    before = await h.count("appointments")
    await refused(
        h.book("s1", svc, local_instant(d1, 14, 30, SH)),
        grpc.StatusCode.FAILED_PRECONDITION,
        "OUTSIDE_WORKING_HOURS",
    )
    await refused(
        h.book("s1", svc, local_instant(d, 10, 0, SH)),
        grpc.StatusCode.FAILED_PRECONDITION,
        "OUTSIDE_WORKING_HOURS",
    )
    assert await h.count("appointments") == before

    # An absence over a booked appointment needs allow_conflicts; then it is listed.
    d3 = d + timedelta(days=3)
    morning = await h.book("s1", svc, local_instant(d3, 10, 0, SH))
    metadata, _ = await refused(
        create(exception(LEAVE, d3, times=("09:00", "12:00"))),
        grpc.StatusCode.FAILED_PRECONDITION,
        "CONFLICTS_WITH_APPOINTMENTS",
    )
    assert metadata["appointments"] == morning.name
    assert await h.count("schedule_exceptions") == 3
    await create(exception(LEAVE, d3, times=("11:00", "12:00")))  # after the appointment: no conflict
    made = await create(exception(LEAVE, d3, times=("09:00", "12:00")), allow_conflicts=True)
    assert list(made.conflicting_appointments) == [morning.name]

    # Deleting an extra shift someone is booked in needs allow_conflicts too.
    delete = pb.DeleteScheduleExceptionRequest(name=shift.name, request_id=rid())
    metadata, _ = await refused(
        h.stub.DeleteScheduleException(delete, metadata=manager),
        grpc.StatusCode.FAILED_PRECONDITION,
        "CONFLICTS_WITH_APPOINTMENTS",
    )
    assert metadata["appointments"] == evening.name
    gone = await h.stub.DeleteScheduleException(
        pb.DeleteScheduleExceptionRequest(name=shift.name, allow_conflicts=True, request_id=rid()),
        metadata=manager,
    )
    assert list(gone.conflicting_appointments) == [evening.name]
    assert starts(await h.slots("s1", svc, d2))[-1] == "17:00"
    await h.stub.DeleteScheduleException(
        pb.DeleteScheduleExceptionRequest(name=sick.name, request_id=rid()), metadata=manager
    )
    assert starts(await h.slots("s1", svc, d))[0] == "09:00"
    await refused(
        h.stub.DeleteScheduleException(
            pb.DeleteScheduleExceptionRequest(name=sick.name, request_id=rid()), metadata=manager
        ),
        grpc.StatusCode.NOT_FOUND,
        "SCHEDULE_EXCEPTION_NOT_FOUND",
    )

    # Listing: by start_date, filtered by dates, per staff member or the whole store.
    await h.staff("s1", "cat", skills=["cut"])
    await create(exception(LEAVE, d, d + timedelta(days=10)), on="stores/s1/staff/cat")

    async def listed(on: str = parent, **extra) -> list[str]:
        reply = await h.stub.ListScheduleExceptions(
            pb.ListScheduleExceptionsRequest(parent=on, **extra),
            metadata=h.md(("beautician",), stores=["stores/s1"]),
        )
        return [(e.name.split("/")[3], e.start_date, e.start_time) for e in reply.schedule_exceptions]

    assert await listed() == [
        ("bob", d1.isoformat(), "14:00"),
        ("bob", d3.isoformat(), "11:00"),
        ("bob", d3.isoformat(), "09:00"),
    ] or await listed() == [
        ("bob", d1.isoformat(), "14:00"),
        ("bob", d3.isoformat(), "09:00"),
        ("bob", d3.isoformat(), "11:00"),
    ]
    assert [e[0] for e in await listed("stores/s1/staff/-")] == ["cat", "bob", "bob", "bob"]
    assert [e[0] for e in await listed("stores/s1/staff/-", from_date=d3.isoformat())] == [
        "cat",
        "bob",
        "bob",
    ]
    assert [e[0] for e in await listed("stores/s1/staff/-", to_date=d.isoformat())] == ["cat"]
    page = await h.stub.ListScheduleExceptions(
        pb.ListScheduleExceptionsRequest(parent="stores/s1/staff/-", page_size=3), metadata=h.hq
    )
    rest = await h.stub.ListScheduleExceptions(
        pb.ListScheduleExceptionsRequest(
            parent="stores/s1/staff/-", page_size=3, page_token=page.next_page_token
        ),
        metadata=h.hq,
    )
    assert len(page.schedule_exceptions) == 3 and len(rest.schedule_exceptions) == 1
    _, fields = await refused(
        h.stub.ListScheduleExceptions(
            pb.ListScheduleExceptionsRequest(parent=parent, from_date=d3.isoformat(), to_date=d.isoformat()),
            metadata=h.hq,
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        "END_BEFORE_START",
    )
    assert fields == ["to_date"]
    await refused(
        h.stub.ListScheduleExceptions(
            pb.ListScheduleExceptionsRequest(parent=parent), metadata=h.md(("member",), subject="members/m")
        ),
        grpc.StatusCode.PERMISSION_DENIED,
    )
    # Cat's ten days of leave leave only bob.
    assert {s.staff for s in await h.slots("s1", svc, d + timedelta(days=5))} == {parent}


# --- rooms and equipment ----------------------------------------------------------------------------


async def test_rooms_and_equipment(h):
    manager = h.md(("store_manager",), stores=["stores/s1"])
    desk = h.md(("front_desk",), stores=["stores/s1"])

    def room(room_id: str, metadata=manager, **fields):
        values = {"display_name": room_id, "room_type": "bed"} | fields
        return h.stub.CreateRoom(
            pb.CreateRoomRequest(
                parent="stores/s1", room=resources_pb2.Room(**values), room_id=room_id, request_id=rid()
            ),
            metadata=metadata,
        )

    await refused(room("r1", desk), grpc.StatusCode.PERMISSION_DENIED, "MISSING_PERMISSION")
    await refused(room("r1", room_type=""), grpc.StatusCode.INVALID_ARGUMENT)
    await refused(room("r1", capacity=-1), grpc.StatusCode.INVALID_ARGUMENT)
    assert await h.count("rooms") == 0
    double = (await room("double", capacity=2)).room
    assert double.name == "stores/s1/rooms/double" and double.capacity == 2 and double.active
    await room("vip", room_type="vip-room")
    await refused(room("vip"), grpc.StatusCode.ALREADY_EXISTS)
    got = await h.stub.GetRoom(pb.GetRoomRequest(name="stores/s1/rooms/double"), metadata=desk)
    assert got.room == double
    await refused(
        h.stub.GetRoom(pb.GetRoomRequest(name="stores/s1/rooms/x"), metadata=desk),
        grpc.StatusCode.NOT_FOUND,
        "ROOM_NOT_FOUND",
    )
    rooms = await h.stub.ListRooms(pb.ListRoomsRequest(parent="stores/s1"), metadata=desk)
    assert [r.name for r in rooms.rooms] == ["stores/s1/rooms/double", "stores/s1/rooms/vip"]
    beds = await h.stub.ListRooms(pb.ListRoomsRequest(parent="stores/s1", room_type="bed"), metadata=desk)
    assert [r.name for r in beds.rooms] == ["stores/s1/rooms/double"]

    # Two appointments share the double room at once (seats 1 and 2): it cannot shrink to 1.
    await h.service(
        "duo", duration_minutes=60, requirements=catalog_pb2.ResourceRequirements(room_type="bed")
    )
    await h.staff("s1", "ann")
    await h.staff("s1", "ben")
    at = local_instant(days_ahead(2), 10, 0, SH)
    first = await h.book("s1", ["services/duo"], at)
    second = await h.book("s1", ["services/duo"], at)
    assert first.services[0].room == second.services[0].room == "stores/s1/rooms/double"

    def resize(capacity: int, metadata=manager):
        return h.stub.UpdateRoom(
            pb.UpdateRoomRequest(
                room=resources_pb2.Room(name="stores/s1/rooms/double", capacity=capacity),
                update_mask=field_mask_pb2.FieldMask(paths=["capacity"]),
                request_id=rid(),
            ),
            metadata=metadata,
        )

    metadata, _ = await refused(resize(1), grpc.StatusCode.FAILED_PRECONDITION, "CONFLICTS_WITH_APPOINTMENTS")
    assert metadata["appointments"] in (first.name, second.name)
    await refused(resize(0), grpc.StatusCode.INVALID_ARGUMENT)
    await refused(resize(3, desk), grpc.StatusCode.PERMISSION_DENIED)
    assert (await resize(3)).room.capacity == 3
    renamed = await h.stub.UpdateRoom(
        pb.UpdateRoomRequest(
            room=resources_pb2.Room(name="stores/s1/rooms/vip", display_name="VIP 2"), request_id=rid()
        ),
        metadata=manager,
    )
    assert renamed.room.display_name == "VIP 2" and renamed.room.room_type == "vip-room"
    await refused(
        h.stub.UpdateRoom(
            pb.UpdateRoomRequest(
                room=resources_pb2.Room(name="stores/s1/rooms/x", capacity=2), request_id=rid()
            ),
            metadata=manager,
        ),
        grpc.StatusCode.NOT_FOUND,
        "ROOM_NOT_FOUND",
    )

    def equipment(equipment_id: str, metadata=manager, **fields):
        values = {"display_name": equipment_id, "kind": "hydrafacial"} | fields
        return h.stub.CreateEquipment(
            pb.CreateEquipmentRequest(
                parent="stores/s1",
                equipment=resources_pb2.Equipment(**values),
                equipment_id=equipment_id,
                request_id=rid(),
            ),
            metadata=metadata,
        )

    await refused(equipment("h1", desk), grpc.StatusCode.PERMISSION_DENIED, "MISSING_PERMISSION")
    await refused(equipment("h1", kind=""), grpc.StatusCode.INVALID_ARGUMENT)
    h1 = (await equipment("h1")).equipment
    await equipment("laser", kind="ipl")
    assert h1.name == "stores/s1/equipment/h1" and h1.active
    got = await h.stub.GetEquipment(pb.GetEquipmentRequest(name=h1.name), metadata=desk)
    assert got.equipment == h1
    await refused(
        h.stub.GetEquipment(pb.GetEquipmentRequest(name="stores/s1/equipment/x"), metadata=desk),
        grpc.StatusCode.NOT_FOUND,
        "EQUIPMENT_NOT_FOUND",
    )
    off = await h.stub.UpdateEquipment(
        pb.UpdateEquipmentRequest(
            equipment=resources_pb2.Equipment(name=h1.name, active=False),
            update_mask=field_mask_pb2.FieldMask(paths=["active"]),
            request_id=rid(),
        ),
        metadata=manager,
    )
    assert not off.equipment.active
    listed = await h.stub.ListEquipment(pb.ListEquipmentRequest(parent="stores/s1"), metadata=desk)
    assert [e.name for e in listed.equipment] == ["stores/s1/equipment/laser"]
    listed = await h.stub.ListEquipment(
        pb.ListEquipmentRequest(parent="stores/s1", show_inactive=True, kind="hydrafacial"), metadata=desk
    )
    assert [e.name for e in listed.equipment] == [h1.name]
    # A service needing a kind the store has only inactive pieces of gets no slots.
    await h.service(
        "glow",
        duration_minutes=30,
        requirements=catalog_pb2.ResourceRequirements(equipment_kind="hydrafacial"),
    )
    assert not await h.slots("s1", ["services/glow"], days_ahead(2))
    await refused(
        h.stub.UpdateEquipment(
            pb.UpdateEquipmentRequest(
                equipment=resources_pb2.Equipment(name=h1.name),
                update_mask=field_mask_pb2.FieldMask(paths=["name"]),
                request_id=rid(),
            ),
            metadata=manager,
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )


async def test_catalog_tables_match_their_migrations(infra):
    _, engine, _ = await booking_database(infra, "catalog_drift")
    metadata = importlib.import_module("services.booking.adapters.tables").metadata
    try:
        async with engine.connect() as conn:
            diff = await conn.run_sync(lambda c: compare_metadata(MigrationContext.configure(c), metadata))
    finally:
        await engine.dispose()
    mine = [d for d in diff if any(f"'{t}'" in repr(d) or f"<{t}>" in repr(d) for t in CATALOG_TABLES)]
    assert mine == []


async def test_schedule_changes_are_idempotent_and_wait_for_bookings_in_flight(h):
    manager = h.md(("store_manager",), stores=["stores/s1"])
    await h.staff("s1", "dana")
    day = days_ahead(4)
    request = pb.CreateScheduleExceptionRequest(
        parent="stores/s1/staff/dana", schedule_exception=exception(LEAVE, day), request_id=rid()
    )
    first = await h.stub.CreateScheduleException(request, metadata=manager)
    again = await h.stub.CreateScheduleException(request, metadata=manager)
    assert again == first and await h.count("schedule_exceptions") == 1

    # A booking reads the roster with lock_shared: a schedule change of the same staff member
    # waits for it to finish (and then sees its appointment) instead of racing it.
    async with h.uows(h.tenant) as uow:
        roster = await uow.catalog.staff("s1", lock_shared=True)
        assert [s.staff_id for s in roster] == ["stores/s1/staff/dana"]
        assert {e.day for e in roster[0].exceptions} == {day}

        async def absence():
            return await h.stub.CreateScheduleException(
                pb.CreateScheduleExceptionRequest(
                    parent="stores/s1/staff/dana",
                    schedule_exception=exception(LEAVE, day + timedelta(days=1)),
                    request_id=rid(),
                ),
                metadata=manager,
            )

        change = asyncio.create_task(absence())
        await asyncio.sleep(0.5)
        assert not change.done()
        await uow.commit()
    await asyncio.wait_for(change, 10)
    assert await h.count("schedule_exceptions") == 2


async def test_schedule_and_room_changes_publish_events_through_the_outbox(h):
    """What insights' utilisation needs (StaffScheduleChanged, ScheduleExceptionChanged,
    RoomChanged) goes out with the change, once per change; refused changes publish nothing."""
    from peony.booking.v1 import events_pb2
    from peony.events.v1.envelope_pb2 import EventEnvelope
    from sqlalchemy import text

    async def published() -> list:
        async with h.engine.connect() as conn:
            found = await conn.execute(
                text("SELECT payload FROM outbox WHERE tenant_id = :t ORDER BY seq"), {"t": h.tenant}
            )
            out = []
            for (payload,) in found:
                envelope = EventEnvelope.FromString(payload)
                name = envelope.event_type.rsplit(".", 1)[-1]
                if name in ("StaffScheduleChanged", "ScheduleExceptionChanged", "RoomChanged"):
                    event = getattr(events_pb2, name)()
                    envelope.payload.Unpack(event)
                    out.append(event)
            return out

    await h.staff("s1", "dora", breaks=weekly("12:00", "13:00"))
    first = (await published())[-1]
    assert first == events_pb2.StaffScheduleChanged(
        staff="stores/s1/staff/dora",
        store="stores/s1",
        time_zone="Asia/Shanghai",
        active=True,
        weekly_hours=weekly("09:00", "18:00"),
        breaks=weekly("12:00", "13:00"),
    )
    request = pb.UpdateStaffRequest(
        staff=resources_pb2.Staff(name="stores/s1/staff/dora", weekly_hours=weekly("13:00", "20:00")),
        update_mask=field_mask_pb2.FieldMask(paths=["weekly_hours"]),
        request_id=rid(),
    )
    await h.stub.UpdateStaff(request, metadata=h.hq)
    await h.stub.UpdateStaff(request, metadata=h.hq)  # a replay: no second event
    await h.stub.UpdateStaff(
        pb.UpdateStaffRequest(
            staff=resources_pb2.Staff(name="stores/s1/staff/dora", level=4),
            update_mask=field_mask_pb2.FieldMask(paths=["level"]),
            request_id=rid(),
        ),
        metadata=h.hq,
    )  # not about working time: no event
    await refused(
        h.stub.UpdateStaff(
            pb.UpdateStaffRequest(
                staff=resources_pb2.Staff(name="stores/s1/staff/dora", weekly_hours=weekly("20:00", "13:00")),
                update_mask=field_mask_pb2.FieldMask(paths=["weekly_hours"]),
                request_id=rid(),
            ),
            metadata=h.hq,
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    events = await published()
    assert len(events) == 2 and list(events[1].weekly_hours) == list(weekly("13:00", "20:00"))

    day = days_ahead(20)
    created = await h.stub.CreateScheduleException(
        pb.CreateScheduleExceptionRequest(
            parent="stores/s1/staff/dora",
            schedule_exception=exception(SICK, day, day + timedelta(days=1), ("14:00", "16:00")),
            request_id=rid(),
        ),
        metadata=h.hq,
    )
    name = created.schedule_exception.name
    await h.stub.DeleteScheduleException(
        pb.DeleteScheduleExceptionRequest(name=name, request_id=rid()), metadata=h.hq
    )
    added, removed = (await published())[2:]
    expected = events_pb2.ScheduleExceptionChanged(
        schedule_exception=name,
        staff="stores/s1/staff/dora",
        store="stores/s1",
        kind="sick_leave",
        start_date=day.isoformat(),
        end_date=(day + timedelta(days=1)).isoformat(),
        start_time="14:00",
        end_time="16:00",
        time_zone="Asia/Shanghai",
    )
    assert added == expected
    expected.removed = True
    assert removed == expected

    await h.stub.CreateRoom(
        pb.CreateRoomRequest(
            parent="stores/s1",
            room=resources_pb2.Room(display_name="Quiet", room_type="bed", capacity=2),
            room_id="quiet",
            request_id=rid(),
        ),
        metadata=h.hq,
    )
    await h.stub.UpdateRoom(
        pb.UpdateRoomRequest(
            room=resources_pb2.Room(name="stores/s1/rooms/quiet", active=False),
            update_mask=field_mask_pb2.FieldMask(paths=["active"]),
            request_id=rid(),
        ),
        metadata=h.hq,
    )
    rooms = (await published())[4:]
    assert [(r.room, r.capacity, r.active) for r in rooms] == [
        ("stores/s1/rooms/quiet", 2, True),
        ("stores/s1/rooms/quiet", 2, False),
    ]
