"""WeChat template messages (official account) and subscribe messages (mini-program / 订阅通知),
with a cached ``access_token``; receipts are the ``TEMPLATESENDJOBFINISH`` and
``subscribe_msg_sent_event`` event pushes."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from datetime import UTC, datetime

from services.notify.adapters.providers._http import HttpClient, json_body, retryable_status
from services.notify.adapters.providers._receipts import MAX_RECEIPT_BYTES
from services.notify.adapters.providers.base import (
    DeliveryReceipt,
    InvalidReceipt,
    OutgoingMessage,
    ProviderError,
    SendResult,
)

TOKEN_EXPIRED = frozenset({40001, 42001, 40014})  # invalid / expired / not a valid token: refetch once
RETRYABLE_ERRCODES = frozenset({-1, 45009, 45047, 45011})  # system busy, API quota, rate limits
REFRESH_MARGIN_SECONDS = 300  # refetch this long before WeChat says the token expires


def wechat_signature(token: str, timestamp: str, nonce: str) -> str:
    """WeChat's callback ``signature``: sha1 of token, timestamp and nonce sorted and concatenated."""
    return hashlib.sha1("".join(sorted([token, timestamp, nonce])).encode()).hexdigest()  # noqa: S324


class WechatTemplate:
    """Official-account template messages (模板消息)."""

    channel = "wechat"
    SEND_PATH = "/cgi-bin/message/template/send"

    def __init__(
        self,
        name: str,
        *,
        endpoint: str,
        app_id: str,
        app_secret: str,
        callback_token: str,
        timeout_seconds: float = 10.0,
    ):
        self.name = name
        self.endpoint = endpoint.rstrip("/")
        self._app_id = app_id
        self._app_secret = app_secret
        self._callback_token = callback_token
        self._http = HttpClient(name, timeout_seconds)
        self._token: str | None = None
        self._token_expires_at = 0.0
        self._token_lock = asyncio.Lock()

    async def _access_token(self, *, stale: str | None = None) -> str:
        """The cached token; fetched once for all concurrent senders when missing, expiring or ``stale``."""
        async with self._token_lock:
            if self._token and self._token != stale and time.monotonic() < self._token_expires_at:
                return self._token
            status, raw = await self._http.request(
                "GET",
                f"{self.endpoint}/cgi-bin/token",
                params={"grant_type": "client_credential", "appid": self._app_id, "secret": self._app_secret},
            )
            answer = json_body(self.name, status, raw)
            token = answer.get("access_token") if isinstance(answer, dict) else None
            if not token:
                errcode = answer.get("errcode") if isinstance(answer, dict) else None
                retryable = errcode in RETRYABLE_ERRCODES or (errcode is None and retryable_status(status))
                raise ProviderError(f"token errcode {errcode}", retryable=retryable, provider=self.name)
            expires_in = answer.get("expires_in")
            lifetime = expires_in if isinstance(expires_in, int) and expires_in > 0 else 7200
            self._token = str(token)
            self._token_expires_at = time.monotonic() + max(lifetime - REFRESH_MARGIN_SECONDS, lifetime / 2)
            return self._token

    def payload(self, message: OutgoingMessage) -> dict:
        if not message.template_code:
            raise ProviderError("no WeChat template id for this message", retryable=False, provider=self.name)
        body: dict = {
            "touser": message.address,
            "template_id": message.template_code,
            "data": {key: {"value": str(value)} for key, value in message.params.items()},
            "client_msg_id": message.message_id,  # WeChat drops a repeat within its dedupe window
        }
        if message.link:
            body["url"] = message.link
        return body

    async def send(self, message: OutgoingMessage) -> SendResult:
        payload = self.payload(message)
        token = await self._access_token()
        for attempt in range(2):
            status, raw = await self._http.request(
                "POST",
                f"{self.endpoint}{self.SEND_PATH}",
                params={"access_token": token},
                json=payload,
            )
            answer = json_body(self.name, status, raw)
            errcode = answer.get("errcode", 0) if isinstance(answer, dict) else None
            if status == 200 and errcode == 0 and answer.get("msgid") is not None:
                return SendResult(self.name, str(answer["msgid"]), 0)
            if errcode in TOKEN_EXPIRED and attempt == 0:
                token = await self._access_token(stale=token)
                continue
            retryable = errcode in RETRYABLE_ERRCODES or (errcode in (None, 0) and retryable_status(status))
            raise ProviderError(f"errcode {errcode}", retryable=retryable, provider=self.name)
        raise ProviderError("access token refused twice", retryable=True, provider=self.name)

    def parse_receipt(
        self, headers: Mapping[str, str], body: bytes, query: Mapping[str, str] | None = None
    ) -> list[DeliveryReceipt]:
        """The ``TEMPLATESENDJOBFINISH`` event; ``signature``/``timestamp``/``nonce`` come in the query."""
        query = query or {}
        signature, timestamp, nonce = query.get("signature"), query.get("timestamp"), query.get("nonce")
        if not signature or not timestamp or not nonce:
            raise InvalidReceipt("unsigned WeChat push")
        if not hmac.compare_digest(signature, wechat_signature(self._callback_token, timestamp, nonce)):
            raise InvalidReceipt("bad WeChat signature")
        upper = body.upper()
        if len(body) > MAX_RECEIPT_BYTES or b"<!DOCTYPE" in upper or b"<!ENTITY" in upper:
            raise InvalidReceipt("WeChat push malformed")  # no DTDs or entities: nothing to expand
        try:
            root = ET.fromstring(body)  # noqa: S314 - signed by WeChat and DTD-free (checked above)
        except ET.ParseError:
            raise InvalidReceipt("WeChat push is not XML") from None
        created = root.findtext("CreateTime")
        if not created or not created.strip().isdigit():
            raise InvalidReceipt("WeChat push without CreateTime")
        at = datetime.fromtimestamp(int(created), UTC)
        event = root.findtext("Event")
        if event == "TEMPLATESENDJOBFINISH":
            results = [(root.findtext("MsgID"), root.findtext("Status"))]
        elif event == "subscribe_msg_sent_event":
            results = [
                (
                    item.findtext("MsgID"),
                    "success" if item.findtext("ErrorCode") == "0" else item.findtext("ErrorStatus"),
                )
                for item in root.iter("List")
            ]
        else:
            return []  # other events (follows, menu clicks) carry no delivery status
        receipts = []
        for msg_id, status in results:
            if not msg_id or not status:
                raise InvalidReceipt(f"{event} malformed")
            delivered = status == "success"
            receipts.append(
                DeliveryReceipt(
                    provider=self.name,
                    provider_message_id=msg_id.strip()[:128],
                    status="delivered" if delivered else "failed",
                    reason=None if delivered else status[:128],
                    occurred_at=at,
                )
            )
        return receipts

    receipt_ack = ("text/plain", b"success")

    async def aclose(self) -> None:
        await self._http.aclose()


class WechatSubscribe(WechatTemplate):
    """Subscribe messages (订阅消息) of a mini-program, or of an official account's 订阅通知: the same
    token and callback signature, its own send API; the member must have accepted the template
    (errcode 43101 otherwise, permanent). ``link`` is the mini-program page to open."""

    SEND_PATH = "/cgi-bin/message/subscribe/send"

    def payload(self, message: OutgoingMessage) -> dict:
        body = super().payload(message)
        body.pop("url", None)
        body.pop("client_msg_id", None)  # not part of the subscribe API
        if message.link:
            body["page"] = message.link
        body["lang"] = "en_US" if message.locale == "en" else "zh_CN"
        return body
