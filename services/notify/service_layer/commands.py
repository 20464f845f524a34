"""Notify's API mutations: re-sending failed messages and the tenant's templates.

Authorization first, validation next, then one unit of work; a refused request writes nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime

from google.protobuf import descriptor_pool

from kit import auth
from kit.auth import Principal
from kit.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from services.notify.domain.message import CHANNELS, Message, message_name
from services.notify.domain.templates import ANY_CHANNEL, LOCALES, Template, validate
from services.notify.domain.triggers import BY_KEY
from services.notify.service_layer.handlers import decode_event  # noqa: F401 - registers event types
from services.notify.service_layer.unit_of_work import NotifyUnitOfWork

TEMPLATE_MUTABLE = ("body", "subject", "template_code")
ANY = "any"  # the channel segment of a template id that applies to every channel


def parse_template_id(trigger: str, template_id: str, field: str) -> tuple[str, str]:
    """``sms-zh-CN`` -> (``sms``, ``zh-CN``); ``any-en`` -> (``*``, ``en``)."""
    channel, _, locale = template_id.partition("-")
    problems = []
    if channel != ANY and channel not in CHANNELS:
        problems.append((field, f"channel must be one of {', '.join((*CHANNELS, ANY))}"))
    if locale not in LOCALES:
        problems.append((field, f"locale must be one of {', '.join(LOCALES)}"))
    if trigger not in BY_KEY:
        problems.append((field, f"unknown trigger {trigger!r}"))
    if problems:
        raise InvalidArgument(problems)
    return (ANY_CHANNEL if channel == ANY else channel), locale


def template_name(trigger: str, channel: str, locale: str) -> str:
    return f"triggers/{trigger}/templates/{ANY if channel == ANY_CHANNEL else channel}-{locale}"


def _validate(trigger: str, template: Template) -> None:
    event = descriptor_pool.Default().FindMessageTypeByName(BY_KEY[trigger].event_type)
    problems = validate(event, template)
    if problems:
        raise InvalidArgument(problems)


async def retry_message(uow: NotifyUnitOfWork, caller: Principal, message_id: str) -> Message:
    caller.require(auth.NOTIFY_ADMIN)
    message = await uow.messages.get(message_id, for_update=True)
    if message is None:
        raise NotFound(f"{message_name(message_id)} not found", reason="MESSAGE_NOT_FOUND")
    if message.state != "failed":
        raise FailedPrecondition(
            f"{message.name} is {message.state}; only failed messages can be retried",
            reason="MESSAGE_NOT_FAILED",
        )
    message.requeue(datetime.now(UTC))
    await uow.messages.save(message)
    return message


async def create_template(
    uow: NotifyUnitOfWork, caller: Principal, trigger: str, channel: str, locale: str, template: Template
) -> tuple[Template, datetime, datetime]:
    caller.require(auth.NOTIFY_ADMIN)
    _validate(trigger, template)
    times = await uow.templates.create(trigger, channel, locale, template)
    if times is None:
        raise AlreadyExists(
            f"{template_name(trigger, channel, locale)} exists; update it instead", reason="TEMPLATE_EXISTS"
        )
    return template, *times


async def update_template(
    uow: NotifyUnitOfWork,
    caller: Principal,
    trigger: str,
    channel: str,
    locale: str,
    patch: Template,
    paths: list[str],
) -> tuple[Template, datetime, datetime]:
    caller.require(auth.NOTIFY_ADMIN)
    current = await uow.templates.get(trigger, channel, locale)
    if current is None:
        raise NotFound(f"{template_name(trigger, channel, locale)} not found", reason="TEMPLATE_NOT_FOUND")
    values = {name: getattr(current[0], name) for name in TEMPLATE_MUTABLE}
    values.update({name: getattr(patch, name) for name in paths})
    updated = Template(**values)
    _validate(trigger, updated)
    times = await uow.templates.update(trigger, channel, locale, updated)
    assert times is not None  # the row was just read in this transaction
    return updated, *times


async def delete_template(
    uow: NotifyUnitOfWork, caller: Principal, trigger: str, channel: str, locale: str
) -> None:
    caller.require(auth.NOTIFY_ADMIN)
    if not await uow.templates.delete(trigger, channel, locale):
        raise NotFound(f"{template_name(trigger, channel, locale)} not found", reason="TEMPLATE_NOT_FOUND")
