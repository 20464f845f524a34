"""One aiohttp app that stands in for every HTTP provider notify talks to, plus the SMTP server.

Each configured provider is served under ``/{provider name}/`` with the paths of the real API
(``/wechat_oa/cgi-bin/token``, ``/fcm/v1/projects/{p}/messages:send``, ...), so notify's
clients only differ from production in their base URL. Credentials come from the same
providers configuration notify reads. The verification code here is written independently of
the clients in ``services.notify.adapters.providers`` on purpose: a signing bug in a client
must show up as a refused request, not be mirrored by the server.

Operator endpoints:

- ``GET /`` — an HTML page of what was "sent"; ``GET /_sim/messages[?provider=]`` — the same as JSON;
  ``DELETE /_sim/messages`` — forget them;
- ``GET /_sim/receipts`` — the receipts posted back (and the callback's answer);
- ``GET /_sim/stats`` — accepted sends, repeated sends of one notify message id, access-token
  requests and SMS send-record queries (``lookups``), per provider;
- ``POST /_sim/faults`` ``{"provider", "mode": "down"|"error"|"latency", "code", "latency_ms",
  "count", "receipt": "failed"}``; ``DELETE /_sim/faults`` clears them;
- ``POST /_sim/expire-tokens`` ``{"provider"}`` — every issued access token becomes expired.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import html
import itertools
import json
import secrets
import time
import uuid
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from email import message_from_bytes
from email.message import Message
from email.policy import default as default_policy
from typing import Any
from urllib.parse import quote

import aiohttp
import jwt
from aiohttp import web
from cryptography.hazmat.primitives import serialization

from services.notify.adapters.providers.config import ProvidersConfig

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
BEIJING = timezone(timedelta(hours=8))
ALIYUN_CLOCK_SKEW = timedelta(minutes=15)
TENCENT_CLOCK_SKEW_SECONDS = 300
WEBHOOK_CLOCK_SKEW_SECONDS = 300
TOKEN_LIFETIME_SECONDS = 7200
FCM_SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
MAX_RECORDED = 200_000
MAX_RECEIPT_BATCH = 100


@dataclass
class Fault:
    mode: str  # "down" | "error" | "latency" | "none" (receipt-only)
    code: str | None = None
    latency_ms: int = 0
    count: int | None = None  # applies to the next N requests, then clears; None = until cleared
    receipt: str = "delivered"  # the status of receipts for accepted messages


@dataclass
class SimState:
    # Bounded so a long benchmark cannot exhaust memory; the oldest entries go first.
    messages: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=MAX_RECORDED))
    receipts: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=MAX_RECORDED))
    sends: Counter[str] = field(default_factory=Counter)
    token_requests: Counter[str] = field(default_factory=Counter)
    faults: dict[str, Fault] = field(default_factory=dict)
    tokens: dict[str, tuple[str, float]] = field(default_factory=dict)  # token -> (provider, expires)
    nonces: set[str] = field(default_factory=set)
    seen_ids: set[tuple[str, str]] = field(default_factory=set)  # (provider, notify message id)
    duplicates: Counter[str] = field(default_factory=Counter)  # sends of a message id seen before
    # the webhook's answers by (provider, Idempotency-Key): a repeat gets the first answer, unsent
    idempotent: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    replays: Counter[str] = field(default_factory=Counter)
    # what each SMS provider's query API answers: (provider, number as sent) -> its records
    sms_records: dict[tuple[str, str], deque[dict[str, Any]]] = field(default_factory=dict)
    lookups: Counter[str] = field(default_factory=Counter)
    seq: itertools.count = field(default_factory=lambda: itertools.count(1))


def _now_iso() -> str:
    return datetime.now(UTC).isoformat()


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=lambda d: json.dumps(d, ensure_ascii=False))


class DevProviders:
    """The local provider servers. ``receipt_url`` may contain ``{provider}``; ``None`` posts none."""

    def __init__(
        self,
        config: ProvidersConfig,
        *,
        receipt_url: str | None = None,
        receipt_delay_seconds: float = 0.05,
    ):
        self.config = config
        self.receipt_url = receipt_url
        self.receipt_delay = receipt_delay_seconds
        self.state = SimState()
        self.app = self._build_app()
        self._runner: web.AppRunner | None = None
        self._smtp: Any = None
        self._session: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._pending: dict[str, list[dict[str, Any]]] = {}
        self.url = ""
        self.smtp_port = 0

    # --- lifecycle --------------------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0, smtp_port: int | None = 0) -> None:
        """Serve HTTP on ``host:port`` and, unless ``smtp_port`` is None, SMTP (0 = any free port)."""
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        bound = site._server.sockets[0].getsockname()  # type: ignore[union-attr]
        self.url = f"http://{host}:{bound[1]}"
        if smtp_port is not None:
            from services.notify.devproviders.smtp import start_smtp

            self._smtp = await start_smtp(self, host, smtp_port)
            self.smtp_port = self._smtp.port

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._smtp is not None:
            await self._smtp.stop()
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    # --- recording and faults ---------------------------------------------------------------------

    def settings(self, provider: str) -> Mapping[str, Any]:
        return self.config.providers[provider]

    def record(self, provider: str, request_info: Mapping[str, Any]) -> dict[str, Any]:
        entry = {
            "seq": next(self.state.seq),
            "provider": provider,
            "type": self.settings(provider)["type"],
            "received_at": _now_iso(),
            **request_info,
        }
        self.state.messages.append(entry)
        self.state.sends[provider] += 1
        message_id = entry.get("message_id")
        if message_id:
            if (provider, message_id) in self.state.seen_ids:
                self.state.duplicates[provider] += 1
            self.state.seen_ids.add((provider, message_id))
        return entry

    def keep_sms_record(self, provider: str, number: str, record: dict[str, Any]) -> None:
        """What the provider's query API (QuerySendDetails / PullSmsSendStatusByPhoneNumber) lists."""
        records = self.state.sms_records.get((provider, number))
        if records is None:
            records = self.state.sms_records[(provider, number)] = deque(maxlen=1000)
        records.append(record)

    def sms_records(self, provider: str, number: str) -> list[dict[str, Any]]:
        return list(self.state.sms_records.get((provider, number), ()))

    def take_fault(self, provider: str) -> Fault | None:
        fault = self.state.faults.get(provider)
        if fault is None:
            return None
        if fault.count is not None:
            fault.count -= 1
            if fault.count <= 0:
                del self.state.faults[provider]
        return fault

    async def apply_fault(self, provider: str) -> tuple[str | None, web.Response | None]:
        """``(error code, canned response)`` for the provider's next request, after any latency."""
        fault = self.take_fault(provider)
        if fault is None or fault.mode == "none":
            return None, None
        if fault.latency_ms:
            await asyncio.sleep(fault.latency_ms / 1000)
        if fault.mode == "down":
            return None, web.Response(status=503, text="503 Service Unavailable")
        if fault.mode == "error":
            return fault.code or "InternalError", None
        return None, None

    def receipt_status(self, provider: str) -> str:
        fault = self.state.faults.get(provider)
        return fault.receipt if fault else "delivered"

    # --- receipts back to notify ------------------------------------------------------------------

    def post_receipt(
        self,
        provider: str,
        body: bytes,
        headers: Mapping[str, str],
        query: Mapping[str, str] | None = None,
        *,
        delay: float | None = None,
    ) -> None:
        if not self.receipt_url:
            return
        url = self.receipt_url.replace("{provider}", provider)
        wait = self.receipt_delay if delay is None else delay
        self._spawn(self._post_receipt(provider, url, body, headers, query, wait))

    async def _post_receipt(
        self,
        provider: str,
        url: str,
        body: bytes,
        headers: Mapping[str, str],
        query: Mapping[str, str] | None,
        delay: float,
    ) -> None:
        if delay:
            await asyncio.sleep(delay)
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        entry: dict[str, Any] = {
            "provider": provider,
            "url": url,
            "posted_at": _now_iso(),
            "bytes": len(body),
        }
        try:
            async with self._session.post(url, data=body, headers=dict(headers), params=query) as resp:
                entry["status"] = resp.status
                entry["answer"] = (await resp.read())[:512].decode(errors="replace")
        except (aiohttp.ClientError, TimeoutError) as exc:
            entry["error"] = type(exc).__name__
        self.state.receipts.append(entry)

    def queue_report(self, provider: str, item: dict[str, Any]) -> None:
        """Batch SMS reports as Alibaba, Tencent and the webhook push them: one JSON array per
        ``receipt_delay`` (or per :data:`MAX_RECEIPT_BATCH` reports), not one callback per message."""
        if not self.receipt_url:
            return
        batch = self._pending.setdefault(provider, [])
        batch.append(item)
        if len(batch) == 1:
            self._spawn(self._flush_later(provider))
        elif len(batch) >= MAX_RECEIPT_BATCH:
            self._flush(provider, delay=0.0)

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)  # type: ignore[arg-type]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _flush_later(self, provider: str) -> None:
        await asyncio.sleep(self.receipt_delay)
        self._flush(provider, delay=0.0)

    def _flush(self, provider: str, *, delay: float) -> None:
        items = self._pending.pop(provider, [])
        if not items:
            return
        if self.settings(provider)["type"] == "webhook_sms":
            body = json.dumps({"receipts": items}).encode()
            ts = str(int(time.time()))
            headers = {
                "Content-Type": "application/json",
                "X-Peony-Timestamp": ts,
                "X-Peony-Signature": _webhook_sign(self.settings(provider)["secret"], ts, body),
            }
        else:  # aliyun_sms, tencent_sms: a bare JSON array behind the callback's Basic credentials
            body = json.dumps(items, ensure_ascii=False).encode()
            headers = self.basic_auth(provider)
        self.post_receipt(provider, body, headers, delay=delay)

    def basic_auth(self, provider: str) -> dict[str, str]:
        token = self.settings(provider)["receipt_token"]
        encoded = base64.b64encode(f"{provider}:{token}".encode()).decode()
        return {"Authorization": f"Basic {encoded}", "Content-Type": "application/json"}

    # --- the app ----------------------------------------------------------------------------------

    def _build_app(self) -> web.Application:
        app = web.Application(client_max_size=1 << 20)
        app.router.add_get("/", self.page)
        app.router.add_get("/healthz", self.healthz)
        app.router.add_get("/_sim/messages", self.list_messages)
        app.router.add_delete("/_sim/messages", self.clear_messages)
        app.router.add_get("/_sim/receipts", self.list_receipts)
        app.router.add_get("/_sim/stats", self.stats)
        app.router.add_post("/_sim/faults", self.set_fault)
        app.router.add_delete("/_sim/faults", self.clear_faults)
        app.router.add_post("/_sim/expire-tokens", self.expire_tokens)
        for name, settings in self.config.providers.items():
            kind = settings["type"]
            if kind == "aliyun_sms":
                app.router.add_route("*", f"/{name}/", self._bind(aliyun_send, name))
            elif kind == "tencent_sms":
                app.router.add_post(f"/{name}/", self._bind(tencent_api, name))
            elif kind == "webhook_sms":
                app.router.add_post(f"/{name}/send", self._bind(webhook_send, name))
            elif kind == "wechat_oa":
                app.router.add_get(f"/{name}/cgi-bin/token", self._bind(wechat_token, name))
                app.router.add_post(
                    f"/{name}/cgi-bin/message/template/send", self._bind(wechat_template_send, name)
                )
            elif kind == "wechat_subscribe":
                app.router.add_get(f"/{name}/cgi-bin/token", self._bind(wechat_token, name))
                app.router.add_post(
                    f"/{name}/cgi-bin/message/subscribe/send", self._bind(wechat_subscribe_send, name)
                )
            elif kind == "fcm":
                app.router.add_post(f"/{name}/token", self._bind(fcm_token, name))
                app.router.add_post(
                    f"/{name}/v1/projects/{{project}}/messages:send", self._bind(fcm_send, name)
                )
        return app

    def _bind(self, handler: Callable[..., Awaitable[web.StreamResponse]], name: str) -> Handler:
        async def bound(request: web.Request) -> web.StreamResponse:
            return await handler(self, name, request)

        return bound

    async def healthz(self, request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def list_messages(self, request: web.Request) -> web.Response:
        """Filters: ``provider``, ``message_id`` (notify's id as the provider saw it), ``since`` (a seq)."""
        provider = request.query.get("provider")
        message_id = request.query.get("message_id")
        since = request.query.get("since", "0")
        if not since.isdigit():
            return _json({"error": "since is a sequence number"}, 400)
        items = [
            m
            for m in self.state.messages
            if m["seq"] > int(since)
            and provider in (None, m["provider"])
            and message_id in (None, m.get("message_id"))
        ]
        return _json({"messages": items})

    async def clear_messages(self, request: web.Request) -> web.Response:
        self.state.messages.clear()
        self.state.receipts.clear()
        self.state.seen_ids.clear()
        self.state.duplicates.clear()
        self.state.idempotent.clear()
        self.state.replays.clear()
        self.state.sms_records.clear()
        self.state.lookups.clear()
        return _json({"ok": True})

    async def list_receipts(self, request: web.Request) -> web.Response:
        return _json({"receipts": list(self.state.receipts)})

    async def stats(self, request: web.Request) -> web.Response:
        return _json(
            {
                "sends": dict(self.state.sends),
                "duplicates": dict(self.state.duplicates),
                "idempotent_replays": dict(self.state.replays),
                "lookups": dict(self.state.lookups),
                "token_requests": dict(self.state.token_requests),
            }
        )

    async def set_fault(self, request: web.Request) -> web.Response:
        try:
            doc = await request.json()
            provider = doc["provider"]
            fault = Fault(
                mode=doc.get("mode", "none"),
                code=doc.get("code"),
                latency_ms=int(doc.get("latency_ms", 0)),
                count=int(doc["count"]) if doc.get("count") is not None else None,
                receipt=doc.get("receipt", "delivered"),
            )
        except (ValueError, KeyError, TypeError):
            return _json({"error": "expected {provider, mode, code?, latency_ms?, count?, receipt?}"}, 400)
        if provider not in self.config.providers or fault.mode not in ("down", "error", "latency", "none"):
            return _json({"error": "unknown provider or mode"}, 400)
        if fault.receipt not in ("delivered", "failed"):
            return _json({"error": "receipt is delivered or failed"}, 400)
        self.state.faults[provider] = fault
        return _json({"ok": True})

    async def clear_faults(self, request: web.Request) -> web.Response:
        self.state.faults.clear()
        return _json({"ok": True})

    async def expire_tokens(self, request: web.Request) -> web.Response:
        try:
            provider = (await request.json())["provider"]
        except (ValueError, KeyError, TypeError):
            return _json({"error": "expected {provider}"}, 400)
        for token, (owner, _) in list(self.state.tokens.items()):
            if owner == provider:
                self.state.tokens[token] = (owner, 0.0)
        return _json({"ok": True})

    async def page(self, request: web.Request) -> web.Response:
        rows = []
        for m in list(reversed(self.state.messages))[:500]:
            rows.append(
                "<tr>"
                + "".join(
                    f"<td>{html.escape(str(v))}</td>"
                    for v in (
                        m["seq"],
                        m["received_at"],
                        m["provider"],
                        m.get("to", ""),
                        m.get("text") or json.dumps(m.get("params", {}), ensure_ascii=False),
                        m.get("provider_message_id", ""),
                    )
                )
                + "</tr>"
            )
        body = (
            "<!doctype html><meta charset=utf-8><title>Peony dev providers</title>"
            "<meta http-equiv=refresh content=5>"
            "<h1>Messages the local providers accepted</h1>"
            f"<p>{len(self.state.messages)} messages · JSON at <a href=/_sim/messages>/_sim/messages</a>"
            " · receipts at <a href=/_sim/receipts>/_sim/receipts</a></p>"
            "<table border=1 cellpadding=4><tr><th>#</th><th>received</th><th>provider</th><th>to</th>"
            "<th>text / params</th><th>provider id</th></tr>" + "".join(rows) + "</table>"
        )
        return web.Response(text=body, content_type="text/html")


# --- Alibaba Cloud SMS ------------------------------------------------------------------------------


def _aliyun_error(code: str, message: str, status: int = 400) -> web.Response:
    return _json({"Code": code, "Message": message, "RequestId": str(uuid.uuid4()).upper()}, status)


def _aliyun_encode(value: str) -> str:
    return quote(value, safe="~")


async def aliyun_send(sim: DevProviders, name: str, request: web.Request) -> web.Response:
    s = sim.settings(name)
    params = dict(request.query)
    if request.method == "POST":
        params.update({k: v for k, v in (await request.post()).items() if isinstance(v, str)})
    signature = params.pop("Signature", None)
    for required in ("AccessKeyId", "SignatureMethod", "SignatureNonce", "SignatureVersion", "Timestamp"):
        if not params.get(required):
            return _aliyun_error("MissingParameter", f"{required} is mandatory for this action.")
    if params["AccessKeyId"] != s["access_key_id"]:
        return _aliyun_error("InvalidAccessKeyId.NotFound", "Specified access key is not found.", 404)
    if params["SignatureMethod"] != "HMAC-SHA1" or params["SignatureVersion"] != "1.0":
        return _aliyun_error("InvalidParameter", "Unsupported signature method or version.")
    canonical = "&".join(f"{_aliyun_encode(k)}={_aliyun_encode(v)}" for k, v in sorted(params.items()))
    to_sign = f"{request.method}&%2F&{_aliyun_encode(canonical)}"
    key = (s["access_key_secret"] + "&").encode()
    expected = base64.b64encode(hmac.new(key, to_sign.encode(), hashlib.sha1).digest()).decode()
    if not signature or not hmac.compare_digest(signature, expected):
        return _aliyun_error(
            "SignatureDoesNotMatch", "Specified signature is not matched with our calculation."
        )
    try:
        ts = datetime.strptime(params["Timestamp"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        return _aliyun_error("InvalidTimeStamp.Format", "Specified time stamp is not valid.")
    if abs(datetime.now(UTC) - ts) > ALIYUN_CLOCK_SKEW:
        return _aliyun_error("InvalidTimeStamp.Expired", "Specified time stamp or date value is expired.")
    nonce_key = f"{name}:{params['SignatureNonce']}"
    if nonce_key in sim.state.nonces:
        return _aliyun_error("SignatureNonceUsed", "Specified signature nonce was used already.")
    sim.state.nonces.add(nonce_key)
    if params.get("Action") not in ("SendSms", "QuerySendDetails") or params.get("Version") != "2017-05-25":
        return _aliyun_error("InvalidAction.NotFound", "Specified api is not found.", 404)
    error_code, canned = await sim.apply_fault(name)
    if canned is not None:
        return canned
    if params["Action"] == "QuerySendDetails":
        return aliyun_query(sim, name, params, error_code)
    phone = params.get("PhoneNumbers", "")
    template_param = params.get("TemplateParam", "{}")
    if error_code:
        code = error_code
    elif not phone.isdigit() or not 6 <= len(phone) <= 15:
        code = "isv.MOBILE_NUMBER_ILLEGAL"
    elif params.get("SignName") != s["sign_name"]:
        code = "isv.SMS_SIGNATURE_ILLEGAL"
    elif not params.get("TemplateCode"):
        code = "isv.SMS_TEMPLATE_ILLEGAL"
    else:
        try:
            parsed = json.loads(template_param)
            code = "OK" if isinstance(parsed, dict) else "isv.INVALID_JSON_PARAM"
        except ValueError:
            code = "isv.INVALID_JSON_PARAM"
    if code != "OK":
        return _aliyun_error(code, code, 200)
    biz_id = f"{secrets.randbelow(10**15):015d}^0"
    sent_at = datetime.now(BEIJING)
    sim.record(
        name,
        {
            "method": request.method,
            "path": request.path,
            "headers": dict(request.headers),
            "params": {**params, "Signature": signature},
            "to": phone,
            "message_id": params.get("OutId"),
            "template_code": params["TemplateCode"],
            "template_params": json.loads(template_param),
            "provider_message_id": biz_id,
        },
    )
    status = sim.receipt_status(name)
    sim.keep_sms_record(
        name,
        phone,
        {
            "PhoneNum": phone,
            "SendStatus": 3 if status == "delivered" else 2,
            "ErrCode": "DELIVERED" if status == "delivered" else "MK:0001",
            "TemplateCode": params["TemplateCode"],
            "Content": f"【{params['SignName']}】{template_param}",
            "SendDate": sent_at.strftime("%Y-%m-%d %H:%M:%S"),
            "ReceiveDate": sent_at.strftime("%Y-%m-%d %H:%M:%S"),
            "OutId": params.get("OutId", ""),
        },
    )
    sim.queue_report(
        name,
        {
            "phone_number": phone,
            "send_time": sent_at.strftime("%Y-%m-%d %H:%M:%S"),
            "report_time": datetime.now(BEIJING).strftime("%Y-%m-%d %H:%M:%S"),
            "success": status == "delivered",
            "err_code": "DELIVERED" if status == "delivered" else "MK:0001",
            "err_msg": "用户接收成功" if status == "delivered" else "用户接收失败",
            "sms_size": "1",
            "biz_id": biz_id,
            "out_id": params.get("OutId", ""),
        },
    )
    return _json({"Code": "OK", "Message": "OK", "BizId": biz_id, "RequestId": str(uuid.uuid4()).upper()})


def aliyun_query(
    sim: DevProviders, name: str, params: Mapping[str, str], error_code: str | None
) -> web.Response:
    """``QuerySendDetails``: one number's records of one day (``SendDate`` yyyyMMdd), paged."""
    sim.state.lookups[name] += 1
    if error_code:
        return _aliyun_error(error_code, error_code, 200)
    phone, day = params.get("PhoneNumber", ""), params.get("SendDate", "")
    size, page = params.get("PageSize", ""), params.get("CurrentPage", "1")
    if not phone.isdigit() or not day.isdigit() or len(day) != 8:
        return _aliyun_error(
            "isv.INVALID_PARAMETERS", "PhoneNumber and SendDate (yyyyMMdd) are required.", 200
        )
    if not size.isdigit() or not 1 <= int(size) <= 50 or not page.isdigit() or int(page) < 1:
        return _aliyun_error("isv.INVALID_PARAMETERS", "PageSize is 1-50, CurrentPage from 1.", 200)
    dashed = f"{day[:4]}-{day[4:6]}-{day[6:]}"
    records = [r for r in sim.sms_records(name, phone) if r["SendDate"].startswith(dashed)]
    first = (int(page) - 1) * int(size)
    return _json(
        {
            "Code": "OK",
            "Message": "OK",
            "RequestId": str(uuid.uuid4()).upper(),
            "TotalCount": len(records),
            "SmsSendDetailDTOs": {"SmsSendDetailDTO": records[first : first + int(size)]},
        }
    )


# --- Tencent Cloud SMS ------------------------------------------------------------------------------


def _tencent_error(code: str, message: str) -> web.Response:
    # Tencent answers API errors with HTTP 200 and Response.Error.
    return _json({"Response": {"Error": {"Code": code, "Message": message}, "RequestId": str(uuid.uuid4())}})


def _tc3_parse(header_value: str) -> dict[str, str] | None:
    algorithm, _, rest = header_value.partition(" ")
    if algorithm != "TC3-HMAC-SHA256":
        return None
    parts = {}
    for item in rest.split(","):
        key, sep, value = item.strip().partition("=")
        if not sep:
            return None
        parts[key] = value
    return parts if {"Credential", "SignedHeaders", "Signature"} <= parts.keys() else None


async def tencent_api(sim: DevProviders, name: str, request: web.Request) -> web.Response:
    """API 3.0: the TC3 signature checked for every action, then ``SendSms`` or
    ``PullSmsSendStatusByPhoneNumber``."""
    payload = await request.read()
    refused = _tc3_refusal(sim, name, request, payload)
    if refused is not None:
        return refused
    action = request.headers.get("X-TC-Action")
    if action not in ("SendSms", "PullSmsSendStatusByPhoneNumber") or (
        request.headers.get("X-TC-Version") != "2021-01-11"
    ):
        return _tencent_error("InvalidAction", "The action or version is not valid.")
    if action == "PullSmsSendStatusByPhoneNumber":
        return await tencent_pull_status(sim, name, payload)
    return await tencent_send(sim, name, request, payload)


def _tc3_refusal(sim: DevProviders, name: str, request: web.Request, payload: bytes) -> web.Response | None:
    s = sim.settings(name)
    auth = _tc3_parse(request.headers.get("Authorization", ""))
    if auth is None:
        return _tencent_error(
            "AuthFailure.SignatureFailure", "The provided credentials could not be validated."
        )
    secret_id, _, scope = auth["Credential"].partition("/")
    date, _, rest = scope.partition("/")
    if secret_id != s["secret_id"]:
        return _tencent_error("AuthFailure.SecretIdNotFound", "The SecretId is not found.")
    timestamp = request.headers.get("X-TC-Timestamp", "")
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > TENCENT_CLOCK_SKEW_SECONDS:
        return _tencent_error("AuthFailure.SignatureExpire", "Signature expired.")
    if rest != "sms/tc3_request" or date != datetime.fromtimestamp(int(timestamp), UTC).strftime("%Y-%m-%d"):
        return _tencent_error("AuthFailure.SignatureFailure", "Credential scope mismatch.")
    signed = auth["SignedHeaders"].split(";")
    if "host" not in signed or "content-type" not in signed:
        return _tencent_error("AuthFailure.SignatureFailure", "content-type and host must be signed.")
    canonical_headers = "".join(f"{h}:{request.headers.get(h, '').strip().lower()}\n" for h in signed)
    canonical_request = "\n".join(
        [
            request.method,
            request.path,
            request.query_string,
            canonical_headers,
            auth["SignedHeaders"],
            hashlib.sha256(payload).hexdigest(),
        ]
    )
    to_sign = "\n".join(
        ["TC3-HMAC-SHA256", timestamp, scope, hashlib.sha256(canonical_request.encode()).hexdigest()]
    )
    k = hmac.new(("TC3" + s["secret_key"]).encode(), date.encode(), hashlib.sha256).digest()
    k = hmac.new(k, b"sms", hashlib.sha256).digest()
    k = hmac.new(k, b"tc3_request", hashlib.sha256).digest()
    expected = hmac.new(k, to_sign.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(auth["Signature"], expected):
        return _tencent_error(
            "AuthFailure.SignatureFailure", "The provided credentials could not be validated."
        )
    return None


async def tencent_pull_status(sim: DevProviders, name: str, payload: bytes) -> web.Response:
    """``PullSmsSendStatusByPhoneNumber``: the reported statuses of one number in [BeginTime, EndTime]."""
    sim.state.lookups[name] += 1
    try:
        body = json.loads(payload)
        begin, limit, phone = body["BeginTime"], body["Limit"], body["PhoneNumber"]
        end = body.get("EndTime", int(time.time()))
        assert all(isinstance(v, int) for v in (begin, limit, end)) and isinstance(phone, str)
        assert body.get("Offset") == 0 and 1 <= limit <= 100
    except (ValueError, KeyError, AssertionError, TypeError):
        return _tencent_error(
            "InvalidParameter", "BeginTime, Offset 0, Limit 1-100 and PhoneNumber are required."
        )
    if body.get("SmsSdkAppId") != sim.settings(name)["sms_sdk_app_id"]:
        return _tencent_error("InvalidParameterValue.SdkAppIdNotExist", "SdkAppId not exist.")
    error_code, canned = await sim.apply_fault(name)
    if canned is not None:
        return canned
    if error_code:
        return _tencent_error(error_code, error_code)
    found = [r for r in sim.sms_records(name, phone) if begin <= r["UserReceiveTime"] <= end][:limit]
    return _json({"Response": {"PullSmsSendStatusSet": found, "RequestId": str(uuid.uuid4())}})


async def tencent_send(sim: DevProviders, name: str, request: web.Request, payload: bytes) -> web.Response:
    s = sim.settings(name)
    try:
        body = json.loads(payload)
        phones = body["PhoneNumberSet"]
        assert isinstance(phones, list) and phones
    except (ValueError, KeyError, AssertionError, TypeError):
        return _tencent_error("InvalidParameter", "PhoneNumberSet is required.")
    if body.get("SmsSdkAppId") != s["sms_sdk_app_id"]:
        return _tencent_error("InvalidParameterValue.SdkAppIdNotExist", "SdkAppId not exist.")
    if body.get("SignName") != s["sign_name"]:
        return _tencent_error("FailedOperation.SignatureIncorrectOrUnapproved", "signature unapproved.")
    if not body.get("TemplateId"):
        return _tencent_error("FailedOperation.TemplateIncorrectOrUnapproved", "template unapproved.")
    error_code, canned = await sim.apply_fault(name)
    if canned is not None:
        return canned
    if error_code and not error_code.startswith(("FailedOperation.Phone", "InvalidParameterValue.Incorrect")):
        return _tencent_error(error_code, error_code)
    results = []
    for phone in phones:
        valid = isinstance(phone, str) and phone.startswith("+") and phone[1:].isdigit()
        code = error_code or ("Ok" if valid else "InvalidParameterValue.IncorrectPhoneNumber")
        serial = f"2433:{secrets.randbelow(10**18):018d}" if code == "Ok" else ""
        results.append(
            {
                "SerialNo": serial,
                "PhoneNumber": phone,
                "Fee": 1 if code == "Ok" else 0,
                "SessionContext": body.get("SessionContext", ""),
                "Code": code,
                "Message": "send success" if code == "Ok" else code,
                "IsoCode": "CN" if str(phone).startswith("+86") else "",
            }
        )
        if code != "Ok":
            continue
        sim.record(
            name,
            {
                "method": request.method,
                "path": request.path,
                "headers": dict(request.headers),
                "body": body,
                "to": phone,
                "message_id": body.get("SessionContext"),
                "template_code": body["TemplateId"],
                "template_params": body.get("TemplateParamSet", []),
                "provider_message_id": serial,
            },
        )
        delivered = sim.receipt_status(name) == "delivered"
        sim.keep_sms_record(
            name,
            phone,
            {
                "UserReceiveTime": int(time.time()),
                "CountryCode": "86",
                "SubscriberNumber": phone.removeprefix("+86"),
                "PhoneNumber": phone,
                "SerialNo": serial,
                "ReportStatus": "SUCCESS" if delivered else "FAIL",
                "Description": "DELIVRD" if delivered else "UNDELIV",
                "SessionContext": body.get("SessionContext", ""),
            },
        )
        sim.queue_report(
            name,
            {
                "user_receive_time": datetime.now(BEIJING).strftime("%Y-%m-%d %H:%M:%S"),
                "nationcode": "86",
                "mobile": phone.removeprefix("+86"),
                "report_status": "SUCCESS" if delivered else "FAIL",
                "errmsg": "DELIVRD" if delivered else "UNDELIV",
                "description": "用户短信送达成功" if delivered else "用户短信未送达",
                "sid": serial,
                "ext": {"SessionContext": body.get("SessionContext", "")},
            },
        )
    return _json({"Response": {"SendStatusSet": results, "RequestId": str(uuid.uuid4())}})


# --- generic webhook SMS ----------------------------------------------------------------------------


def _webhook_sign(secret: str, timestamp: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def _segments(text: str) -> int:
    # UCS-2 when any character is outside ASCII (close enough for a simulator's answer)
    if all(ord(c) < 128 for c in text):
        return 1 if len(text) <= 160 else -(-len(text) // 153)
    units = len(text.encode("utf-16-le")) // 2
    return 1 if units <= 70 else -(-units // 67)


async def webhook_send(sim: DevProviders, name: str, request: web.Request) -> web.Response:
    s = sim.settings(name)
    body = await request.read()
    timestamp = request.headers.get("X-Peony-Timestamp", "")
    signature = request.headers.get("X-Peony-Signature", "")
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > WEBHOOK_CLOCK_SKEW_SECONDS:
        return _json({"error": "stale_timestamp"}, 401)
    if not hmac.compare_digest(signature, _webhook_sign(s["secret"], timestamp, body)):
        return _json({"error": "bad_signature"}, 401)
    error_code, canned = await sim.apply_fault(name)
    if canned is not None:
        return canned
    if error_code:
        return _json({"error": error_code}, 422)
    try:
        doc = json.loads(body)
        to, text, client_id = doc["to"], doc["text"], doc["id"]
        assert isinstance(to, str) and isinstance(text, str) and isinstance(client_id, str)
    except (ValueError, KeyError, AssertionError, TypeError):
        return _json({"error": "invalid_request"}, 400)
    if not (to.startswith("+") and to[1:].isdigit()):
        return _json({"error": "invalid_number"}, 422)
    key = (name, request.headers.get("Idempotency-Key", ""))
    if key[1] and key in sim.state.idempotent:  # a repeat: the first answer, nothing sent again
        sim.state.replays[name] += 1
        return _json(sim.state.idempotent[key])
    provider_id = f"wh-{uuid.uuid4().hex}"
    sim.record(
        name,
        {
            "method": request.method,
            "path": request.path,
            "headers": dict(request.headers),
            "body": doc,
            "to": to,
            "text": text,
            "message_id": client_id,
            "provider_message_id": provider_id,
        },
    )
    status = sim.receipt_status(name)
    sim.queue_report(
        name,
        {
            "id": provider_id,
            "status": status,
            "reason": None if status == "delivered" else "UNDELIVERABLE",
            "occurred_at": _now_iso(),
        },
    )
    answer = {"id": provider_id, "segments": _segments(text)}
    if key[1]:
        sim.state.idempotent[key] = answer
    return _json(answer)


# --- WeChat official account ------------------------------------------------------------------------


def _issue_token(sim: DevProviders, name: str, lifetime: int) -> str:
    token = secrets.token_urlsafe(48)
    sim.state.tokens[token] = (name, time.monotonic() + lifetime)
    sim.state.token_requests[name] += 1
    return token


def _token_state(sim: DevProviders, name: str, token: str | None) -> str:
    """ "ok", "expired" or "invalid" for a bearer/access token presented to provider ``name``."""
    found = sim.state.tokens.get(token or "")
    if found is None or found[0] != name:
        return "invalid"
    return "ok" if time.monotonic() < found[1] else "expired"


async def wechat_token(sim: DevProviders, name: str, request: web.Request) -> web.Response:
    s = sim.settings(name)
    q = request.query
    if q.get("grant_type") != "client_credential":
        return _json({"errcode": 40002, "errmsg": "invalid grant_type"})
    if q.get("appid") != s["app_id"]:
        return _json({"errcode": 40013, "errmsg": "invalid appid"})
    if not hmac.compare_digest(q.get("secret", ""), s["app_secret"]):
        return _json({"errcode": 40125, "errmsg": "invalid appsecret"})
    error_code, canned = await sim.apply_fault(name)
    if canned is not None:
        return canned
    if error_code:
        return _json(
            {"errcode": int(error_code) if error_code.lstrip("-").isdigit() else -1, "errmsg": "fault"}
        )
    return _json({"access_token": _issue_token(sim, name, TOKEN_LIFETIME_SECONDS), "expires_in": 7200})


async def wechat_template_send(sim: DevProviders, name: str, request: web.Request) -> web.Response:
    return await _wechat_send(sim, name, request, subscribe=False)


async def wechat_subscribe_send(sim: DevProviders, name: str, request: web.Request) -> web.Response:
    return await _wechat_send(sim, name, request, subscribe=True)


def _wechat_event(
    app_id: str, openid: str, msg_id: int, template_id: str, delivered: bool, subscribe: bool
) -> bytes:
    head = (
        f"<xml><ToUserName><![CDATA[gh_{app_id}]]></ToUserName>"
        f"<FromUserName><![CDATA[{openid}]]></FromUserName>"
        f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
    )
    if subscribe:
        status = "<ErrorCode>0</ErrorCode><ErrorStatus><![CDATA[success]]></ErrorStatus>"
        if not delivered:
            status = "<ErrorCode>10005</ErrorCode><ErrorStatus><![CDATA[failed:user block]]></ErrorStatus>"
        return (
            head + "<Event><![CDATA[subscribe_msg_sent_event]]></Event><SubscribeMsgSentEvent><List>"
            f"<TemplateId><![CDATA[{template_id}]]></TemplateId><MsgID>{msg_id}</MsgID>{status}"
            "</List></SubscribeMsgSentEvent></xml>"
        ).encode()
    return (
        head + "<Event><![CDATA[TEMPLATESENDJOBFINISH]]></Event>"
        f"<MsgID>{msg_id}</MsgID>"
        f"<Status><![CDATA[{'success' if delivered else 'failed:user block'}]]></Status></xml>"
    ).encode()


async def _wechat_send(
    sim: DevProviders, name: str, request: web.Request, *, subscribe: bool
) -> web.Response:
    s = sim.settings(name)
    state = _token_state(sim, name, request.query.get("access_token"))
    if state == "invalid":
        return _json(
            {"errcode": 40001, "errmsg": "invalid credential, access_token is invalid or not latest"}
        )
    if state == "expired":
        return _json({"errcode": 42001, "errmsg": "access_token expired"})
    try:
        doc = await request.json()
        assert isinstance(doc, dict)
    except (ValueError, AssertionError):
        return _json({"errcode": 47001, "errmsg": "data format error"})
    if not isinstance(doc.get("touser"), str) or not doc["touser"]:
        return _json({"errcode": 40003, "errmsg": "invalid openid"})
    if not isinstance(doc.get("template_id"), str) or not doc["template_id"]:
        return _json({"errcode": 40037, "errmsg": "invalid template_id"})
    data = doc.get("data")
    if not isinstance(data, dict) or not all(isinstance(v, dict) and "value" in v for v in data.values()):
        return _json({"errcode": 47001, "errmsg": "data format error"})
    if subscribe and doc.get("lang", "zh_CN") not in ("zh_CN", "en_US", "zh_HK", "zh_TW"):
        return _json({"errcode": 47001, "errmsg": "data format error: lang"})
    error_code, canned = await sim.apply_fault(name)
    if canned is not None:
        return canned
    if error_code:
        code = int(error_code) if error_code.lstrip("-").isdigit() else -1
        return _json({"errcode": code, "errmsg": "fault"})
    msg_id = secrets.randbelow(10**12)
    sim.record(
        name,
        {
            "method": request.method,
            "path": request.path,
            "headers": dict(request.headers),
            "body": doc,
            "to": doc["touser"],
            "message_id": doc.get("client_msg_id"),
            "page": doc.get("page") if subscribe else doc.get("url"),
            "template_code": doc["template_id"],
            "template_params": {k: v["value"] for k, v in data.items()},
            "provider_message_id": str(msg_id),
        },
    )
    delivered = sim.receipt_status(name) == "delivered"
    xml = _wechat_event(s["app_id"], doc["touser"], msg_id, doc["template_id"], delivered, subscribe)
    ts, nonce = str(int(time.time())), secrets.token_hex(8)
    signature = hashlib.sha1("".join(sorted([s["callback_token"], ts, nonce])).encode()).hexdigest()  # noqa: S324
    sim.post_receipt(
        name,
        xml,
        {"Content-Type": "text/xml"},
        {"signature": signature, "timestamp": ts, "nonce": nonce, "openid": doc["touser"]},
    )
    return _json({"errcode": 0, "errmsg": "ok", "msgid": msg_id})


# --- FCM HTTP v1 ------------------------------------------------------------------------------------


def _fcm_error(status: int, code: str, message: str) -> web.Response:
    return _json({"error": {"code": status, "message": message, "status": code}}, status)


async def fcm_token(sim: DevProviders, name: str, request: web.Request) -> web.Response:
    s = sim.settings(name)
    account = s["service_account"]
    form = await request.post()
    if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
        return _json({"error": "unsupported_grant_type", "error_description": "Invalid grant_type"}, 400)
    assertion = form.get("assertion")
    public_key = serialization.load_pem_private_key(account["private_key"].encode(), None).public_key()
    try:
        claims = jwt.decode(
            str(assertion),
            public_key,  # type: ignore[arg-type]
            algorithms=["RS256"],
            audience=s["token_uri"],
            issuer=account["client_email"],
            options={"require": ["iss", "aud", "iat", "exp", "scope"]},
        )
    except jwt.InvalidSignatureError:
        return _json({"error": "invalid_grant", "error_description": "Invalid JWT Signature."}, 400)
    except jwt.PyJWTError as exc:
        return _json(
            {"error": "invalid_grant", "error_description": f"Invalid JWT: {type(exc).__name__}"}, 400
        )
    if claims["exp"] - claims["iat"] > 3600 or FCM_SCOPE not in str(claims["scope"]).split():
        return _json({"error": "invalid_scope", "error_description": "Invalid scope or lifetime."}, 400)
    # Google's token endpoint is another service: faults set for "fcm" apply to messages:send only.
    return _json({"access_token": _issue_token(sim, name, 3599), "expires_in": 3599, "token_type": "Bearer"})


async def fcm_send(sim: DevProviders, name: str, request: web.Request) -> web.Response:
    s = sim.settings(name)
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme != "Bearer" or _token_state(sim, name, token) != "ok":
        return _fcm_error(401, "UNAUTHENTICATED", "Request had invalid authentication credentials.")
    project = request.match_info["project"]
    if project != s["project_id"]:
        return _fcm_error(403, "PERMISSION_DENIED", "Permission denied on the project.")
    try:
        doc = await request.json()
        message = doc["message"]
        device = message["token"]
        assert isinstance(device, str) and device
    except (ValueError, KeyError, AssertionError, TypeError):
        return _fcm_error(
            400, "INVALID_ARGUMENT", "The registration token is not a valid FCM registration token"
        )
    error_code, canned = await sim.apply_fault(name)
    if canned is not None:
        return canned
    if error_code:
        status = {"UNREGISTERED": 404, "QUOTA_EXCEEDED": 429, "UNAVAILABLE": 503, "INTERNAL": 500}.get(
            error_code, 400
        )
        return _fcm_error(status, error_code, error_code)
    msg_name = f"projects/{project}/messages/0:{int(time.time() * 1000)}%{secrets.token_hex(8)}"
    notification = message.get("notification") or {}
    sim.record(
        name,
        {
            "method": request.method,
            "path": request.path,
            "headers": dict(request.headers),
            "body": doc,
            "to": device,
            "text": notification.get("body"),
            "message_id": (message.get("data") or {}).get("message_id"),
            "provider_message_id": msg_name,
        },
    )
    return _json({"name": msg_name})


def record_email(sim: DevProviders, provider: str, envelope: Any, raw: bytes) -> dict[str, Any]:
    """Called by the SMTP server for each accepted message."""
    mail: Message = message_from_bytes(raw, policy=default_policy)
    text = html_part = None
    for part in mail.walk():
        ctype = part.get_content_type()
        if ctype == "text/plain" and text is None:
            text = part.get_content()  # type: ignore[attr-defined]
        elif ctype == "text/html" and html_part is None:
            html_part = part.get_content()  # type: ignore[attr-defined]
    return sim.record(
        provider,
        {
            "method": "SMTP",
            "headers": {k: str(v) for k, v in mail.items()},
            "mail_from": envelope.mail_from,
            "to": ",".join(envelope.rcpt_tos),
            "subject": str(mail.get("Subject", "")),
            "text": text,
            "html": html_part,
            "content_type": mail.get_content_type(),
            "message_id": str(mail.get("Message-ID", "")),
            "provider_message_id": str(mail.get("Message-ID", "")),
            "auth_user": getattr(envelope, "_peony_auth_user", None),
            "tls": getattr(envelope, "_peony_tls", False),
        },
    )
