"""Every provider client against the local provider servers — real HTTP/SMTP, no mocked transport.

The servers verify signatures and tokens as the real services do, record what they accepted
and post signed receipts back to a receiver here that does what the gateway's receipts route
does: ``registry.by_name(provider).parse_receipt(headers, body, query)``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import socket
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web

from services.notify.adapters.providers import (
    DeliveryReceipt,
    InvalidReceipt,
    OutgoingMessage,
    ProviderError,
    ProviderRegistry,
    load_registry,
)
from services.notify.adapters.providers.config import (
    ProvidersConfig,
    dev_document,
    ensure_dev_service_account,
    parse_config,
)
from services.notify.adapters.providers.webhook import webhook_signature
from services.notify.adapters.providers.wechat import wechat_signature
from services.notify.devproviders.server import DevProviders

PHONE = "+8613800138000"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Receiver:
    """Stands in for the gateway's ``/v1/notify/receipts/{provider}`` route."""

    registry: ProviderRegistry | None = None
    receipts: list[DeliveryReceipt] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.Response:
        assert self.registry is not None
        provider = self.registry.by_name(request.match_info["provider"])
        try:
            got = provider.parse_receipt(dict(request.headers), await request.read(), dict(request.query))
        except InvalidReceipt as exc:
            self.refused.append(str(exc))
            return web.Response(status=401)
        finally:
            self.arrived.set()
        self.receipts.extend(got)
        ctype, body = provider.receipt_ack
        return web.Response(body=body, content_type=ctype.split(";")[0])

    async def wait_for(self, provider_message_id: str, timeout: float = 10.0) -> DeliveryReceipt:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for r in self.receipts:
                if r.provider_message_id == provider_message_id:
                    return r
            self.arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.arrived.wait(), max(0.01, deadline - time.monotonic()))
        raise AssertionError(f"no receipt for {provider_message_id}; refused: {self.refused}")


@dataclass
class Env:
    sim: DevProviders
    registry: ProviderRegistry
    receiver: Receiver
    doc: dict[str, Any]
    tmp: Path

    def client_config(self, **overrides: dict[str, Any]) -> ProvidersConfig:
        """The same configuration with some provider settings changed (e.g. a wrong secret)."""
        doc = json.loads(json.dumps(self.doc))
        for name, changes in overrides.items():
            doc["providers"][name].update(changes)
        return parse_config(doc, {})

    async def messages(self, provider: str) -> list[dict[str, Any]]:
        async with (
            aiohttp.ClientSession() as s,
            s.get(f"{self.sim.url}/_sim/messages?provider={provider}") as r,
        ):
            return (await r.json())["messages"]

    async def fault(self, **body: Any) -> None:
        async with aiohttp.ClientSession() as s, s.post(f"{self.sim.url}/_sim/faults", json=body) as r:
            assert r.status == 200, await r.text()

    async def clear_faults(self) -> None:
        async with aiohttp.ClientSession() as s, s.delete(f"{self.sim.url}/_sim/faults") as r:
            assert r.status == 200

    async def stats(self) -> dict[str, Any]:
        async with aiohttp.ClientSession() as s, s.get(f"{self.sim.url}/_sim/stats") as r:
            return await r.json()


@pytest_asyncio.fixture(scope="module")
async def env(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Env]:
    tmp = tmp_path_factory.mktemp("providers")
    receiver = Receiver()
    app = web.Application()
    app.router.add_post("/v1/notify/receipts/{provider}", receiver.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    receipt_site = web.TCPSite(runner, "127.0.0.1", 0)
    await receipt_site.start()
    receipt_port = receipt_site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    http_port, smtp_port = _free_port(), _free_port()
    account = ensure_dev_service_account(tmp / "fcm.json")
    doc = dev_document(f"http://127.0.0.1:{http_port}", smtp_port, account)
    cfg = parse_config(doc, {})
    sim = DevProviders(cfg, receipt_url=f"http://127.0.0.1:{receipt_port}/v1/notify/receipts/{{provider}}")
    await sim.start("127.0.0.1", http_port, smtp_port)
    registry = load_registry(cfg)
    receiver.registry = registry
    try:
        yield Env(sim, registry, receiver, doc, tmp)
    finally:
        await registry.aclose()
        await sim.stop()
        await runner.cleanup()


@pytest_asyncio.fixture(autouse=True)
async def _no_faults(env: Env) -> AsyncIterator[None]:
    yield
    await env.clear_faults()


def sms(**kw: Any) -> OutgoingMessage:
    base: dict[str, Any] = {
        "message_id": f"msg-{uuid.uuid4().hex}",
        "tenant": "t1",
        "channel": "sms",
        "address": PHONE,
        "locale": "zh-CN",
        "text": "【佩妮】您的余额为 ¥120.00",
        "template_code": "SMS_1234567",
        "params": {"name": "小美", "balance": "120.00"},
    }
    base.update(kw)
    return OutgoingMessage(**base)


async def _with_registry(cfg: ProvidersConfig, provider: str, message: OutgoingMessage) -> Any:
    registry = load_registry(cfg)
    try:
        return await registry.by_name(provider).send(message)
    finally:
        await registry.aclose()


# --- Alibaba Cloud SMS ------------------------------------------------------------------------------


async def test_aliyun_send_is_signed_and_carries_template_params_and_out_id(env: Env):
    message = sms()
    result = await env.registry.by_name("aliyun_sms").send(message)
    assert result.provider == "aliyun_sms"
    assert result.billable_units == 1
    [got] = [m for m in await env.messages("aliyun_sms") if m["message_id"] == message.message_id]
    params = got["params"]
    assert params["Action"] == "SendSms" and params["Version"] == "2017-05-25"
    assert params["PhoneNumbers"] == "13800138000"  # mainland numbers go bare
    assert params["SignName"] == "佩妮" and params["TemplateCode"] == "SMS_1234567"
    assert json.loads(params["TemplateParam"]) == {"name": "小美", "balance": "120.00"}
    assert params["SignatureMethod"] == "HMAC-SHA1" and params["Signature"]
    assert got["provider_message_id"] == result.provider_message_id

    receipt = await env.receiver.wait_for(result.provider_message_id)
    assert receipt.status == "delivered" and receipt.provider == "aliyun_sms"
    assert receipt.occurred_at.tzinfo is not None


async def test_aliyun_wrong_secret_is_refused_by_the_server_as_permanent(env: Env):
    before = len(await env.messages("aliyun_sms"))
    cfg = env.client_config(aliyun_sms={"access_key_secret": "not-the-secret"})
    with pytest.raises(ProviderError) as err:
        await _with_registry(cfg, "aliyun_sms", sms())
    assert err.value.reason == "SignatureDoesNotMatch" and err.value.retryable is False
    assert len(await env.messages("aliyun_sms")) == before


async def test_aliyun_error_codes_are_classified(env: Env):
    provider = env.registry.by_name("aliyun_sms")
    await env.fault(provider="aliyun_sms", mode="error", code="isv.MOBILE_NUMBER_ILLEGAL", count=1)
    with pytest.raises(ProviderError) as err:
        await provider.send(sms())
    assert (err.value.reason, err.value.retryable) == ("isv.MOBILE_NUMBER_ILLEGAL", False)

    await env.fault(provider="aliyun_sms", mode="error", code="isv.BUSINESS_LIMIT_CONTROL", count=1)
    with pytest.raises(ProviderError) as err:
        await provider.send(sms())
    assert err.value.retryable is True

    await env.fault(provider="aliyun_sms", mode="down", count=1)
    with pytest.raises(ProviderError) as err:
        await provider.send(sms())
    assert err.value.retryable is True


async def test_aliyun_failed_report_and_forged_reports(env: Env):
    await env.fault(provider="aliyun_sms", mode="none", receipt="failed")
    result = await env.registry.by_name("aliyun_sms").send(sms())
    receipt = await env.receiver.wait_for(result.provider_message_id)
    assert receipt.status == "failed" and receipt.reason

    provider = env.registry.by_name("aliyun_sms")
    body = json.dumps(
        [{"biz_id": "1^0", "success": True, "report_time": "2026-12-07 10:00:00", "out_id": "x"}]
    ).encode()
    forged = {"Authorization": "Basic " + base64.b64encode(b"aliyun_sms:guess").decode()}
    with pytest.raises(InvalidReceipt):
        provider.parse_receipt(forged, body)
    with pytest.raises(InvalidReceipt):
        provider.parse_receipt({}, body)
    good = {"Authorization": "Basic " + base64.b64encode(f"aliyun_sms:{_dev_secret()}".encode()).decode()}
    assert provider.parse_receipt(good, body)[0].provider_message_id == "1^0"
    for malformed in (b"{}", b"not json", b"[{}]", json.dumps([{"biz_id": "1", "success": "yes"}]).encode()):
        with pytest.raises(InvalidReceipt):
            provider.parse_receipt(good, malformed)


def _dev_secret() -> str:
    from services.notify.adapters.providers.config import DEV_SECRET

    return DEV_SECRET


# --- Tencent Cloud SMS ------------------------------------------------------------------------------


async def test_tencent_send_is_tc3_signed_with_session_context(env: Env):
    message = sms(template_code="1234567")
    result = await env.registry.by_name("tencent_sms").send(message)
    assert result.billable_units == 1
    [got] = [m for m in await env.messages("tencent_sms") if m["message_id"] == message.message_id]
    assert got["headers"]["Authorization"].startswith("TC3-HMAC-SHA256 Credential=AKIDdevpeony/")
    assert got["headers"]["X-TC-Action"] == "SendSms" and got["headers"]["X-TC-Version"] == "2021-01-11"
    body = got["body"]
    assert body["PhoneNumberSet"] == [PHONE] and body["SessionContext"] == message.message_id
    assert body["TemplateId"] == "1234567" and body["TemplateParamSet"] == ["小美", "120.00"]
    assert body["SmsSdkAppId"] == "1400000000" and body["SignName"] == "佩妮"

    receipt = await env.receiver.wait_for(result.provider_message_id)
    assert receipt.status == "delivered" and receipt.provider == "tencent_sms"


async def test_tencent_wrong_secret_and_bad_number(env: Env):
    cfg = env.client_config(tencent_sms={"secret_key": "wrong"})
    with pytest.raises(ProviderError) as err:
        await _with_registry(cfg, "tencent_sms", sms(template_code="1"))
    assert (err.value.reason, err.value.retryable) == ("AuthFailure.SignatureFailure", False)

    with pytest.raises(ProviderError) as err:
        await env.registry.by_name("tencent_sms").send(sms(template_code="1", address="13800138000"))
    assert (err.value.reason, err.value.retryable) == ("InvalidParameterValue.IncorrectPhoneNumber", False)

    await env.fault(provider="tencent_sms", mode="error", code="RequestLimitExceeded", count=1)
    with pytest.raises(ProviderError) as err:
        await env.registry.by_name("tencent_sms").send(sms(template_code="1"))
    assert err.value.retryable is True


# --- webhook SMS ------------------------------------------------------------------------------------


async def test_webhook_send_and_signed_receipt(env: Env):
    message = sms(text="Your balance is 120.00")
    result = await env.registry.by_name("webhook_sms").send(message)
    [got] = [m for m in await env.messages("webhook_sms") if m["message_id"] == message.message_id]
    assert got["headers"]["X-Peony-Signature"].startswith("sha256=")
    assert got["headers"]["Idempotency-Key"] == message.message_id
    assert got["body"]["to"] == PHONE and got["text"] == "Your balance is 120.00"
    assert result.billable_units == 1
    receipt = await env.receiver.wait_for(result.provider_message_id)
    assert receipt.status == "delivered"


async def test_webhook_wrong_secret_and_forged_or_replayed_receipts(env: Env):
    cfg = env.client_config(webhook_sms={"secret": "wrong"})
    with pytest.raises(ProviderError) as err:
        await _with_registry(cfg, "webhook_sms", sms())
    assert err.value.retryable is False

    provider = env.registry.by_name("webhook_sms")
    body = json.dumps(
        {"receipts": [{"id": "wh-1", "status": "delivered", "occurred_at": "2026-12-07T01:00:00+00:00"}]}
    ).encode()
    now = str(int(time.time()))
    good = {"X-Peony-Timestamp": now, "X-Peony-Signature": webhook_signature(_dev_secret(), now, body)}
    assert provider.parse_receipt(good, body)[0].provider_message_id == "wh-1"
    with pytest.raises(InvalidReceipt):
        provider.parse_receipt({**good, "X-Peony-Signature": webhook_signature("x", now, body)}, body)
    with pytest.raises(InvalidReceipt):
        provider.parse_receipt(good, body.replace(b"delivered", b"failed"))
    old = str(int(time.time()) - 3600)
    with pytest.raises(InvalidReceipt):  # a replay of an old, validly signed callback
        provider.parse_receipt(
            {"X-Peony-Timestamp": old, "X-Peony-Signature": webhook_signature(_dev_secret(), old, body)}, body
        )


# --- SMTP -------------------------------------------------------------------------------------------


async def test_smtp_sends_multipart_with_auth_and_a_stable_message_id(env: Env):
    message = OutgoingMessage(
        message_id=f"msg-{uuid.uuid4().hex}",
        tenant="t1",
        channel="email",
        address="mei@example.com",
        locale="zh-CN",
        text="您的预约已确认",
        subject="预约确认",
        html="<p>您的预约已<b>确认</b></p>",
    )
    result = await env.registry.by_name("smtp").send(message)
    assert result.provider_message_id == f"<{message.message_id}@notify.peony>"
    assert result.billable_units == 0
    [got] = [m for m in await env.messages("smtp") if m["message_id"] == result.provider_message_id]
    assert got["to"] == "mei@example.com" and got["subject"] == "预约确认"
    assert got["content_type"] == "multipart/alternative"
    assert got["text"].strip() == "您的预约已确认" and "<b>确认</b>" in got["html"]
    assert got["auth_user"] == "peony"

    cfg = env.client_config(smtp={"password": "wrong"})
    with pytest.raises(ProviderError) as err:
        await _with_registry(cfg, "smtp", message)
    assert err.value.retryable is False

    await env.fault(provider="smtp", mode="down", count=1)
    with pytest.raises(ProviderError) as err:
        await env.registry.by_name("smtp").send(message)
    assert err.value.retryable is True


# --- WeChat -----------------------------------------------------------------------------------------


def wechat(**kw: Any) -> OutgoingMessage:
    base: dict[str, Any] = {
        "message_id": f"msg-{uuid.uuid4().hex}",
        "tenant": "t1",
        "channel": "wechat",
        "address": "oPeonyOpenId0001",
        "locale": "zh-CN",
        "text": "预约提醒",
        "template_code": "TPL_reminder",
        "params": {"thing1": "面部护理", "time2": "2026-12-08 14:00"},
        "link": "https://peony.example/a/1",
    }
    base.update(kw)
    return OutgoingMessage(**base)


async def test_wechat_token_is_cached_and_refreshed_when_expired(env: Env):
    cfg = env.client_config()
    registry = load_registry(cfg)  # a fresh client: its own token cache
    try:
        provider = registry.by_name("wechat_oa")
        before = (await env.stats())["token_requests"].get("wechat_oa", 0)
        first = await provider.send(wechat())
        await provider.send(wechat())
        await provider.send(wechat())
        assert (await env.stats())["token_requests"]["wechat_oa"] == before + 1

        async with aiohttp.ClientSession() as s:
            await s.post(f"{env.sim.url}/_sim/expire-tokens", json={"provider": "wechat_oa"})
        message = wechat()
        await provider.send(message)  # 42001 → refetch once → sent
        assert (await env.stats())["token_requests"]["wechat_oa"] == before + 2
    finally:
        await registry.aclose()

    [got] = [m for m in await env.messages("wechat_oa") if m["message_id"] == message.message_id]
    assert got["body"]["touser"] == "oPeonyOpenId0001" and got["body"]["template_id"] == "TPL_reminder"
    assert got["body"]["data"] == {"thing1": {"value": "面部护理"}, "time2": {"value": "2026-12-08 14:00"}}
    assert got["body"]["url"] == "https://peony.example/a/1"
    receipt = await env.receiver.wait_for(first.provider_message_id)
    assert receipt.status == "delivered"


async def test_wechat_wrong_secret_and_forged_push(env: Env):
    cfg = env.client_config(wechat_oa={"app_secret": "wrong"})
    with pytest.raises(ProviderError) as err:
        await _with_registry(cfg, "wechat_oa", wechat())
    assert (err.value.reason, err.value.retryable) == ("token errcode 40125", False)

    provider = env.registry.by_name("wechat_oa")
    xml = (
        b"<xml><Event><![CDATA[TEMPLATESENDJOBFINISH]]></Event><MsgID>42</MsgID>"
        b"<CreateTime>1765000000</CreateTime><Status><![CDATA[failed:user block]]></Status></xml>"
    )
    q = {"timestamp": "1765000000", "nonce": "abc"}
    good = {**q, "signature": wechat_signature(_dev_secret(), q["timestamp"], q["nonce"])}
    [r] = provider.parse_receipt({}, xml, good)
    assert (r.provider_message_id, r.status, r.reason) == ("42", "failed", "failed:user block")
    with pytest.raises(InvalidReceipt):
        provider.parse_receipt({}, xml, {**q, "signature": wechat_signature("guess", "1765000000", "abc")})
    with pytest.raises(InvalidReceipt):
        provider.parse_receipt({}, xml, {})
    with pytest.raises(InvalidReceipt):
        provider.parse_receipt({}, b'<!DOCTYPE x [<!ENTITY a "b">]><xml/>', good)


# --- FCM --------------------------------------------------------------------------------------------


def push(**kw: Any) -> OutgoingMessage:
    base: dict[str, Any] = {
        "message_id": f"msg-{uuid.uuid4().hex}",
        "tenant": "t1",
        "channel": "push",
        "address": "fcm-device-token-0001",
        "locale": "en",
        "text": "Your appointment is tomorrow at 14:00",
        "subject": "Reminder",
        "link": "peony://appointments/1",
    }
    base.update(kw)
    return OutgoingMessage(**base)


async def test_fcm_oauth_token_from_a_service_account_jwt_is_cached(env: Env):
    registry = load_registry(env.client_config())
    try:
        provider = registry.by_name("fcm")
        before = (await env.stats())["token_requests"].get("fcm", 0)
        message = push()
        result = await provider.send(message)
        await provider.send(push())
        assert (await env.stats())["token_requests"]["fcm"] == before + 1

        async with aiohttp.ClientSession() as s:
            await s.post(f"{env.sim.url}/_sim/expire-tokens", json={"provider": "fcm"})
        await provider.send(push())  # 401 → new JWT exchange → sent
        assert (await env.stats())["token_requests"]["fcm"] == before + 2
    finally:
        await registry.aclose()
    assert result.provider_message_id.startswith("projects/peony-dev/messages/")
    [got] = [m for m in await env.messages("fcm") if m["message_id"] == message.message_id]
    assert got["headers"]["Authorization"].startswith("Bearer ")
    assert got["body"]["message"]["token"] == "fcm-device-token-0001"
    assert got["body"]["message"]["notification"] == {"title": "Reminder", "body": message.text}
    assert got["body"]["message"]["webpush"]["fcm_options"]["link"] == "peony://appointments/1"


async def test_fcm_jwt_signed_by_another_key_is_refused(env: Env):
    other = ensure_dev_service_account(env.tmp / "other-key.json")
    cfg = env.client_config(fcm={"service_account": f"file:{other}"})
    with pytest.raises(ProviderError) as err:
        await _with_registry(cfg, "fcm", push())
    assert (err.value.reason, err.value.retryable) == ("token invalid_grant", False)

    await env.fault(provider="fcm", mode="error", code="UNREGISTERED", count=1)
    with pytest.raises(ProviderError) as err:
        await env.registry.by_name("fcm").send(push())
    assert (err.value.reason, err.value.retryable) == ("UNREGISTERED", False)
    await env.fault(provider="fcm", mode="error", code="QUOTA_EXCEEDED", count=1)
    with pytest.raises(ProviderError) as err:
        await env.registry.by_name("fcm").send(push())
    assert err.value.retryable is True


# --- routing, failover, timeouts --------------------------------------------------------------------


async def test_failover_follows_the_configured_order(env: Env):
    """Primary down → the pipeline's next provider in ``for_channel`` order takes the message."""
    doc = json.loads(json.dumps(env.doc))
    doc["routing"]["tenants"] = {"acme": {"sms": ["webhook_sms", "aliyun_sms"]}}
    registry = load_registry(parse_config(doc, {}))
    try:
        assert [p.name for p in registry.for_channel("acme", "sms")] == ["webhook_sms", "aliyun_sms"]
        assert [p.name for p in registry.for_channel("other", "sms")] == ["aliyun_sms", "tencent_sms"]
        await env.fault(provider="webhook_sms", mode="down")
        message = sms()
        outcomes = []
        for provider in registry.for_channel("acme", "sms"):
            try:
                outcomes.append(await provider.send(message))
                break
            except ProviderError as exc:
                assert exc.retryable
                outcomes.append(exc.provider)
        assert outcomes[0] == "webhook_sms" and outcomes[1].provider == "aliyun_sms"
        assert registry.price_per_unit_minor("aliyun_sms") == 5
    finally:
        await registry.aclose()


async def test_a_slow_provider_times_out_as_retryable(env: Env):
    cfg = env.client_config(webhook_sms={"timeout_seconds": 0.3})
    await env.fault(provider="webhook_sms", mode="latency", latency_ms=2000, count=1)
    with pytest.raises(ProviderError) as err:
        await _with_registry(cfg, "webhook_sms", sms())
    assert (err.value.reason, err.value.retryable) == ("timeout", True)


async def test_no_address_reaches_an_exception_or_repr(env: Env):
    message = sms(address="+8613912345678")
    assert "13912345678" not in repr(message)
    await env.fault(provider="aliyun_sms", mode="error", code="isv.MOBILE_NUMBER_ILLEGAL", count=1)
    with pytest.raises(ProviderError) as err:
        await env.registry.by_name("aliyun_sms").send(message)
    assert "13912345678" not in str(err.value) and "13912345678" not in err.value.reason
