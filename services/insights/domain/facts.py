"""Events -> fact rows: what each event type means to the KPIs (pure, no I/O).

Every event of the four upstream streams becomes one ``facts`` row (kind = the event's short
name) with the envelope's tenant, id and time; the columns below carry what the KPIs read:

Columns: store, member, subject, amount_minor (amount), amount2_minor (amount2), points,
quantity, flag, label, ref_time.

| kind | store | member | subject | amount | amount2 | points | quantity | flag | label | ref_time |
|---|---|---|---|---|---|---|---|---|---|---|
| MemberRegistered | home store | member | referrer | | | | | | tier id | |
| TierChanged | | member | | | | | | | new tier id | |
| StoreCreated/Updated | store | | display name | | | | | | IANA zone | |
| ReferralRewardEarned | | referee | referrer | qualifying spend | | | | | | |
| CheckoutCompleted | store | member ('' walk-in) | checkout | total | principal | points | lines | | | |
| CheckoutRefunded | store | member | checkout | amount refunded | | points clawed back | | full | | |
| TopUpCompleted | store | member | transaction | amount | bonus (released + locked) | | | | | |
| BalanceChanged | store | member | transaction | delta (principal + bonus) | | | | | | |
| PointsEarned/Redeemed/Expired | | member | transaction | | | points | | | | |
| (points events) | | | | | | | points available after | | | |
| PackageSold | store | member | package | price | | | | | | |
| PackageSessionConsumed | store | member | package | recognised | | | sessions | | | |
| VoucherIssued/Redeemed | store | member | voucher | discount | | | | | template | |
| AppointmentBooked/Rescheduled | store | member | appointment | | | | minutes | | lines (1) | start |
| AppointmentCancelled | store | member | appointment | | | | | late cancel | | start |
| AppointmentNoShow/CheckedIn/Completed | store | member | appointment | | | | | | | start |
| FeedbackSubmitted | store | member | feedback | | | | rating | | | |
| ComplaintOpened | store | member | complaint | | | | | | | first-response due |
| ComplaintResolved | store | member | complaint | | | | response seconds | SLA breached | | open time |
| StaffScheduleChanged | store | | staff | | | | | active | weekly pattern (2) | |
| ScheduleExceptionChanged | store | | staff | | | | | removed | the exception (3) | |
| RoomChanged | store | | room | | | | capacity | active | room type | |
| anything else | `store` field if any | `member` field if any | | | | | | | | |

(1) JSON ``[[resource, "staff"|"room", start epoch ms, minutes], ...]``: each service's staff member
and room with the customer's time (utilisation's booked minutes).
(2) JSON ``{"h": [[weekday, "HH:MM", "HH:MM"], ...], "b": [...breaks]}``.
(3) JSON ``{"id": name, "k": kind, "d": [first, last date], "t": [start, end] or []}``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from peony.booking.v1 import events_pb2 as booking_events
from peony.events.v1.envelope_pb2 import EventEnvelope
from peony.members.v1 import events_pb2 as members_events
from peony.wallet.v1 import events_pb2 as wallet_events

FACT_COLUMNS = (
    "tenant",
    "kind",
    "store",
    "occurred_at",
    "event_id",
    "member",
    "subject",
    "amount_minor",
    "amount2_minor",
    "points",
    "quantity",
    "flag",
    "label",
    "ref_time",
    "seq",
)
LINE_COLUMNS = (
    "tenant",
    "store",
    "occurred_at",
    "event_id",
    "line_no",
    "checkout",
    "member",
    "item",
    "category",
    "staff",
    "quantity",
    "net_minor",
)
_EPOCH = "1970-01-01 00:00:00.000"


def ch_time(value: datetime | Timestamp | None) -> str:
    """A UTC instant as ClickHouse's DateTime64(3) text."""
    if value is None:
        return _EPOCH
    if isinstance(value, Timestamp):
        if not value.seconds and not value.nanos:
            return _EPOCH
        value = value.ToDatetime(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.") + f"{value.microsecond // 1000:03d}"


@dataclass
class Fact:
    store: str = ""
    member: str = ""
    subject: str = ""
    amount_minor: int = 0
    amount2_minor: int = 0
    points: int = 0
    quantity: int = 0
    flag: int = 0
    label: str = ""
    ref_time: str = _EPOCH


def _minutes(services) -> int:
    total = 0
    for s in services:
        if s.start_time.seconds and s.end_time.seconds:
            total += (s.end_time.seconds - s.start_time.seconds) // 60
    return total


def _resource_lines(services) -> str:
    """Each service's staff member and room with the customer's time, for utilisation."""
    lines = []
    for s in services:
        if not (s.start_time.seconds and s.end_time.seconds):
            continue
        start_ms = s.start_time.seconds * 1000 + s.start_time.nanos // 1_000_000
        minutes = (s.end_time.seconds - s.start_time.seconds) // 60
        for resource, kind in ((s.staff, "staff"), (s.room, "room")):
            if resource:
                lines.append([resource, kind, start_ms, minutes])
    return json.dumps(lines, separators=(",", ":")) if lines else ""


def _weekly(intervals) -> list[list]:
    return [[i.day_of_week, i.start_time, i.end_time] for i in intervals]


_M, _W, _B = members_events, wallet_events, booking_events
# The payload classes the KPIs read, by full event type.
PAYLOADS: dict[str, type[Message]] = {
    cls.DESCRIPTOR.full_name: cls
    for cls in (
        _M.MemberRegistered,
        _M.TierChanged,
        _M.StoreCreated,
        _M.StoreUpdated,
        _M.ReferralRewardEarned,
        _W.CheckoutCompleted,
        _W.CheckoutRefunded,
        _W.TopUpCompleted,
        _W.BalanceChanged,
        _W.PointsEarned,
        _W.PointsRedeemed,
        _W.PointsExpired,
        _W.PackageSold,
        _W.PackageSessionConsumed,
        _W.VoucherIssued,
        _W.VoucherRedeemed,
        _B.AppointmentBooked,
        _B.AppointmentRescheduled,
        _B.AppointmentCancelled,
        _B.AppointmentNoShow,
        _B.AppointmentCheckedIn,
        _B.AppointmentCompleted,
        _B.FeedbackSubmitted,
        _B.ComplaintOpened,
        _B.ComplaintResolved,
        _B.StaffScheduleChanged,
        _B.ScheduleExceptionChanged,
        _B.RoomChanged,
    )
}


def _fact(p: Message) -> Fact:
    if isinstance(p, _M.MemberRegistered):
        return Fact(store=p.home_store, member=p.member, subject=p.referrer, label=p.tier_id)
    if isinstance(p, _M.TierChanged):
        return Fact(member=p.member, label=p.to_tier_id)
    if isinstance(p, _M.StoreCreated | _M.StoreUpdated):
        return Fact(store=p.store, subject=p.display_name, label=p.time_zone)
    if isinstance(p, _M.ReferralRewardEarned):
        return Fact(member=p.referee, subject=p.referrer, amount_minor=p.qualifying_spend_minor)
    if isinstance(p, _W.CheckoutCompleted):
        return Fact(
            store=p.store,
            member=p.member,
            subject=p.checkout,
            amount_minor=p.total_minor,
            amount2_minor=p.principal_funded_minor,
            points=p.points_earned,
            quantity=len(p.lines),
        )
    if isinstance(p, _W.CheckoutRefunded):
        return Fact(
            store=p.store,
            member=p.member,
            subject=p.checkout,
            amount_minor=p.amount_minor,
            points=p.points_clawed_back,
            flag=int(p.full),
        )
    if isinstance(p, _W.TopUpCompleted):
        return Fact(
            store=p.store,
            member=p.member,
            subject=p.transaction,
            amount_minor=p.amount_minor,
            amount2_minor=p.bonus_released_minor + p.bonus_locked_minor,
        )
    if isinstance(p, _W.BalanceChanged):
        return Fact(store=p.store, member=p.member, subject=p.transaction, amount_minor=p.delta_minor)
    if isinstance(p, _W.PointsEarned | _W.PointsRedeemed | _W.PointsExpired):
        return Fact(member=p.member, subject=p.transaction, points=p.points, quantity=p.points_available)
    if isinstance(p, _W.PackageSold):
        return Fact(store=p.store, member=p.member, subject=p.package, amount_minor=p.price_minor)
    if isinstance(p, _W.PackageSessionConsumed):
        return Fact(
            store=p.store,
            member=p.member,
            subject=p.package,
            amount_minor=p.recognized_minor,
            quantity=p.sessions,
        )
    if isinstance(p, _W.VoucherIssued):
        return Fact(member=p.member, subject=p.voucher, label=p.template)
    if isinstance(p, _W.VoucherRedeemed):
        return Fact(
            store=p.store, member=p.member, subject=p.voucher, amount_minor=p.discount_minor, label=p.template
        )
    if isinstance(p, _B.AppointmentBooked | _B.AppointmentRescheduled):
        return Fact(
            store=p.store,
            member=p.member,
            subject=p.appointment,
            quantity=_minutes(p.services),
            label=_resource_lines(p.services),
            ref_time=ch_time(p.start_time),
        )
    if isinstance(p, _B.StaffScheduleChanged):
        pattern = {"h": _weekly(p.weekly_hours), "b": _weekly(p.breaks)}
        return Fact(
            store=p.store,
            subject=p.staff,
            flag=int(p.active),
            label=json.dumps(pattern, separators=(",", ":")),
        )
    if isinstance(p, _B.ScheduleExceptionChanged):
        exception = {
            "id": p.schedule_exception,
            "k": p.kind,
            "d": [p.start_date, p.end_date],
            "t": [p.start_time, p.end_time] if p.start_time and p.end_time else [],
        }
        return Fact(
            store=p.store,
            subject=p.staff,
            flag=int(p.removed),
            label=json.dumps(exception, separators=(",", ":")),
        )
    if isinstance(p, _B.RoomChanged):
        return Fact(store=p.store, subject=p.room, quantity=p.capacity, flag=int(p.active), label=p.room_type)
    if isinstance(p, _B.AppointmentCancelled):
        return Fact(
            store=p.store,
            member=p.member,
            subject=p.appointment,
            flag=int(p.late_cancel),
            ref_time=ch_time(p.start_time),
        )
    if isinstance(p, _B.AppointmentNoShow | _B.AppointmentCheckedIn | _B.AppointmentCompleted):
        return Fact(store=p.store, member=p.member, subject=p.appointment, ref_time=ch_time(p.start_time))
    if isinstance(p, _B.FeedbackSubmitted):
        return Fact(store=p.store, member=p.member, subject=p.feedback, quantity=p.rating)
    if isinstance(p, _B.ComplaintOpened):
        return Fact(
            store=p.store, member=p.member, subject=p.complaint, ref_time=ch_time(p.first_response_due_time)
        )
    if isinstance(p, _B.ComplaintResolved):
        seconds = 0
        if p.first_response_time.seconds and p.open_time.seconds:
            seconds = p.first_response_time.seconds - p.open_time.seconds
        return Fact(
            store=p.store,
            member=p.member,
            subject=p.complaint,
            quantity=seconds,
            flag=int(p.sla_breached),
            ref_time=ch_time(p.open_time),
        )
    return Fact()


class UnreadableEvent(ValueError):
    """The payload does not decode as the type the envelope names."""


def facts_of(envelope: EventEnvelope, seq: int = 0) -> tuple[tuple, list[tuple]]:
    """The ``facts`` row (in FACT_COLUMNS order) and ``checkout_lines`` rows of one event;
    ``seq`` is its stream sequence (orders one stream's events of the same millisecond)."""
    cls = PAYLOADS.get(envelope.event_type)
    fact = Fact()
    payload: Message | None = None
    if cls is not None:
        payload = cls()
        if not envelope.payload.Unpack(payload):
            raise UnreadableEvent(f"event {envelope.event_id} does not carry a {envelope.event_type}")
        fact = _fact(payload)
    occurred = ch_time(envelope.occurred_at)
    row = (
        envelope.tenant,
        envelope.event_type.rsplit(".", 1)[-1],  # the short name, e.g. CheckoutCompleted
        fact.store,
        occurred,
        envelope.event_id,
        fact.member,
        fact.subject,
        fact.amount_minor,
        fact.amount2_minor,
        fact.points,
        fact.quantity,
        fact.flag,
        fact.label,
        fact.ref_time,
        seq,
    )
    lines: list[tuple] = []
    if isinstance(payload, _W.CheckoutCompleted):
        for i, line in enumerate(payload.lines):
            lines.append(
                (
                    envelope.tenant,
                    payload.store,
                    occurred,
                    envelope.event_id,
                    i,
                    payload.checkout,
                    payload.member,
                    line.item,
                    line.category,
                    line.serving_staff,
                    line.quantity,
                    line.net_minor,
                )
            )
    return row, lines
