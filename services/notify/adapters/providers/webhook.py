"""A generic HTTPS webhook SMS gateway: HMAC-SHA256-signed JSON both ways, with replay protection."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from datetime import UTC, datetime

from services.notify.adapters.providers._http import HttpClient, json_body, retryable_status
from services.notify.adapters.providers._receipts import header, load_json, required_str
from services.notify.adapters.providers.base import (
    DeliveryReceipt,
    InvalidReceipt,
    OutgoingMessage,
    ProviderError,
    SendResult,
    sms_segments,
)

SIGNATURE_HEADER = "X-Peony-Signature"
TIMESTAMP_HEADER = "X-Peony-Timestamp"
REPLAY_WINDOW_SECONDS = 300


def webhook_signature(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=<hex HMAC-SHA256 of "<timestamp>." + body>``: the timestamp is signed too."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify_webhook(secret: str, headers: Mapping[str, str], body: bytes, *, now: float | None = None) -> None:
    """Raises :class:`InvalidReceipt` unless the body is signed with ``secret`` within the replay window."""
    timestamp = header(headers, TIMESTAMP_HEADER)
    signature = header(headers, SIGNATURE_HEADER)
    if not timestamp or not signature:
        raise InvalidReceipt("unsigned webhook")
    if not timestamp.isdigit() or abs((now or time.time()) - int(timestamp)) > REPLAY_WINDOW_SECONDS:
        raise InvalidReceipt("webhook timestamp outside the replay window")
    if not hmac.compare_digest(signature, webhook_signature(secret, timestamp, body)):
        raise InvalidReceipt("bad webhook signature")


class WebhookSms:
    channel = "sms"
    # The webhook contract: the receiver drops a repeated Idempotency-Key (notify's message id), so
    # an in-doubt send is re-sent safely (service_layer/dispatch.py).
    idempotent_submit = True

    def __init__(self, name: str, *, url: str, secret: str, timeout_seconds: float = 10.0):
        self.name = name
        self.url = url
        self._secret = secret
        self._http = HttpClient(name, timeout_seconds)

    async def send(self, message: OutgoingMessage) -> SendResult:
        body = json.dumps(
            {
                "id": message.message_id,
                "to": message.address,
                "text": message.text,
                "template_code": message.template_code,
                "params": dict(message.params),
                "locale": message.locale,
            },
            ensure_ascii=False,
            separators=(",", ":"),
        ).encode()
        ts = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            TIMESTAMP_HEADER: ts,
            SIGNATURE_HEADER: webhook_signature(self._secret, ts, body),
            "Idempotency-Key": message.message_id,
        }
        status, raw = await self._http.request("POST", self.url, data=body, headers=headers)
        answer = json_body(self.name, status, raw)
        if 200 <= status < 300 and isinstance(answer, dict) and answer.get("id"):
            segments = answer.get("segments")
            units = segments if isinstance(segments, int) and segments >= 0 else sms_segments(message.text)
            return SendResult(self.name, str(answer["id"]), units)
        code = answer.get("error") if isinstance(answer, dict) else None
        raise ProviderError(
            str(code or f"HTTP {status}")[:128], retryable=retryable_status(status), provider=self.name
        )

    def parse_receipt(
        self, headers: Mapping[str, str], body: bytes, query: Mapping[str, str] | None = None
    ) -> list[DeliveryReceipt]:
        """``{"receipts": [{"id", "status": "delivered"|"failed", "reason", "occurred_at"}]}``, signed."""
        verify_webhook(self._secret, headers, body)
        doc = load_json(body)
        items = doc.get("receipts") if isinstance(doc, dict) else None
        if not isinstance(items, list) or not items:
            raise InvalidReceipt("receipts must be a non-empty list")
        receipts = []
        for item in items:
            if not isinstance(item, dict) or item.get("status") not in ("delivered", "failed"):
                raise InvalidReceipt("receipt item malformed")
            try:
                occurred = datetime.fromisoformat(str(item.get("occurred_at")))
            except ValueError:
                raise InvalidReceipt("receipt occurred_at malformed") from None
            if occurred.tzinfo is None:
                raise InvalidReceipt("receipt occurred_at has no time zone")
            reason = item.get("reason")
            receipts.append(
                DeliveryReceipt(
                    provider=self.name,
                    provider_message_id=required_str(item, "id"),
                    status=item["status"],
                    reason=str(reason)[:128] if reason else None,
                    occurred_at=occurred.astimezone(UTC),
                )
            )
        return receipts

    receipt_ack = ("application/json", b'{"ok":true}')

    async def aclose(self) -> None:
        await self._http.aclose()
