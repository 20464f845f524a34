"""The booking service for integration tests (tests/integration/booking).

`running_booking` runs the booking server in-process on a fresh, migrated database of its own;
`booking_database` gives just the database (engine and units of work) and `booking_process` the
server as a separate process (for the tests that SIGKILL it). Next to those: tokens of each role,
error details of a refused call, SQL reads, catalogue setup, and `Harness`, a per-test tenant with
builders over the gRPC API. Tests keep their own tenant, so they never see each other's rows.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
import time as clock
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import grpc
import nats
from google.protobuf.timestamp_pb2 import Timestamp
from google.rpc import error_details_pb2, status_pb2
from peony.booking.v1 import appointments_pb2, catalog_pb2, resources_pb2
from peony.booking.v1 import booking_service_pb2 as pb
from peony.booking.v1 import booking_service_pb2_grpc as pb_grpc
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from cli.devstack import free_port
from kit.auth import mint_dev_token
from kit.config import ServiceConfig, load_config, to_async_url
from kit.db import session_factory
from kit.grpc_server import GrpcServiceRunner
from kit.uow import UnitOfWorkFactory
from services.booking.entrypoints.app import build
from services.booking.service_layer.unit_of_work import BookingUnitOfWork
from tests.e2e.conftest import ServiceProcess
from tests.support.stack import Infra

SH = ZoneInfo("Asia/Shanghai")
"""The zone of most test stores (no DST)."""

# --- tokens, ids, times --------------------------------------------------------------------------


def md(tenant: str, roles=("hq_admin",), *, subject: str = "user:t", stores: list[str] | None = None):
    """gRPC metadata with a dev token of `tenant` for `roles`."""
    token = mint_dev_token(tenant=tenant, subject=subject, roles=list(roles), stores=stores)
    return (("authorization", f"Bearer {token}"),)


def member_md(tenant: str, member: str):
    """Metadata of the member `member` (an id, without `members/`) themself."""
    return md(tenant, ("member",), subject=f"members/{member}")


def rid() -> str:
    return str(uuid.uuid4())


def stamp(value: datetime) -> Timestamp:
    out = Timestamp()
    out.FromDatetime(value)
    return out


def instant(value: Timestamp) -> datetime:
    return value.ToDatetime(tzinfo=UTC)


def local_instant(day: date, hh: int, mm: int = 0, zone: ZoneInfo = SH) -> datetime:
    """`hh`:`mm` on `day` in `zone`, as a UTC instant."""
    return datetime.combine(day, time(hh, mm), zone).astimezone(UTC)


def weekly(start: str, end: str, days=range(1, 8)) -> list[resources_pb2.WeeklyInterval]:
    return [resources_pb2.WeeklyInterval(day_of_week=d, start_time=start, end_time=end) for d in days]


# --- errors --------------------------------------------------------------------------------------


def error_info(err: grpc.aio.AioRpcError) -> tuple[str, dict[str, str], list[str]]:
    """(reason, metadata, fields with violations) of a refused call."""
    raw = dict(err.trailing_metadata() or ()).get("grpc-status-details-bin")
    reason, metadata, fields = "", {}, []
    for any_ in status_pb2.Status.FromString(raw).details if raw else []:
        info, bad = error_details_pb2.ErrorInfo(), error_details_pb2.BadRequest()
        if any_.Unpack(info):
            reason, metadata = info.reason, dict(info.metadata)
        elif any_.Unpack(bad):
            fields = [v.field for v in bad.field_violations]
    return reason, metadata, fields


def reason_of(err: grpc.aio.AioRpcError) -> str:
    """The `ErrorInfo.reason` of a refused call ("" without one)."""
    return error_info(err)[0]


# --- SQL -----------------------------------------------------------------------------------------


async def rows(engine: AsyncEngine, sql: str, **params) -> list:
    async with engine.connect() as conn:
        return list((await conn.execute(text(sql), params)).all())


async def scalar(engine: AsyncEngine, sql: str, **params):
    async with engine.connect() as conn:
        return (await conn.execute(text(sql), params)).scalar_one()


async def count_rows(engine: AsyncEngine, table: str, tenant: str | None = None) -> int:
    """Rows of `table`, of `tenant` only when given."""
    assert re.fullmatch(r"[a-z_]+", table), table
    sql = f"SELECT count(*) FROM {table}"  # noqa: S608 - a checked name
    if tenant is None:
        return await scalar(engine, sql)
    return await scalar(engine, f"{sql} WHERE tenant_id = :t", t=tenant)


async def booked_rows(engine: AsyncEngine, tenant: str | None = None) -> tuple[int, int]:
    """(appointments, resource reservations), of `tenant` only when given: what a booking writes."""
    return (
        await count_rows(engine, "appointments", tenant),
        await count_rows(engine, "appointment_resources", tenant),
    )


# --- the catalogue -------------------------------------------------------------------------------


async def put_store_zone(uows: UnitOfWorkFactory, tenant: str, store: str, tz: str) -> None:
    """Registers a store's zone directly (in production it comes from the members service's events)."""

    async def put(uow: BookingUnitOfWork) -> None:
        await uow.catalog.put_store_zone(store, tz)

    await uows.run(tenant, put)


_REGISTER_MEMBERS = text(
    "INSERT INTO member_windows (tenant_id, member_id, registered_time, update_time)"
    " SELECT :t, unnest(CAST(:m AS text[])), now(), now()"
    " ON CONFLICT (tenant_id, member_id) DO UPDATE SET registered_time = now(), update_time = now()"
    " WHERE member_windows.registered_time IS NULL"
)


async def register_members(db: AsyncEngine | BookingUnitOfWork, tenant: str, *member_ids: str) -> None:
    """Members known to booking, as the members service's MemberRegistered would project them
    (no tier, so the policy's default booking window): booking refuses a member it does not know,
    and these tests run it without a members service to read through to. `db` is the booking
    database, or a unit of work of `tenant` to write in."""
    params = {"t": tenant, "m": list(member_ids)}
    if isinstance(db, BookingUnitOfWork):
        await db.session.execute(_REGISTER_MEMBERS, params)
        return
    async with db.begin() as conn:
        await conn.execute(_REGISTER_MEMBERS, params)


async def create_service(stub, metadata, service_id: str, **fields) -> catalog_pb2.Service:
    reply = await stub.CreateService(
        pb.CreateServiceRequest(
            service=catalog_pb2.Service(**fields), service_id=service_id, request_id=rid()
        ),
        metadata=metadata,
    )
    return reply.service


async def create_staff(stub, metadata, store: str, staff_id: str, **fields) -> resources_pb2.Staff:
    reply = await stub.CreateStaff(
        pb.CreateStaffRequest(
            parent=f"stores/{store}",
            staff=resources_pb2.Staff(**fields),
            staff_id=staff_id,
            request_id=rid(),
        ),
        metadata=metadata,
    )
    return reply.staff


async def facial_and_staff(stub, metadata, store: str, *, staff: int = 3, online_bookable: bool = False):
    """Service `facial` (50 minutes + 10 of cleaning, skill facial) and `staff` beauticians
    `staff-0`, `staff-1`, ... of `store`, 09:00-21:00 every day."""
    await create_service(
        stub,
        metadata,
        "facial",
        display_name="Facial",
        duration_minutes=50,
        buffer_after_minutes=10,
        list_price_minor=28_800,
        currency_code="CNY",
        requirements=catalog_pb2.ResourceRequirements(skill="facial"),
        online_bookable=online_bookable,
    )
    for i in range(staff):
        await create_staff(
            stub,
            metadata,
            store,
            f"staff-{i}",
            display_name=f"Staff {i}",
            skills=["facial"],
            online_bookable=online_bookable,
            weekly_hours=weekly("09:00", "21:00"),
        )


# --- the server ----------------------------------------------------------------------------------


def booking_uows(engine: AsyncEngine, **dependencies: Any) -> UnitOfWorkFactory:
    """Booking's units of work on `engine` (with e.g. `wallet=` a wallet client)."""
    return UnitOfWorkFactory(BookingUnitOfWork, session_factory(engine), service="booking", **dependencies)


async def booking_database(infra: Infra, prefix: str) -> tuple[str, AsyncEngine, UnitOfWorkFactory]:
    """A fresh database migrated to booking's schema: (async URL, engine, units of work).
    The caller disposes of the engine."""
    url = to_async_url(await infra.amigrated_database("booking", prefix))
    engine = create_async_engine(url)
    return url, engine, booking_uows(engine)


@dataclass
class BookingServer:
    """A booking server running in-process, and a client of it."""

    stub: pb_grpc.BookingServiceStub
    engine: AsyncEngine
    """On the server's database, for the tests' own reads and writes."""
    uows: UnitOfWorkFactory
    url: str
    config: ServiceConfig
    runner: GrpcServiceRunner
    port: int
    channel: grpc.aio.Channel


@asynccontextmanager
async def running_booking(
    infra: Infra, database_prefix: str, extra_env: Mapping[str, str] | None = None
) -> AsyncIterator[BookingServer]:
    """The booking server on a fresh database (gRPC on a free port, a 2 s shutdown grace; `extra_env`
    adds to or overrides its configuration); stopped, and everything closed, on the way out."""
    url, engine, uows = await booking_database(infra, database_prefix)
    config = load_config(
        "booking",
        {
            "PEONY_BOOKING_DATABASE_URL": url,
            "PEONY_NATS_URL": infra.nats_url,
            "PEONY_BOOKING_GRPC_PORT": "0",
            "PEONY_SHUTDOWN_GRACE_SECONDS": "2",
            "PEONY_BOOKING_MEMBERS_READ_THROUGH": "off",  # no members service: seed the projection
            **(extra_env or {}),
        },
    )
    try:
        runner = await build(config)
        port = await runner.start()
        try:
            channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
            try:
                yield BookingServer(
                    pb_grpc.BookingServiceStub(channel), engine, uows, url, config, runner, port, channel
                )
            finally:
                await channel.close()
        finally:
            await runner.stop()
    finally:
        await engine.dispose()


def booking_process(url: str, nats_url: str, log_path: Path) -> ServiceProcess:
    """The booking service as a process of its own on `url` (already migrated), its jobs every
    0.2 s; not started yet."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PEONY_", "OTEL_"))}
    env.update(
        {
            "PEONY_ENV": "test",
            "PEONY_BOOKING_DATABASE_URL": url,
            "PEONY_NATS_URL": nats_url,
            "PEONY_BOOKING_GRPC_PORT": str(port),
            "PEONY_BOOKING_JOBS_INTERVAL_SECONDS": "0.2",
            "PEONY_BOOKING_MEMBERS_READ_THROUGH": "off",
            "PEONY_LOG_LEVEL": "WARNING",
            "PEONY_MIGRATE_ON_START": "false",
            "PEONY_SHUTDOWN_GRACE_SECONDS": "2",
        }
    )
    return ServiceProcess(
        "booking",
        [
            sys.executable,
            "-c",
            "import sys; from services.booking.entrypoints.app import main; sys.exit(main())",
        ],
        env,
        log_path,
        f"grpc:127.0.0.1:{port}",
    )


async def drained(engine: AsyncEngine, table: str, within: float = 30.0) -> int:
    """Waits up to `within` seconds for no row of `table` to be left `scheduled` and every outbox
    row to be published; returns how many were still pending (0 when drained)."""
    assert re.fullmatch(r"[a-z_]+", table), table
    sql = (
        f"SELECT (SELECT count(*) FROM {table} WHERE state = 'scheduled')"  # noqa: S608 - a checked name
        " + (SELECT count(*) FROM outbox WHERE published_at IS NULL)"
    )
    deadline = clock.monotonic() + within
    while (pending := await scalar(engine, sql)) and clock.monotonic() < deadline:
        await asyncio.sleep(0.3)
    return pending


async def times_published(nats_url: str, event_ids: set[str]) -> dict[str, int]:
    """How often each of `event_ids` is on the booking stream (by `Nats-Msg-Id`); none that is not."""
    nc = await nats.connect(nats_url)
    try:
        sub = await nc.jetstream().pull_subscribe("peony.booking.>", durable=None)
        seen: dict[str, int] = {}
        while True:
            try:
                msgs = await sub.fetch(500, timeout=1.5)
            except (nats.errors.TimeoutError, TimeoutError):  # nats-py raises either
                break
            for msg in msgs:
                msg_id = msg.headers.get("Nats-Msg-Id") if msg.headers else None
                if msg_id in event_ids:
                    seen[msg_id] = seen.get(msg_id, 0) + 1
                await msg.ack()
    finally:
        await nc.close()
    return seen


# --- a tenant over the API -----------------------------------------------------------------------


class Harness:
    """A new tenant on a running server, with builders over the gRPC API."""

    def __init__(self, stub, engine, uows):
        self.stub, self.engine, self.uows = stub, engine, uows
        self.tenant = f"t-{uuid.uuid4().hex[:10]}"

    @classmethod
    def of(cls, server: BookingServer) -> Harness:
        return cls(server.stub, server.engine, server.uows)

    def md(self, roles=("hq_admin",), *, stores: list[str] | None = None, subject: str = "user:t"):
        return md(self.tenant, roles, subject=subject, stores=stores)

    @property
    def hq(self):
        return self.md()

    async def store(self, store_id: str, tz: str) -> None:
        await put_store_zone(self.uows, self.tenant, store_id, tz)

    async def service(self, service_id: str, *, metadata=None, **fields) -> catalog_pb2.Service:
        values = {
            "display_name": service_id,
            "category": "face",
            "duration_minutes": 60,
            "list_price_minor": 10_000,
        } | fields
        return await create_service(self.stub, metadata or self.hq, service_id, **values)

    async def staff(self, store: str, staff_id: str, *, metadata=None, **fields) -> resources_pb2.Staff:
        values = {"display_name": staff_id, "weekly_hours": weekly("09:00", "18:00")} | fields
        return await create_staff(self.stub, metadata or self.hq, store, staff_id, **values)

    async def slots(
        self, store: str, services, first: date, last: date | None = None, *, metadata=None, **extra
    ):
        reply = await self.stub.QueryAvailability(
            pb.QueryAvailabilityRequest(
                store=f"stores/{store}",
                services=list(services),
                start_date=first.isoformat(),
                end_date=(last or first).isoformat(),
                page_size=1000,
                **extra,
            ),
            metadata=metadata or self.hq,
        )
        return list(reply.slots)

    def booking(self, store: str, services, start: datetime, **extra) -> pb.BookAppointmentRequest:
        """A staff booking (store channel, a new member) past the member rules, which these
        tests are not about."""
        return pb.BookAppointmentRequest(
            member=f"members/{uuid.uuid4()}",
            store=f"stores/{store}",
            services=list(services),
            start_time=stamp(start),
            channel=appointments_pb2.BOOKING_CHANNEL_STORE,
            staff_override=True,
            override_reason="catalogue test",
            request_id=rid(),
            **extra,
        )

    async def book(self, store: str, services, start: datetime, **extra):
        request = self.booking(store, services, start, **extra)
        await register_members(self.engine, self.tenant, request.member.removeprefix("members/"))
        reply = await self.stub.BookAppointment(request, metadata=self.hq)
        return reply.appointment

    async def count(self, table: str) -> int:
        """Rows of this tenant in `table`."""
        return await count_rows(self.engine, table, self.tenant)

    async def rows(self, sql: str, **params):
        """`sql` with `:t` this tenant."""
        return await rows(self.engine, sql, t=self.tenant, **params)
