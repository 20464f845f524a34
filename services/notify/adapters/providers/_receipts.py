"""Helpers shared by the receipt parsers: the callback token check and bounded JSON/time parsing."""

from __future__ import annotations

import base64
import binascii
import hmac
import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from services.notify.adapters.providers.base import InvalidReceipt

MAX_RECEIPT_BYTES = 1 << 20  # one callback batch; providers send at most a few hundred reports
CHINA_STANDARD_TIME = timezone(timedelta(hours=8))  # Alibaba and Tencent report Beijing wall time


def header(headers: Mapping[str, str], name: str) -> str | None:
    """Case-insensitive header lookup (the gateway may hand over a plain dict)."""
    lowered = name.lower()
    for key, value in headers.items():
        if key.lower() == lowered:
            return value
    return None


def check_callback_token(
    headers: Mapping[str, str], query: Mapping[str, str] | None, user: str, token: str
) -> None:
    """Alibaba's and Tencent's SMS status pushes are not signed, so their callback URL carries a
    secret only Peony and the provider console know: HTTP Basic ``user:token@`` in the URL, or
    ``?token=`` for consoles that drop the user-info part. A missing or wrong one is refused."""
    given_query = (query or {}).get("token")
    if given_query is not None:
        if not hmac.compare_digest(given_query.encode(), token.encode()):
            raise InvalidReceipt("wrong callback credentials")
        return
    value = header(headers, "authorization") or ""
    scheme, _, encoded = value.partition(" ")
    if scheme.lower() != "basic":
        raise InvalidReceipt("missing callback credentials")
    try:
        given = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidReceipt("malformed callback credentials") from None
    if not hmac.compare_digest(given, f"{user}:{token}".encode()):
        raise InvalidReceipt("wrong callback credentials")


def load_json(body: bytes) -> Any:
    if len(body) > MAX_RECEIPT_BYTES:
        raise InvalidReceipt("receipt body too large")
    try:
        return json.loads(body)
    except ValueError:
        raise InvalidReceipt("receipt body is not JSON") from None


def china_time(value: Any) -> datetime:
    """``"2026-12-07 10:00:00"`` in Beijing time, as UTC."""
    if not isinstance(value, str):
        raise InvalidReceipt("receipt time missing")
    try:
        local = datetime.strptime(value, "%Y-%m-%d %H:%M:%S")
    except ValueError:
        raise InvalidReceipt("receipt time malformed") from None
    return local.replace(tzinfo=CHINA_STANDARD_TIME).astimezone(UTC)


def required_str(item: Mapping[str, Any], key: str, *, max_len: int = 128) -> str:
    value = item.get(key)
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value or len(value) > max_len:
        raise InvalidReceipt(f"receipt field {key!r} missing or malformed")
    return value
