"""Booking's members projection and member rules over real gRPC, PostgreSQL and NATS: members
events published to the `members` stream reach booking's own durable consumer (run by the
in-process server's workers) and drive the store zones, the tier booking window and the cap on
open appointments, which holds under concurrent bookings of one member.

One booking database and one running server for the module (the durable `booking-members-events`
is one per NATS server); every test uses a tenant of its own and waits for its own events in the
inbox before asserting.
"""

from __future__ import annotations

import asyncio
import time as clock
import uuid
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import grpc
import pytest
from peony.booking.v1 import appointments_pb2
from peony.booking.v1 import booking_service_pb2 as pb
from peony.members.v1 import events_pb2 as members_events
from peony.members.v1 import tier_pb2
from sqlalchemy import text

from kit.messaging import EventEnvelope, connect, new_envelope, short_name
from services.booking.adapters.member_projection import MemberNotYetRegistered, MemberProjection
from services.booking.entrypoints.consumers import MEMBERS_DURABLE
from tests.support.booking import (
    booked_rows,
    facial_and_staff,
    md,
    reason_of,
    register_members,
    running_booking,
    stamp,
)

pytestmark = pytest.mark.integration
STORE = "s1"
TZ = "Europe/Berlin"
ZONE = ZoneInfo(TZ)


def local_instant(day: date, hh: int, mm: int = 0, zone: ZoneInfo = ZONE) -> datetime:
    return datetime.combine(day, time(hh, mm), zone).astimezone(UTC)


def days_ahead(n: int, zone: ZoneInfo = ZONE) -> date:
    return datetime.now(zone).date() + timedelta(days=n)


def _tenant() -> str:
    return f"t-{uuid.uuid4().hex[:10]}"


class Booking:
    def __init__(self, stub, engine, js):
        self.stub, self.engine, self.js = stub, engine, js

    async def publish(self, envelope: EventEnvelope, *, msg_id: str | None = None) -> None:
        """As the members relay would."""
        await self.js.publish(
            f"peony.members.{short_name(envelope.event_type)}",
            envelope.SerializeToString(),
            headers={"Nats-Msg-Id": msg_id or envelope.event_id},
        )

    async def inbox_count(self, envelope: EventEnvelope) -> int:
        async with self.engine.connect() as conn:
            return (
                await conn.execute(
                    text("SELECT count(*) FROM inbox WHERE consumer = :c AND event_id = :e"),
                    {"c": MEMBERS_DURABLE, "e": envelope.event_id},
                )
            ).scalar_one()

    async def handled(self, *envelopes: EventEnvelope, within: float = 20.0) -> None:
        deadline = clock.monotonic() + within
        for envelope in envelopes:
            while await self.inbox_count(envelope) == 0:
                if clock.monotonic() > deadline:
                    raise AssertionError(
                        f"{envelope.event_type} {envelope.event_id} not handled in {within}s"
                    )
                await asyncio.sleep(0.05)

    async def deliver(self, *envelopes: EventEnvelope) -> None:
        for envelope in envelopes:
            await self.publish(envelope)
        await self.handled(*envelopes)

    async def counts(self, tenant: str) -> tuple[int, int]:
        return await booked_rows(self.engine, tenant)

    async def open_tenant(self, tenant: str, *, store: str = STORE, tz: str = TZ, staff: int = 3) -> None:
        """The store from a StoreCreated event, then a service and `staff` beauticians."""
        await self.deliver(store_created(tenant, store, tz))
        await facial_and_staff(self.stub, md(tenant), store, staff=staff)

    async def book(
        self,
        tenant: str,
        member: str,
        start: datetime,
        *,
        store: str = STORE,
        metadata=None,
        known: bool = True,
        **extra,
    ):
        """Books for `member`, whom booking knows (`known`: registered without a tier unless an
        event registered them already) or not."""
        if known:
            await register_members(self.engine, tenant, member)
        return await self.stub.BookAppointment(
            pb.BookAppointmentRequest(
                member=f"members/{member}",
                store=f"stores/{store}",
                services=["services/facial"],
                start_time=stamp(start),
                channel=appointments_pb2.BOOKING_CHANNEL_STORE,
                request_id=str(uuid.uuid4()),
                **extra,
            ),
            metadata=metadata or md(tenant),
            timeout=60,
        )

    async def refused(
        self, tenant: str, member: str, start: datetime, **extra
    ) -> tuple[grpc.StatusCode, str]:
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await self.book(tenant, member, start, **extra)
        return info.value.code(), reason_of(info.value)


# --- events ---------------------------------------------------------------------------------


def store_created(tenant: str, store: str, tz: str) -> EventEnvelope:
    event = members_events.StoreCreated(store=f"stores/{store}", display_name=store.upper(), time_zone=tz)
    return new_envelope(event, tenant=tenant, aggregate_type="store", aggregate_id=store)


def store_updated(tenant: str, store: str, tz: str) -> EventEnvelope:
    event = members_events.StoreUpdated(
        store=f"stores/{store}", display_name=store.upper(), time_zone=tz, updated_fields=["time_zone"]
    )
    return new_envelope(event, tenant=tenant, aggregate_type="store", aggregate_id=store)


def registered(tenant: str, member: str, *, tier: str = "silver", window: int = 7) -> EventEnvelope:
    event = members_events.MemberRegistered(
        member=f"members/{member}",
        member_number="M00000042",
        display_name="小美",
        home_store=f"stores/{STORE}",
        tier_id=tier,
        tier_benefits=tier_pb2.TierBenefits(booking_window_days=window),
    )
    return new_envelope(event, tenant=tenant, aggregate_type="member", aggregate_id=member)


def tier_changed(tenant: str, member: str, tier: str, window: int) -> EventEnvelope:
    event = members_events.TierChanged(
        member=f"members/{member}",
        to_tier_id=tier,
        reason="spend",
        benefits=tier_pb2.TierBenefits(booking_window_days=window),
    )
    return new_envelope(event, tenant=tenant, aggregate_type="member", aggregate_id=member)


def ladder(tenant: str, version: int, windows: dict[str, int]) -> EventEnvelope:
    event = members_events.TierLadderUpdated(
        tier_ladder="tierLadder",
        version=version,
        tiers=[
            tier_pb2.Tier(
                tier_id=tier_id, rank=rank, benefits=tier_pb2.TierBenefits(booking_window_days=days)
            )
            for rank, (tier_id, days) in enumerate(windows.items())
        ],
    )
    return new_envelope(event, tenant=tenant, aggregate_type="tier_ladder", aggregate_id=tenant)


# --- fixture --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
async def booking(infra):
    # the server's workers run booking's members-events consumer
    async with running_booking(infra, "booking_rules") as server:
        nc, js = await connect(infra.nats_url, "booking-rules-tests")
        try:
            yield Booking(server.stub, server.engine, js)
        finally:
            await nc.close()


# --- tests ----------------------------------------------------------------------------------


async def test_store_created_event_makes_the_store_bookable_in_its_zone(booking: Booking):
    tenant, member = _tenant(), str(uuid.uuid4())
    day = days_ahead(2)
    # Before the event the store is unknown.
    code, reason = await booking.refused(tenant, member, local_instant(day, 10))
    assert (code, reason) == (grpc.StatusCode.NOT_FOUND, "STORE_NOT_FOUND")

    await booking.open_tenant(tenant)
    reply = await booking.book(tenant, member, local_instant(day, 10))
    assert reply.appointment.time_zone == TZ
    assert reply.appointment.local_start == f"{day.isoformat()}T10:00"

    # StoreUpdated moves the zone; a StoreCreated redelivered late (older occurred-at) does not
    # move it back.
    await booking.deliver(store_created(tenant, "s2", "Europe/London"))
    await booking.deliver(store_updated(tenant, "s2", "Asia/Tokyo"))
    stale = store_created(tenant, "s2", "Europe/London")
    stale.occurred_at.FromDatetime(datetime.now(UTC) - timedelta(hours=1))
    await booking.deliver(stale)
    async with booking.engine.connect() as conn:
        zones = dict(
            (
                await conn.execute(
                    text("SELECT store_id, time_zone FROM store_zones WHERE tenant_id = :t"), {"t": tenant}
                )
            ).all()
        )
    assert zones == {STORE: TZ, "s2": "Asia/Tokyo"}


async def test_tier_booking_window_follows_member_events(booking: Booking):
    tenant, member, stranger = _tenant(), str(uuid.uuid4()), str(uuid.uuid4())
    await booking.open_tenant(tenant)
    await booking.deliver(registered(tenant, member, window=7))
    before = await booking.counts(tenant)
    code, reason = await booking.refused(tenant, member, local_instant(days_ahead(10), 10))
    assert (code, reason) == (grpc.StatusCode.FAILED_PRECONDITION, "BEYOND_BOOKING_WINDOW")
    assert await booking.counts(tenant) == before
    # The window runs to the end of the store-local day 7 days from today.
    await booking.book(tenant, member, local_instant(days_ahead(7), 20))

    await booking.deliver(tier_changed(tenant, member, "gold", 30))
    await booking.book(tenant, member, local_instant(days_ahead(10), 10))
    code, reason = await booking.refused(tenant, member, local_instant(days_ahead(31), 10))
    assert reason == "BEYOND_BOOKING_WINDOW"

    # A member booking has never heard of is NOT_FOUND, and nothing is written (with a members
    # service to read through to, booking would ask it first: tests/integration/test_read_through.py).
    before = await booking.counts(tenant)
    code, reason = await booking.refused(tenant, stranger, local_instant(days_ahead(7), 9), known=False)
    assert (code, reason) == (grpc.StatusCode.NOT_FOUND, "MEMBER_NOT_FOUND")
    assert await booking.counts(tenant) == before
    async with booking.engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT count(*) FROM member_windows WHERE tenant_id = :t AND member_id = :m"),
            {"t": tenant, "m": stranger},
        )
        assert rows.scalar_one() == 0
    # A member known without a tier window gets the policy default of 7 days...
    await booking.book(tenant, stranger, local_instant(days_ahead(7), 9))
    assert (await booking.refused(tenant, stranger, local_instant(days_ahead(8), 10)))[1] == (
        "BEYOND_BOOKING_WINDOW"
    )
    # ...until their registration event carries the tier's window.
    await booking.deliver(registered(tenant, stranger, tier="gold", window=30))
    await booking.book(tenant, stranger, local_instant(days_ahead(12), 10))


async def test_newest_ladder_sets_the_window_of_its_tiers(booking: Booking):
    tenant, member = _tenant(), str(uuid.uuid4())
    await booking.open_tenant(tenant)
    await booking.deliver(registered(tenant, member, tier="gold", window=7), ladder(tenant, 3, {"gold": 20}))
    await booking.book(tenant, member, local_instant(days_ahead(15), 10))
    await booking.deliver(ladder(tenant, 2, {"gold": 7}))  # stale version: ignored
    await booking.book(tenant, member, local_instant(days_ahead(16), 10))
    await booking.deliver(ladder(tenant, 4, {"gold": 7}))
    assert (await booking.refused(tenant, member, local_instant(days_ahead(14), 10)))[1] == (
        "BEYOND_BOOKING_WINDOW"
    )


async def test_fourth_open_appointment_is_refused_and_writes_nothing(booking: Booking):
    tenant, member = _tenant(), str(uuid.uuid4())
    await booking.open_tenant(tenant)
    booked = [await booking.book(tenant, member, local_instant(days_ahead(d), 10)) for d in (1, 2, 3)]
    before = await booking.counts(tenant)
    code, reason = await booking.refused(tenant, member, local_instant(days_ahead(4), 10))
    assert (code, reason) == (grpc.StatusCode.FAILED_PRECONDITION, "TOO_MANY_OPEN_APPOINTMENTS")
    assert await booking.counts(tenant) == before

    # Another member is not affected; cancelling frees a place.
    await booking.book(tenant, str(uuid.uuid4()), local_instant(days_ahead(4), 10))
    await booking.stub.CancelAppointment(
        pb.CancelAppointmentRequest(name=booked[0].appointment.name, request_id=str(uuid.uuid4())),
        metadata=md(tenant),
    )
    await booking.book(tenant, member, local_instant(days_ahead(4), 11))


async def test_staff_override_books_past_the_rules_and_records_them(booking: Booking):
    tenant, member = _tenant(), str(uuid.uuid4())
    await booking.open_tenant(tenant)
    for d in (1, 2, 3):
        await booking.book(tenant, member, local_instant(days_ahead(d), 10))
    # A member cannot override; staff must give a reason.
    own = md(tenant, roles=("member",), subject=f"members/{member}")
    code, reason = await booking.refused(
        tenant,
        member,
        local_instant(days_ahead(4), 10),
        staff_override=True,
        override_reason="vip",
        metadata=own,
    )
    assert (code, reason) == (grpc.StatusCode.PERMISSION_DENIED, "OVERRIDE_NOT_ALLOWED")
    code, _ = await booking.refused(tenant, member, local_instant(days_ahead(4), 10), staff_override=True)
    assert code == grpc.StatusCode.INVALID_ARGUMENT

    reply = await booking.book(
        tenant, member, local_instant(days_ahead(20), 10), staff_override=True, override_reason="VIP guest"
    )
    assert list(reply.appointment.overridden_rules) == ["BEYOND_BOOKING_WINDOW", "TOO_MANY_OPEN_APPOINTMENTS"]
    assert reply.appointment.override_reason == "VIP guest"
    got = await booking.stub.GetAppointment(
        pb.GetAppointmentRequest(name=reply.appointment.name), metadata=md(tenant)
    )
    assert list(got.appointment.overridden_rules) == ["BEYOND_BOOKING_WINDOW", "TOO_MANY_OPEN_APPOINTMENTS"]


async def test_concurrent_bookings_of_one_member_respect_the_cap(booking: Booking):
    tenant, member = _tenant(), str(uuid.uuid4())
    await booking.open_tenant(tenant, staff=6)
    day = days_ahead(2)
    # Six different slots (no resource contention): only the member's cap decides.
    starts = [local_instant(day, 10 + i) for i in range(6)]

    async def attempt(start):
        try:
            return await booking.book(tenant, member, start)
        except grpc.aio.AioRpcError as err:
            return err

    for _ in range(2):  # with and without the member's row existing beforehand
        results = await asyncio.gather(*(attempt(s) for s in starts))
        winners = [r for r in results if not isinstance(r, Exception)]
        losers = [r for r in results if isinstance(r, Exception)]
        assert len(winners) == 3, losers
        for err in losers:
            assert (err.code(), reason_of(err)) == (
                grpc.StatusCode.FAILED_PRECONDITION,
                "TOO_MANY_OPEN_APPOINTMENTS",
            )
        async with booking.engine.connect() as conn:
            booked = (
                await conn.execute(
                    text(
                        "SELECT count(*) FROM appointments"
                        " WHERE tenant_id = :t AND member_id = :m AND state = 'booked'"
                    ),
                    {"t": tenant, "m": member},
                )
            ).scalar_one()
        assert booked == 3
        for w in winners:
            await booking.stub.CancelAppointment(
                pb.CancelAppointmentRequest(name=w.appointment.name, request_id=str(uuid.uuid4())),
                metadata=md(tenant),
            )


async def test_projection_writes_directly(booking: Booking):
    """The adapter alone: TierChanged before registration is retryable; stale events change nothing."""
    tenant, member = _tenant(), str(uuid.uuid4())
    s = timedelta(seconds=1)
    async with booking.engine.begin() as conn:
        p = MemberProjection(conn, tenant)
        with pytest.raises(MemberNotYetRegistered):
            await p.apply_tier_changed(member, "gold", 30)
        assert (await p.lock(member)).booking_window_days is None  # placeholder
        with pytest.raises(MemberNotYetRegistered):  # a placeholder is no registration
            await p.apply_tier_changed(member, "gold", 30)
        t0 = (await conn.execute(text("SELECT now()"))).scalar_one()
        assert await p.apply_registered(member, "silver", 7, t0)
        assert await p.apply_tier_changed(member, "bronze", 5, changed_time=t0 - s)
        assert await p.apply_tier_changed(member, "gold", 30, changed_time=t0 + s)
        assert not await p.apply_tier_changed(member, "silver", 7, changed_time=t0)
        assert not await p.apply_registered(member, "silver", 7, t0)
        assert (await p.find(member)).booking_window_days == 30
        assert await p.apply_ladder(2, [{"tier_id": "gold", "booking_window_days": 45}])
        assert not await p.apply_ladder(2, [])
        assert not await p.apply_ladder(1, [])
        assert (await p.lock(member)).booking_window_days == 45


async def test_projection_batches_end_as_one_upsert_each_in_stream_order(booking: Booking):
    """The consumer's batches (one statement each) leave the rows the per-event upserts leave: a
    booking's placeholder is filled, a member registered twice keeps the last copy; of a store's
    events the latest occurred-at wins even when it comes first in the batch."""
    one_by_one, batched = _tenant(), _tenant()
    placeholder, twice = str(uuid.uuid4()), str(uuid.uuid4())
    s = timedelta(seconds=1)
    async with booking.engine.begin() as conn:
        t0 = (await conn.execute(text("SELECT now()"))).scalar_one()
        registrations = [
            MemberProjection.registration(placeholder, "silver", 7, t0),
            MemberProjection.registration(twice, "silver", 7, t0),
            MemberProjection.registration(twice, "gold", 30, t0 + s),
        ]
        # StoreUpdated (newer) delivered before a redelivered StoreCreated (older).
        stores = [("s1", "Asia/Tokyo", t0 + s), ("s1", "Asia/Shanghai", t0), ("s2", "Europe/Paris", t0)]
        for tenant in (one_by_one, batched):
            await MemberProjection(conn, tenant).lock(placeholder)
        for r in registrations:
            await MemberProjection(conn, one_by_one).apply_registered(
                r.member_id, r.values["tier_id"], r.values["booking_window_days"], r.registered_time
            )
        for store in stores:
            await MemberProjection(conn, one_by_one).apply_store(*store)
        await MemberProjection(conn, batched).apply_registrations(registrations)
        await MemberProjection(conn, batched).apply_stores(stores)

        async def rows(tenant: str) -> tuple[list, list]:
            members = await conn.execute(
                text(
                    "SELECT member_id, tier_id, booking_window_days, registered_time, update_time"
                    " FROM member_windows WHERE tenant_id = :t ORDER BY member_id"
                ),
                {"t": tenant},
            )
            zones = await conn.execute(
                text(
                    "SELECT store_id, time_zone, update_time FROM store_zones"
                    " WHERE tenant_id = :t ORDER BY store_id"
                ),
                {"t": tenant},
            )
            return [tuple(r) for r in members], [tuple(r) for r in zones]

        expected = await rows(one_by_one)
        assert await rows(batched) == expected
        members, zones = expected
        assert {m[0]: m[1:3] for m in members} == {placeholder: ("silver", 7), twice: ("gold", 30)}
        assert zones == [("s1", "Asia/Tokyo", t0 + s), ("s2", "Europe/Paris", t0)]
