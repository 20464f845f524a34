"""Protobuf <-> domain translation for the notify API. No rules live here, only shapes."""

from __future__ import annotations

from datetime import datetime

from peony.notify.v1 import message_pb2

from kit.errors import InvalidArgument
from kit.ids import parse_name, parse_path
from kit.proto import ts
from services.notify.domain.message import Message
from services.notify.domain.templates import Template
from services.notify.domain.triggers import MARKETING
from services.notify.service_layer.commands import parse_template_id, template_name
from services.notify.service_layer.handlers import channel_to_proto, state_to_proto


def require_message_id(name: str, field: str = "name") -> str:
    """`messages/{uuid}` -> the uuid, or INVALID_ARGUMENT naming the field."""
    message_id = parse_name(name, "messages", uuid=True)
    if message_id is None:
        raise InvalidArgument([(field, "must be a resource name of the form messages/{id}")])
    return message_id


def require_trigger(parent: str, field: str = "parent") -> str:
    trigger = parse_name(parent, "triggers")
    if trigger is None:
        raise InvalidArgument([(field, "must be a resource name of the form triggers/{trigger}")])
    return trigger


def require_template(name: str, field: str = "name") -> tuple[str, str, str]:
    """`triggers/{trigger}/templates/{channel}-{locale}` -> (trigger, channel or "*", locale)."""
    ids = parse_path(name, "triggers/{id}/templates/{id}")
    if ids is None:
        raise InvalidArgument(
            [(field, "must be a resource name of the form triggers/{trigger}/templates/{channel}-{locale}")]
        )
    trigger, template_id = ids
    channel, locale = parse_template_id(trigger, template_id, field)
    return trigger, channel, locale


def message_to_proto(m: Message) -> message_pb2.Message:
    return message_pb2.Message(
        name=m.name,
        recipient=m.recipient,
        channel=channel_to_proto(m.channel),  # type: ignore[arg-type]
        trigger=m.trigger,
        trigger_event_id=m.trigger_event_id,
        locale=m.locale,
        body=m.body,
        state=state_to_proto(m.state),  # type: ignore[arg-type]
        attempts=m.attempts,
        last_error=m.last_error,
        create_time=ts(m.create_time),
        send_time=ts(m.send_time),
        purpose=message_pb2.PURPOSE_MARKETING
        if m.purpose == MARKETING
        else message_pb2.PURPOSE_TRANSACTIONAL,
        decision=m.decision,
        due_time=ts(m.due_time) if m.state in ("queued", "deferred") else None,
        provider=m.provider,
        address_masked=m.address_masked,
        deliver_time=ts(m.deliver_time),
        billable_units=m.billable_units,
        cost_minor=m.cost_minor,
    )


def template_from_proto(p: message_pb2.Template) -> Template:
    return Template(body=p.body, subject=p.subject, template_code=p.template_code.strip())


def template_to_proto(
    trigger: str,
    channel: str,
    locale: str,
    t: Template,
    create_time: datetime | None,
    update_time: datetime | None,
    *,
    built_in: bool = False,
) -> message_pb2.Template:
    return message_pb2.Template(
        name=template_name(trigger, channel, locale),
        body=t.body,
        subject=t.subject,
        template_code=t.template_code,
        built_in=built_in,
        create_time=ts(create_time),
        update_time=ts(update_time),
    )
