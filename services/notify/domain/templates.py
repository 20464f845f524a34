"""Message templates: (trigger, channel, locale) -> text with ``{placeholders}``.

The built-in defaults live here; per-tenant templates (a later issue) will be looked up first and
fall back to these. A template missing for the requested locale falls back to the default locale
(zh-CN), so a message is never dropped for want of a translation.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass

from services.notify.domain.message import CHANNELS, TRIGGER_WELCOME

DEFAULT_LOCALE = "zh-CN"
LOCALES = ("zh-CN", "en")

_ANY_CHANNEL = "*"

# (trigger, channel or "*", locale) -> template text
DEFAULT_TEMPLATES: dict[tuple[str, str, str], str] = {
    (TRIGGER_WELCOME, _ANY_CHANNEL, "zh-CN"): "亲爱的{display_name}，欢迎加入！您的会员号 {member_number}。",  # noqa: RUF001 - Chinese punctuation
    (TRIGGER_WELCOME, _ANY_CHANNEL, "en"): "Welcome, {display_name}! Your member number is {member_number}.",
}


class TemplateError(ValueError):
    """No template for a trigger, or a template that needs a value the event does not carry."""


@dataclass(frozen=True)
class Rendered:
    locale: str
    body: str


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


class TemplateBook:
    """Resolves and renders templates; ``overrides`` will hold a tenant's own templates."""

    def __init__(self, overrides: Mapping[tuple[str, str, str], str] | None = None):
        self._templates = {**DEFAULT_TEMPLATES, **(overrides or {})}

    def _lookup(self, trigger: str, channel: str, locale: str) -> str | None:
        return self._templates.get((trigger, channel, locale)) or self._templates.get(
            (trigger, _ANY_CHANNEL, locale)
        )

    def render(self, trigger: str, channel: str, locale: str, values: Mapping[str, str]) -> Rendered:
        if channel not in CHANNELS:
            raise TemplateError(f"unknown channel {channel!r}")
        wanted = normalise_locale(locale)
        for candidate in dict.fromkeys((wanted, DEFAULT_LOCALE)):
            text = self._lookup(trigger, channel, candidate)
            if text is not None:
                return Rendered(candidate, _fill(text, values))
        raise TemplateError(f"no template for trigger {trigger!r} on channel {channel!r}")


def _fill(text: str, values: Mapping[str, str]) -> str:
    needed = [name for _, name, _, _ in string.Formatter().parse(text) if name]
    missing = [name for name in needed if name not in values]
    if missing:
        raise TemplateError(f"template needs {missing}")
    return text.format_map({name: values[name] for name in needed})
