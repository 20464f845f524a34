"""Appointment reminders from the durable scheduler, over real PostgreSQL and NATS: due instants
are exact UTC offsets from the start (DST included); concurrent job runners fire each reminder
exactly once; a booking process SIGKILLed mid-run and restarted still fires every reminder once
and publishes each `ReminderDue` once; cancelled appointments' reminders never fire."""

from __future__ import annotations

import asyncio
import signal
import uuid
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from services.booking.entrypoints.jobs import BookingJobs
from services.booking.service_layer.appointments import book_appointment, cancel_appointment
from services.booking.service_layer.unit_of_work import BookingUnitOfWork
from tests.support.booking import (
    booking_database,
    booking_process,
    booking_uows,
    drained,
    register_members,
    rows,
    times_published,
)

pytestmark = pytest.mark.integration
TENANT = "reminders"
REMINDER_DUE = "peony.booking.v1.ReminderDue"
ALL_WEEK = [{"day": d, "start": "08:00", "end": "20:00"} for d in range(1, 8)]


async def seed(uows, stores: dict[str, str]) -> None:
    async def go(uow: BookingUnitOfWork) -> None:
        await uow.catalog.add_service(
            service_id="cut",
            display_name="Cut",
            duration_minutes=30,
            list_price_minor=10_000,
            currency_code="CNY",
        )
        for store, tz in stores.items():
            await uow.catalog.put_store_zone(store, tz)
            await uow.catalog.add_staff(
                store_id=store, staff_id="anna", display_name="Anna", weekly_hours=ALL_WEEK
            )

    await uows.run(TENANT, go)


async def book(uows, store: str, start_utc: datetime, now: datetime | None = None) -> dict:
    async def go(uow: BookingUnitOfWork) -> dict:
        member = str(uuid.uuid4())
        await register_members(uow, TENANT, member)
        return await book_appointment(
            uow,
            member=member,
            store=store,
            service_ids=["cut"],
            staff=None,
            start_utc=start_utc,
            channel=1,
            staff_override=True,
            now=now,
        )

    return await uows.run(TENANT, go)


async def cancel(uows, appointment_id: str) -> None:
    async def go(uow: BookingUnitOfWork) -> None:
        await cancel_appointment(uow, appointment_id, reason="test")

    await uows.run(TENANT, go)


def local_slots(zone: ZoneInfo, n: int) -> list[datetime]:
    day = datetime.now(zone).date() + timedelta(days=2)
    return [
        datetime.combine(day, time(9), zone).astimezone(UTC) + timedelta(minutes=30 * i) for i in range(n)
    ]


async def test_due_instants_are_exact_utc_offsets_across_dst(infra):
    _, engine, uows = await booking_database(infra, "reminders_time")
    try:
        await seed(uows, {"ny": "America/New_York", "sh": "Asia/Shanghai"})
        now = datetime(2026, 3, 5, tzinfo=UTC)
        ny_start = datetime.combine(date(2026, 3, 9), time(10), ZoneInfo("America/New_York"))
        assert ny_start.astimezone(UTC) == datetime(2026, 3, 9, 14, tzinfo=UTC)  # 10:00 EDT
        ny = await book(uows, "ny", ny_start.astimezone(UTC), now)
        sh_start = datetime.combine(date(2026, 3, 9), time(10), ZoneInfo("Asia/Shanghai"))
        sh = await book(uows, "sh", sh_start.astimezone(UTC), now)
        # starts 3 hours after `now`: the 24 h reminder is already past and skipped
        soon = await book(uows, "sh", datetime(2026, 3, 5, 3, tzinfo=UTC), now)

        got = {
            (r.aid, r.kind): r
            for r in await rows(
                engine,
                "SELECT *, appointment_id::text AS aid FROM scheduled_reminders"
                " WHERE tenant_id = :t AND state = 'scheduled'",
                t=TENANT,
            )
        }
        assert set(got) == {
            (ny["appointment_id"], "1440m"),
            (ny["appointment_id"], "120m"),
            (sh["appointment_id"], "1440m"),
            (sh["appointment_id"], "120m"),
            (soon["appointment_id"], "120m"),
        }
        # the past one is recorded as skipped, never fired
        skipped = await rows(
            engine,
            "SELECT kind FROM scheduled_reminders WHERE state = 'skipped' AND tenant_id = :t",
            t=TENANT,
        )
        assert skipped == [("1440m",)]
        ny24 = got[(ny["appointment_id"], "1440m")]
        # 24 h before 14:00Z on the 9th is 14:00Z on the 8th: 10:00 EDT again (DST began 02:00 that day)
        assert ny24.due_utc == datetime(2026, 3, 8, 14, tzinfo=UTC)
        assert ny24.due_utc.astimezone(ZoneInfo("America/New_York")).hour == 10
        assert got[(ny["appointment_id"], "120m")].due_utc == datetime(2026, 3, 9, 12, tzinfo=UTC)
        assert (ny24.local_start, ny24.time_zone, ny24.minutes_before) == (
            "2026-03-09T10:00",
            "America/New_York",
            1440,
        )
        sh24 = got[(sh["appointment_id"], "1440m")]
        assert sh["start_time"] == datetime(2026, 3, 9, 2, tzinfo=UTC)  # 10:00 CST = 02:00Z
        assert sh24.due_utc == datetime(2026, 3, 8, 2, tzinfo=UTC)
        assert got[(sh["appointment_id"], "120m")].due_utc == datetime(2026, 3, 9, 0, tzinfo=UTC)
        assert (sh24.local_start, sh24.time_zone) == ("2026-03-09T10:00", "Asia/Shanghai")
        assert {r.state for r in got.values()} == {"scheduled"}

        await cancel(uows, sh["appointment_id"])
        states = await rows(
            engine,
            "SELECT kind, state FROM scheduled_reminders WHERE appointment_id = :a",
            a=sh["appointment_id"],
        )
        assert sorted(states) == [("120m", "cancelled"), ("1440m", "cancelled")]
    finally:
        await engine.dispose()


async def test_reminder_across_the_november_change_keeps_the_exact_interval(infra):
    """New York falls back at 02:00 on 2026-11-01: an appointment at 10:00 EST that morning gets
    its 24 h reminder exactly 24 h earlier, 15:00Z on 31 October = 11:00 EDT, not 10:00."""
    _, engine, uows = await booking_database(infra, "reminders_november")
    try:
        await seed(uows, {"ny": "America/New_York"})
        now = datetime(2026, 10, 28, tzinfo=UTC)
        start = datetime.combine(date(2026, 11, 1), time(10), ZoneInfo("America/New_York"))
        assert start.astimezone(UTC) == datetime(2026, 11, 1, 15, tzinfo=UTC)  # 10:00 EST
        ny = await book(uows, "ny", start.astimezone(UTC), now)
        due = {
            r.kind: r
            for r in await rows(
                engine,
                "SELECT * FROM scheduled_reminders WHERE appointment_id = :a",
                a=ny["appointment_id"],
            )
        }
        assert due["1440m"].due_utc == datetime(2026, 10, 31, 15, tzinfo=UTC)
        assert due["1440m"].due_utc.astimezone(ZoneInfo("America/New_York")).hour == 11  # EDT
        assert due["120m"].due_utc == datetime(2026, 11, 1, 13, tzinfo=UTC)  # 08:00 EST
        assert due["1440m"].local_start == "2026-11-01T10:00"
    finally:
        await engine.dispose()


async def test_concurrent_runners_fire_each_reminder_exactly_once(infra):
    url, engine, uows = await booking_database(infra, "reminders_once")
    other = create_async_engine(url)
    try:
        await seed(uows, {"s1": "Asia/Shanghai"})
        booked = [await book(uows, "s1", s) for s in local_slots(ZoneInfo("Asia/Shanghai"), 10)]
        cancelled = booked[0]["appointment_id"]
        await cancel(uows, cancelled)
        async with engine.begin() as conn:  # everything is due now
            await conn.execute(text("UPDATE scheduled_reminders SET due_utc = now() - interval '1 second'"))
        other_uows = booking_uows(other)
        runners = [BookingJobs(engine, uows), BookingJobs(other, other_uows)]
        fired = 0
        for _ in range(3):
            now = datetime.now(UTC)
            fired += sum(await asyncio.gather(*(r.fire_reminders(now) for r in runners for _ in range(2))))
        assert fired == 18

        states = await rows(
            engine, "SELECT appointment_id::text, state, fired_at FROM scheduled_reminders ORDER BY 1"
        )
        assert len(states) == 20
        for appointment_id, state, fired_at in states:
            if appointment_id == cancelled:
                assert (state, fired_at) == ("cancelled", None)
            else:
                assert state == "fired" and fired_at is not None
        per_appointment = dict(
            await rows(
                engine,
                "SELECT aggregate_id, count(*) FROM outbox WHERE event_type = :e GROUP BY aggregate_id",
                e=REMINDER_DUE,
            )
        )
        assert per_appointment == {b["appointment_id"]: 2 for b in booked[1:]}
    finally:
        await other.dispose()
        await engine.dispose()


async def test_sigkill_mid_run_fires_every_reminder_once(infra, tmp_path):
    url, engine, uows = await booking_database(infra, "reminders_kill")
    await seed(uows, {"s1": "Asia/Shanghai"})
    booked = [await book(uows, "s1", s) for s in local_slots(ZoneInfo("Asia/Shanghai"), 16)]
    cancelled = {booked[3]["appointment_id"], booked[9]["appointment_id"]}
    for appointment_id in cancelled:
        await cancel(uows, appointment_id)
    live = [b["appointment_id"] for b in booked if b["appointment_id"] not in cancelled]

    booking = booking_process(url, infra.nats_url, tmp_path / "booking.log")
    booking.start()
    try:
        # 32 reminders (28 live) come due one every 0.15 s from now, over ~5 s
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "UPDATE scheduled_reminders r SET due_utc = now() + x.n * interval '150 milliseconds'"
                    " FROM (SELECT appointment_id, kind,"
                    " row_number() OVER (ORDER BY appointment_id, kind) AS n FROM scheduled_reminders) x"
                    " WHERE r.appointment_id = x.appointment_id AND r.kind = x.kind"
                )
            )
        await asyncio.sleep(2.0)
        booking.signal(signal.SIGKILL)  # mid-run
        booking.wait(10)
        fired_before = (await rows(engine, "SELECT count(*) FROM scheduled_reminders WHERE state = 'fired'"))[
            0
        ][0]
        assert 0 < fired_before < 2 * len(live), fired_before
        await asyncio.sleep(0.5)
        booking.start()

        pending = await drained(engine, "scheduled_reminders")
        assert pending == 0, booking.log_tail()
    finally:
        booking.stop()

    try:
        reminders = await rows(
            engine, "SELECT appointment_id::text, kind, state, fired_at FROM scheduled_reminders"
        )
        assert len(reminders) == 2 * len(booked)
        for appointment_id, _, state, fired_at in reminders:
            if appointment_id in cancelled:
                assert (state, fired_at) == ("cancelled", None)
            else:
                assert state == "fired" and fired_at is not None
        outbox = await rows(
            engine, "SELECT event_id, aggregate_id FROM outbox WHERE event_type = :e", e=REMINDER_DUE
        )
        per_appointment: dict[str, int] = {}
        for _, aggregate_id in outbox:
            per_appointment[aggregate_id] = per_appointment.get(aggregate_id, 0) + 1
        assert per_appointment == {a: 2 for a in live}
        event_ids = {str(event_id) for event_id, _ in outbox}
    finally:
        await engine.dispose()

    # every ReminderDue reached the booking stream exactly once (by event id)
    seen = await times_published(infra.nats_url, event_ids)
    assert set(seen) == event_ids and set(seen.values()) == {1}
