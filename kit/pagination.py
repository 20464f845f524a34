"""AIP-158 pagination: opaque, tamper-evident page tokens bound to the query that issued them."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

from kit.errors import InvalidArgument

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500


def page_size(requested: int) -> int:
    if requested < 0:
        raise InvalidArgument([("page_size", "must not be negative")])
    return min(requested or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)


class PageTokens:
    """Encodes a keyset cursor. The MAC covers the tenant and the query's other parameters, so a
    token cannot be replayed against another tenant or a different filter."""

    def __init__(self, secret: bytes):
        self._secret = secret

    def _mac(self, body: bytes, binding: str) -> bytes:
        return hmac.new(self._secret, body + b"|" + binding.encode(), hashlib.sha256).digest()[:12]

    def encode(self, cursor: dict[str, Any], *, binding: str) -> str:
        body = json.dumps(cursor, separators=(",", ":"), sort_keys=True).encode()
        return base64.urlsafe_b64encode(self._mac(body, binding) + body).decode().rstrip("=")

    def decode(self, token: str, *, binding: str) -> dict[str, Any] | None:
        if not token:
            return None
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            mac, body = raw[:12], raw[12:]
            if not hmac.compare_digest(mac, self._mac(body, binding)):
                raise ValueError("mac")
            cursor = json.loads(body)
            if not isinstance(cursor, dict):
                raise ValueError("shape")
            return cursor
        except (ValueError, json.JSONDecodeError) as exc:
            raise InvalidArgument(
                [("page_token", "is not a token issued for this query")], reason="INVALID_PAGE_TOKEN"
            ) from exc
