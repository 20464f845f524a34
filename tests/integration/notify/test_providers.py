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
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
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
from services.notify.adapters.providers.aliyun import QUERY_PAGE_SIZE
from services.notify.adapters.providers.config import (
    ProvidersConfig,
    ensure_dev_service_account,
    parse_config,
)
from services.notify.adapters.providers.webhook import webhook_signature
from services.notify.adapters.providers.wechat import wechat_signature
from services.notify.devproviders.server import DevProviders
from tests.support.providers import DevProvidersHandle, dev_providers

PHONE = "+8613800138000"


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
    dp: DevProvidersHandle
    registry: ProviderRegistry
    receiver: Receiver

    @property
    def sim(self) -> DevProviders:
        return self.dp.sim

    @property
    def tmp(self) -> Path:
        return self.dp.tmp

    def client_config(self, **overrides: dict[str, Any]) -> ProvidersConfig:
        return self.dp.variant(**overrides)

    @property
    def doc(self) -> dict[str, Any]:
        return self.dp.document

    async def messages(self, provider: str) -> list[dict[str, Any]]:
        return await self.dp.messages(provider)

    async def fault(self, **body: Any) -> None:
        await self.dp.fault(**body)

    async def clear_faults(self) -> None:
        await self.dp.clear_faults()

    async def stats(self) -> dict[str, Any]:
        return await self.dp.stats()


@pytest_asyncio.fixture(scope="module")
async def env(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Env]:
    receiver = Receiver()
    app = web.Application()
    app.router.add_post("/v1/notify/receipts/{provider}", receiver.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    receipt_site = web.TCPSite(runner, "127.0.0.1", 0)
    await receipt_site.start()
    receipt_port = receipt_site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    receipt_url = f"http://127.0.0.1:{receipt_port}/v1/notify/receipts/{{provider}}"
    try:
        # receipts gathered over 0.3 s, so a burst batches even on a busy machine
        async with dev_providers(tmp_path_factory.mktemp("providers"), receipt_url, 0.3) as dp:
            registry = load_registry(dp.config)
            receiver.registry = registry
            try:
                yield Env(dp, registry, receiver)
            finally:
                await registry.aclose()
    finally:
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
    assert provider.parse_receipt({}, body, {"token": _dev_secret()})[0].provider_message_id == "1^0"
    with pytest.raises(InvalidReceipt):
        provider.parse_receipt(good, body, {"token": "guess"})  # a wrong token is not saved by Basic
    for malformed in (b"{}", b"not json", b"[{}]", json.dumps([{"biz_id": "1", "success": "yes"}]).encode()):
        with pytest.raises(InvalidReceipt):
            provider.parse_receipt(good, malformed)


async def test_aliyun_lookup_finds_a_message_by_out_id_across_pages(env: Env):
    provider = env.registry.by_name("aliyun_sms")
    phone = f"+86139{uuid.uuid4().int % 10**8:08d}"
    since = datetime.now(UTC) - timedelta(seconds=1)
    messages = [sms(address=phone) for _ in range(QUERY_PAGE_SIZE + 1)]
    for message in messages:
        await provider.send(message)
    stats = await env.stats()

    last = await provider.lookup(messages[-1], since)  # on the second page of that day's records
    first = await provider.lookup(messages[0], since)
    assert last is not None and first is not None
    assert last.sent.provider == "aliyun_sms" and last.sent.billable_units == 1
    assert last.status == "delivered" and last.occurred_at is not None
    assert last.sent.provider_message_id == ""  # QuerySendDetails returns no BizId
    assert await provider.lookup(sms(address=phone), since) is None  # never sent
    assert (await env.stats())["lookups"]["aliyun_sms"] >= stats["lookups"].get("aliyun_sms", 0) + 3

    cfg = env.client_config(aliyun_sms={"access_key_secret": "not-the-secret"})
    registry = load_registry(cfg)
    try:
        with pytest.raises(ProviderError) as err:
            await registry.by_name("aliyun_sms").lookup(messages[0], since)
    finally:
        await registry.aclose()
    assert (err.value.reason, err.value.retryable) == ("SignatureDoesNotMatch", False)


async def test_aliyun_lookup_reports_a_failed_delivery(env: Env):
    provider = env.registry.by_name("aliyun_sms")
    await env.fault(provider="aliyun_sms", mode="none", receipt="failed")
    message = sms()
    await provider.send(message)
    found = await provider.lookup(message, datetime.now(UTC) - timedelta(minutes=1))
    assert found is not None and (found.status, found.reason) == ("failed", "MK:0001")


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


async def test_tencent_lookup_finds_the_serial_no_by_session_context(env: Env):
    provider = env.registry.by_name("tencent_sms")
    since = datetime.now(UTC)
    message = sms(template_code="1234567")
    result = await provider.send(message)
    found = await provider.lookup(message, since)
    assert found is not None and found.sent.provider_message_id == result.provider_message_id
    assert found.status == "delivered"
    assert await provider.lookup(sms(template_code="1"), since) is None

    cfg = env.client_config(tencent_sms={"secret_key": "wrong"})
    registry = load_registry(cfg)
    try:
        with pytest.raises(ProviderError) as err:
            await registry.by_name("tencent_sms").lookup(message, since)
    finally:
        await registry.aclose()
    assert (err.value.reason, err.value.retryable) == ("AuthFailure.SignatureFailure", False)


# --- webhook SMS ------------------------------------------------------------------------------------


async def test_webhook_send_and_signed_receipt(env: Env):
    message = sms(text="Your balance is 120.00")
    result = await env.registry.by_name("webhook_sms").send(message)
    [got] = [m for m in await env.messages("webhook_sms") if m["message_id"] == message.message_id]
    assert got["headers"]["X-Peony-Signature"].startswith("sha256=")
    assert got["headers"]["Idempotency-Key"] == message.message_id
    before = await env.stats()
    again = await env.registry.by_name("webhook_sms").send(message)  # a retry of the same message
    # the receiver honours the Idempotency-Key: the first answer again, nothing sent twice
    after = await env.stats()
    assert again.provider_message_id == result.provider_message_id
    replays = after["idempotent_replays"]["webhook_sms"]
    assert replays == before["idempotent_replays"].get("webhook_sms", 0) + 1
    assert after["sends"] == before["sends"] and after["duplicates"] == before["duplicates"]
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
    assert got["auth_user"] == "peony" and got["tls"] is False

    # STARTTLS (the local server's certificate is self-signed, hence verify_tls off)
    tls = env.client_config(smtp={"starttls": True, "verify_tls": False})
    result = await _with_registry(tls, "smtp", message)
    [got] = [m for m in await env.messages("smtp") if m["tls"]]
    assert got["message_id"] == result.provider_message_id and got["auth_user"] == "peony"
    verified = env.client_config(smtp={"starttls": True})
    with pytest.raises(ProviderError) as err:  # a certificate nobody vouches for is refused
        await _with_registry(verified, "smtp", message)
    assert err.value.retryable is True

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

        await env.dp.expire_tokens("wechat_oa")
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

        await env.dp.expire_tokens("fcm")
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


# --- the local servers refuse what the real services refuse ----------------------------------------


async def test_unknown_provider_callbacks_are_invalid_receipts(env: Env):
    with pytest.raises(InvalidReceipt):
        env.registry.by_name("not_configured")


async def test_aliyun_server_refuses_a_replayed_request(env: Env):
    provider = env.registry.by_name("aliyun_sms")
    params = provider.signed_params(sms())
    async with aiohttp.ClientSession() as s:
        async with s.post(provider.endpoint, data=params) as r:
            assert (await r.json())["Code"] == "OK"
        async with s.post(provider.endpoint, data=params) as r:  # same SignatureNonce
            assert r.status == 400 and (await r.json())["Code"] == "SignatureNonceUsed"
        tampered = {**params, "SignatureNonce": uuid.uuid4().hex, "PhoneNumbers": "13900000000"}
        async with s.post(provider.endpoint, data=tampered) as r:
            assert (await r.json())["Code"] == "SignatureDoesNotMatch"
        stale = provider.signed_params(sms(), now=datetime.now(UTC) - timedelta(hours=1))
        async with s.post(provider.endpoint, data=stale) as r:
            assert (await r.json())["Code"] == "InvalidTimeStamp.Expired"


async def test_tencent_server_refuses_a_tampered_body_and_an_old_timestamp(env: Env):
    provider = env.registry.by_name("tencent_sms")
    async with aiohttp.ClientSession() as s:
        headers, payload = provider.request_parts(sms(template_code="1"))
        async with s.post(provider.endpoint, data=payload.replace(b"+86", b"+85"), headers=headers) as r:
            assert (await r.json())["Response"]["Error"]["Code"] == "AuthFailure.SignatureFailure"
        headers, payload = provider.request_parts(sms(template_code="1"), timestamp=int(time.time()) - 3600)
        async with s.post(provider.endpoint, data=payload, headers=headers) as r:
            assert (await r.json())["Response"]["Error"]["Code"] == "AuthFailure.SignatureExpire"


async def test_wechat_and_fcm_servers_refuse_unknown_tokens(env: Env):
    wechat_provider = env.registry.by_name("wechat_oa")
    fcm_provider = env.registry.by_name("fcm")
    async with aiohttp.ClientSession() as s:
        url = f"{wechat_provider.endpoint}/cgi-bin/message/template/send"
        async with s.post(
            url, params={"access_token": "forged"}, json=wechat_provider.payload(wechat())
        ) as r:
            assert (await r.json())["errcode"] == 40001
        url = f"{fcm_provider.endpoint}/v1/projects/peony-dev/messages:send"
        async with s.post(url, json=fcm_provider.payload(push()), headers={"Authorization": "Bearer x"}) as r:
            assert r.status == 401 and (await r.json())["error"]["status"] == "UNAUTHENTICATED"


async def test_sms_reports_are_batched_like_the_real_pushes(env: Env):
    before = [r for r in await env.dp.receipts() if r["provider"] == "tencent_sms"]
    provider = env.registry.by_name("tencent_sms")
    results = await asyncio.gather(*(provider.send(sms(template_code="1")) for _ in range(8)))
    for result in results:
        assert (await env.receiver.wait_for(result.provider_message_id)).status == "delivered"
    posts = [r for r in await env.dp.receipts() if r["provider"] == "tencent_sms"][len(before) :]
    assert all(p["status"] == 200 for p in posts)
    assert len(posts) < len(results)  # several reports per callback


async def test_wechat_subscribe_message_and_its_sent_event(env: Env):
    provider = env.registry.by_name("wechat_mp")
    message = wechat(locale="en", link="pages/appointment/detail?id=1")
    result = await provider.send(message)
    [got] = [
        m for m in await env.messages("wechat_mp") if m["provider_message_id"] == result.provider_message_id
    ]
    assert got["path"].endswith("/cgi-bin/message/subscribe/send")
    assert got["body"]["page"] == "pages/appointment/detail?id=1" and got["body"]["lang"] == "en_US"
    assert got["body"]["data"]["thing1"] == {"value": "面部护理"}
    assert "url" not in got["body"]
    assert (await env.receiver.wait_for(result.provider_message_id)).status == "delivered"

    await env.fault(provider="wechat_mp", mode="none", receipt="failed")
    failed = await provider.send(wechat())
    receipt = await env.receiver.wait_for(failed.provider_message_id)
    assert (receipt.status, receipt.reason) == ("failed", "failed:user block")

    await env.fault(provider="wechat_mp", mode="error", code="43101", count=1)  # member did not subscribe
    with pytest.raises(ProviderError) as err:
        await provider.send(wechat())
    assert (err.value.reason, err.value.retryable) == ("errcode 43101", False)
