"""A chain's history as events in the services' own formats, with historic timestamps.

``history(...)`` yields ``EventEnvelope``s exactly as the members, wallet and booking relays would
have published them: stores, registrations (some referred), tier changes, top-ups, checkouts
(members and walk-ins, lines by category and staff), points earned / redeemed / expired,
staff schedules (weekly hours with breaks, a change of hours halfway, leave, extra shifts, one
exception deleted again) and rooms, appointments booked (each service with its staff member and
room), some rescheduled, and their outcome (completed, no-show, late cancel), feedback and
referral rewards. Deterministic for a seed. Used by ``peony demo --history`` (publishes them to JetStream),
by the insights tests (their expectations are computed from the same envelopes) and by
bench/bench_insights.py.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from peony.booking.v1 import events_pb2 as bev
from peony.booking.v1 import resources_pb2 as brs
from peony.events.v1.envelope_pb2 import EventEnvelope
from peony.members.v1 import events_pb2 as mev
from peony.wallet.v1 import events_pb2 as wev

from kit.messaging.envelope import new_envelope

ZONES = ("Asia/Shanghai", "Asia/Shanghai", "Asia/Urumqi", "Europe/Berlin")
CATEGORIES = ("facial", "massage", "nails", "hair", "spa")
TIERS = ("regular", "silver", "gold")
STAFF_PER_STORE = 6
ROOMS_PER_STORE = 2  # room r0 holds 1 appointment at a time, r1 holds 2


@dataclass(frozen=True)
class Published:
    service: str  # the stream: members, wallet, booking
    envelope: EventEnvelope


def _uid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def history(
    tenant: str,
    *,
    stores: int = 3,
    members: int = 50,
    days: int = 120,
    end: datetime | None = None,
    seed: int = 7,
) -> Iterator[Published]:
    rng = random.Random(seed)
    end = end or datetime.now(UTC).replace(microsecond=0)
    start = end - timedelta(days=days)

    def env_from(source: random.Random, service: str, event, aggregate: str, when: datetime) -> Published:
        return Published(
            service,
            new_envelope(
                event,
                tenant=tenant,
                aggregate_type=service,
                aggregate_id=aggregate,
                occurred_at=when,
                event_id=_uid(source),
            ),
        )

    def env(service: str, event, aggregate: str, when: datetime) -> Published:
        return env_from(rng, service, event, aggregate, when)

    reschedules = random.Random(seed * 7919 + 2)

    store_names = [f"stores/h{i}" for i in range(stores)]
    for i, store in enumerate(store_names):
        yield env(
            "members",
            mev.StoreCreated(store=store, display_name=f"Store {i}", time_zone=ZONES[i % len(ZONES)]),
            store,
            start - timedelta(days=1),
        )
    # Schedules: their own random stream (and event ids), so adding them left the rest of the
    # history as it was for a seed.
    yield from _schedules(tenant, store_names, start, days, random.Random(seed * 7919 + 1))
    member_names: list[str] = []
    balances: dict[str, int] = {}
    points: dict[str, int] = {}
    for _ in range(members):
        member = f"members/{_uid(rng)}"
        when = start + timedelta(seconds=rng.randrange(days * 86400))
        referrer = rng.choice(member_names) if member_names and rng.random() < 0.2 else ""
        home = rng.choice(store_names)
        yield env(
            "members",
            mev.MemberRegistered(member=member, home_store=home, tier_id="regular", referrer=referrer),
            member,
            when,
        )
        member_names.append(member)
        balances[member] = 0
        points[member] = 0
        # activity after registration, in time order per member
        t = when
        for _ in range(rng.randrange(0, 8)):
            t += timedelta(hours=rng.randrange(6, 24 * 40))
            if t >= end:
                break
            store = home if rng.random() < 0.8 else rng.choice(store_names)
            kind = rng.random()
            if kind < 0.2:
                amount = rng.choice((50_000, 100_000, 200_000))
                bonus = amount // 10
                tx = f"{member}/transactions/{_uid(rng)}"
                yield env(
                    "wallet",
                    wev.TopUpCompleted(
                        member=member,
                        store=store,
                        transaction=tx,
                        amount_minor=amount,
                        bonus_released_minor=bonus,
                    ),
                    member,
                    t,
                )
                balances[member] += amount + bonus
                yield env(
                    "wallet",
                    wev.BalanceChanged(
                        member=member, store=store, transaction=tx, delta_minor=amount + bonus
                    ),
                    member,
                    t,
                )
                if rng.random() < 0.5:  # a package of 10 sessions, some consumed later
                    package = f"{member}/packages/{_uid(rng)}"
                    price = rng.choice((98_000, 168_000))
                    yield env(
                        "wallet",
                        wev.PackageSold(member=member, package=package, store=store, price_minor=price),
                        member,
                        t,
                    )
                    for k in range(rng.randrange(0, 4)):
                        used = t + timedelta(days=7 * (k + 1))
                        if used >= end:
                            break
                        yield env(
                            "wallet",
                            wev.PackageSessionConsumed(
                                member=member,
                                package=package,
                                store=store,
                                sessions=1,
                                sessions_remaining=9 - k,
                                recognized_minor=price // 10,
                            ),
                            member,
                            used,
                        )
            elif kind < 0.75:
                lines = [
                    wev.CheckoutCompletedLine(
                        item=f"services/{c}",
                        category=c,
                        quantity=1,
                        net_minor=rng.randrange(50, 800) * 100 + rng.randrange(100),
                        serving_staff=f"staff/{rng.randrange(6)}",
                    )
                    for c in rng.sample(CATEGORIES, rng.randrange(1, 3))
                ]
                total = sum(line.net_minor for line in lines)
                if rng.random() < 0.25:
                    template = rng.choice(("voucherTemplates/welcome", "voucherTemplates/birthday"))
                    voucher = f"{member}/vouchers/{_uid(rng)}"
                    yield env(
                        "wallet",
                        wev.VoucherIssued(member=member, voucher=voucher, template=template),
                        member,
                        t - timedelta(hours=1),
                    )
                    if rng.random() < 0.6:
                        yield env(
                            "wallet",
                            wev.VoucherRedeemed(
                                member=member,
                                voucher=voucher,
                                template=template,
                                store=store,
                                discount_minor=2_000,
                            ),
                            member,
                            t,
                        )
                from_balance = min(balances[member], total) if rng.random() < 0.5 else 0
                earned = total // 100
                checkout = f"checkouts/{_uid(rng)}"
                yield env(
                    "wallet",
                    wev.CheckoutCompleted(
                        checkout=checkout,
                        member=member,
                        store=store,
                        lines=lines,
                        total_minor=total,
                        principal_funded_minor=from_balance,
                        points_earned=earned,
                    ),
                    member,
                    t,
                )
                if from_balance:
                    balances[member] -= from_balance
                    yield env(
                        "wallet",
                        wev.BalanceChanged(member=member, store=store, delta_minor=-from_balance),
                        member,
                        t,
                    )
                points[member] += earned
                yield env(
                    "wallet",
                    wev.PointsEarned(
                        member=member, points=earned, checkout=checkout, points_available=points[member]
                    ),
                    member,
                    t,
                )
                if points[member] > 500 and rng.random() < 0.3:
                    redeemed = points[member] // 2
                    points[member] -= redeemed
                    yield env(
                        "wallet",
                        wev.PointsRedeemed(member=member, points=redeemed, points_available=points[member]),
                        member,
                        t + timedelta(seconds=1),
                    )
                if referrer and rng.random() < 0.5:
                    yield env(
                        "members",
                        mev.ReferralRewardEarned(
                            referrer=referrer, referee=member, qualifying_spend_minor=total
                        ),
                        member,
                        t,
                    )
                    referrer = ""  # once per referee
                if rng.random() < 0.3:
                    rating = rng.randrange(1, 6)
                    yield env(
                        "booking",
                        bev.FeedbackSubmitted(
                            feedback=f"feedback/{_uid(rng)}", member=member, store=store, rating=rating
                        ),
                        member,
                        t + timedelta(hours=2),
                    )
                    if rating <= 2:  # a complaint, answered within minutes to a day (SLA: 4 h)
                        complaint = f"complaints/{_uid(rng)}"
                        opened = t + timedelta(hours=3)
                        answered = opened + timedelta(minutes=rng.randrange(5, 24 * 60))
                        due = opened + timedelta(hours=4)
                        complaint_opened = bev.ComplaintOpened(
                            complaint=complaint, member=member, store=store
                        )
                        complaint_opened.first_response_due_time.FromDatetime(due)
                        yield env("booking", complaint_opened, complaint, opened)
                        resolved = bev.ComplaintResolved(
                            complaint=complaint, member=member, store=store, sla_breached=answered > due
                        )
                        resolved.open_time.FromDatetime(opened)
                        resolved.first_response_time.FromDatetime(answered)
                        resolved.resolve_time.FromDatetime(answered + timedelta(hours=1))
                        yield env("booking", resolved, complaint, answered + timedelta(hours=1))
            elif kind < 0.95:
                appointment = f"appointments/{_uid(rng)}"
                begins = t + timedelta(days=rng.randrange(1, 10))
                staff_no = rng.randrange(STAFF_PER_STORE)
                service = bev.AppointmentServiceSummary(
                    service="services/facial",
                    staff=f"{store}/staff/{staff_no}",
                    room=f"{store}/rooms/r{staff_no % ROOMS_PER_STORE}",
                )
                service.start_time.FromDatetime(begins)
                service.end_time.FromDatetime(begins + timedelta(minutes=60))
                booked = bev.AppointmentBooked(
                    appointment=appointment, member=member, store=store, services=[service]
                )
                booked.start_time.FromDatetime(begins)
                yield env("booking", booked, appointment, t)
                if reschedules.random() < 0.1:  # a day later, same staff member and room
                    moved_at = t + (begins - t) / 2
                    begins += timedelta(days=1)
                    service.start_time.FromDatetime(begins)
                    service.end_time.FromDatetime(begins + timedelta(minutes=60))
                    moved = bev.AppointmentRescheduled(
                        appointment=appointment, member=member, store=store, services=[service]
                    )
                    moved.previous_start_time.CopyFrom(booked.start_time)
                    moved.start_time.FromDatetime(begins)
                    moved.end_time.FromDatetime(begins + timedelta(minutes=60))
                    yield env_from(reschedules, "booking", moved, appointment, moved_at)
                outcome = rng.random()
                if begins >= end:
                    continue
                if outcome < 0.7:
                    done = bev.AppointmentCompleted(appointment=appointment, member=member, store=store)
                elif outcome < 0.85:
                    done = bev.AppointmentNoShow(appointment=appointment, member=member, store=store)
                else:
                    done = bev.AppointmentCancelled(
                        appointment=appointment, member=member, store=store, late_cancel=rng.random() < 0.5
                    )
                done.start_time.FromDatetime(begins)
                yield env("booking", done, appointment, min(begins, end - timedelta(seconds=1)))
            else:
                tier = rng.choice(TIERS[1:])
                yield env(
                    "members",
                    mev.TierChanged(member=member, from_tier_id="regular", to_tier_id=tier),
                    member,
                    t,
                )
    # walk-ins
    for _ in range(members // 3):
        t = start + timedelta(seconds=rng.randrange(days * 86400))
        store = rng.choice(store_names)
        line = wev.CheckoutCompletedLine(item="services/nails", category="nails", quantity=1, net_minor=9_900)
        yield env(
            "wallet",
            wev.CheckoutCompleted(
                checkout=f"checkouts/{_uid(rng)}", store=store, lines=[line], total_minor=9_900
            ),
            store,
            t,
        )


def _weekly(days, start: str, end: str) -> list[brs.WeeklyInterval]:
    return [brs.WeeklyInterval(day_of_week=d, start_time=start, end_time=end) for d in days]


def _schedules(
    tenant: str, store_names: list[str], start: datetime, days: int, rng: random.Random
) -> Iterator[Published]:
    """Staff schedules and rooms of every store, as booking publishes them."""

    def env(event, aggregate: str, when: datetime) -> Published:
        return Published(
            "booking",
            new_envelope(
                event,
                tenant=tenant,
                aggregate_type="booking",
                aggregate_id=aggregate,
                occurred_at=when,
                event_id=_uid(rng),
            ),
        )

    created = start - timedelta(days=1)
    for i, store in enumerate(store_names):
        zone = ZONES[i % len(ZONES)]
        for r in range(ROOMS_PER_STORE):
            room = f"{store}/rooms/r{r}"
            yield env(
                bev.RoomChanged(room=room, store=store, room_type="bed", capacity=r + 1, active=True),
                room,
                created,
            )
        for k in range(STAFF_PER_STORE):
            staff = f"{store}/staff/{k}"
            first_day = 1 + k % 2  # Mon-Sat or Tue-Sun
            hours = _weekly(range(first_day, first_day + 6), f"{9 + k % 3:02d}:00", "18:00")
            breaks = _weekly(range(first_day, first_day + 6), "12:00", "13:00")
            yield env(
                bev.StaffScheduleChanged(
                    staff=staff, store=store, time_zone=zone, active=True, weekly_hours=hours, breaks=breaks
                ),
                staff,
                created,
            )
            if k == 0:  # halfway through, staff 0 goes part-time (afternoons, no break)
                yield env(
                    bev.StaffScheduleChanged(
                        staff=staff,
                        store=store,
                        time_zone=zone,
                        active=True,
                        weekly_hours=_weekly(range(1, 6), "13:00", "19:00"),
                    ),
                    staff,
                    start + timedelta(days=days // 2, hours=rng.randrange(24)),
                )
            if k == STAFF_PER_STORE - 1:  # the last one leaves the store two weeks before the end
                yield env(
                    bev.StaffScheduleChanged(staff=staff, store=store, time_zone=zone, active=False),
                    staff,
                    start + timedelta(days=days - 14),
                )
            for n in range(4):
                day = (start + timedelta(days=rng.randrange(days))).date()
                kind, times = [
                    ("leave", ("", "")),
                    ("sick_leave", ("14:00", "16:30")),
                    ("extra_shift", ("19:00", "21:00")),
                    ("training", ("", "")),
                ][n]
                exception = f"{staff}/scheduleExceptions/x{n}"
                event = bev.ScheduleExceptionChanged(
                    schedule_exception=exception,
                    staff=staff,
                    store=store,
                    kind=kind,
                    start_date=day.isoformat(),
                    end_date=(day + timedelta(days=n % 2 * 2)).isoformat(),
                    start_time=times[0],
                    end_time=times[1],
                    time_zone=zone,
                )
                recorded = datetime.combine(day, datetime.min.time(), UTC) - timedelta(days=3)
                yield env(event, staff, recorded)
                if n == 3:  # the training is called off again
                    event.removed = True
                    yield env(event, staff, recorded + timedelta(days=1))
