"""The waitlist over real gRPC and PostgreSQL: joining (and its refusals), freed time offered to one
fitting entry at a time with its slot held, accept / decline / leave, the lapse job step (exactly
once), and races between cancellations and between accepts."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import grpc
import pytest
from peony.booking.v1 import appointments_pb2, events_pb2, waitlist_pb2
from peony.booking.v1 import booking_service_pb2 as pb
from peony.events.v1 import envelope_pb2
from sqlalchemy import text

from kit.errors import DomainError
from services.booking.service_layer import appointments as appts
from services.booking.service_layer import waitlist as wl
from services.booking.service_layer.unit_of_work import BookingUnitOfWork
from tests.support.booking import md as tenant_md
from tests.support.booking import member_md as tenant_member_md
from tests.support.booking import reason_of, register_members, running_booking, scalar, stamp

pytestmark = pytest.mark.integration
TENANT = "waitlist"
TZ = "Asia/Shanghai"
ZONE = ZoneInfo(TZ)
ALL_WEEK = [{"day": d, "start": "09:00", "end": "21:00"} for d in range(1, 8)]
OFFERED_EVENT = "peony.booking.v1.WaitlistOffered"
BOOKED_EVENT = "peony.booking.v1.AppointmentBooked"
S = waitlist_pb2


def md(roles=("hq_admin",), subject="user:t"):
    return tenant_md(TENANT, roles, subject=subject)


def member_md(member_id: str):
    return tenant_member_md(TENANT, member_id)


def at(day: date, hh: int, mm: int = 0) -> datetime:
    return datetime.combine(day, time(hh, mm), ZONE).astimezone(UTC)


def in_days(n: int) -> date:
    return datetime.now(ZONE).date() + timedelta(days=n)


# Everyone who joins a waitlist in these tests: booking refuses a member it does not know.
MEMBERS = (
    *[
        "m1",
        "m2",
        "m3",
        "mv1",
        "someone-else",
        "busy",
        "naughty",
        "intruder",
        "d1",
        "d2",
        "e1",
        "e2",
        "f1",
        "f2",
        "f3",
        "l1",
        "l2",
        "q1",
        "q2",
        "q3",
        "q4",
        "q5",
        "x1",
        "x2",
        "y1",
        "z1",
        "u1",
        "u2",
        "u3",
    ],
    *(f"p{i}" for i in range(5)),
    *(f"r{round_}-{i}" for round_ in range(10) for i in range(3)),
)


@pytest.fixture(scope="module")
async def env(infra):
    # the tests run the job step themselves, with the clock they need
    async with running_booking(
        infra, "booking_waitlist", {"PEONY_BOOKING_JOBS_INTERVAL_SECONDS": "3600"}
    ) as server:

        async def seed(uow: BookingUnitOfWork) -> None:
            await register_members(uow, TENANT, *MEMBERS)
            for service_id, minutes in (("facial", 60), ("long", 120)):
                await uow.catalog.add_service(
                    service_id=service_id,
                    display_name=service_id.title(),
                    duration_minutes=minutes,
                    list_price_minor=10_000,
                    currency_code="CNY",
                    skill="facial",
                )

        await server.uows.run(TENANT, seed)
        yield server.stub, server.engine, server.uows


async def new_store(uows, store: str, *days: date) -> dict[tuple[date, str, int], str]:
    """A store with staff anna and bob (09:00-21:00 every day), both fully booked by the hour on
    `days` (so nothing is free there until a test cancels): (day, staff, hour) -> appointment id."""

    async def go(uow: BookingUnitOfWork) -> None:
        await uow.catalog.put_store_zone(store, TZ)
        for staff_id in ("anna", "bob"):
            await uow.catalog.add_staff(
                store_id=store,
                staff_id=staff_id,
                display_name=staff_id,
                skills=["facial"],
                weekly_hours=ALL_WEEK,
            )

    await uows.run(TENANT, go)
    booked = {}
    for day in days:
        for staff in ("anna", "bob"):
            for hour in range(9, 21):
                # Every slot that has not begun: one left free a few minutes before the hour would
                # be offered to the waitlist (the test then failed from xx:55 to xx:00).
                start = at(day, hour)
                if start <= datetime.now(UTC):
                    continue
                try:
                    booked[(day, staff, hour)] = await book(uows, store, start, staff=staff)
                except DomainError:
                    if start > datetime.now(UTC):
                        raise  # only a slot that began during the loop may be refused
    return booked


async def book(
    uows, store: str, start: datetime, staff: str = "anna", member: str | None = None, service: str = "facial"
) -> str:
    member = member or str(uuid.uuid4())

    async def go(uow: BookingUnitOfWork) -> dict:
        await register_members(uow, TENANT, member)
        return await appts.book_appointment(
            uow,
            member=member,
            store=store,
            service_ids=[service],
            staff=f"stores/{store}/staff/{staff}",
            start_utc=start,
            channel=appointments_pb2.BOOKING_CHANNEL_STORE,
            staff_override=True,
            override_reason="test",
        )

    return (await uows.run(TENANT, go))["appointment_id"]


async def cancel(stub, appointment_id: str) -> None:
    """CancelAppointment offers the freed time to the waitlist in its transaction."""
    await stub.CancelAppointment(
        pb.CancelAppointmentRequest(name=f"appointments/{appointment_id}", request_id=str(uuid.uuid4())),
        metadata=md(),
    )


def entry_of(
    member: str, store: str, day: date, *, service="facial", staff="", earliest="", latest="", channel=None
):
    return S.WaitlistEntry(
        member=f"members/{member}",
        store=f"stores/{store}",
        service=f"services/{service}",
        date=day.isoformat(),
        staff=f"stores/{store}/staff/{staff}" if staff else "",
        earliest_start_time=earliest,
        latest_start_time=latest,
        channel=channel or appointments_pb2.BOOKING_CHANNEL_STORE,
    )


async def join(stub, entry: S.WaitlistEntry, metadata=None) -> S.WaitlistEntry:
    res = await stub.JoinWaitlist(
        pb.JoinWaitlistRequest(waitlist_entry=entry, request_id=str(uuid.uuid4())), metadata=metadata or md()
    )
    return res.waitlist_entry


async def get(stub, name: str) -> S.WaitlistEntry:
    return (await stub.GetWaitlistEntry(pb.GetWaitlistEntryRequest(name=name), metadata=md())).waitlist_entry


async def accept(stub, name: str, metadata=None):
    return await stub.AcceptWaitlistOffer(
        pb.AcceptWaitlistOfferRequest(name=name, request_id=str(uuid.uuid4())), metadata=metadata or md()
    )


async def decline(stub, name: str):
    return await stub.DeclineWaitlistOffer(
        pb.DeclineWaitlistOfferRequest(name=name, request_id=str(uuid.uuid4())), metadata=md()
    )


async def offered_events(engine, entry_name: str) -> list[events_pb2.WaitlistOffered]:
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                text(
                    "SELECT payload FROM outbox WHERE event_type = :e AND aggregate_id = :a"
                    " ORDER BY created_at"
                ),
                {"e": OFFERED_EVENT, "a": entry_name.split("/")[1]},
            )
        ).all()
    out = []
    for (payload,) in rows:
        event = events_pb2.WaitlistOffered()
        envelope_pb2.EventEnvelope.FromString(payload).payload.Unpack(event)
        out.append(event)
    return out


async def offer_states(engine, store: str) -> str:
    return await scalar(
        engine,
        "SELECT string_agg(state, ',' ORDER BY offer_time) FROM waitlist_offers WHERE store_id = :s",
        s=store,
    )


async def active_holds(engine, entry_name: str) -> int:
    return await scalar(
        engine,
        "SELECT count(*) FROM appointment_resources r JOIN waitlist_offers o"
        " ON o.offer_id = r.appointment_id WHERE r.active AND o.entry_id = :e",
        e=entry_name.split("/")[1],
    )


async def expect_error(call, code: grpc.StatusCode, reason: str | None = None):
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call
    assert info.value.code() == code, info.value
    if reason is not None:
        assert reason_of(info.value) == reason, info.value.details()
    return info.value


# --- joining --------------------------------------------------------------------------------------


async def test_join_validates_and_refuses_duplicates(env):
    stub, engine, uows = env
    store = "s-join"
    day = in_days(2)
    await new_store(uows, store, day, in_days(3))
    before = await scalar(engine, "SELECT count(*) FROM waitlist_entries")

    await expect_error(
        join(stub, entry_of("m1", store, day, earliest="15:00", latest="14:00")),
        grpc.StatusCode.INVALID_ARGUMENT,
        "END_BEFORE_START",
    )
    await expect_error(
        join(stub, entry_of("m1", store, day, earliest="25:00")), grpc.StatusCode.INVALID_ARGUMENT
    )
    bad_date = entry_of("m1", store, day)
    bad_date.date = "2026-13-01"
    await expect_error(join(stub, bad_date), grpc.StatusCode.INVALID_ARGUMENT)
    no_channel = entry_of("m1", store, day)
    no_channel.channel = appointments_pb2.BOOKING_CHANNEL_UNSPECIFIED
    await expect_error(join(stub, no_channel), grpc.StatusCode.INVALID_ARGUMENT)
    await expect_error(
        join(stub, entry_of("m1", store, day, service="nope")), grpc.StatusCode.NOT_FOUND, "SERVICE_NOT_FOUND"
    )
    await expect_error(
        join(stub, entry_of("m1", store, day, staff="nobody")), grpc.StatusCode.NOT_FOUND, "STAFF_NOT_FOUND"
    )
    await expect_error(
        join(stub, entry_of("m1", "s-unknown", day)), grpc.StatusCode.NOT_FOUND, "STORE_NOT_FOUND"
    )
    await expect_error(
        join(stub, entry_of("m1", store, in_days(-1))), grpc.StatusCode.FAILED_PRECONDITION, "SLOT_IN_PAST"
    )
    await expect_error(
        join(stub, entry_of("m1", store, in_days(60))),
        grpc.StatusCode.FAILED_PRECONDITION,
        "BEYOND_BOOKING_WINDOW",
    )
    assert await scalar(engine, "SELECT count(*) FROM waitlist_entries") == before

    first = await join(stub, entry_of("m1", store, day, staff="anna", earliest="10:00", latest="12:30"))
    assert first.state == S.WAITLIST_ENTRY_STATE_WAITING
    assert first.staff == f"stores/{store}/staff/anna" and first.earliest_start_time == "10:00"
    assert first.date == day.isoformat() and first.offers_made == 0
    await expect_error(
        join(stub, entry_of("m1", store, day)), grpc.StatusCode.ALREADY_EXISTS, "ALREADY_ON_WAITLIST"
    )
    # another day, or once the first entry has left, is fine
    await join(stub, entry_of("m1", store, in_days(3)))
    await stub.LeaveWaitlist(
        pb.LeaveWaitlistRequest(name=first.name, request_id=str(uuid.uuid4())), metadata=md()
    )
    again = await join(stub, entry_of("m1", store, day))
    assert again.name != first.name

    # a member joins only for themselves: the member is forced to the caller
    await expect_error(
        join(stub, entry_of("m2", store, day), metadata=member_md("m2")), grpc.StatusCode.INVALID_ARGUMENT
    )
    online = appointments_pb2.BOOKING_CHANNEL_ONLINE
    mine = await join(stub, entry_of("someone-else", store, day, channel=online), metadata=member_md("m2"))
    assert mine.member == "members/m2"
    await expect_error(
        stub.GetWaitlistEntry(pb.GetWaitlistEntryRequest(name=again.name), metadata=member_md("m2")),
        grpc.StatusCode.PERMISSION_DENIED,
    )
    # staff without front-desk rights may not put members on the waitlist
    await expect_error(
        join(stub, entry_of("m3", store, day), metadata=md(roles=("service",))),
        grpc.StatusCode.PERMISSION_DENIED,
    )
    listed = await stub.ListWaitlistEntries(pb.ListWaitlistEntriesRequest(), metadata=member_md("m2"))
    assert [e.name for e in listed.waitlist_entries] == [mine.name]
    await expect_error(
        stub.GetWaitlistEntry(pb.GetWaitlistEntryRequest(name="waitlistEntries/x"), metadata=md()),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    await expect_error(
        stub.GetWaitlistEntry(
            pb.GetWaitlistEntryRequest(name=f"waitlistEntries/{uuid.uuid4()}"), metadata=md()
        ),
        grpc.StatusCode.NOT_FOUND,
    )


async def test_list_pages_in_queue_order(env):
    stub, _, uows = env
    store = "s-list"
    day = in_days(1)
    await new_store(uows, store, day)
    names = [(await join(stub, entry_of(f"p{i}", store, day))).name for i in range(5)]
    await stub.LeaveWaitlist(
        pb.LeaveWaitlistRequest(name=names[2], request_id=str(uuid.uuid4())), metadata=md()
    )
    seen, token = [], ""
    while True:
        page = await stub.ListWaitlistEntries(
            pb.ListWaitlistEntriesRequest(store=f"stores/{store}", page_size=2, page_token=token),
            metadata=md(),
        )
        assert len(page.waitlist_entries) <= 2
        seen += [e.name for e in page.waitlist_entries]
        token = page.next_page_token
        if not token:
            break
    assert seen == [n for i, n in enumerate(names) if i != 2]
    cancelled = await stub.ListWaitlistEntries(
        pb.ListWaitlistEntriesRequest(
            store=f"stores/{store}", date=day.isoformat(), states=[S.WAITLIST_ENTRY_STATE_CANCELLED]
        ),
        metadata=md(),
    )
    assert [e.name for e in cancelled.waitlist_entries] == [names[2]]
    await expect_error(
        stub.ListWaitlistEntries(
            pb.ListWaitlistEntriesRequest(store="stores/other", page_token=page.next_page_token or "x"),
            metadata=md(),
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )


# --- offering ---------------------------------------------------------------------------------------


async def test_freed_time_goes_to_the_first_fitting_entry_only_and_is_held(env):
    stub, engine, uows = env
    store = "s-offer"
    day = in_days(2)
    freed = (await new_store(uows, store, day))[(day, "anna", 10)]  # anna stays busy from 11:00
    # In queue order: wants bob; wants anna but only after 15:00; a 2-hour service that cannot fit
    # in anna's freed hour; then two that fit.
    wants_bob = await join(stub, entry_of("q1", store, day, staff="bob"))
    too_late = await join(stub, entry_of("q2", store, day, staff="anna", earliest="15:00"))
    too_long = await join(stub, entry_of("q3", store, day, service="long"))
    first = await join(stub, entry_of("q4", store, day))
    second = await join(stub, entry_of("q5", store, day, staff="anna"))

    await cancel(stub, freed)

    got = await get(stub, first.name)
    assert got.state == S.WAITLIST_ENTRY_STATE_OFFERED and got.offers_made == 1
    slot = got.offer.slot
    assert slot.start_time.ToDatetime(tzinfo=UTC) == at(day, 10)
    assert slot.end_time.ToDatetime(tzinfo=UTC) == at(day, 11)
    assert slot.staff == f"stores/{store}/staff/anna" and slot.local_start == f"{day.isoformat()}T10:00"
    expire = got.offer.expire_time.ToDatetime(tzinfo=UTC)
    assert expire - got.offer.offer_time.ToDatetime(tzinfo=UTC) == timedelta(minutes=30)
    for other in (wants_bob, too_late, too_long, second):
        e = await get(stub, other.name)
        assert e.state == S.WAITLIST_ENTRY_STATE_WAITING and e.offers_made == 0
        assert await offered_events(engine, other.name) == []
    (event,) = await offered_events(engine, first.name)
    assert event.member == "members/q4" and event.store == f"stores/{store}"
    assert event.service == "services/facial" and event.staff == f"stores/{store}/staff/anna"
    assert event.start_time.ToDatetime(tzinfo=UTC) == at(day, 10)
    assert event.offer_expire_time.ToDatetime(tzinfo=UTC) == expire
    assert event.time_zone == TZ and event.local_start == f"{day.isoformat()}T10:00"

    # the slot is held for the member: nobody else can book it
    assert await active_holds(engine, first.name) == 1
    err = await expect_error(
        stub.BookAppointment(
            pb.BookAppointmentRequest(
                member="members/intruder",
                store=f"stores/{store}",
                services=["services/facial"],
                start_time=stamp(at(day, 10)),
                preferred_staff=f"stores/{store}/staff/anna",
                channel=appointments_pb2.BOOKING_CHANNEL_STORE,
                request_id=str(uuid.uuid4()),
            ),
            metadata=md(),
        ),
        grpc.StatusCode.ABORTED,
    )
    assert reason_of(err) == "SLOT_TAKEN"

    # accepting books it
    appointments_before = await scalar(engine, "SELECT count(*) FROM appointments")
    res = await accept(stub, first.name)
    assert res.waitlist_entry.state == S.WAITLIST_ENTRY_STATE_BOOKED
    assert res.waitlist_entry.appointment == res.appointment.name
    assert res.appointment.state == appointments_pb2.APPOINTMENT_STATE_BOOKED
    assert res.appointment.member == "members/q4"
    assert res.appointment.start_time.ToDatetime(tzinfo=UTC) == at(day, 10)
    assert res.appointment.services[0].staff == f"stores/{store}/staff/anna"
    assert await scalar(engine, "SELECT count(*) FROM appointments") == appointments_before + 1
    assert await active_holds(engine, first.name) == 0
    booked = await scalar(
        engine,
        "SELECT count(*) FROM outbox WHERE event_type = :e AND aggregate_id = :a",
        e=BOOKED_EVENT,
        a=res.appointment.name.split("/")[1],
    )
    assert booked == 1
    fetched = await stub.GetAppointment(pb.GetAppointmentRequest(name=res.appointment.name), metadata=md())
    assert fetched.appointment.state == appointments_pb2.APPOINTMENT_STATE_BOOKED
    again = await expect_error(accept(stub, first.name), grpc.StatusCode.FAILED_PRECONDITION)
    assert reason_of(again) == "NO_OPEN_OFFER"
    assert (await get(stub, second.name)).state == S.WAITLIST_ENTRY_STATE_WAITING


async def test_decline_passes_the_slot_to_the_next_entry(env):
    stub, engine, uows = env
    store = "s-decline"
    day = in_days(2)
    freed = (await new_store(uows, store, day))[(day, "anna", 14)]
    a = await join(stub, entry_of("d1", store, day))
    b = await join(stub, entry_of("d2", store, day))
    await cancel(stub, freed)
    assert (await get(stub, a.name)).state == S.WAITLIST_ENTRY_STATE_OFFERED
    await expect_error(decline(stub, b.name), grpc.StatusCode.FAILED_PRECONDITION, "NO_OPEN_OFFER")

    declined = (await decline(stub, a.name)).waitlist_entry
    assert declined.state == S.WAITLIST_ENTRY_STATE_WAITING and declined.offers_made == 1
    nxt = await get(stub, b.name)
    assert nxt.state == S.WAITLIST_ENTRY_STATE_OFFERED
    assert nxt.offer.slot.start_time.ToDatetime(tzinfo=UTC) == at(day, 14)
    assert len(await offered_events(engine, b.name)) == 1
    assert await active_holds(engine, a.name) == 0 and await active_holds(engine, b.name) == 1

    # b declines too: a had this freed time already, so nobody is offered it and it is free again
    await decline(stub, b.name)
    for name in (a.name, b.name):
        assert (await get(stub, name)).state == S.WAITLIST_ENTRY_STATE_WAITING
        assert await active_holds(engine, name) == 0
    assert len(await offered_events(engine, a.name)) == 1
    await book(uows, store, at(day, 14))


async def test_leave_with_an_open_offer_passes_it_on(env):
    stub, engine, uows = env
    store = "s-leave"
    day = in_days(2)
    freed = (await new_store(uows, store, day))[(day, "anna", 16)]
    a = await join(stub, entry_of("l1", store, day))
    b = await join(stub, entry_of("l2", store, day))
    await cancel(stub, freed)
    left = await stub.LeaveWaitlist(
        pb.LeaveWaitlistRequest(name=a.name, request_id=str(uuid.uuid4())), metadata=md()
    )
    assert left.waitlist_entry.state == S.WAITLIST_ENTRY_STATE_CANCELLED
    assert (await get(stub, b.name)).state == S.WAITLIST_ENTRY_STATE_OFFERED
    assert await active_holds(engine, a.name) == 0
    await expect_error(
        stub.LeaveWaitlist(pb.LeaveWaitlistRequest(name=a.name, request_id=str(uuid.uuid4())), metadata=md()),
        grpc.StatusCode.FAILED_PRECONDITION,
        "INVALID_WAITLIST_STATE",
    )
    await expect_error(
        stub.LeaveWaitlist(
            pb.LeaveWaitlistRequest(name=b.name, request_id=str(uuid.uuid4())), metadata=member_md("l1")
        ),
        grpc.StatusCode.PERMISSION_DENIED,
    )
    assert (await get(stub, b.name)).state == S.WAITLIST_ENTRY_STATE_OFFERED


async def test_lapse_via_the_job_step_offers_the_next_member_exactly_once(env):
    stub, engine, uows = env
    store = "s-lapse"
    day = in_days(2)
    freed = (await new_store(uows, store, day))[(day, "anna", 12)]
    a = await join(stub, entry_of("x1", store, day))
    b = await join(stub, entry_of("x2", store, day))
    await cancel(stub, freed)
    offer = (await get(stub, a.name)).offer
    lapse = offer.expire_time.ToDatetime(tzinfo=UTC)

    # (other tests' offers lapse too: this store's are checked)
    await wl.expire_waitlist(engine, uows, lapse - timedelta(seconds=1))
    assert await offer_states(engine, store) == "open"
    assert (await get(stub, a.name)).state == S.WAITLIST_ENTRY_STATE_OFFERED
    # several runners at once: the lapse happens once, and b is offered once
    await asyncio.gather(*(wl.expire_waitlist(engine, uows, lapse) for _ in range(4)))
    assert await offer_states(engine, store) == "expired,open"
    assert (await get(stub, a.name)).state == S.WAITLIST_ENTRY_STATE_WAITING
    got_b = await get(stub, b.name)
    assert got_b.state == S.WAITLIST_ENTRY_STATE_OFFERED
    assert len(await offered_events(engine, b.name)) == 1
    assert await active_holds(engine, a.name) == 0 and await active_holds(engine, b.name) == 1
    # accepting a lapsed offer: OFFER_EXPIRED, nothing written
    err = await expect_error(accept(stub, a.name), grpc.StatusCode.FAILED_PRECONDITION)
    assert reason_of(err) == "OFFER_EXPIRED"

    # b's window lapses too; nobody is left who was not offered this time
    lapse_b = got_b.offer.expire_time.ToDatetime(tzinfo=UTC)
    await asyncio.gather(*(wl.expire_waitlist(engine, uows, lapse_b) for _ in range(3)))
    assert await offer_states(engine, store) == "expired,expired"
    assert await active_holds(engine, b.name) == 0


async def test_accept_after_the_window_fails_and_writes_nothing(env):
    stub, engine, uows = env
    store = "s-late"
    day = in_days(2)
    freed = (await new_store(uows, store, day))[(day, "anna", 15)]
    a = await join(stub, entry_of("y1", store, day))
    await cancel(stub, freed)
    # the window has passed but the job has not run yet
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE waitlist_offers SET offer_time = now() - interval '40 minutes',"
                " expire_time = now() - interval '10 minutes' WHERE entry_id = :e"
            ),
            {"e": a.name.split("/")[1]},
        )
    appointments_before = await scalar(engine, "SELECT count(*) FROM appointments")
    outbox_before = await scalar(engine, "SELECT count(*) FROM outbox")
    err = await expect_error(accept(stub, a.name), grpc.StatusCode.FAILED_PRECONDITION)
    assert reason_of(err) == "OFFER_EXPIRED"
    assert await scalar(engine, "SELECT count(*) FROM appointments") == appointments_before
    assert await scalar(engine, "SELECT count(*) FROM outbox") == outbox_before
    got = await get(stub, a.name)
    assert got.state == S.WAITLIST_ENTRY_STATE_OFFERED
    assert await active_holds(engine, a.name) == 1


# --- races ----------------------------------------------------------------------------------------


async def test_concurrent_accepts_book_once(env):
    stub, engine, uows = env
    store = "s-accepts"
    day = in_days(2)
    freed = (await new_store(uows, store, day))[(day, "anna", 13)]
    a = await join(stub, entry_of("z1", store, day))
    await cancel(stub, freed)

    async def attempt(metadata):
        try:
            return await accept(stub, a.name, metadata=metadata)
        except grpc.aio.AioRpcError as err:
            return err

    results = await asyncio.gather(*(attempt(md() if i % 2 else member_md("z1")) for i in range(6)))
    wins = [r for r in results if not isinstance(r, Exception)]
    losses = [r for r in results if isinstance(r, Exception)]
    assert len(wins) == 1
    for err in losses:
        assert err.code() == grpc.StatusCode.FAILED_PRECONDITION and reason_of(err) == "NO_OPEN_OFFER", err
    assert await scalar(engine, "SELECT count(*) FROM appointments WHERE member_id = 'z1'") == 1
    assert (await get(stub, a.name)).state == S.WAITLIST_ENTRY_STATE_BOOKED


async def test_concurrent_cancellations_never_offer_one_entry_twice(env):
    stub, engine, uows = env
    for round_ in range(3):
        store = f"s-race-{round_}"
        day = in_days(2)
        booked = await new_store(uows, store, day)
        freed = [booked[(day, "anna", h)] for h in (10, 12, 14, 16)]
        entries = [await join(stub, entry_of(f"r{round_}-{i}", store, day)) for i in range(3)]
        await asyncio.gather(*(cancel(stub, f) for f in freed))
        got = [await get(stub, e.name) for e in entries]
        # three entries, four freed hours: each entry holds exactly one offer, for distinct hours
        assert all(e.state == S.WAITLIST_ENTRY_STATE_OFFERED and e.offers_made == 1 for e in got), got
        starts = {e.offer.slot.start_time.ToDatetime(tzinfo=UTC) for e in got}
        assert len(starts) == 3
        for e in entries:
            assert len(await offered_events(engine, e.name)) == 1
        assert await scalar(engine, "SELECT count(*) FROM waitlist_offers WHERE store_id = :s", s=store) == 3


async def test_a_refused_accept_leaves_the_offer_as_it_was(env):
    stub, engine, uows = env
    store = "s-refused"
    day = in_days(2)
    freed = (await new_store(uows, store, day))[(day, "anna", 9)]
    for h in (17, 18, 19):  # the member already holds the most open appointments allowed (3)
        await book(uows, store, at(in_days(3), h), member="busy")
    a = await join(stub, entry_of("busy", store, day))
    await cancel(stub, freed)
    appointments_before = await scalar(engine, "SELECT count(*) FROM appointments")
    err = await expect_error(
        accept(stub, a.name, metadata=member_md("busy")), grpc.StatusCode.FAILED_PRECONDITION
    )
    assert reason_of(err) == "TOO_MANY_OPEN_APPOINTMENTS"
    assert await scalar(engine, "SELECT count(*) FROM appointments") == appointments_before
    got = await get(stub, a.name)
    assert got.state == S.WAITLIST_ENTRY_STATE_OFFERED and got.offer.slot.start_time.ToDatetime(
        tzinfo=UTC
    ) == at(day, 9)
    assert await active_holds(engine, a.name) == 1
    assert await offer_states(engine, store) == "open"


async def test_a_reschedule_offers_the_time_it_frees(env):
    stub, engine, uows = env
    store = "s-move"
    day = in_days(2)
    moved = (await new_store(uows, store, day))[(day, "anna", 10)]
    a = await join(stub, entry_of("mv1", store, day, latest="10:30"))
    await stub.RescheduleAppointment(
        pb.RescheduleAppointmentRequest(
            name=f"appointments/{moved}", start_time=stamp(at(in_days(3), 18)), request_id=str(uuid.uuid4())
        ),
        metadata=md(),
    )
    got = await get(stub, a.name)
    assert got.state == S.WAITLIST_ENTRY_STATE_OFFERED
    assert got.offer.slot.start_time.ToDatetime(tzinfo=UTC) == at(day, 10)
    assert len(await offered_events(engine, a.name)) == 1


async def test_joining_when_a_fitting_slot_is_free_offers_it_at_once(env):
    stub, engine, uows = env
    store = "s-free"
    day = in_days(2)
    booked = await new_store(uows, store, day)
    # only bob's 13:00 hour and anna's 15:00 hour are free; the member wants 14:00 or later
    await cancel(stub, booked[(day, "bob", 13)])
    await cancel(stub, booked[(day, "anna", 15)])
    entry = await join(stub, entry_of("f1", store, day, earliest="14:00"))
    assert entry.state == S.WAITLIST_ENTRY_STATE_OFFERED and entry.offers_made == 1
    assert entry.offer.slot.staff == f"stores/{store}/staff/anna"
    assert entry.offer.slot.start_time.ToDatetime(tzinfo=UTC) == at(day, 15)
    assert len(await offered_events(engine, entry.name)) == 1
    assert await active_holds(engine, entry.name) == 1
    # declined, the slot goes to the next waiting entry it fits
    nxt = await join(stub, entry_of("f2", store, day, staff="bob"))
    assert nxt.state == S.WAITLIST_ENTRY_STATE_OFFERED  # bob's 13:00 was free for it
    third = await join(stub, entry_of("f3", store, day, staff="anna"))
    assert third.state == S.WAITLIST_ENTRY_STATE_WAITING
    await decline(stub, entry.name)
    got = await get(stub, third.name)
    assert got.state == S.WAITLIST_ENTRY_STATE_OFFERED
    assert got.offer.slot.start_time.ToDatetime(tzinfo=UTC) == at(day, 15)


async def test_a_restricted_member_may_not_join_online(env):
    stub, engine, uows = env
    store = "s-restricted"
    day = in_days(2)
    await new_store(uows, store, day)
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO member_standings (tenant_id, member_id, restricted_until)"
                " VALUES (:t, 'naughty', now() + interval '10 days')"
            ),
            {"t": TENANT},
        )
    online = entry_of("naughty", store, day, channel=appointments_pb2.BOOKING_CHANNEL_MINI_PROGRAM)
    await expect_error(
        join(stub, online, metadata=member_md("naughty")),
        grpc.StatusCode.FAILED_PRECONDITION,
        "MEMBER_RESTRICTED",
    )
    # staff channels are not restricted
    assert (await join(stub, entry_of("naughty", store, day))).state == S.WAITLIST_ENTRY_STATE_WAITING


async def test_waiting_entries_expire_when_their_day_ends(env):
    """Last in the module: it runs the job step two days ahead."""
    stub, _, uows = env
    store = "s-ended"
    await new_store(uows, store, in_days(0), in_days(5))
    today = await join(stub, entry_of("e1", store, in_days(0)))
    later = await join(stub, entry_of("e2", store, in_days(5)))
    now = datetime.now(UTC)
    await wl.expire_waitlist(env[1], uows, now)
    assert (await get(stub, today.name)).state == S.WAITLIST_ENTRY_STATE_WAITING
    await wl.expire_waitlist(env[1], uows, now + timedelta(days=1))
    assert (await get(stub, today.name)).state == S.WAITLIST_ENTRY_STATE_EXPIRED
    assert (await get(stub, later.name)).state == S.WAITLIST_ENTRY_STATE_WAITING
    await expect_error(
        stub.LeaveWaitlist(
            pb.LeaveWaitlistRequest(name=today.name, request_id=str(uuid.uuid4())), metadata=md()
        ),
        grpc.StatusCode.FAILED_PRECONDITION,
        "INVALID_WAITLIST_STATE",
    )


async def test_the_time_an_accepted_offer_did_not_use_is_offered_to_the_next_entry(env):
    stub, engine, uows = env
    store = "s-rest"
    day = in_days(2)
    booked = await new_store(uows, store, day)
    # anna's 10:00 and 11:00 become one 2-hour appointment (nobody waits yet: nothing is offered)
    for hour in (10, 11):
        await cancel(stub, booked[(day, "anna", hour)])
    long_one = await book(uows, store, at(day, 10), service="long")
    first = await join(stub, entry_of("u1", store, day, staff="anna"))
    second = await join(stub, entry_of("u2", store, day, staff="anna"))
    assert (await get(stub, first.name)).state == S.WAITLIST_ENTRY_STATE_WAITING

    await cancel(stub, long_one)  # frees anna 10:00-12:00: one release, offered to one entry
    got = await get(stub, first.name)
    assert got.state == S.WAITLIST_ENTRY_STATE_OFFERED
    assert got.offer.slot.start_time.ToDatetime(tzinfo=UTC) == at(day, 10)
    assert (await get(stub, second.name)).state == S.WAITLIST_ENTRY_STATE_WAITING

    # The accepted booking uses 10:00-11:00; in the same transaction 11:00-12:00 goes to the next.
    res = await accept(stub, first.name)
    assert res.appointment.start_time.ToDatetime(tzinfo=UTC) == at(day, 10)
    nxt = await get(stub, second.name)
    assert nxt.state == S.WAITLIST_ENTRY_STATE_OFFERED and nxt.offers_made == 1
    assert nxt.offer.slot.start_time.ToDatetime(tzinfo=UTC) == at(day, 11)
    (event,) = await offered_events(engine, second.name)
    assert event.start_time.ToDatetime(tzinfo=UTC) == at(day, 11)
    assert await active_holds(engine, second.name) == 1
    # one origin: the first entry's offer and the rest's share it
    origins = await scalar(
        engine, "SELECT count(DISTINCT origin_release_id) FROM waitlist_offers WHERE store_id = :s", s=store
    )
    releases = await scalar(
        engine, "SELECT count(DISTINCT release_id) FROM waitlist_offers WHERE store_id = :s", s=store
    )
    assert (origins, releases) == (1, 2)

    # Declined, the rest is not offered again to anyone who had time of this origin (the first
    # entry is booked, the second had it): it is simply free, and a new entry is offered it at once.
    await decline(stub, second.name)
    assert (await get(stub, second.name)).state == S.WAITLIST_ENTRY_STATE_WAITING
    assert len(await offered_events(engine, second.name)) == 1
    third = await join(stub, entry_of("u3", store, day, staff="anna"))
    assert (await get(stub, third.name)).offer.slot.start_time.ToDatetime(tzinfo=UTC) == at(day, 11)
