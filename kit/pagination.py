"""AIP-158 pagination: opaque, tamper-evident page tokens bound to the query that issued them."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from kit.errors import InvalidArgument

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500


def page_size(requested: int) -> int:
    if requested < 0:
        raise InvalidArgument([("page_size", "must not be negative")])
    return min(requested or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)


R = TypeVar("R")


class _ListRequest(Protocol):
    page_size: int
    page_token: str


@dataclass(frozen=True)
class Page:
    """One keyset page of a List call: ``size`` rows after ``after`` (None on the first page)."""

    size: int
    after: Any
    _tokens: PageTokens
    _binding: str

    def next_token(self, rows: Sequence[R], key: Callable[[R], Any]) -> str:
        """The token of the next page, continuing after ``key(last row)``; "" when this page was
        not full (it is the last)."""
        if len(rows) < self.size or not rows:
            return ""
        return self._tokens.encode({"after": key(rows[-1])}, binding=self._binding)


class PageTokens:
    """Encodes a keyset cursor. The MAC covers the tenant and the query's other parameters, so a
    token cannot be replayed against another tenant or a different filter."""

    def __init__(self, secret: bytes):
        self._secret = secret

    def _mac(self, body: bytes, binding: str) -> bytes:
        return hmac.new(self._secret, body + b"|" + binding.encode(), hashlib.sha256).digest()[:12]

    def page(self, request: _ListRequest, *, binding: str) -> Page:
        """The page a List request asks for (``page_size`` bounded, ``page_token`` checked against
        ``binding`` -- refused as INVALID_ARGUMENT before anything is read)."""
        cursor = self.decode(request.page_token, binding=binding) or {}
        return Page(page_size(request.page_size), cursor.get("after"), self, binding)

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
