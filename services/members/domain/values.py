"""Value rules for member data: normalising, validating and masking personal fields."""

from __future__ import annotations

import re
from datetime import date
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from kit.masking import mask_email, mask_phone, mask_secret  # noqa: F401 - members' masks, shared with notify

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


def valid_openid(raw: str) -> bool:
    return bool(_OPENID.match(raw))


def valid_push_token(raw: str) -> bool:
    return len(raw) <= MAX_PUSH_TOKEN and bool(_PUSH_TOKEN.match(raw))


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
