"""Value rules for member data: normalising, validating and masking personal fields."""

from __future__ import annotations

import re
from datetime import date
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_CN_MOBILE = re.compile(r"^1[3-9]\d{9}$")
_E164 = re.compile(r"^\+[1-9]\d{7,14}$")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")
_ID_NUMBER = re.compile(r"^[0-9A-Za-z-]{6,32}$")
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
_ATTR_KEY = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_OPENID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_PUSH_TOKEN = re.compile(r"^[\x21-\x7e]+$")  # printable ASCII, no spaces (FCM / APNs tokens)

LOCALES = ("zh-CN", "en")
DEFAULT_LOCALE = "zh-CN"
MAX_PUSH_TOKENS = 5
MAX_PUSH_TOKEN = 4096
MAX_EMAIL = 254

MAX_TAGS = 50
MAX_CUSTOM_ATTRIBUTES = 50
MAX_TEXT = 500


def normalise_phone(raw: str) -> str | None:
    """E.164 form, or None when it is not a phone number. A bare 11-digit CN mobile gets +86."""
    compact = re.sub(r"[\s\-().]", "", raw)
    if _CN_MOBILE.match(compact):
        return "+86" + compact
    if compact.startswith("00"):
        compact = "+" + compact[2:]
    if _E164.match(compact):
        return compact
    return None


def mask_phone(phone: str) -> str:
    """+8613812345678 -> 138****5678 (the form front desks know); other numbers keep the last 4."""
    national = phone[3:] if phone.startswith("+86") else phone
    if len(national) >= 7:
        return national[:3] + "****" + national[-4:]
    return "****" + national[-2:]


def parse_birthday(raw: str) -> date | None:
    try:
        value = date.fromisoformat(raw)
    except ValueError:
        return None
    if value.year < 1900 or value > date.today():
        return None
    return value


def mask_birthday(birthday: str) -> str:
    """Keeps month and day (birthday privileges need them), hides the year."""
    return "****" + birthday[4:]


def valid_id_number(raw: str) -> bool:
    return bool(_ID_NUMBER.match(raw))


def mask_id_number(value: str) -> str:
    if len(value) <= 8:
        return "*" * len(value)
    return value[:4] + "*" * (len(value) - 8) + value[-4:]


def valid_email(raw: str) -> bool:
    return len(raw) <= MAX_EMAIL and bool(_EMAIL.match(raw))


def mask_email(email: str) -> str:
    """jing@example.com -> j***@example.com: enough to recognise it, not to write to it."""
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}"


def valid_openid(raw: str) -> bool:
    return bool(_OPENID.match(raw))


def valid_push_token(raw: str) -> bool:
    return len(raw) <= MAX_PUSH_TOKEN and bool(_PUSH_TOKEN.match(raw))


def mask_secret(value: str) -> str:
    """Openids and push tokens: the last 4 characters only."""
    return "****" + value[-4:] if len(value) > 8 else "****"


def valid_time_zone(name: str) -> bool:
    if not name or name.startswith("/") or ".." in name:
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def valid_hhmm(value: str) -> bool:
    return bool(_HHMM.match(value))


def valid_attribute_key(key: str) -> bool:
    return bool(_ATTR_KEY.match(key))
