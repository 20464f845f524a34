"""In-doubt claims reconciled by asking the provider (Alibaba ``QuerySendDetails``, Tencent
``PullSmsSendStatusByPhoneNumber``) against the local provider servers, on real PostgreSQL.

A dispatcher "killed" between the provider's accept and the record is reproduced step by step:
notify turns the event into a queued message and is stopped; a dispatcher of the test's own then
claims the message (committed), calls the provider — or not — and never records the answer. The
claim's lease is run out, and the next batch must end with the message exactly once at the
provider: found there (recorded as sent, with the provider's delivery status) or, when it is not
there, sent again.
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest_asyncio
from peony.wallet.v1 import events_pb2 as wallet_events
from sqlalchemy import text

from kit.crypto import PiiCipher
from kit.service_auth import ServiceCredentials
from services.notify.adapters.contacts import NOTIFIER_ROLE, MembersContacts, StaffDirectory
from services.notify.adapters.providers import load_registry
from services.notify.adapters.providers.config import parse_config
from services.notify.service_layer.dispatch import Dispatcher, contact_resolver
from services.notify.settings import notify_settings
from tests.integration.notify.conftest import Stack, eventually, new_phone, new_tenant

TENCENT_TENANT = new_tenant()  # its SMS goes through Tencent Cloud
ALIYUN_TENANT = new_tenant()  # the default route: Alibaba Cloud, then Tencent


@pytest_asyncio.fixture(scope="module")
async def dispatcher(stack: Stack) -> AsyncIterator[Dispatcher]:
    doc = copy.deepcopy(stack.provider_doc)
    doc["routing"]["tenants"] = {TENCENT_TENANT: {"sms": ["tencent_sms"]}}
    stack.provider_doc = doc  # notify itself routes the same way (it renders the template code)
    config = stack.notify_config()
    registry = load_registry(parse_config(doc, {}))
    members = MembersContacts(
        stack.members_addr, ServiceCredentials.from_config(config, extra_roles=(NOTIFIER_ROLE,))
    )
    try:
        yield Dispatcher(
            stack.notify_db,
            registry=registry,
            resolve=contact_resolver(members, StaffDirectory()),
            cipher=PiiCipher(config.pii_master_key),
            settings=notify_settings(config),
        )
    finally:
        await members.close()
        await registry.aclose()


async def _queued_points_message(stack: Stack, tenant: str) -> tuple[str, str]:
    """(message id, phone) of a points_earned message notify queued and nobody dispatched: notify
    runs with its dispatcher idle (its first tick is at start, the next a minute later; no wake-up
    on new messages)."""
    runner = await stack.start_notify(
        PEONY_NOTIFY_DISPATCH_INTERVAL_SECONDS="60", PEONY_NOTIFY_DISPATCH_WAKE="off"
    )
    try:
        store = await stack.store(tenant)
        phone = new_phone()
        member = await stack.member(tenant, store, phone=phone)
        await stack.publish(
            tenant, wallet_events.PointsEarned(member=member.name, points=5, points_available=5)
        )
        [row] = await eventually(
            lambda: _states(stack, tenant, "points_earned", ("queued",)), what="the points message queued"
        )
    finally:
        await stack.stop_notify(runner)
    return row["message_id"], phone


async def _states(stack: Stack, tenant: str, trigger: str, states: tuple[str, ...]) -> list[dict] | None:
    rows = [r for r in await stack.rows(tenant, trigger) if r["state"] in states]
    return rows or None


async def _set_due(stack: Stack, message_id: str, seconds_from_now: float) -> None:
    async with stack.notify_db.begin() as conn:
        await conn.execute(
            text("UPDATE messages SET due_time = now() + make_interval(secs => :s) WHERE message_id = :m"),
            {"m": message_id, "s": seconds_from_now},
        )


async def _only_this_message_is_due(stack: Stack, message_id: str) -> None:
    """Push every other unfinished message (earlier tests' claims whose lease may run out) out of
    the next batches: a provider fault counts requests, and a lookup for one of them would take it."""
    async with stack.notify_db.begin() as conn:
        await conn.execute(
            text(
                "UPDATE messages SET due_time = now() + interval '1 hour'"
                " WHERE message_id <> :m AND state IN ('queued', 'sending', 'deferred')"
            ),
            {"m": message_id},
        )


async def _claim_and_die(stack: Stack, dispatcher: Dispatcher, message_id: str, *, call_provider: bool):
    """One batch's claim (committed) and, when asked, its provider call — then no record, as when
    the process is killed there; the claim's lease is then run out."""
    _, claimed = await dispatcher._claim()
    [item] = [i for i in claimed if i.message.message_id == message_id]
    if call_provider:
        await dispatcher._send(item)
        assert item.result is not None, item.errors
    await _set_due(stack, message_id, -1)


async def _row(stack: Stack, tenant: str, message_id: str) -> dict:
    [row] = [r for r in await stack.rows(tenant, "points_earned") if r["message_id"] == message_id]
    return row


async def _stats(stack: Stack) -> dict[str, Any]:
    async with aiohttp.ClientSession() as s, s.get(f"{stack.sim.url}/_sim/stats") as r:
        return await r.json()


async def test_aliyun_in_doubt_send_is_found_by_out_id_and_not_sent_again(stack: Stack, dispatcher):
    tenant = ALIYUN_TENANT
    message_id, phone = await _queued_points_message(stack, tenant)
    await _claim_and_die(stack, dispatcher, message_id, call_provider=True)
    lookups = (await _stats(stack))["lookups"].get("aliyun_sms", 0)

    await dispatcher.run_once()

    row = await _row(stack, tenant, message_id)
    # found by QuerySendDetails: recorded, and delivered as the provider's record says
    assert row["state"] == "delivered", row
    assert row["provider"] == "aliyun_sms" and row["attempts"] == 2
    at_provider = await stack.sent_for({message_id})
    assert len(at_provider) == 1 and at_provider[0]["to"] == phone.removeprefix("+86")
    stats = await _stats(stack)
    assert stats["lookups"]["aliyun_sms"] > lookups
    assert stats["duplicates"].get("aliyun_sms", 0) == 0


async def test_aliyun_in_doubt_claim_never_sent_is_sent_once_after_the_lookup(stack: Stack, dispatcher):
    tenant = ALIYUN_TENANT
    message_id, _ = await _queued_points_message(stack, tenant)
    await _claim_and_die(stack, dispatcher, message_id, call_provider=False)  # died before the call
    assert await stack.sent_for({message_id}) == []

    await dispatcher.run_once()

    row = await _row(stack, tenant, message_id)
    assert row["state"] in ("sent", "delivered") and row["provider_message_id"], row
    [sent] = await stack.sent_for({message_id})
    assert sent["provider_message_id"] == row["provider_message_id"]


async def test_a_provider_that_cannot_answer_keeps_the_claim_in_doubt_never_resent(stack: Stack, dispatcher):
    tenant = ALIYUN_TENANT
    message_id, _ = await _queued_points_message(stack, tenant)
    await _claim_and_die(stack, dispatcher, message_id, call_provider=True)
    await _only_this_message_is_due(stack, message_id)
    await stack.fault(provider="aliyun_sms", mode="down", count=1)  # the lookup gets a 503

    await dispatcher.run_once()

    row = await _row(stack, tenant, message_id)
    assert row["state"] == "sending", row
    assert row["last_error"].startswith("IN_DOUBT: aliyun_sms did not answer"), row
    assert len(await stack.sent_for({message_id})) == 1  # not sent again without an answer

    await _set_due(stack, message_id, 0)
    await dispatcher.run_once()
    row = await _row(stack, tenant, message_id)
    assert row["state"] == "delivered" and row["attempts"] == 3, row
    assert len(await stack.sent_for({message_id})) == 1


async def test_tencent_in_doubt_send_is_found_by_session_context_with_its_serial_no(stack: Stack, dispatcher):
    tenant = TENCENT_TENANT
    message_id, _ = await _queued_points_message(stack, tenant)
    await _claim_and_die(stack, dispatcher, message_id, call_provider=True)

    await dispatcher.run_once()

    row = await _row(stack, tenant, message_id)
    [sent] = await stack.sent_for({message_id})
    assert sent["provider"] == "tencent_sms"
    assert row["state"] == "delivered" and row["provider"] == "tencent_sms", row
    assert row["provider_message_id"] == sent["provider_message_id"]  # the SerialNo, receipts match it


async def test_a_send_without_an_answer_is_not_failed_over_but_looked_up_later(stack: Stack, dispatcher):
    """A provider that takes longer than the send timeout may still accept the message: failing
    over to Tencent or retrying would send it twice. It stays in doubt and is looked up."""
    tenant = ALIYUN_TENANT
    message_id, _ = await _queued_points_message(stack, tenant)
    await _only_this_message_is_due(stack, message_id)
    timeout_ms = dispatcher._settings.send_timeout_s * 1000
    await stack.fault(provider="aliyun_sms", mode="latency", latency_ms=int(timeout_ms + 500), count=1)

    await dispatcher.run_once()  # Alibaba answers too late: the dispatcher gave up waiting

    row = await _row(stack, tenant, message_id)
    assert row["state"] == "sending" and row["last_error"].startswith("IN_DOUBT: aliyun_sms did not answer")
    at_provider = await eventually(lambda: stack.sent_for({message_id}), what="Alibaba took it late")
    assert [m["provider"] for m in at_provider] == ["aliyun_sms"]  # not failed over to Tencent

    await _set_due(stack, message_id, 0)
    await dispatcher.run_once()
    row = await _row(stack, tenant, message_id)
    assert row["state"] == "delivered" and row["attempts"] == 2, row
    assert [m["provider"] for m in await stack.sent_for({message_id})] == ["aliyun_sms"]
