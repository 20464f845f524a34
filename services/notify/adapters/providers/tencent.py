"""Tencent Cloud SMS (``SendSms`` 2021-01-11, TC3-HMAC-SHA256 signature) and its status callback."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from urllib.parse import urlsplit

from services.notify.adapters.providers._http import HttpClient, json_body, retryable_status
from services.notify.adapters.providers._receipts import (
    check_callback_token,
    china_time,
    load_json,
    required_str,
)
from services.notify.adapters.providers.base import (
    DeliveryReceipt,
    InvalidReceipt,
    LookupResult,
    OutgoingMessage,
    ProviderError,
    SendResult,
)

API_VERSION = "2021-01-11"
SERVICE = "sms"
CONTENT_TYPE = "application/json; charset=utf-8"
RETRYABLE_PREFIXES = (
    "InternalError",
    "RequestLimitExceeded",
    "ResourceUnavailable",
    "LimitExceeded.AppCountryOrRegionDailyLimit",
)
RETRYABLE_CODES = frozenset({"FailedOperation.InsufficientBalanceInSmsPackage"})
PULL_LIMIT = 100  # PullSmsSendStatusByPhoneNumber's largest page
PULL_DAYS = 7  # how far back it reaches
CLOCK_SLACK_S = 60  # around the claim's time: our clock and Tencent's may differ a little


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def tc3_authorization(
    *,
    secret_id: str,
    secret_key: str,
    host: str,
    path: str,
    payload: bytes,
    timestamp: int,
    service: str = SERVICE,
) -> str:
    """The ``Authorization`` header of Tencent Cloud API 3.0 (TC3-HMAC-SHA256) for a JSON POST."""
    signed_headers = "content-type;host"
    canonical_headers = f"content-type:{CONTENT_TYPE}\nhost:{host}\n"
    canonical_request = "\n".join(
        ["POST", path or "/", "", canonical_headers, signed_headers, hashlib.sha256(payload).hexdigest()]
    )
    date = datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")
    scope = f"{date}/{service}/tc3_request"
    string_to_sign = "\n".join(
        ["TC3-HMAC-SHA256", str(timestamp), scope, hashlib.sha256(canonical_request.encode()).hexdigest()]
    )
    signing_key = _hmac(_hmac(_hmac(f"TC3{secret_key}".encode(), date), service), "tc3_request")
    signature = hmac.new(signing_key, string_to_sign.encode(), hashlib.sha256).hexdigest()
    return (
        f"TC3-HMAC-SHA256 Credential={secret_id}/{scope}, "
        f"SignedHeaders={signed_headers}, Signature={signature}"
    )


def _payload(doc: dict) -> bytes:
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()


def _retryable(code: str) -> bool:
    return code in RETRYABLE_CODES or code.startswith(RETRYABLE_PREFIXES)


class TencentSms:
    channel = "sms"

    def __init__(
        self,
        name: str,
        *,
        endpoint: str,
        secret_id: str,
        secret_key: str,
        sms_sdk_app_id: str,
        sign_name: str,
        receipt_token: str,
        region: str = "ap-guangzhou",
        timeout_seconds: float = 10.0,
    ):
        self.name = name
        self.endpoint = endpoint.rstrip("/") + "/"
        self._secret_id = secret_id
        self._secret_key = secret_key
        self.sms_sdk_app_id = sms_sdk_app_id
        self.sign_name = sign_name
        self._receipt_token = receipt_token
        self._region = region
        self._http = HttpClient(name, timeout_seconds)

    def _headers(self, action: str, payload: bytes, timestamp: int | None) -> dict[str, str]:
        url = urlsplit(self.endpoint)
        ts = int(time.time()) if timestamp is None else timestamp
        return {
            "Authorization": tc3_authorization(
                secret_id=self._secret_id,
                secret_key=self._secret_key,
                host=url.netloc,
                path=url.path,
                payload=payload,
                timestamp=ts,
            ),
            "Content-Type": CONTENT_TYPE,
            "Host": url.netloc,
            "X-TC-Action": action,
            "X-TC-Timestamp": str(ts),
            "X-TC-Version": API_VERSION,
            "X-TC-Region": self._region,
        }

    def request_parts(
        self, message: OutgoingMessage, *, timestamp: int | None = None
    ) -> tuple[dict[str, str], bytes]:
        if not message.template_code:
            raise ProviderError("no SMS template id for this message", retryable=False, provider=self.name)
        payload = _payload(
            {
                "PhoneNumberSet": [message.address],
                "SmsSdkAppId": self.sms_sdk_app_id,
                "SignName": self.sign_name,
                "TemplateId": message.template_code,
                # Tencent templates take positional parameters: {1}, {2}, ... in the params' order.
                "TemplateParamSet": [str(v) for v in message.params.values()],
                "SessionContext": message.message_id,
            }
        )
        return self._headers("SendSms", payload, timestamp), payload

    async def _call(self, action: str, payload: bytes, headers: dict[str, str] | None = None) -> dict:
        """The ``Response`` object of one API 3.0 call; its ``Error`` is raised as :class:`ProviderError`."""
        headers = headers or self._headers(action, payload, None)
        status, raw = await self._http.request("POST", self.endpoint, data=payload, headers=headers)
        answer = json_body(self.name, status, raw)
        response = answer.get("Response") if isinstance(answer, dict) else None
        if not isinstance(response, dict):
            raise ProviderError(
                f"HTTP {status} without a Response",
                retryable=retryable_status(status) or status < 400,
                provider=self.name,
            )
        error = response.get("Error")
        if isinstance(error, dict):
            code = str(error.get("Code", "UnknownError"))
            raise ProviderError(code, retryable=_retryable(code), provider=self.name)
        return response

    async def send(self, message: OutgoingMessage) -> SendResult:
        headers, payload = self.request_parts(message)
        response = await self._call("SendSms", payload, headers)
        statuses = response.get("SendStatusSet")
        if not isinstance(statuses, list) or len(statuses) != 1 or not isinstance(statuses[0], dict):
            raise ProviderError("SendStatusSet malformed", retryable=True, provider=self.name)
        item = statuses[0]
        code = str(item.get("Code", ""))
        if code != "Ok" or not item.get("SerialNo"):
            raise ProviderError(code or "no status code", retryable=_retryable(code), provider=self.name)
        fee = item.get("Fee")
        return SendResult(self.name, str(item["SerialNo"]), fee if isinstance(fee, int) and fee >= 0 else 1)

    async def lookup(self, message: OutgoingMessage, sent_since: datetime) -> LookupResult | None:
        """``PullSmsSendStatusByPhoneNumber`` since ``sent_since``, matched on ``SessionContext`` —
        notify's message id, set by ``send``. The API lists only messages whose operator report has
        come back (``Offset`` is fixed at 0, at most 100 per call), so a message accepted but not
        yet reported reads as not found; the claim's lease (longer than a send takes) is what gives
        the report time to arrive. Tencent keeps 7 days."""
        begin = max(int(sent_since.timestamp()) - CLOCK_SLACK_S, int(time.time()) - PULL_DAYS * 86400)
        response = await self._call(
            "PullSmsSendStatusByPhoneNumber",
            _payload(
                {
                    "BeginTime": begin,
                    "Offset": 0,
                    "Limit": PULL_LIMIT,
                    "PhoneNumber": message.address,
                    "SmsSdkAppId": self.sms_sdk_app_id,
                    "EndTime": int(time.time()) + CLOCK_SLACK_S,
                }
            ),
        )
        statuses = response.get("PullSmsSendStatusSet")
        if not isinstance(statuses, list):
            raise ProviderError("PullSmsSendStatusSet malformed", retryable=True, provider=self.name)
        for item in statuses:
            if not isinstance(item, dict) or item.get("SessionContext") != message.message_id:
                continue
            serial = item.get("SerialNo")
            if not isinstance(serial, str) or not serial:
                raise ProviderError("status without a SerialNo", retryable=True, provider=self.name)
            delivered = item.get("ReportStatus") == "SUCCESS"
            received = item.get("UserReceiveTime")
            return LookupResult(
                SendResult(self.name, serial, 1),
                "delivered" if delivered else "failed",
                None if delivered else str(item.get("Description") or "FAIL")[:128],
                datetime.fromtimestamp(received, UTC) if isinstance(received, int) else datetime.now(UTC),
            )
        return None

    def parse_receipt(
        self, headers: Mapping[str, str], body: bytes, query: Mapping[str, str] | None = None
    ) -> list[DeliveryReceipt]:
        """Tencent's SMS status report push: a JSON array matched on ``sid`` (the SerialNo)."""
        check_callback_token(headers, query, self.name, self._receipt_token)
        reports = load_json(body)
        if not isinstance(reports, list) or not reports:
            raise InvalidReceipt("status report must be a non-empty JSON array")
        receipts = []
        for item in reports:
            if not isinstance(item, dict) or item.get("report_status") not in ("SUCCESS", "FAIL"):
                raise InvalidReceipt("status report item malformed")
            delivered = item["report_status"] == "SUCCESS"
            receipts.append(
                DeliveryReceipt(
                    provider=self.name,
                    provider_message_id=required_str(item, "sid"),
                    status="delivered" if delivered else "failed",
                    reason=None if delivered else str(item.get("errmsg") or "FAIL")[:128],
                    occurred_at=china_time(item.get("user_receive_time")),
                )
            )
        return receipts

    receipt_ack = ("application/json", b'{"result":0,"errmsg":"OK"}')

    async def aclose(self) -> None:
        await self._http.aclose()
