"""What the booking gRPC mixins share: parsing resource names from requests and converting rows
to messages."""

from __future__ import annotations

from datetime import datetime

from peony.booking.v1 import appointments_pb2, catalog_pb2

from kit.errors import InvalidArgument
from kit.ids import is_resource_id, new_id, parse_name
from kit.proto import ts
from services.booking.service_layer import appointments as appts

_STATE = {
    appts.BOOKED: appointments_pb2.APPOINTMENT_STATE_BOOKED,
    appts.CANCELLED: appointments_pb2.APPOINTMENT_STATE_CANCELLED,
}
MAX_PAGE = 1000


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
        raise InvalidArgument([(field, "must match [a-z0-9-]{1,40}")])
    return value


def appointment_id_of(name: str) -> str:
    aid = parse_name(name, "appointments")
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
    )


def appointment_to_proto(a: dict) -> appointments_pb2.Appointment:
    def instant(value: str):
        return ts(datetime.fromisoformat(value))

    return appointments_pb2.Appointment(
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
        overridden_rules=a.get("overridden_rules") or [],
        override_reason=a.get("override_reason") or "",
    )
