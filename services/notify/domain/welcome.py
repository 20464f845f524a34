"""The welcome message sent when a member registers."""

from __future__ import annotations

from services.notify.domain.message import CHANNEL_SMS, TRIGGER_WELCOME, Message
from services.notify.domain.templates import DEFAULT_LOCALE, TemplateBook, normalise_locale

# The welcome is transactional: it always goes out, by SMS. Marketing consent governs marketing
# messages only (campaigns, re-engagement, birthday offers), never this one.
WELCOME_CHANNEL = CHANNEL_SMS

# What to call a member who registered without a display name.
_ANONYMOUS = {"zh-CN": "会员", "en": "member"}


def welcome_message(
    templates: TemplateBook,
    *,
    tenant: str,
    trigger_event_id: str,
    recipient: str,
    display_name: str,
    member_number: str,
    locale: str = DEFAULT_LOCALE,
) -> Message:
    locale = normalise_locale(locale)
    rendered = templates.render(
        TRIGGER_WELCOME,
        WELCOME_CHANNEL,
        locale,
        {"display_name": display_name.strip() or _ANONYMOUS[locale], "member_number": member_number},
    )
    return Message.new(
        tenant=tenant,
        recipient=recipient,
        channel=WELCOME_CHANNEL,
        trigger=TRIGGER_WELCOME,
        trigger_event_id=trigger_event_id,
        locale=rendered.locale,
        body=rendered.body,
    )
