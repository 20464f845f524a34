"""What the booking gRPC mixins share: parsing resource names from requests and converting rows
to messages."""

from __future__ import annotations

from datetime import datetime

from peony.booking.v1 import appointments_pb2, catalog_pb2, resources_pb2

from kit import auth
from kit.auth import current_principal
from kit.errors import InvalidArgument, PermissionDenied
from kit.ids import RESOURCE_ID_RULE, is_resource_id, new_id, parse_name
from kit.proto import ts
from services.booking.service_layer import appointments as appts

_STATE = {
    appts.BOOKED: appointments_pb2.APPOINTMENT_STATE_BOOKED,
    appts.CHECKED_IN: appointments_pb2.APPOINTMENT_STATE_CHECKED_IN,
    appts.COMPLETED: appointments_pb2.APPOINTMENT_STATE_COMPLETED,
    appts.CANCELLED: appointments_pb2.APPOINTMENT_STATE_CANCELLED,
    appts.NO_SHOW: appointments_pb2.APPOINTMENT_STATE_NO_SHOW,
}
STATE_OF = {v: k for k, v in _STATE.items()}
_REMINDER_STATE = {
    "scheduled": appointments_pb2.REMINDER_STATE_SCHEDULED,
    "fired": appointments_pb2.REMINDER_STATE_FIRED,
    "skipped": appointments_pb2.REMINDER_STATE_SKIPPED,
    "cancelled": appointments_pb2.REMINDER_STATE_CANCELLED,
}
MAX_PAGE = 1000


def require_hq_admin(what: str) -> None:
    """Tenant-wide booking configuration (`what`: the service menu, the booking policy, service
    plans) is changed by booking admins not bound to stores, i.e. head office."""
    caller = current_principal()
    caller.require(auth.BOOKING_ADMIN)
    if caller.stores is not None:
        raise PermissionDenied(
            f"only a caller not bound to stores may change {what}, which is tenant-wide",
            reason="HQ_SCOPE_REQUIRED",
        )


def store_id_of(name: str, field: str = "store") -> str:
    store_id = parse_name(name, "stores") if name else None
    if not store_id:
        raise InvalidArgument([(field, "must be a resource name of the form stores/{store}")])
    return store_id


def member_id_of(name: str, field: str = "member") -> str:
    member_id = parse_name(name, "members") if name else None
    if not member_id:
        raise InvalidArgument([(field, "must be a resource name of the form members/{member}")])
    return member_id


def service_ids_of(names, field: str = "services") -> list[str]:
    out = []
    for i, name in enumerate(names):
        sid = parse_name(name, "services")
        if not sid:
            raise InvalidArgument([(f"{field}[{i}]", "must be services/{service}")])
        out.append(sid)
    if not out:
        raise InvalidArgument([(field, "is required")])
    return out


def staff_of(name: str, store_id: str, field: str) -> str | None:
    if not name:
        return None
    prefix = f"stores/{store_id}/staff/"
    if not name.startswith(prefix) or not name[len(prefix) :]:
        raise InvalidArgument([(field, f"must be {prefix}{{staff}}")])
    return name


def child_id(value: str, field: str) -> str:
    if not value:
        return new_id()
    if not is_resource_id(value):
        raise InvalidArgument([(field, RESOURCE_ID_RULE)])
    return value


def appointment_id_of(name: str) -> str:
    aid = parse_name(name, "appointments", uuid=True)
    if not aid:
        raise InvalidArgument([("name", "must be appointments/{appointment}")])
    return aid


def service_to_proto(r) -> catalog_pb2.Service:
    return catalog_pb2.Service(
        name=f"services/{r.service_id}",
        display_name=r.display_name,
        category=r.category,
        description=r.description,
        duration_minutes=r.duration_minutes,
        buffer_before_minutes=r.buffer_before_minutes,
        buffer_after_minutes=r.buffer_after_minutes,
        list_price_minor=r.list_price_minor,
        currency_code=r.currency_code,
        requirements=catalog_pb2.ResourceRequirements(
            skill=r.skill or "", room_type=r.room_type or "", equipment_kind=r.equipment_kind or ""
        ),
        online_bookable=r.online_bookable,
        active=r.active,
        display_order=r.display_order,
        create_time=ts(r.create_time),
        update_time=ts(r.update_time),
    )


def _requirements(req: dict | None) -> catalog_pb2.ResourceRequirements:
    req = req or {}
    return catalog_pb2.ResourceRequirements(
        skill=req.get("skill") or "",
        room_type=req.get("room_type") or "",
        equipment_kind=req.get("equipment_kind") or "",
    )


def override_to_proto(o) -> catalog_pb2.ServiceOverride:
    """A `service_overrides` row; unset columns stay unset (inherit)."""
    out = catalog_pb2.ServiceOverride(
        name=f"stores/{o.store_id}/serviceOverrides/{o.service_id}",
        service=f"services/{o.service_id}",
        create_time=ts(o.create_time),
        update_time=ts(o.update_time),
    )
    for f in (
        "offered",
        "duration_minutes",
        "buffer_before_minutes",
        "buffer_after_minutes",
        "list_price_minor",
        "online_bookable",
    ):
        if getattr(o, f) is not None:
            setattr(out, f, getattr(o, f))
    if o.requirements is not None:
        out.requirements.CopyFrom(_requirements(o.requirements))
    return out


def menu_item_to_proto(store_id: str, s, o) -> catalog_pb2.MenuItem:
    """A service row with the store's override (or None) applied."""
    from services.booking.adapters.catalog_repository import (
        OVERRIDE_FIELDS,
        effective,
        effective_requirements,
    )

    return catalog_pb2.MenuItem(
        name=f"stores/{store_id}/menuItems/{s.service_id}",
        service=f"services/{s.service_id}",
        display_name=s.display_name,
        category=s.category,
        description=s.description,
        duration_minutes=effective(s, o, "duration_minutes"),
        buffer_before_minutes=effective(s, o, "buffer_before_minutes"),
        buffer_after_minutes=effective(s, o, "buffer_after_minutes"),
        list_price_minor=effective(s, o, "list_price_minor"),
        currency_code=s.currency_code,
        requirements=_requirements(effective_requirements(s, o)),
        online_bookable=bool(effective(s, o, "online_bookable")),
        display_order=s.display_order,
        overridden_fields=[f for f in OVERRIDE_FIELDS if o is not None and getattr(o, f) is not None],
    )


def _weekly(intervals) -> list[resources_pb2.WeeklyInterval]:
    return [
        resources_pb2.WeeklyInterval(day_of_week=int(i["day"]), start_time=i["start"], end_time=i["end"])
        for i in sorted(intervals, key=lambda i: (int(i["day"]), i["start"]))
    ]


def staff_to_proto(r) -> resources_pb2.Staff:
    return resources_pb2.Staff(
        name=f"stores/{r.store_id}/staff/{r.staff_id}",
        display_name=r.display_name,
        position=r.position,
        level=r.level,
        skills=list(r.skills),
        weekly_hours=_weekly(r.weekly_hours),
        breaks=_weekly(r.breaks),
        online_bookable=r.online_bookable,
        active=r.active,
        principal=r.principal,
        create_time=ts(r.create_time),
        update_time=ts(r.update_time),
    )


EXCEPTION_KIND_TO_PROTO = {
    "leave": resources_pb2.SCHEDULE_EXCEPTION_KIND_LEAVE,
    "sick_leave": resources_pb2.SCHEDULE_EXCEPTION_KIND_SICK_LEAVE,
    "training": resources_pb2.SCHEDULE_EXCEPTION_KIND_TRAINING,
    "blocked": resources_pb2.SCHEDULE_EXCEPTION_KIND_BLOCKED,
    "extra_shift": resources_pb2.SCHEDULE_EXCEPTION_KIND_EXTRA_SHIFT,
}


def schedule_exception_to_proto(r) -> resources_pb2.ScheduleException:
    return resources_pb2.ScheduleException(
        name=f"stores/{r.store_id}/staff/{r.staff_id}/scheduleExceptions/{r.exception_id}",
        kind=EXCEPTION_KIND_TO_PROTO[r.kind],
        start_date=r.start_date.isoformat(),
        end_date=r.end_date.isoformat(),
        start_time=r.start_time or "",
        end_time=r.end_time or "",
        reason=r.reason,
        actor=r.actor,
        create_time=ts(r.create_time),
    )


def room_to_proto(r) -> resources_pb2.Room:
    return resources_pb2.Room(
        name=f"stores/{r.store_id}/rooms/{r.room_id}",
        display_name=r.display_name,
        room_type=r.room_type,
        capacity=r.capacity,
        active=r.active,
        create_time=ts(r.create_time),
        update_time=ts(r.update_time),
    )


def equipment_to_proto(r) -> resources_pb2.Equipment:
    return resources_pb2.Equipment(
        name=f"stores/{r.store_id}/equipment/{r.equipment_id}",
        display_name=r.display_name,
        kind=r.kind,
        active=r.active,
        create_time=ts(r.create_time),
        update_time=ts(r.update_time),
    )


def appointment_to_proto(a: dict) -> appointments_pb2.Appointment:
    """An appointment row (as a dict; with `reminders` when the service layer attached them)."""

    def instant(value: str):
        return ts(datetime.fromisoformat(value))

    appointment = appointments_pb2.Appointment(
        name=f"appointments/{a['appointment_id']}",
        member=f"members/{a['member_id']}",
        store=f"stores/{a['store_id']}",
        channel=a["channel"],
        state=_STATE.get(a["state"], appointments_pb2.APPOINTMENT_STATE_UNSPECIFIED),
        services=[
            appointments_pb2.BookedService(
                service=f"services/{s['service']}",
                display_name=s["display_name"],
                staff=s["staff"],
                room=s["room"],
                equipment=s["equipment"],
                start_time=instant(s["start"]),
                end_time=instant(s["end"]),
                reserved_start_time=instant(s["reserved_start"]),
                reserved_end_time=instant(s["reserved_end"]),
                list_price_minor=s.get("list_price_minor", 0),
            )
            for s in a["services"]
        ],
        start_time=ts(a["start_time"]),
        end_time=ts(a["end_time"]),
        local_start=a["local_start"],
        local_end=a["local_end"],
        time_zone=a["time_zone"],
        list_price_minor=a["list_price_minor"],
        currency_code=a["currency_code"],
        notes=a["notes"],
        reminders=[
            appointments_pb2.ScheduledReminder(
                minutes_before=r["minutes_before"],
                due_time=ts(r["due_utc"]),
                state=_REMINDER_STATE.get(r["state"], appointments_pb2.REMINDER_STATE_UNSPECIFIED),
            )
            for r in a.get("reminders") or ()
        ],
        waitlist_entry=a.get("waitlist_entry") or "",
        booked_by=a.get("booked_by") or "",
        overridden_rules=a.get("overridden_rules") or [],
        override_reason=a.get("override_reason") or "",
        reschedule_count=a.get("reschedule_count") or 0,
        check_in_time=ts(a.get("check_in_time")),
        complete_time=ts(a.get("complete_time")),
        cancel_time=ts(a.get("cancel_time")),
        cancelled_by=a.get("cancelled_by") or appointments_pb2.ACTOR_UNSPECIFIED,
        cancel_reason=a.get("cancel_reason") or "",
        late_cancel=bool(a.get("late_cancel")),
        late_cancel_waived=bool(a.get("late_cancel_waived")),
        no_show_time=ts(a.get("no_show_time")),
        create_time=ts(a.get("create_time")),
        update_time=ts(a.get("update_time")),
    )
    hold = appts.hold_of(a)
    if hold is not None:
        appointment.wallet_hold.CopyFrom(hold)
    return appointment
