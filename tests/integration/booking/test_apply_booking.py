"""The booking plan and what the database applies agree: `apply_booking` (migration 0011, one
round trip) takes, for every claim, the first free seat among its candidates in order, exactly as
the Python model of the exclusion constraint predicts and as the savepoint-per-candidate path
(`reserve`, used by reschedules) does; a claim with no free candidate fails the booking with its
resource named and writes nothing. A plan that expects an outcome (migration 0013: BookAppointment
builds its response and event before the call) is applied only when the database decides that
outcome, and is stale otherwise."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from kit.db import sqlstate
from services.booking.adapters.appointment_repository import SlotTaken
from services.booking.service_layer import appointments as appts
from tests.support.booking import booking_database

pytestmark = pytest.mark.integration
TENANT = "apply-booking"
BASE = datetime(2030, 1, 7, 2, 0, tzinfo=UTC)
EXAMPLES = 40


def at(quarter: int) -> datetime:
    return BASE + timedelta(minutes=15 * quarter)


def random_world(rng: random.Random):
    """Resources with seats, some of them busy, and a plan of 1-3 claims over them."""
    kinds = {
        "staff": [f"stores/s/staff/p{i}" for i in range(4)],
        "room": [f"stores/s/rooms/r{i}" for i in range(3)],
    }
    capacity = {
        name: (1 if kind == "staff" else rng.randint(1, 2)) for kind, names in kinds.items() for name in names
    }
    busy = []  # (resource, kind, seat, start quarter, end quarter)
    for name, seats in capacity.items():
        for seat in range(1, seats + 1):
            if rng.random() < 0.6:
                a = rng.randint(0, 8)
                busy.append((name, "staff" if "/staff/" in name else "room", seat, a, a + rng.randint(1, 4)))
    n_services = rng.randint(1, 3)
    claims = []
    staff_options = rng.sample(kinds["staff"], rng.randint(1, 4))
    claims.append(_claim(rng, "staff", [(s, 1) for s in staff_options], range(n_services)))
    if rng.random() < 0.7:
        rooms = rng.sample(kinds["room"], rng.randint(1, 3))
        claims.append(_claim(rng, "room", [(r, capacity[r]) for r in rooms], [rng.randrange(n_services)]))
    return n_services, busy, claims


def _claim(rng: random.Random, kind: str, options, services) -> appts.Claim:
    a = rng.randint(0, 9)
    spans = [(at(a), at(a + rng.randint(1, 3)))]
    if rng.random() < 0.3:  # two blocks of one resource (a gap between services)
        b = spans[0][1] + timedelta(minutes=15 * rng.randint(1, 2))
        spans.append((b, b + timedelta(minutes=15)))
    return appts.Claim(kind, tuple(options), tuple(spans), tuple(services))


def model(busy, claims):
    """What the exclusion constraint lets through: per claim the first (resource, seat) in order
    with no overlapping reservation, earlier claims' rows included; or the claim that fails."""
    taken = [(r, seat, at(a), at(b)) for r, _, seat, a, b in busy]
    chosen = []
    for c in claims:
        pick = next(
            (
                (resource, seat)
                for resource, seats in c.options
                for seat in range(1, seats + 1)
                if not any(
                    r == resource and s == seat and start < e2 and s2 < end
                    for r, s, s2, e2 in taken
                    for start, end in c.spans
                )
            ),
            None,
        )
        if pick is None:
            return chosen, c
        chosen.append(pick)
        taken += [(pick[0], pick[1], start, end) for start, end in c.spans]
    return chosen, None


def plan_of(appointment_id: str, n_services: int, claims, member: str, **extra) -> str:
    services = [
        {"service": f"svc{i}", "display_name": f"S{i}", "staff": "", "room": "", "equipment": ""}
        for i in range(n_services)
    ]
    reminders = [
        {
            "kind": "120m",
            "minutes_before": 120,
            "due_utc": BASE - timedelta(hours=2),
            "start_time": BASE,
            "local_start": "2030-01-07T10:00:00",
            "time_zone": "Asia/Shanghai",
            "state": "scheduled",
        }
    ]
    appointment = {
        "appointment_id": appointment_id,
        "member_id": member,
        "store_id": "s",
        "channel": 1,
        "start_time": BASE,
        "end_time": BASE + timedelta(hours=3),
        "local_start": "2030-01-07T10:00:00",
        "local_end": "2030-01-07T13:00:00",
        "time_zone": "Asia/Shanghai",
        "list_price_minor": 100,
        "currency_code": "CNY",
        "notes": "",
        "overridden_rules": ["TOO_MANY_OPEN_APPOINTMENTS"],
        "override_reason": "vip",
        "booked_by": f"members/{member}",
        "waitlist_entry": None,
    }
    return appts.booking_plan(TENANT, appointment, services, claims, reminders, **extra)


@pytest.fixture(scope="module")
async def uows(infra):
    _, engine, uows = await booking_database(infra, "apply_booking")
    yield uows
    await engine.dispose()


async def seed_busy(uow, busy) -> None:
    for resource, kind, seat, a, b in busy:
        assert await uow.appointments.reserve(str(uuid.uuid4()), resource, kind, [(at(a), at(b))], seat)


async def reservations(uow, appointment_id: str):
    rows = (
        await uow.session.execute(
            text(
                "SELECT resource_id, kind, seat, lower(during) AS s, upper(during) AS e"
                " FROM appointment_resources WHERE tenant_id = :t AND appointment_id = :a ORDER BY id"
            ),
            {"t": TENANT, "a": appointment_id},
        )
    ).all()
    return [tuple(r) for r in rows]


async def test_plan_and_applied_result_agree(uows) -> None:
    rng = random.Random(15)
    outcomes = {"booked": 0, "taken": 0, "moved_on": 0, "stale": 0}
    for _ in range(EXAMPLES):
        n_services, busy, claims = random_world(rng)
        expected, failing = model(busy, claims)
        appointment_id, member = str(uuid.uuid4()), str(uuid.uuid4())

        # 1. The one-call path. Every example in its own transaction, never committed.
        async with uows(TENANT) as uow:
            await seed_busy(uow, busy)
            try:
                row = await uow.appointments.apply_booking(
                    plan_of(appointment_id, n_services, claims, member)
                )
            except SlotTaken as taken:
                assert failing is not None, "applied refused what the model books"
                assert taken.resource == failing.taken
                outcomes["taken"] += 1
            else:
                assert failing is None, "applied booked what the model refuses"
                outcomes["booked"] += 1
                outcomes["moved_on"] += any(
                    pick != (c.options[0][0], 1) for c, pick in zip(claims, expected, strict=True)
                )
                # the row: state, the plan's fields, every service filled by its claim's choice
                assert (row.state, row.member_id, row.overridden_rules, row.override_reason) == (
                    "booked",
                    member,
                    ["TOO_MANY_OPEN_APPOINTMENTS"],
                    "vip",
                )
                for c, (resource, _seat) in zip(claims, expected, strict=True):
                    for i in c.services:
                        assert row.services[i][c.kind] == resource
                # the reservation rows: one per span of each claim, at the chosen seat
                assert await reservations(uow, appointment_id) == [
                    (resource, c.kind, seat, start, end)
                    for c, (resource, seat) in zip(claims, expected, strict=True)
                    for start, end in c.spans
                ]
                reminders = (
                    await uow.session.execute(
                        text(
                            "SELECT kind, generation, state FROM scheduled_reminders"
                            " WHERE appointment_id = :a"
                        ),
                        {"a": appointment_id},
                    )
                ).all()
                assert [tuple(r) for r in reminders] == [("120m", 0, "scheduled")]

        # 2. The savepoint-per-candidate path, from the same claims, picks the same resources.
        async with uows(TENANT) as uow:
            await seed_busy(uow, busy)
            picks = [await appts.first_free(uow, appointment_id, c) for c in claims]
            if failing is None:
                assert picks == [resource for resource, _ in expected]
            else:
                assert picks[claims.index(failing)] is None

        # 3. A plan built for one outcome (every claim's first option, as BookAppointment builds
        # its response and event before the call) is applied only when that is what the database
        # decides: a claim seated elsewhere makes it stale (40001, re-planned by the caller).
        expect, _ = appts.expected_choice(claims)
        predicted = expected_outcome(expected, claims, expect)
        async with uows(TENANT) as uow:
            await seed_busy(uow, busy)
            try:
                await uow.appointments.apply_booking(
                    plan_of(appointment_id, n_services, claims, member, expect=expect)
                )
                got = "booked"
            except SlotTaken:
                got = "taken"
            except DBAPIError as exc:
                assert sqlstate(exc) == "40001", exc
                got = "stale"
            assert got == predicted
            outcomes["stale"] += got == "stale"

    # The examples exercise every branch: booked first choice, moved on, stale, and taken.
    assert outcomes["booked"] and outcomes["taken"] and outcomes["moved_on"] and outcomes["stale"], outcomes


def expected_outcome(picks, claims, expect) -> str:
    """What a plan expecting `expect` meets, claim by claim in order: the model's pick elsewhere
    (stale), no pick (taken), or every pick as expected (booked)."""
    for k in range(len(claims)):
        if k >= len(picks):
            return "taken"
        if picks[k][0] != expect[k]:
            return "stale"
    return "booked"


async def test_a_taken_slot_writes_nothing(uows) -> None:
    """SlotTaken aborts the statement: nothing of the appointment is left once rolled back, and
    the seat's first holder keeps it."""
    claim = appts.Claim("staff", (("stores/s/staff/solo", 1),), ((at(0), at(4)),), (0,))
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    async with uows(TENANT) as uow:
        await uow.appointments.apply_booking(plan_of(first, 1, [claim], str(uuid.uuid4())))
        await uow.commit()
    with pytest.raises(SlotTaken) as taken:
        async with uows(TENANT) as uow:
            await uow.appointments.apply_booking(plan_of(second, 1, [claim], str(uuid.uuid4())))
    assert taken.value.resource == "stores/s/staff/solo"
    async with uows(TENANT) as uow:
        for table in ("appointments", "appointment_resources", "scheduled_reminders"):
            for appointment_id, expected in ((first, 1), (second, 0)):
                counted = await uow.session.scalar(
                    text(f"SELECT count(*) FROM {table} WHERE appointment_id = :a"),  # noqa: S608 (fixed names)
                    {"a": appointment_id},
                )
                assert counted == expected, (table, appointment_id)
        assert [r[0] for r in await reservations(uow, first)] == ["stores/s/staff/solo"]
