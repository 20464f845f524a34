"""Alibaba Cloud SMS (Dysmsapi ``SendSms``, RPC style, HMAC-SHA1 signature) and its report push."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

from services.notify.adapters.providers._http import HttpClient, json_body, retryable_status
from services.notify.adapters.providers._receipts import (
    CHINA_STANDARD_TIME,
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
    sms_segments,
)

API_VERSION = "2017-05-25"
QUERY_PAGE_SIZE = 50  # QuerySendDetails' largest page
QUERY_DAYS = 30  # how far back QuerySendDetails keeps records
# Codes after which the same request may succeed later (flow control, Alibaba-side faults).
RETRYABLE_CODES = frozenset(
    {
        "isv.BUSINESS_LIMIT_CONTROL",
        "Throttling.User",
        "Throttling",
        "isp.SYSTEM_ERROR",
        "isp.RAM_PERMISSION_DENY_TEMP",
        "ServiceUnavailable",
        "InternalError",
    }
)


_UNRESERVED = re.compile(r"[A-Za-z0-9_.~-]*")


def percent_encode(value: str) -> str:
    """RFC 3986 encoding as Alibaba's RPC signature specifies (space → %20, ``~`` kept, ``*`` → %2A).
    Most parameters are plain ASCII words: those skip ``quote`` (a measurable share of a send)."""
    if _UNRESERVED.fullmatch(value):
        return value
    return quote(value, safe="-_.~")


def encoded_pairs(params: Mapping[str, str]) -> list[str]:
    """``key=value`` of every parameter, percent-encoded, sorted: the signature's canonical string
    and the form body are both made of these (encoded once per call, not twice)."""
    return [f"{percent_encode(k)}={percent_encode(v)}" for k, v in sorted(params.items())]


def rpc_signature(
    method: str, params: Mapping[str, str], access_key_secret: str, *, pairs: list[str] | None = None
) -> str:
    """Alibaba Cloud RPC signature (SignatureVersion 1.0, HMAC-SHA1) over the sorted parameters
    (``pairs``: their ``encoded_pairs`` when the caller has them already)."""
    canonical = "&".join(pairs if pairs is not None else encoded_pairs(params))
    # ``canonical`` holds only unreserved characters, %XX escapes, "=" and "&": encoding it again
    # is exactly these three replacements (``quote`` would walk it byte by byte).
    encoded = canonical.replace("%", "%25").replace("=", "%3D").replace("&", "%26")
    string_to_sign = f"{method}&{percent_encode('/')}&{encoded}"
    digest = hmac.new(f"{access_key_secret}&".encode(), string_to_sign.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def aliyun_phone(e164: str) -> str:
    """Alibaba wants mainland numbers bare (13800138000) and others with their country code, no ``+``."""
    digits = e164.removeprefix("+")
    return digits[2:] if e164.startswith("+86") else digits


def _record_time(value: object) -> datetime:
    """A query record's Beijing wall time as UTC; now when the record has none."""
    try:
        return china_time(value)
    except InvalidReceipt:
        return datetime.now(UTC)


class AliyunSms:
    channel = "sms"

    def __init__(
        self,
        name: str,
        *,
        endpoint: str,
        access_key_id: str,
        access_key_secret: str,
        sign_name: str,
        receipt_token: str,
        region_id: str = "cn-hangzhou",
        timeout_seconds: float = 10.0,
    ):
        self.name = name
        self.endpoint = endpoint.rstrip("/") + "/"
        self._key_id = access_key_id
        self._secret = access_key_secret
        self.sign_name = sign_name
        self._receipt_token = receipt_token
        self._region = region_id
        self._http = HttpClient(name, timeout_seconds)

    def _signed(self, action_params: Mapping[str, str], now: datetime | None) -> dict[str, str]:
        """The RPC common parameters around one action's, signed (``POST``, form-encoded)."""
        return self._signed_form(action_params, now)[0]

    def _signed_form(
        self, action_params: Mapping[str, str], now: datetime | None
    ) -> tuple[dict[str, str], str]:
        """``_signed``'s parameters and their form body, each value encoded once."""
        params = {
            "AccessKeyId": self._key_id,
            "Format": "JSON",
            "RegionId": self._region,
            "SignatureMethod": "HMAC-SHA1",
            "SignatureNonce": uuid.uuid4().hex,
            "SignatureVersion": "1.0",
            "Timestamp": (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "Version": API_VERSION,
            **action_params,
        }
        pairs = encoded_pairs(params)
        params["Signature"] = rpc_signature("POST", params, self._secret, pairs=pairs)
        return params, "&".join([*pairs, f"Signature={percent_encode(params['Signature'])}"])

    def signed_params(self, message: OutgoingMessage, *, now: datetime | None = None) -> dict[str, str]:
        return self._send_form(message, now)[0]

    def _send_form(self, message: OutgoingMessage, now: datetime | None = None) -> tuple[dict[str, str], str]:
        if not message.template_code:
            raise ProviderError("no SMS template code for this message", retryable=False, provider=self.name)
        return self._signed_form(
            {
                "Action": "SendSms",
                "OutId": message.message_id,
                "PhoneNumbers": aliyun_phone(message.address),
                "SignName": self.sign_name,
                "TemplateCode": message.template_code,
                "TemplateParam": json.dumps(dict(message.params), ensure_ascii=False, separators=(",", ":")),
            },
            now,
        )

    async def _call(self, params: Mapping[str, str], body: str | None = None) -> tuple[int, str, dict]:
        """``(HTTP status, Code, answer)`` of one signed RPC call (``body``: its form, when made)."""
        if body is None:
            body = "&".join(f"{percent_encode(k)}={percent_encode(v)}" for k, v in params.items())
        status, raw = await self._http.request(
            "POST",
            self.endpoint,
            data=body.encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        answer = json_body(self.name, status, raw)
        if not isinstance(answer, dict):
            answer = {}
        return status, str(answer.get("Code", "")), answer

    def _error(self, status: int, code: str) -> ProviderError:
        retryable = code in RETRYABLE_CODES or (not code and retryable_status(status))
        return ProviderError(code or f"HTTP {status}", retryable=retryable, provider=self.name)

    async def send(self, message: OutgoingMessage) -> SendResult:
        status, code, answer = await self._call(*self._send_form(message))
        if status == 200 and code == "OK" and answer.get("BizId"):
            return SendResult(self.name, str(answer["BizId"]), self._units(message))
        raise self._error(status, code)

    def _units(self, message: OutgoingMessage) -> int:
        # Alibaba counts the 【signature】 in the billed length.
        return sms_segments(f"【{self.sign_name}】{message.text}")

    async def lookup(self, message: OutgoingMessage, sent_since: datetime) -> LookupResult | None:
        """``QuerySendDetails``: the number's records of each Beijing day since ``sent_since``
        (the API keeps 30), paged, matched on ``OutId`` — notify's message id, set by ``send``.

        The records carry no ``BizId``, so a message found here is recorded without the provider's
        id; its delivery status comes from the record itself (``SendStatus`` 3 delivered, 2
        failed, 1 still waiting for the operator's report)."""
        today = datetime.now(CHINA_STANDARD_TIME).date()
        day = max(sent_since.astimezone(CHINA_STANDARD_TIME).date(), today - timedelta(days=QUERY_DAYS - 1))
        while day <= today:
            page = 1
            while True:
                status, code, answer = await self._call(
                    self._signed(
                        {
                            "Action": "QuerySendDetails",
                            "PhoneNumber": aliyun_phone(message.address),
                            "SendDate": day.strftime("%Y%m%d"),
                            "PageSize": str(QUERY_PAGE_SIZE),
                            "CurrentPage": str(page),
                        },
                        None,
                    )
                )
                if status != 200 or code != "OK":
                    raise self._error(status, code)
                records = (answer.get("SmsSendDetailDTOs") or {}).get("SmsSendDetailDTO") or []
                if not isinstance(records, list):
                    raise ProviderError("SmsSendDetailDTOs malformed", retryable=True, provider=self.name)
                for record in records:
                    if isinstance(record, dict) and record.get("OutId") == message.message_id:
                        return self._found(message, record)
                total = answer.get("TotalCount")
                if not records or not isinstance(total, int) or page * QUERY_PAGE_SIZE >= total:
                    break
                page += 1
            day += timedelta(days=1)
        return None

    def _found(self, message: OutgoingMessage, record: Mapping[str, object]) -> LookupResult:
        sent = SendResult(self.name, "", self._units(message))
        send_status = record.get("SendStatus")
        if send_status == 3:
            return LookupResult(sent, "delivered", None, _record_time(record.get("ReceiveDate")))
        if send_status == 2:
            reason = str(record.get("ErrCode") or "UNKNOWN")[:128]
            return LookupResult(sent, "failed", reason, _record_time(record.get("ReceiveDate")))
        return LookupResult(sent)

    def parse_receipt(
        self, headers: Mapping[str, str], body: bytes, query: Mapping[str, str] | None = None
    ) -> list[DeliveryReceipt]:
        """Alibaba's ``SmsReport`` push: a JSON array of reports, matched on ``biz_id``."""
        check_callback_token(headers, query, self.name, self._receipt_token)
        reports = load_json(body)
        if not isinstance(reports, list) or not reports:
            raise InvalidReceipt("SmsReport must be a non-empty JSON array")
        receipts = []
        for item in reports:
            if not isinstance(item, dict) or not isinstance(item.get("success"), bool):
                raise InvalidReceipt("SmsReport item malformed")
            delivered = item["success"]
            err_code = item.get("err_code")
            receipts.append(
                DeliveryReceipt(
                    provider=self.name,
                    provider_message_id=required_str(item, "biz_id"),
                    status="delivered" if delivered else "failed",
                    reason=None if delivered else (str(err_code)[:128] if err_code else "UNKNOWN"),
                    occurred_at=china_time(item.get("report_time")),
                )
            )
        return receipts

    receipt_ack = ("application/json", b'{"code":0,"msg":"\xe6\x88\x90\xe5\x8a\x9f"}')

    async def aclose(self) -> None:
        await self._http.aclose()
