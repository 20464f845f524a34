"""Message templates: per tenant x trigger x channel x locale, Jinja2 in a sandbox, Babel formatting.

Lookup order for (trigger, channel, locale): the tenant's template for that channel, the
tenant's template for any channel (``*``), the built-in default (``default_templates``) — first in
the member's locale, then in zh-CN, so a message is never dropped for want of a translation.

A template sees three variables: ``event`` (the triggering event's fields, see
``context.event_context``), ``member`` (``display_name``) and ``store`` (``time_zone``); and
filters that format in the recipient's locale and the store's time zone:
``money(currency_code)`` (minor units in), ``datetime``, ``date``, ``time`` and ``tail(n)``.
Templates are checked when saved (:func:`validate`): syntax, unknown variables or event fields,
and a trial render against an empty event — so a bad template is refused at the API, not found
out when a message is due.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_skeleton
from babel.numbers import format_currency, get_currency_precision
from google.protobuf.descriptor import Descriptor
from jinja2 import StrictUndefined, TemplateSyntaxError, nodes, pass_context
from jinja2.exceptions import TemplateError
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment

from services.notify.domain.context import event_context, field_names
from services.notify.domain.message import CHANNELS

DEFAULT_LOCALE = "zh-CN"
LOCALES = ("zh-CN", "en")
ANY_CHANNEL = "*"
DEFAULT_TIME_ZONE = "Asia/Shanghai"

MAX_BODY = 2000
MAX_SUBJECT = 200
MAX_TEMPLATE_CODE = 64

MEMBER_FIELDS = frozenset({"display_name"})
STORE_FIELDS = frozenset({"time_zone"})
VARIABLES = frozenset({"event", "member", "store"})

# Parsed once: handing Babel a Locale instead of its name saves a parse on every money/date filter.
_BABEL_LOCALE = {"zh-CN": Locale.parse("zh_Hans_CN"), "en": Locale.parse("en")}


@dataclass(frozen=True)
class Template:
    body: str
    subject: str = ""  # e-mail subject (a template too); other channels ignore it
    template_code: str = ""  # the provider's registered template (SMS / WeChat); default per trigger


@dataclass(frozen=True)
class Rendered:
    locale: str
    body: str
    subject: str
    template_code: str


class RenderError(ValueError):
    """A template that cannot be rendered with this event (only built-ins reach send time)."""


def normalise_locale(locale: str) -> str:
    """``en-US`` / ``en_us`` -> ``en``; ``zh``/``zh-Hans``/unknown -> ``zh-CN`` (the default)."""
    value = (locale or "").replace("_", "-").strip()
    for known in LOCALES:
        if value.lower() == known.lower():
            return known
    language = value.split("-", 1)[0].lower()
    for known in LOCALES:
        if known.split("-", 1)[0].lower() == language:
            return known
    return DEFAULT_LOCALE


# --- filters ------------------------------------------------------------------------------------
def _loc(ctx: Context) -> Locale:
    return _BABEL_LOCALE[ctx.get("_locale", DEFAULT_LOCALE)]


def _zone(ctx: Context) -> ZoneInfo:
    return ZoneInfo(ctx.get("_tz") or DEFAULT_TIME_ZONE)


@pass_context
def _money(ctx: Context, amount_minor: int | None, currency: str = "CNY") -> str:
    currency = currency or "CNY"
    digits = get_currency_precision(currency)
    value = Decimal(int(amount_minor or 0)).scaleb(-digits)
    return format_currency(value, currency, locale=_loc(ctx))


def _as_datetime(value: Any) -> datetime | date | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime | date):
        return value
    text = str(value)
    try:
        return datetime.fromisoformat(text) if "T" in text else date.fromisoformat(text)
    except ValueError:
        return None


@pass_context
def _datetime(ctx: Context, value: Any) -> str:
    dt = _as_datetime(value)
    if not isinstance(dt, datetime):
        return _date(ctx, value)
    zone = _zone(ctx) if dt.tzinfo is not None else None  # store-local strings are local already
    day = format_skeleton("MMMEd", dt, tzinfo=zone, locale=_loc(ctx))
    return f"{day} {format_skeleton('Hm', dt, tzinfo=zone, locale=_loc(ctx))}"


@pass_context
def _date(ctx: Context, value: Any) -> str:
    d = _as_datetime(value)
    if d is None:
        return ""
    if isinstance(d, datetime) and d.tzinfo is not None:
        d = d.astimezone(_zone(ctx))
    return format_skeleton("yMMMd", d, locale=_loc(ctx))


@pass_context
def _time(ctx: Context, value: Any) -> str:
    dt = _as_datetime(value)
    if not isinstance(dt, datetime):
        return ""
    zone = _zone(ctx) if dt.tzinfo is not None else None
    return format_skeleton("Hm", dt, tzinfo=zone, locale=_loc(ctx))


def _tail(value: Any, n: int = 4) -> str:
    """The last ``n`` characters (card numbers in security notices)."""
    return str(value or "")[-int(n) :]


@pass_context
def _render_body(ctx: Context, source: Any) -> str:
    """A body that is itself a template (a campaign's message, ``event.body``), rendered with the
    same variables. The inner render sees ``event.body`` empty, so a body cannot recurse."""
    event = dict(ctx["event"])
    event["body"] = ""
    return _compiled(str(source or "")).render(
        event=event,
        member=ctx["member"],
        store=ctx["store"],
        _locale=ctx.get("_locale", DEFAULT_LOCALE),
        _tz=ctx.get("_tz"),
    )


def _environment() -> SandboxedEnvironment:
    env = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, trim_blocks=True)
    env.filters.update(
        money=_money, datetime=_datetime, date=_date, time=_time, tail=_tail, render_body=_render_body
    )
    return env


_ENV = _environment()


@lru_cache(maxsize=4096)
def _compiled(source: str):
    return _ENV.from_string(source)


def render_text(
    source: str, *, event: Mapping[str, Any], member: Mapping[str, Any], locale: str, tz: str
) -> str:
    try:
        return (
            _compiled(source)
            .render(event=event, member=member, store={"time_zone": tz}, _locale=locale, _tz=tz)
            .strip()
        )
    except (TemplateError, ArithmeticError, TypeError, ValueError) as exc:
        raise RenderError(f"{type(exc).__name__}: {exc}") from exc


# --- validation at save time -------------------------------------------------------------------
def _attribute_uses(ast: nodes.Template) -> list[tuple[str, str]]:
    """(variable, attribute) for every ``event.x`` / ``event['x']`` in the template."""
    uses: list[tuple[str, str]] = []
    for node in ast.find_all((nodes.Getattr, nodes.Getitem)):
        if isinstance(node.node, nodes.Name):
            if isinstance(node, nodes.Getattr):
                uses.append((node.node.name, node.attr))
            elif isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
                uses.append((node.node.name, node.arg.value))
    return uses


def _check_source(source: str, field: str, event_fields: frozenset[str]) -> list[tuple[str, str]]:
    from jinja2 import meta

    try:
        ast = _ENV.parse(source)
    except TemplateSyntaxError as exc:
        return [(field, f"syntax error on line {exc.lineno}: {exc.message}")]
    problems: list[tuple[str, str]] = []
    unknown = sorted(meta.find_undeclared_variables(ast) - VARIABLES)
    if unknown:
        problems.append((field, f"unknown variables {unknown}; use event, member, store"))
    allowed = {"event": event_fields, "member": MEMBER_FIELDS, "store": STORE_FIELDS}
    for variable, attribute in _attribute_uses(ast):
        if variable in allowed and attribute not in allowed[variable]:
            problems.append((field, f"{variable}.{attribute} does not exist"))
    return problems


def validate(event: Descriptor, template: Template, *, prefix: str = "template") -> list[tuple[str, str]]:
    """Field violations of a template for a trigger whose event is ``event``; empty when valid."""
    problems: list[tuple[str, str]] = []
    if not template.body.strip():
        problems.append((f"{prefix}.body", "is required"))
    if len(template.body) > MAX_BODY:
        problems.append((f"{prefix}.body", f"must be at most {MAX_BODY} characters"))
    if len(template.subject) > MAX_SUBJECT:
        problems.append((f"{prefix}.subject", f"must be at most {MAX_SUBJECT} characters"))
    if len(template.template_code) > MAX_TEMPLATE_CODE:
        problems.append((f"{prefix}.template_code", f"must be at most {MAX_TEMPLATE_CODE} characters"))
    if problems:
        return problems
    names = field_names(event)
    for field, source in ((f"{prefix}.body", template.body), (f"{prefix}.subject", template.subject)):
        found = _check_source(source, field, names) if source else []
        if not found and source:
            # A trial render with an empty event catches what parsing cannot (bad filter arguments,
            # sandbox violations). Every field exists with its zero value, so a valid template renders.
            from google.protobuf import message_factory

            sample = event_context(message_factory.GetMessageClass(event)())
            for locale in LOCALES:
                try:
                    render_text(source, event=sample, member={"display_name": "x"}, locale=locale, tz="UTC")
                except RenderError as exc:
                    found.append((field, f"does not render: {exc}"))
                    break
        problems.extend(found)
    return problems


# --- the book: defaults + a tenant's overrides --------------------------------------------------
class TemplateBook:
    """Finds the template for (trigger, channel, locale) and renders it.

    ``overrides``: the tenant's templates, keyed (trigger, channel or ``*``, locale).
    """

    def __init__(self, overrides: Mapping[tuple[str, str, str], Template] | None = None):
        from services.notify.domain.default_templates import DEFAULT_TEMPLATES

        self._defaults = DEFAULT_TEMPLATES
        self._overrides = dict(overrides or {})

    def find(self, trigger: str, channel: str, locale: str) -> tuple[str, Template] | None:
        wanted = normalise_locale(locale)
        for candidate in dict.fromkeys((wanted, DEFAULT_LOCALE)):
            for source in (self._overrides, self._defaults):
                for ch in (channel, ANY_CHANNEL):
                    found = source.get((trigger, ch, candidate))
                    if found is not None:
                        return candidate, found
        return None

    def render(
        self,
        trigger: str,
        channel: str,
        locale: str,
        *,
        event: Mapping[str, Any],
        member: Mapping[str, Any],
        tz: str,
    ) -> Rendered:
        if channel not in CHANNELS:
            raise RenderError(f"unknown channel {channel!r}")
        found = self.find(trigger, channel, locale)
        if found is None:
            raise RenderError(f"no template for trigger {trigger!r} on channel {channel!r}")
        used_locale, template = found
        body = render_text(template.body, event=event, member=member, locale=used_locale, tz=tz)
        subject = (
            render_text(template.subject, event=event, member=member, locale=used_locale, tz=tz)
            if template.subject
            else ""
        )
        return Rendered(used_locale, body, subject, template.template_code or f"PEONY_{trigger.upper()}")
