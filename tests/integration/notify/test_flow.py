"""Notify end to end on real PostgreSQL, NATS, members and the local provider servers.

Upstream action -> event -> queued message -> contact from members -> policy -> rendered text ->
provider server. Assertions are on what the provider servers received and on the message rows.
"""

# ruff: noqa: RUF001 - Chinese punctuation in expected message texts
from __future__ import annotations

import asyncio
import json
import subprocess
import time
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import aiohttp
import grpc
import pytest
import pytest_asyncio
from google.protobuf import field_mask_pb2
from google.protobuf.timestamp_pb2 import Timestamp
from peony.booking.v1 import appointments_pb2, feedback_pb2, waitlist_pb2
from peony.booking.v1 import booking_service_pb2 as bpb
from peony.booking.v1 import events_pb2 as booking_events
from peony.members.v1 import events_pb2 as members_events
from peony.members.v1 import member_pb2
from peony.members.v1 import members_service_pb2 as mpb
from peony.notify.v1 import message_pb2
from peony.notify.v1 import notify_service_pb2 as pb
from peony.wallet.v1 import checkout_pb2, ledger_pb2, points_pb2
from peony.wallet.v1 import events_pb2 as wallet_events
from peony.wallet.v1 import wallet_service_pb2 as wpb
from peony.wallet.v1 import wallet_service_pb2_grpc as wpb_grpc
from sqlalchemy import text

from cli.devstack import postgres_bin_dir
from cli.notify import retry as cli_retry
from kit.auth import mint_dev_token
from kit.config import load_config, to_async_url
from kit.messaging import new_envelope
from services.notify.adapters.providers.webhook import webhook_signature
from services.notify.domain.message import message_id_for
from services.wallet.entrypoints.app import build as build_wallet
from tests.integration.members.test_members_api import details
from tests.integration.notify.conftest import Stack, auth, eventually, new_phone, new_tenant, rid
from tests.support.booking import Harness, register_members, running_booking, stamp, weekly

pytestmark = pytest.mark.integration

SPEND_CAPPED = new_tenant()  # a tenant with a tiny daily SMS budget (see the notify fixture)
FLOOD = new_tenant()
SENT = ("sent", "delivered")  # a provider took it (the local servers post receipts at once)


def zone_at_hour(hour: int) -> str:
    """An IANA zone whose local hour is ``hour`` right now (Etc/GMT-N is UTC+N)."""
    offset = (hour - datetime.now(UTC).hour) % 24
    if offset > 14:
        offset -= 24
    return f"Etc/GMT{'-' if offset >= 0 else '+'}{abs(offset)}"


DAY = zone_at_hour(12)  # a store where it is midday now: no quiet hours in the way
NIGHT = zone_at_hour(23)  # a store where it is 23:00 now


def _ts(dt: datetime) -> Timestamp:
    out = Timestamp()
    out.FromDatetime(dt)
    return out


STAFF_TENANT = new_tenant()  # its store has a manager's contact in the staff directory
STAFF_EMAIL = "manager.shanghai@salon.example"
SLA_TENANT = new_tenant()  # booking's own ComplaintSlaBreached goes to this store's manager
SLA_EMAIL = "manager.sla@salon.example"


@pytest_asyncio.fixture(scope="module")
async def notify(stack: Stack) -> Stack:
    staff = stack.tmp / "staff.json"
    staff.write_text(
        json.dumps(
            {
                STAFF_TENANT: {"stores/s-hq": {"email": STAFF_EMAIL, "time_zone": "Asia/Shanghai"}},
                SLA_TENANT: {"stores/s-sla": {"email": SLA_EMAIL, "time_zone": DAY}},
            }
        )
    )
    await stack.start_notify(
        PEONY_NOTIFY_QUIET_HOURS="21:00-09:00",
        PEONY_NOTIFY_TENANT_SPEND_CAPS=f'{{"{SPEND_CAPPED}": 10}}',  # two SMS segments at 5 fen
        PEONY_NOTIFY_STAFF_CONTACTS_FILE=str(staff),
    )
    return stack


@pytest_asyncio.fixture(autouse=True)
async def _no_faults(stack: Stack):
    yield
    await stack.clear_faults()


async def _one_message(stack: Stack, tenant: str, trigger: str, *, states=SENT, within=30.0) -> dict:
    async def found():
        rows = [r for r in await stack.rows(tenant, trigger) if r["state"] in states]
        return rows or None

    rows = await eventually(found, within=within, what=f"a {trigger} message in {states}")
    assert len(rows) == 1, rows
    return rows[0]


async def _at_provider(stack: Stack, message_id: str) -> dict:
    got = await eventually(lambda: stack.sent_for({message_id}), what=f"{message_id} at a provider")
    assert len(got) == 1, got
    return got[0]


# --- triggers ------------------------------------------------------------------------------------
async def test_welcome_in_the_members_locale_by_sms_exactly_once(notify: Stack):
    tenant = new_tenant()
    store = await notify.store(tenant, DAY)
    zh_phone, en_phone = new_phone(), new_phone()
    zh = await notify.member(tenant, store, name="小美", phone=zh_phone)
    en = await notify.member(tenant, store, name="Amy", phone=en_phone, locale="en")

    for member, phone, body in (
        (zh, zh_phone, f"亲爱的小美，欢迎加入！您的会员号 {zh.member_number}。"),
        (en, en_phone, f"Welcome, Amy! Your member number is {en.member_number}."),
    ):
        rows = [r for r in await _rows_for(notify, tenant, "welcome", member.name)]
        row = rows[0]
        assert (row["channel"], row["body"], row["state"] in SENT) == ("sms", body, True)
        got = await _at_provider(notify, row["message_id"])
        assert got["provider"] == "aliyun_sms" and got["to"] == phone.removeprefix("+86")
        assert got["template_params"] == {"content": body}
        assert row["address_masked"] == f"{phone[3:6]}****{phone[-4:]}"
        assert phone not in str(row)

    # Read back through the API: status per member.
    listed = await notify.notify.ListMessages(
        pb.ListMessagesRequest(recipient=en.name), metadata=auth(tenant)
    )
    [message] = listed.messages
    assert message.state in (message_pb2.MESSAGE_STATE_SENT, message_pb2.MESSAGE_STATE_DELIVERED)
    assert message.locale == "en"
    assert message.provider == "aliyun_sms" and message.decision == "send on sms: ALLOWED"


async def _rows_for(stack: Stack, tenant: str, trigger: str, recipient: str) -> list[dict]:
    async def found():
        rows = [
            r for r in await stack.rows(tenant, trigger) if r["recipient"] == recipient and r["state"] in SENT
        ]
        return rows or None

    rows = await eventually(found, what=f"{trigger} for {recipient}")
    assert len(rows) == 1, rows
    return rows


async def test_wallet_and_booking_events_become_one_message_each_with_the_right_text(notify: Stack):
    tenant = new_tenant()
    store = await notify.store(tenant, DAY)  # quiet hours out of the way; times shown in the events' zone
    member = await notify.member(tenant, store, name="王静怡")
    start = datetime(2026, 12, 24, 6, 30, tzinfo=UTC)  # 14:30 in Shanghai
    cases = [
        (
            wallet_events.BalanceChanged(
                member=member.name, reason=1, delta_minor=50000, principal_minor=80000, currency_code="CNY"
            ),
            "top_up_notice",
            "您的会员账户充值 ¥500.00 已到账，当前余额 ¥800.00。",
        ),
        (
            wallet_events.BalanceChanged(
                member=member.name,
                reason=16,
                delta_minor=-12800,
                principal_minor=67200,
                bonus_minor=0,
                currency_code="CNY",
            ),
            "spend_notice",
            "您的会员账户消费 ¥128.00，当前余额 ¥672.00。如有疑问请联系门店。",
        ),
        (
            booking_events.ReminderDue(
                member=member.name,
                store=store,
                services=[booking_events.AppointmentServiceSummary(display_name="深层补水护理")],
                start_time=_ts(datetime.now(UTC) + timedelta(hours=2)),
                time_zone="Asia/Shanghai",
                minutes_before=120,
            ),
            "reminder",
            None,  # time-dependent; checked below
        ),
        (
            booking_events.AppointmentCancelled(
                member=member.name, store=store, start_time=_ts(start), time_zone="Asia/Shanghai"
            ),
            "appointment_cancelled",
            "您 12月24日周四 14:30 的预约已取消。",
        ),
        (
            booking_events.WaitlistOffered(
                member=member.name,
                store=store,
                start_time=_ts(start),
                time_zone="Asia/Shanghai",
                offer_expire_time=_ts(start - timedelta(hours=3)),
            ),
            "waitlist_offer",
            "候补通知：12月24日周四 14:30 有空位，请在 12月24日周四 11:30 前确认预约，逾期将让给下一位。",
        ),
    ]
    for event, _, _ in cases:
        await notify.publish(tenant, event)
    for _event, trigger, body in cases:
        row = await _one_message(notify, tenant, trigger)
        if body is not None:
            assert row["body"] == body, trigger
        got = await _at_provider(notify, row["message_id"])
        assert got["template_params"] == {"content": row["body"]}
    reminder = await _one_message(notify, tenant, "reminder")
    assert reminder["body"].startswith("到店提醒：您预约的深层补水护理将于 ")
    # A hold moves the balance too, but is not a spend the member is told about.
    await notify.publish(tenant, wallet_events.BalanceChanged(member=member.name, reason=5, delta_minor=-100))
    await notify.publish(
        tenant, wallet_events.BalanceChanged(member=member.name, reason=16, delta_minor=-100)
    )
    await eventually(lambda: _count(notify, tenant, "spend_notice", 2), what="the second spend notice")
    assert len(await notify.rows(tenant, "top_up_notice")) == 1


async def test_membership_events_from_the_wallet_become_transactional_messages(notify: Stack):
    """The paid membership's three wallet events (会员费): the fee's receipt, the renewal notice and
    the lapse, one message each in the member's locale, sent without marketing consent."""
    tenant = new_tenant()
    store = await notify.store(tenant, DAY)
    member = await notify.member(tenant, store, name="王静怡")
    # noon of 31 January in the store's zone (messages render dates in the store's zone)
    until = _ts(datetime(2027, 1, 31, 12, 0, tzinfo=ZoneInfo(DAY)))
    cases = [
        (
            wallet_events.MembershipRenewed(
                member=member.name, paid_until=until, renewal=True, fee_minor=36500, currency_code="CNY"
            ),
            "membership_renewed",
            ("王静怡，您已续费付费会员（¥365.00），有效期至 ", "。"),
        ),
        (
            wallet_events.MembershipRenewalDue(member=member.name, paid_until=until),
            "membership_renewal_due",
            ("王静怡，您的付费会员将于 ", " 到期，到店或结账时续费即可继续享受会员权益。"),
        ),
        (
            wallet_events.MembershipExpired(member=member.name, paid_until=until),
            "membership_expired",
            ("王静怡，您的付费会员已于 ", " 到期，续费后即可恢复会员权益。"),
        ),
    ]
    for event, _, _ in cases:
        await notify.publish(tenant, event)
    for _, trigger, (head, tail) in cases:
        row = await _one_message(notify, tenant, trigger)
        assert row["body"].startswith(head) and row["body"].endswith(tail), row["body"]
        assert "1月31日" in row["body"] and row["decision"] != "suppressed: NO_CONSENT", row
        await _at_provider(notify, row["message_id"])


async def _count(stack: Stack, tenant: str, trigger: str, n: int) -> bool:
    return len([r for r in await stack.rows(tenant, trigger) if r["state"] in SENT]) >= n


async def test_the_same_event_twice_is_one_message(notify: Stack):
    tenant = new_tenant()
    store = await notify.store(tenant, DAY)
    member = await notify.member(tenant, store)
    event = wallet_events.PointsEarned(member=member.name, points=120, points_available=520)
    envelope = await notify.publish(tenant, event)
    # The same event again under another NATS message id: the stream keeps both copies.
    await notify.js.publish(
        "peony.wallet.PointsEarned",
        envelope.SerializeToString(),
        headers={"Nats-Msg-Id": f"copy-{uuid.uuid4()}"},
    )
    row = await _one_message(notify, tenant, "points_earned")
    assert row["message_id"] == message_id_for(tenant, envelope.event_id, "points_earned", member.name)
    assert row["channel"] == "sms"  # WeChat and push come first for points, but this member has neither
    await _at_provider(notify, row["message_id"])


async def test_a_burst_of_events_of_two_tenants_with_bad_ones_among_them_queues_each_good_one_once(
    notify: Stack,
):
    """The consumer queues a fetched run of trigger events with one insert (handle_events): every
    good event of the burst is still exactly one message for its own tenant, a copy is still a
    duplicate, and an unreadable event or one without a tenant is isolated (dead-lettered) without
    holding the others back."""
    tenants = [new_tenant(), new_tenant()]
    members = {}
    for tenant in tenants:
        store = await notify.store(tenant, DAY)
        members[tenant] = [await notify.member(tenant, store) for _ in range(3)]
    good = []
    bad_subject = "peony.wallet.PointsEarned"
    no_tenant = new_envelope(
        wallet_events.PointsEarned(member=members[tenants[0]][0].name, points=1, points_available=1),
        tenant=tenants[0],
        aggregate_type="wallet",
        aggregate_id=str(uuid.uuid4()),
    )
    no_tenant.tenant = ""  # what no producer of ours writes (new_envelope refuses it)
    unreadable = new_envelope(
        wallet_events.PointsEarned(member=members[tenants[0]][0].name, points=1, points_available=1),
        tenant=tenants[0],
        aggregate_type="wallet",
        aggregate_id=str(uuid.uuid4()),
    )
    unreadable.payload.value = b"\xff\xff not a PointsEarned"
    publishes = []
    for i in range(12):
        tenant = tenants[i % 2]
        member = members[tenant][i % 3]
        event = wallet_events.PointsEarned(member=member.name, points=10 + i, points_available=500 + i)
        envelope = new_envelope(event, tenant=tenant, aggregate_type="wallet", aggregate_id=str(uuid.uuid4()))
        good.append((tenant, envelope, member.name))
        publishes.append((envelope, envelope.event_id))
        if i == 3:
            publishes.append((no_tenant, no_tenant.event_id))
        if i == 6:
            publishes.append((unreadable, unreadable.event_id))
        if i == 8:  # a copy of an earlier event under another NATS id: the stream keeps both
            publishes.append((good[2][1], f"copy-{uuid.uuid4()}"))
    await asyncio.gather(
        *(
            notify.js.publish(bad_subject, envelope.SerializeToString(), headers={"Nats-Msg-Id": msg_id})
            for envelope, msg_id in publishes
        )
    )
    expected = {
        message_id_for(tenant, envelope.event_id, "points_earned", member): tenant
        for tenant, envelope, member in good
    }
    await eventually(
        lambda: notify.sent_for(set(expected)),
        within=60,
        what="every good event's message at the provider",
    )

    async def all_sent():
        return len(await notify.sent_for(set(expected))) >= len(expected)

    await eventually(all_sent, within=60, what="all 12 messages at the provider")
    await asyncio.sleep(1)  # a duplicate would come right behind
    at_provider = await notify.sent_for(set(expected))
    assert sorted(m["message_id"] for m in at_provider) == sorted(expected)
    for tenant in tenants:
        rows = await notify.rows(tenant, "points_earned")
        assert sorted(r["message_id"] for r in rows) == sorted(m for m, t in expected.items() if t == tenant)
    async with notify.notify_db.connect() as conn:  # of any tenant, even the empty one
        bad_rows = await conn.scalar(
            text("SELECT count(*) FROM messages WHERE trigger_event_id = ANY(CAST(:ids AS uuid[]))"),
            {"ids": [unreadable.event_id, no_tenant.event_id]},
        )
    assert bad_rows == 0


# --- consent ---------------------------------------------------------------------------------------
async def test_consent_marketing_needs_opt_in_transactional_respects_opt_out(notify: Stack):
    tenant = new_tenant()
    store = await notify.store(tenant, DAY)
    no_consent = await notify.member(tenant, store, name="甲")
    opted_in = await notify.member(tenant, store, name="乙", consent=member_pb2.Consent(marketing_sms=True))
    openid = f"oPeony{uuid.uuid4().hex[:20]}"
    sms_out = await notify.member(
        tenant,
        store,
        name="丙",
        openid=openid,
        consent=member_pb2.Consent(transactional_sms_opt_out=True),
    )
    expire = _ts(datetime.now(UTC) + timedelta(days=7))
    for m in (no_consent, opted_in):
        await notify.publish(
            tenant, wallet_events.PointsExpiring(member=m.name, points=300, expire_time=expire)
        )
    await notify.publish(
        tenant,
        wallet_events.BalanceChanged(member=sms_out.name, reason=16, delta_minor=-5000, currency_code="CNY"),
    )

    async def settled():
        rows = await notify.rows(tenant, "points_expiring")
        return rows if len(rows) == 2 and all(r["state"] in (*SENT, "suppressed") for r in rows) else None

    rows = {r["recipient"]: r for r in await eventually(settled, what="both marketing messages decided")}
    assert rows[no_consent.name]["state"] == "suppressed"
    assert rows[no_consent.name]["decision"] == "suppressed: NO_CONSENT"
    assert rows[opted_in.name]["state"] in SENT and rows[opted_in.name]["channel"] == "sms"

    spend = await _one_message(notify, tenant, "spend_notice")
    assert spend["channel"] == "wechat"  # SMS opted out: the next channel in the trigger's order
    got = await _at_provider(notify, spend["message_id"])
    assert got["provider"] == "wechat_oa" and openid in str(got)
    assert openid not in str(spend)


# --- quiet hours -----------------------------------------------------------------------------------
async def test_quiet_hours_in_the_store_zone_defer_normal_messages_but_not_urgent_ones(notify: Stack):
    tenant = new_tenant()
    night_store = await notify.store(tenant, NIGHT)
    member = await notify.member(tenant, night_store, name="夜")
    welcome = await _one_message(notify, tenant, "welcome", states=("deferred",))
    local_due = welcome["due_time"].astimezone(ZoneInfo(NIGHT))
    assert (local_due.hour, local_due.minute) == (9, 0)  # the end of quiet hours, store-local
    assert timedelta(0) < welcome["due_time"] - datetime.now(UTC) <= timedelta(hours=11)
    assert welcome["decision"] == f"deferred until {local_due.isoformat()}: QUIET_HOURS"
    # An urgent notice (a spend) goes out at night all the same.
    await notify.publish(
        tenant, wallet_events.BalanceChanged(member=member.name, reason=16, delta_minor=-100)
    )
    spend = await _one_message(notify, tenant, "spend_notice")
    await _at_provider(notify, spend["message_id"])
    assert not await notify.sent_for({welcome["message_id"]})


# --- frequency caps --------------------------------------------------------------------------------
async def test_marketing_frequency_cap_three_a_day(notify: Stack):
    tenant = new_tenant()
    store = await notify.store(tenant, DAY)
    member = await notify.member(tenant, store, consent=member_pb2.Consent(marketing_sms=True))
    expire = _ts(datetime.now(UTC) + timedelta(days=7))
    for i in range(5):
        await notify.publish(
            tenant, wallet_events.PointsExpiring(member=member.name, points=10 + i, expire_time=expire)
        )

    async def settled():
        rows = await notify.rows(tenant, "points_expiring")
        return rows if len(rows) == 5 and all(r["state"] in (*SENT, "suppressed") for r in rows) else None

    rows = await eventually(settled, what="five marketing messages decided")
    assert sorted(r["state"] in SENT for r in rows) == [False] * 2 + [True] * 3
    assert {r["decision"] for r in rows if r["state"] == "suppressed"} == {"suppressed: FREQUENCY_CAP_DAY"}


# --- spend cap -------------------------------------------------------------------------------------
async def test_spend_cap_stops_marketing_sms_and_moves_transactional_to_free_channels(notify: Stack):
    tenant = SPEND_CAPPED  # 10 fen a day; an SMS segment costs 5 at the local Alibaba provider
    store = await notify.store(tenant, DAY)
    openid = f"oCap{uuid.uuid4().hex[:20]}"
    members = [
        await notify.member(
            tenant,
            store,
            name=f"会员{i}",
            openid=f"{openid}{i}",
            consent=member_pb2.Consent(marketing_sms=True),
        )
        for i in range(4)
    ]
    for m in members:  # transactional, SMS first
        await notify.publish(tenant, wallet_events.BalanceChanged(member=m.name, reason=16, delta_minor=-100))
    expire = _ts(datetime.now(UTC) + timedelta(days=7))
    for m in members:  # marketing; SMS is the only channel these members opted in to
        await notify.publish(
            tenant, wallet_events.PointsExpiring(member=m.name, points=5, expire_time=expire)
        )

    async def settled():
        rows = await notify.rows(tenant)
        done = [r for r in rows if r["state"] in (*SENT, "suppressed")]
        return rows if len(rows) == 12 and len(done) == 12 else None

    rows = await eventually(settled, what="welcomes, spend notices and marketing decided")
    sms = [r for r in rows if r["channel"] == "sms" and r["state"] in SENT]
    assert len(sms) == 2 and sum(r["cost_minor"] for r in rows) == 10  # never past the cap
    spend = [r for r in rows if r["trigger"] == "spend_notice"]
    assert all(r["state"] in SENT for r in spend)
    assert sum(r["channel"] == "wechat" for r in spend) >= 2  # transactional moved to a free channel
    marketing = [r for r in rows if r["trigger"] == "points_expiring"]
    assert {r["decision"] for r in marketing} == {"suppressed: SPEND_CAP"}
    assert len(await notify.sent_for({r["message_id"] for r in sms})) == 2
    async with notify.notify_db.connect() as conn:
        day = (
            await conn.execute(text("SELECT * FROM spend_daily WHERE tenant_id = :t"), {"t": tenant})
        ).one()
        assert day.spent_minor == 10 and day.cap_reached_at is not None
        caps = (
            await conn.execute(
                text(
                    "SELECT count(*) FROM outbox WHERE tenant_id = :t"
                    " AND event_type = 'peony.notify.v1.SpendCapReached'"
                ),
                {"t": tenant},
            )
        ).scalar_one()
    assert caps == 1


# --- providers: failover, retries, failure, re-send -------------------------------------------------
async def test_provider_down_fails_over_both_down_fails_then_retry_sends(notify: Stack):
    tenant = new_tenant()
    store = await notify.store(tenant, DAY)
    member = await notify.member(tenant, store)
    await _one_message(notify, tenant, "welcome")

    await notify.fault(provider="aliyun_sms", mode="down")
    await notify.publish(
        tenant, wallet_events.BalanceChanged(member=member.name, reason=16, delta_minor=-100)
    )
    over = await _one_message(notify, tenant, "spend_notice")
    assert over["provider"] == "tencent_sms"
    assert (await _at_provider(notify, over["message_id"]))["provider"] == "tencent_sms"

    await notify.fault(provider="tencent_sms", mode="down")
    await notify.publish(tenant, wallet_events.PointsEarned(member=member.name, points=1, points_available=1))
    failed = await _one_message(notify, tenant, "points_earned", states=("failed",))
    assert failed["attempts"] == 3  # two retries with backoff, then given up
    assert "aliyun_sms" in failed["last_error"] and "tencent_sms" in failed["last_error"]
    assert not await notify.sent_for({failed["message_id"]})

    await notify.clear_faults()
    name = f"messages/{failed['message_id']}"
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await notify.notify.RetryMessage(
            pb.RetryMessageRequest(name=name, request_id=rid()), metadata=auth(tenant, ["beautician"])
        )
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    retried = await notify.notify.RetryMessage(
        pb.RetryMessageRequest(name=name, request_id=rid()), metadata=auth(tenant)
    )
    assert retried.message.state == message_pb2.MESSAGE_STATE_QUEUED
    await _one_message(notify, tenant, "points_earned")
    await _at_provider(notify, failed["message_id"])
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await notify.notify.RetryMessage(
            pb.RetryMessageRequest(name=name, request_id=rid()), metadata=auth(tenant)
        )
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION


# --- staff audience ----------------------------------------------------------------------------------
async def test_complaint_sla_breach_without_a_staff_contact_is_suppressed_not_lost(notify: Stack):
    tenant = new_tenant()
    store = await notify.store(tenant, DAY)
    member = await notify.member(tenant, store)
    await notify.publish(
        tenant,
        booking_events.ComplaintSlaBreached(complaint="complaints/c1", member=member.name, store=store),
    )
    row = await _one_message(notify, tenant, "complaint_escalated", states=("suppressed",))
    assert row["recipient"] == store and row["decision"] == "suppressed: RECIPIENT_NOT_FOUND"


async def test_complaint_sla_breach_is_escalated_to_the_store_manager_by_email(notify: Stack):
    tenant = STAFF_TENANT
    store = await notify.store(tenant, DAY, store_id="s-hq")
    member = await notify.member(tenant, store)
    opened = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
    await notify.publish(
        tenant,
        booking_events.ComplaintSlaBreached(
            complaint="complaints/c-42",
            member=member.name,
            store=store,
            open_time=_ts(opened),
            first_response_due_time=_ts(opened + timedelta(hours=4)),
        ),
    )
    row = await _one_message(notify, tenant, "complaint_escalated")
    assert (row["recipient"], row["channel"], row["address_masked"]) == (store, "email", "m***@salon.example")
    assert row["body"] == (
        "【投诉超时】complaints/c-42 于 12月7日周一 10:00 提交，"
        "首次回复期限 12月7日周一 14:00 已过，请立即处理。"
    )
    mails = await eventually(lambda: _mails_to(notify, STAFF_EMAIL), what="the e-mail at the SMTP server")
    assert len(mails) == 1 and mails[0]["subject"] == "投诉超时未回复"
    assert mails[0]["text"].strip() == row["body"] and "<p>" in mails[0]["html"]
    # The member hears nothing of the escalation.
    assert [r["recipient"] for r in await notify.rows(tenant, "complaint_escalated")] == [store]


async def _mails_to(stack: Stack, address: str) -> list[dict]:
    return [m for m in await stack.sent("smtp") if m.get("to") == address]


async def test_every_trigger_turns_its_event_into_exactly_one_message(notify: Stack):
    """One event of each trigger's type, for one member: one message each, in en for an en member."""
    tenant = new_tenant()
    store = await notify.store(tenant, DAY)
    member = await notify.member(tenant, store, name="Amy", locale="en")
    await _one_message(notify, tenant, "welcome")
    soon = _ts(datetime.now(UTC) + timedelta(hours=3))
    svc = [booking_events.AppointmentServiceSummary(display_name="Facial")]
    events = {
        "tier_changed": members_events.TierChanged(
            member=member.name, from_tier_id="silver", to_tier_id="gold"
        ),
        "referral_reward": members_events.ReferralRewardEarned(
            referrer=member.name,
            referee=f"members/{uuid.uuid4()}",
            qualifying_spend_minor=30000,
            currency_code="CNY",
        ),
        "card_lost": members_events.CardReportedLost(member=member.name, card_number="C-12345678"),
        "top_up_notice": wallet_events.BalanceChanged(member=member.name, reason=1, delta_minor=100),
        "spend_notice": wallet_events.BalanceChanged(member=member.name, reason=3, delta_minor=-100),
        "points_earned": wallet_events.PointsEarned(member=member.name, points=5, points_available=5),
        "membership_renewed": wallet_events.MembershipRenewed(
            member=member.name, paid_until=soon, renewal=True, fee_minor=36500, currency_code="CNY"
        ),
        "membership_renewal_due": wallet_events.MembershipRenewalDue(member=member.name, paid_until=soon),
        "membership_expired": wallet_events.MembershipExpired(member=member.name, paid_until=soon),
        "appointment_booked": booking_events.AppointmentBooked(
            member=member.name, services=svc, start_time=soon
        ),
        "appointment_rescheduled": booking_events.AppointmentRescheduled(
            member=member.name, start_time=soon, previous_start_time=soon
        ),
        "appointment_cancelled": booking_events.AppointmentCancelled(member=member.name, start_time=soon),
        "reminder": booking_events.ReminderDue(member=member.name, services=svc, start_time=soon),
        "waitlist_offer": booking_events.WaitlistOffered(
            member=member.name, start_time=soon, offer_expire_time=soon
        ),
        "complaint_acknowledged": booking_events.ComplaintOpened(
            member=member.name, first_response_due_time=soon
        ),
    }
    for event in events.values():
        await notify.publish(tenant, event)
    for trigger in events:
        row = await _one_message(notify, tenant, trigger)
        assert row["locale"] == "en" and row["body"] and "{{" not in row["body"], trigger
        await _at_provider(notify, row["message_id"])
    # The marketing ones (points expiring, service-plan follow-ups) need consent: not this member.
    await notify.publish(tenant, booking_events.FollowUpDue(member=member.name, due_date="2026-12-24"))
    follow_up = await _one_message(notify, tenant, "follow_up", states=("suppressed",))
    assert follow_up["decision"] == "suppressed: NO_CONSENT"


async def test_a_campaign_message_is_the_campaigns_text_to_opted_in_members_only(notify: Stack):
    """members' CampaignMessageDue → one marketing message in the campaign's own words, with the
    member's name and points filled in; a member without consent is suppressed."""
    tenant = new_tenant()
    store = await notify.store(tenant, DAY)
    opted_in = await notify.member(tenant, store, name="小林", consent=member_pb2.Consent(marketing_sms=True))
    silent = await notify.member(tenant, store, name="小王")
    for m in (opted_in, silent):
        await notify.publish(
            tenant,
            members_events.CampaignMessageDue(
                campaign="campaigns/spring",
                member=m.name,
                body="{{ member.display_name }}，春季护理季送您 {{ event.points }} 积分",
                points=200,
                campaign_name="春季护理",
                store=store,
            ),
        )

    async def settled():
        rows = await notify.rows(tenant, "campaign_message")
        return rows if len(rows) == 2 and all(r["state"] in (*SENT, "suppressed") for r in rows) else None

    rows = {r["recipient"]: r for r in await eventually(settled, what="both campaign messages decided")}
    assert rows[silent.name]["decision"] == "suppressed: NO_CONSENT"
    sent = rows[opted_in.name]
    assert sent["state"] in SENT and sent["channel"] == "sms"
    assert sent["body"] == "小林，春季护理季送您 200 积分"


# --- templates -----------------------------------------------------------------------------------------
async def test_tenant_template_overrides_the_default_and_bad_ones_are_refused(notify: Stack):
    tenant = new_tenant()
    parent = "triggers/points_earned"

    async def create(body: str, template_id: str = "sms-zh-CN", roles=None):
        return await notify.notify.CreateTemplate(
            pb.CreateTemplateRequest(
                parent=parent,
                template_id=template_id,
                template=message_pb2.Template(body=body),
                request_id=rid(),
            ),
            metadata=auth(tenant, roles),
        )

    for body, template_id, field in [
        ("{{ event.points ", "sms-zh-CN", "template.body"),
        ("{{ event.phone }}", "sms-zh-CN", "template.body"),
        ("{{ secret }}", "sms-zh-CN", "template.body"),
        ("ok", "pigeon-zh-CN", "template_id"),
        ("ok", "sms-fr", "template_id"),
    ]:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await create(body, template_id)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT, body
        assert details(err.value)[1][:1] == [field], body
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await create("ok", roles=["beautician"])
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    async with notify.notify_db.connect() as conn:
        stored = (
            await conn.execute(text("SELECT count(*) FROM templates WHERE tenant_id = :t"), {"t": tenant})
        ).scalar_one()
    assert stored == 0  # nothing refused was written

    created = await create(
        "【{{ member.display_name }}】积分+{{ event.points }}，共 {{ event.points_available }}"
    )
    assert created.template.name == "triggers/points_earned/templates/sms-zh-CN"
    listed = await notify.notify.ListTemplates(pb.ListTemplatesRequest(parent=parent), metadata=auth(tenant))
    assert [(t.name, t.built_in) for t in listed.templates][:1] == [(created.template.name, False)]
    assert {t.name for t in listed.templates if t.built_in} == {
        "triggers/points_earned/templates/any-en",
        "triggers/points_earned/templates/any-zh-CN",
    }

    store = await notify.store(tenant, DAY)
    member = await notify.member(tenant, store, name="小美")
    await notify.publish(
        tenant, wallet_events.PointsEarned(member=member.name, points=88, points_available=388)
    )
    row = await _one_message(notify, tenant, "points_earned")
    assert row["body"] == "【小美】积分+88，共 388"


async def test_template_update_and_delete_refuse_bad_input_and_write_nothing(notify: Stack):
    """Updating a tenant template with a syntax error, an unknown variable or an unknown mask path
    is INVALID_ARGUMENT naming the field, and leaves the stored template as it was; a template of an
    unknown trigger, one the tenant never saved and another tenant's are NOT_FOUND."""
    tenant, other = new_tenant(), new_tenant()
    name = "triggers/points_earned/templates/sms-zh-CN"
    await notify.notify.CreateTemplate(
        pb.CreateTemplateRequest(
            parent="triggers/points_earned",
            template_id="sms-zh-CN",
            template=message_pb2.Template(body="积分+{{ event.points }}"),
            request_id=rid(),
        ),
        metadata=auth(tenant),
    )

    async def stored() -> list[tuple]:
        async with notify.notify_db.connect() as conn:
            result = await conn.execute(
                text(
                    "SELECT trigger, channel, locale, body, update_time FROM templates WHERE tenant_id = :t"
                ),
                {"t": tenant},
            )
            return [tuple(r) for r in result]

    before = await stored()
    for template, paths, field in [
        (message_pb2.Template(name=name, body="{{ event.points "), ["body"], "template.body"),
        (message_pb2.Template(name=name, body="{{ event.phone }}"), ["body"], "template.body"),
        (message_pb2.Template(name=name, body="ok"), ["body", "built_in"], "update_mask"),
    ]:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await notify.notify.UpdateTemplate(
                pb.UpdateTemplateRequest(
                    template=template, update_mask=field_mask_pb2.FieldMask(paths=paths), request_id=rid()
                ),
                metadata=auth(tenant),
            )
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT, template
        assert details(err.value)[1][:1] == [field], (template, details(err.value))
    assert await stored() == before

    refusals = [
        # an unknown trigger is a malformed name; the rest are names of nothing this tenant saved
        (
            tenant,
            "triggers/nope/templates/sms-zh-CN",
            ("INVALID_ARGUMENT", ["template.name"]),
            ("INVALID_ARGUMENT", ["name"]),
        ),
        (
            tenant,
            "triggers/points_earned/templates/email-en",
            ("TEMPLATE_NOT_FOUND", []),
            ("TEMPLATE_NOT_FOUND", []),
        ),
        (other, name, ("TEMPLATE_NOT_FOUND", []), ("TEMPLATE_NOT_FOUND", [])),
    ]
    for caller, target, on_update, on_delete in refusals:
        update = pb.UpdateTemplateRequest(
            template=message_pb2.Template(name=target, body="ok"), request_id=rid()
        )
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await notify.notify.UpdateTemplate(update, metadata=auth(caller))
        assert details(err.value) == on_update, (caller, target)
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await notify.notify.DeleteTemplate(
                pb.DeleteTemplateRequest(name=target, request_id=rid()), metadata=auth(caller)
            )
        assert details(err.value) == on_delete, (caller, target)
    assert await stored() == before


# --- privacy -------------------------------------------------------------------------------------------
async def test_notify_database_holds_no_address(notify: Stack):
    tenant = new_tenant()
    store = await notify.store(tenant, DAY)
    phone, email, openid = (
        new_phone(),
        f"pii-{uuid.uuid4().hex[:8]}@example.com",
        f"oPii{uuid.uuid4().hex[:16]}",
    )
    member = await notify.member(tenant, store, phone=phone, email=email, openid=openid)
    await _one_message(notify, tenant, "welcome")
    await notify.publish(tenant, wallet_events.PointsEarned(member=member.name, points=1, points_available=1))
    row = await _one_message(notify, tenant, "points_earned")
    assert row["channel"] == "wechat"
    dump = subprocess.run(
        [
            str(postgres_bin_dir() / "pg_dump"),
            notify.notify_url.replace("postgresql+asyncpg://", "postgresql://"),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert row["message_id"] in dump
    for secret in (phone, phone[3:], email, openid):
        assert secret not in dump


async def test_members_refuses_contact_resolution_to_anyone_but_notify(notify: Stack):
    tenant = new_tenant()
    store = await notify.store(tenant, DAY)
    member = await notify.member(tenant, store)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await notify.members.ResolveContact(
            mpb.ResolveContactRequest(name=member.name), metadata=auth(tenant, ["service"])
        )
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED


# --- delivery receipts ---------------------------------------------------------------------------------
async def test_receipts_through_the_gateway_mark_messages_delivered_or_failed(notify: Stack):
    tenant = new_tenant()
    store = await notify.store(tenant, DAY)
    member = await notify.member(tenant, store)
    # The local Alibaba server posts a signed SmsReport to the gateway right after accepting.
    delivered = await _one_message(notify, tenant, "welcome", states=("delivered",))
    assert delivered["deliver_time"] is not None and delivered["provider"] == "aliyun_sms"
    await notify.fault(provider="aliyun_sms", mode="none", receipt="failed")
    spend = wallet_events.BalanceChanged(member=member.name, reason=16, delta_minor=-100)
    await notify.publish(tenant, spend)
    failed = await _one_message(notify, tenant, "spend_notice", states=("failed",))
    assert failed["last_error"] == "aliyun_sms: MK:0001"
    async with notify.notify_db.connect() as conn:
        events = (
            (
                await conn.execute(
                    text("SELECT event_type FROM outbox WHERE tenant_id = :t ORDER BY seq"), {"t": tenant}
                )
            )
            .scalars()
            .all()
        )
    assert events.count("peony.notify.v1.MessageDelivered") == 1
    assert events.count("peony.notify.v1.MessageFailed") == 1


async def test_forged_malformed_and_unknown_receipts_are_refused_and_change_nothing(notify: Stack):
    tenant = new_tenant()
    store = await notify.store(tenant, DAY)
    await notify.member(tenant, store)
    row = await _one_message(notify, tenant, "welcome", states=("delivered",))
    url = f"{notify.gateway_url}/v1/notify/receipts"
    forged = (
        f'[{{"biz_id": "{row["provider_message_id"]}", "success": false, "err_code": "X",'
        ' "report_time": "2026-12-07 10:00:00"}]'
    )
    async with aiohttp.ClientSession() as s:
        # No signature (Alibaba authenticates its pushes with the configured token).
        unsigned = {"Content-Type": "application/json"}
        async with s.post(f"{url}/aliyun_sms", data=forged, headers=unsigned) as r:
            assert r.status == 400 and (await r.json())["error"]["status"] == "INVALID_ARGUMENT"
        # The right header scheme with a wrong token.
        bad = {"Authorization": "Basic YWxpeXVuX3Ntczpub3Bl", "Content-Type": "application/json"}
        async with s.post(f"{url}/aliyun_sms", data=forged, headers=bad) as r:
            assert r.status == 400
        async with s.post(f"{url}/aliyun_sms", data=b"\xff not json", headers=bad) as r:
            assert r.status == 400
        async with s.post(f"{url}/carrier_pigeon", data=b"[]") as r:
            assert r.status == 404
    after = [r for r in await notify.rows(tenant, "welcome")]
    assert after[0]["state"] == "delivered" and after[0]["last_error"] == ""
    async with notify.notify_db.connect() as conn:
        early = (await conn.execute(text("SELECT count(*) FROM early_receipts"))).scalar_one()
    assert early == 0  # refused receipts are not even parked
    # Only the gateway's identity may forward receipts to notify.
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await notify.notify.RecordReceipts(
            pb.RecordReceiptsRequest(provider="aliyun_sms", body=forged.encode()), metadata=auth(tenant)
        )
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_a_signed_receipt_naming_another_routes_message_never_touches_it(notify: Stack):
    """Receipts match messages by (provider, provider message id): a callback correctly signed by
    one provider account (the webhook gateway another tenant may route through) naming a message
    that went out through Alibaba — by its Alibaba id or by notify's own id — moves nothing and
    emits nothing for that message's tenant."""
    tenant = new_tenant()
    store = await notify.store(tenant, DAY)
    await notify.member(tenant, store)
    row = await _one_message(notify, tenant, "welcome", states=("delivered",))
    assert row["provider"] == "aliyun_sms"

    async def outbox() -> list[str]:
        async with notify.notify_db.connect() as conn:
            result = await conn.execute(
                text("SELECT event_type FROM outbox WHERE tenant_id = :t ORDER BY seq"), {"t": tenant}
            )
            return list(result.scalars())

    before = await outbox()
    secret = notify.provider_doc["providers"]["webhook_sms"]["secret"]
    async with aiohttp.ClientSession() as s:
        for foreign_id in (row["provider_message_id"], row["message_id"]):
            body = json.dumps(
                {
                    "receipts": [
                        {
                            "id": foreign_id,
                            "status": "failed",
                            "reason": "FORGED",
                            "occurred_at": datetime.now(UTC).isoformat(),
                        }
                    ]
                }
            ).encode()
            stamp = str(int(time.time()))
            headers = {
                "X-Peony-Timestamp": stamp,
                "X-Peony-Signature": webhook_signature(secret, stamp, body),
                "Content-Type": "application/json",
            }
            url = f"{notify.gateway_url}/v1/notify/receipts/webhook_sms"
            async with s.post(url, data=body, headers=headers) as r:
                assert r.status == 200, await r.text()  # genuine for its provider: acknowledged
    (after,) = [r for r in await notify.rows(tenant, "welcome")]
    assert (after["state"], after["last_error"], after["deliver_time"]) == (
        "delivered",
        "",
        row["deliver_time"],
    )
    assert await outbox() == before  # no MessageFailed


async def test_peony_notify_retry_all_failed_requeues_dead_lettered_messages(notify: Stack):
    tenant = new_tenant()
    store = await notify.store(tenant, DAY)
    member = await notify.member(tenant, store)
    await _one_message(notify, tenant, "welcome")
    await notify.fault(provider="aliyun_sms", mode="error", code="isv.BUSINESS_LIMIT_CONTROL")
    await notify.fault(provider="tencent_sms", mode="down")
    for points in (1, 2):
        await notify.publish(tenant, wallet_events.PointsEarned(member=member.name, points=points))

    async def both_failed():
        rows = await notify.rows(tenant, "points_earned")
        return rows if len(rows) == 2 and all(r["state"] == "failed" for r in rows) else None

    failed = await eventually(both_failed, what="two failed messages")
    await notify.clear_faults()
    token = mint_dev_token(tenant=tenant, subject="user:ops", roles=["hq_admin"])
    done = await cli_retry(notify.notify_addr, token, [], all_failed=True, trigger="points_earned")
    assert sorted(done) == sorted(f"messages/{r['message_id']}" for r in failed)
    await eventually(lambda: _count(notify, tenant, "points_earned", 2), what="both re-sent")
    assert len(await notify.sent_for({r["message_id"] for r in failed})) == 2


async def test_rest_through_the_gateway_templates_and_message_status(notify: Stack):
    tenant = new_tenant()
    headers = {"Authorization": auth(tenant)[0][1]}
    base = notify.gateway_url
    async with aiohttp.ClientSession(headers=headers) as s:
        url = f"{base}/v1/triggers/reminder/templates?templateId=sms-en&requestId={rid()}"
        async with s.post(url, json={"body": "{{ event.start_time|datetime "}) as r:
            body = await r.json()
            assert r.status == 400, body
            fields = [v["field"] for d in body["error"]["details"] for v in d.get("fieldViolations", [])]
            assert fields == ["template.body"]
        async with s.post(url, json={"body": "See you {{ event.start_time|datetime }}"}) as r:
            assert r.status == 200, await r.text()
            assert (await r.json())["template"]["name"] == "triggers/reminder/templates/sms-en"
        async with s.get(f"{base}/v1/triggers/reminder/templates/sms-en") as r:
            assert r.status == 200 and (await r.json())["template"]["body"].startswith("See you")
        store = await notify.store(tenant, DAY)
        member = await notify.member(tenant, store)
        await _one_message(notify, tenant, "welcome")
        async with s.get(f"{base}/v1/messages", params={"recipient": member.name}) as r:
            listed = (await r.json())["messages"]
            assert [m["trigger"] for m in listed] == ["welcome"]
            assert listed[0]["state"] in ("MESSAGE_STATE_SENT", "MESSAGE_STATE_DELIVERED")
        async with s.get(f"{base}/v1/messages", params={"trigger": "welcome"}) as r:
            assert len((await r.json())["messages"]) == 1


# --- upstream actions through the public APIs ------------------------------------------------------
@pytest_asyncio.fixture(scope="module")
async def wallet(stack: Stack):
    """The wallet service in process (it learns members from members' events, as in production)."""
    url = to_async_url(await stack.infra.amigrated_database("wallet"))
    runner = await build_wallet(
        load_config(
            "wallet",
            {
                "PEONY_WALLET_DATABASE_URL": url,
                "PEONY_NATS_URL": stack.infra.nats_url,
                "PEONY_WALLET_GRPC_PORT": "0",
                "PEONY_SHUTDOWN_GRACE_SECONDS": "2",
                "PEONY_MEMBERS_ADDR": stack.members_addr,  # read-through on a projection miss
            },
        )
    )
    port = await runner.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield wpb_grpc.WalletServiceStub(channel)
    finally:
        await channel.close()
        await runner.stop()


async def test_top_up_through_the_wallet_api_sends_the_balance_in_the_members_locale(notify: Stack, wallet):
    tenant = new_tenant()
    store = await notify.store(tenant, DAY)
    zh = await notify.member(tenant, store, name="小美")
    en = await notify.member(tenant, store, name="Amy", locale="en")
    for member, amount in ((zh, 50_000), (en, 12_345)):

        async def top_up(member=member, amount=amount):
            try:
                return await wallet.TopUp(
                    wpb.TopUpRequest(
                        member=member.name,
                        amount_minor=amount,
                        currency_code="CNY",
                        tender=ledger_pb2.TENDER_WECHAT_PAY,
                        store=store,
                        request_id=f"topup-{member.name.split('/')[1]}",
                    ),
                    metadata=auth(tenant),
                )
            except grpc.aio.AioRpcError as err:  # the wallet has not seen the registration yet
                if err.code() == grpc.StatusCode.NOT_FOUND:
                    return None
                raise

        await eventually(top_up, what="the wallet accepts the top-up")
    rows = {r["recipient"]: r for r in await _settled(notify, tenant, "top_up_notice", 2)}
    assert rows[zh.name]["body"] == "您的会员账户充值 ¥500.00 已到账，当前余额 ¥500.00。"
    assert rows[en.name]["body"] == "Your top-up of CN¥123.45 has arrived. Balance: CN¥123.45."
    for row in rows.values():
        await _at_provider(notify, row["message_id"])


async def test_card_lost_and_tier_change_through_the_members_api(notify: Stack):
    tenant = new_tenant()
    store = await notify.store(tenant, DAY)
    member = await notify.member(tenant, store, name="小美")
    card = (
        await notify.members.IssueCard(
            mpb.IssueCardRequest(parent=member.name, card_number="PEONY-0000-8888", request_id=rid()),
            metadata=auth(tenant),
        )
    ).card
    await notify.members.ReportCardLost(
        mpb.ReportCardLostRequest(name=card.name, request_id=rid()), metadata=auth(tenant)
    )
    lost = await _one_message(notify, tenant, "card_lost")
    assert lost["body"].startswith("【安全提醒】您尾号 8888 的会员卡已挂失")
    assert lost["channel"] == "sms"
    await notify.members.SetMemberTier(
        mpb.SetMemberTierRequest(name=member.name, tier_id="gold", reason="VIP", request_id=rid()),
        metadata=auth(tenant),
    )
    tier = await _one_message(notify, tenant, "tier_changed")
    assert tier["body"].startswith("小美，您的会员等级已由 ") and tier["body"].endswith(" 变更为 gold。")


async def _settled(stack: Stack, tenant: str, trigger: str, n: int, *, within: float = 30.0) -> list[dict]:
    async def found():
        rows = [r for r in await stack.rows(tenant, trigger) if r["state"] in SENT]
        return rows if len(rows) >= n else None

    rows = await eventually(found, within=within, what=f"{n} {trigger} messages")
    assert len(rows) == n, rows
    return rows


async def _top_up_and_check_out(
    wallet, tenant: str, store: str, member, spend: int = 15_000
) -> wpb.CheckoutResponse:
    """¥500 topped up, then a facial (¥150 unless ``spend``) paid from stored value with the PIN
    (earning points)."""
    mid = member.name.split("/")[1]

    async def top_up():
        try:
            return await wallet.TopUp(
                wpb.TopUpRequest(
                    member=member.name,
                    amount_minor=50_000,
                    currency_code="CNY",
                    tender=ledger_pb2.TENDER_CASH,
                    store=store,
                    request_id=f"checkout-topup-{mid}",
                ),
                metadata=auth(tenant),
            )
        except grpc.aio.AioRpcError as err:  # the wallet has not seen the registration yet
            if err.code() == grpc.StatusCode.NOT_FOUND:
                return None
            raise

    await eventually(top_up, what="the wallet accepts the top-up")
    pin = wpb.SetPaymentPinRequest(member=member.name, pin="204816", request_id=rid())
    await wallet.SetPaymentPin(pin, metadata=auth(tenant))
    done = await wallet.Checkout(
        wpb.CheckoutRequest(
            member=member.name,
            store=store,
            lines=[
                checkout_pb2.CheckoutLine(
                    item="services/facial", category="facial", quantity=1, list_price_minor=spend
                )
            ],
            stored_value_minor=spend,
            payment_pin="204816",
            request_id=rid(),
        ),
        metadata=auth(tenant),
    )
    assert done.wallet.principal_minor == 50_000 - spend and done.wallet.points_available > 0
    return done


async def test_checkout_through_the_wallet_api_sends_spend_notice_and_points(notify: Stack, wallet):
    """A real Checkout paid from stored value: the wallet's BalanceChanged (CHECKOUT) becomes one
    spend notice by SMS with the remaining balance, its PointsEarned one points message; zh-CN and
    en members each get their locale's text."""
    tenant = new_tenant()
    store = await notify.store(tenant, DAY)
    zh = await notify.member(tenant, store, name="小美")
    en = await notify.member(tenant, store, name="Amy", locale="en")
    points = {
        m.name: (await _top_up_and_check_out(wallet, tenant, store, m)).wallet.points_available
        for m in (zh, en)
    }
    spends = {r["recipient"]: r for r in await _settled(notify, tenant, "spend_notice", 2)}
    assert spends[zh.name]["channel"] == spends[en.name]["channel"] == "sms"
    assert spends[zh.name]["body"] == "您的会员账户消费 ¥150.00，当前余额 ¥350.00。如有疑问请联系门店。"
    assert spends[en.name]["body"] == (
        "You spent CN¥150.00 from your account. Balance: CN¥350.00. Questions? Contact the store."
    )
    earned = {r["recipient"]: r for r in await _settled(notify, tenant, "points_earned", 2)}
    for member in (zh, en):
        assert earned[member.name]["channel"] == "sms"  # no WeChat / push address: the next in order
    # the whole checkout earned the points here (no earlier balance of points)
    zp, ep = points[zh.name], points[en.name]
    assert earned[zh.name]["body"].startswith(f"您获得 {zp} 积分，当前可用积分 {zp}")
    assert earned[en.name]["body"].startswith(f"You earned {ep} points; {ep} available")
    for row in (*spends.values(), *earned.values()):
        got = await _at_provider(notify, row["message_id"])
        assert got["provider"] == "aliyun_sms"


async def test_points_expiring_from_the_wallet_job_reaches_members_who_opted_in(notify: Stack, wallet):
    """Points earned at a real checkout under a 10-day expiry policy are inside the 30-day notice:
    the wallet's job publishes PointsExpiring, notify sends one marketing SMS (opted in) with the
    expiry date in the store's zone, in each member's locale."""
    tenant = new_tenant()
    store = await notify.store(tenant, DAY)
    await wallet.UpdatePointsPolicy(
        wpb.UpdatePointsPolicyRequest(
            points_policy=points_pb2.PointsPolicy(
                name="pointsPolicy", expiry_policy=points_pb2.POINTS_EXPIRY_POLICY_DAYS, expiry_days=10
            ),
            update_mask=field_mask_pb2.FieldMask(paths=["expiry_policy", "expiry_days"]),
            request_id=rid(),
        ),
        metadata=auth(tenant),
    )
    opted_in = member_pb2.Consent(marketing_sms=True)
    zh = await notify.member(tenant, store, name="小美", consent=opted_in)
    en = await notify.member(tenant, store, name="Amy", locale="en", consent=opted_in)
    for member in (zh, en):
        await _top_up_and_check_out(wallet, tenant, store, member)
    rows = {r["recipient"]: r for r in await _settled(notify, tenant, "points_expiring", 2)}
    for member in (zh, en):
        lots = await wallet.ListPointLots(wpb.ListPointLotsRequest(parent=member.name), metadata=auth(tenant))
        (lot,) = lots.point_lots
        day = lot.expire_time.ToDatetime(tzinfo=UTC).astimezone(ZoneInfo(DAY)).date()
        row = rows[member.name]
        assert row["channel"] == "sms" and row["decision"].startswith("send on sms")
        if member is zh:
            assert (
                row["body"]
                == f"您有 {lot.remaining} 积分将于 {day.year}年{day.month}月{day.day}日 到期，请及时使用。"
            )
        else:
            assert row["body"] == (
                f"{lot.remaining} of your points expire on {day:%b} {day.day}, {day.year}."
                " Use them before then."
            )
        await _at_provider(notify, row["message_id"])


async def test_referral_reward_reaches_the_referrer_when_the_referees_checkouts_qualify(
    notify: Stack, wallet
):
    """The referee registers with the referrer's code and spends ¥500 (the default threshold) at a
    real wallet checkout; members rewards the referral; the referrer, not the referee, gets one
    message in their own locale."""
    tenant = new_tenant()
    store = await notify.store(tenant, DAY)
    for name, locale, body in (
        ("小美", "", "小美，您推荐的好友已完成消费 ¥500.00，推荐奖励已发放到您的账户。"),
        ("Amy", "en", "Amy, a friend you referred spent CN¥500.00; your referral reward is in your account."),
    ):
        referrer = await notify.member(tenant, store, name=name, locale=locale)
        referee = (
            await notify.members.RegisterMember(
                mpb.RegisterMemberRequest(
                    member=member_pb2.Member(display_name="朋友", phone=new_phone(), home_store=store),
                    referral_code=referrer.referral_code,
                    request_id=rid(),
                ),
                metadata=auth(tenant),
            )
        ).member
        assert referee.referrer == referrer.name
        await _top_up_and_check_out(wallet, tenant, store, referee, spend=50_000)
        rows = [
            r for r in await _settled(notify, tenant, "referral_reward", 1) if r["recipient"] == referrer.name
        ]
        assert len(rows) == 1 and rows[0]["body"] == body, rows
        await _at_provider(notify, rows[0]["message_id"])
        tenant = new_tenant()  # the next pair in a tenant of its own, so each count is exact
        store = await notify.store(tenant, DAY)


# --- booking through its API ---------------------------------------------------------------------
ZH_WEEKDAYS = "一二三四五六日"


def zh_when(at: datetime, zone: str) -> str:
    """How the zh-CN templates show an instant in the store's zone, e.g. 12月24日周四 14:30."""
    d = at.astimezone(ZoneInfo(zone))
    return f"{d.month}月{d.day}日周{ZH_WEEKDAYS[d.weekday()]} {d:%H:%M}"


def en_when(at: datetime, zone: str) -> str:
    """How the en templates show it, e.g. Thu, Dec 24 14:30."""
    d = at.astimezone(ZoneInfo(zone))
    return f"{d:%a}, {d:%b} {d.day} {d:%H:%M}"


@pytest_asyncio.fixture(scope="module")
async def booking(stack: Stack):
    """The booking service in process, its jobs (reminders, follow-ups, SLAs) every 0.2 s. Its
    member and store projections are seeded per test (no read-through in this stack)."""
    async with running_booking(
        stack.infra, "notify_booking", {"PEONY_BOOKING_JOBS_INTERVAL_SECONDS": "0.2"}
    ) as server:
        yield server


async def _booking_tenant(
    notify: Stack, booking, zone: str, *, tenant: str = "", store_id: str = "", hours=("00:00", "23:59")
) -> tuple[str, str, Harness]:
    """A tenant with a store in members (for notify) and in booking (its zone), a 深层补水护理
    service and a beautician working ``hours`` (all day) every day."""
    h = Harness.of(booking)
    h.tenant = tenant or h.tenant
    store = await notify.store(h.tenant, zone, store_id=store_id)
    store_id = store.removeprefix("stores/")
    await h.store(store_id, zone)
    await h.service("hydra", display_name="深层补水护理", duration_minutes=60, list_price_minor=28_800)
    await h.staff(store_id, "anna", weekly_hours=weekly(*hours))
    return h.tenant, store, h


async def _book(h: Harness, store: str, member: str, start: datetime):
    request = h.booking(store.removeprefix("stores/"), ["services/hydra"], start)
    request.member = member
    return (await h.stub.BookAppointment(request, metadata=h.hq)).appointment


async def test_booking_lifecycle_and_both_reminders_through_the_booking_api(notify: Stack, booking):
    """Booked, the 2 h and 24 h ReminderDue (booking's scheduler fires them: the starts are 2 h and
    24 h and a few seconds away), rescheduled and cancelled, each through booking's gRPC API: one
    message each, by the trigger's channel order, with times in the store's zone, zh-CN and en."""
    zone = DAY
    tenant, store, h = await _booking_tenant(notify, booking, zone)
    zh = await notify.member(tenant, store, name="小美")
    en = await notify.member(tenant, store, name="Amy", locale="en")
    await register_members(booking.engine, tenant, *(m.name.split("/")[1] for m in (zh, en)))
    starts = {}
    appointments = {}
    for i, member in enumerate((zh, en)):
        # zh: 2 h and ~15 s away, so the 120-minute reminder is due in ~15 s (the 24 h one is past,
        # skipped); en: 24 h and ~15 s away, so its 24 h reminder is due then
        start = (datetime.now(UTC) + timedelta(hours=(2, 24)[i], seconds=15)).replace(microsecond=0)
        starts[member.name] = start
        appointments[member.name] = await _book(h, store, member.name, start)

    booked = {r["recipient"]: r for r in await _settled(notify, tenant, "appointment_booked", 2)}
    reminders = {r["recipient"]: r for r in await _settled(notify, tenant, "reminder", 2)}
    z, e = starts[zh.name], starts[en.name]
    assert booked[zh.name]["body"] == f"预约成功：深层补水护理，{zh_when(z, zone)}。期待您的光临！"
    assert booked[en.name]["body"] == f"Booked: 深层补水护理 on {en_when(e, zone)}. See you soon!"
    assert reminders[zh.name]["channel"] == reminders[en.name]["channel"] == "sms"
    assert reminders[en.name]["body"] == f"Reminder: your 深层补水护理 starts {en_when(e, zone)}."
    assert (
        reminders[zh.name]["body"]
        == f"到店提醒：您预约的深层补水护理将于 {zh_when(z, zone)} 开始，请准时到店。"
    )

    for member in (zh, en):
        moved = starts[member.name] + timedelta(hours=5)
        await h.stub.RescheduleAppointment(
            bpb.RescheduleAppointmentRequest(
                name=appointments[member.name].name,
                start_time=stamp(moved),
                staff_override=True,
                override_reason="notify test",
                request_id=rid(),
            ),
            metadata=h.hq,
        )
        await h.stub.CancelAppointment(
            bpb.CancelAppointmentRequest(name=appointments[member.name].name, request_id=rid()), metadata=h.hq
        )
    moved_rows = {r["recipient"]: r for r in await _settled(notify, tenant, "appointment_rescheduled", 2)}
    cancelled = {r["recipient"]: r for r in await _settled(notify, tenant, "appointment_cancelled", 2)}
    z2, e2 = z + timedelta(hours=5), e + timedelta(hours=5)
    assert moved_rows[zh.name]["body"] == f"您的预约已改至 {zh_when(z2, zone)}（原定 {zh_when(z, zone)}）。"
    assert (
        moved_rows[en.name]["body"]
        == f"Your appointment moved to {en_when(e2, zone)} (was {en_when(e, zone)})."
    )
    assert cancelled[zh.name]["body"] == f"您 {zh_when(z2, zone)} 的预约已取消。"
    assert cancelled[en.name]["body"] == f"Your appointment on {en_when(e2, zone)} is cancelled."
    for row in (*booked.values(), *reminders.values(), *moved_rows.values(), *cancelled.values()):
        await _at_provider(notify, row["message_id"])
    # nothing more: the cancelled appointments' remaining reminders never fire
    assert len(await notify.rows(tenant, "reminder")) == 2


async def test_waitlist_offer_through_the_booking_api_names_the_slot_and_when_it_lapses(
    notify: Stack, booking
):
    """One beautician, one hour tomorrow, booked; two members join the waitlist for it. The booking
    is cancelled: the first gets the offer (SMS, with the slot and the lapse time); she declines and
    the second gets it, in English."""
    zone = DAY
    tenant, store, h = await _booking_tenant(notify, booking, zone, hours=("14:00", "15:00"))
    holder = await notify.member(tenant, store, name="占位")
    zh = await notify.member(tenant, store, name="小美")
    en = await notify.member(tenant, store, name="Amy", locale="en")
    await register_members(booking.engine, tenant, *(m.name.split("/")[1] for m in (holder, zh, en)))
    tomorrow = datetime.now(ZoneInfo(zone)).date() + timedelta(days=1)
    slot = datetime.combine(tomorrow, datetime.min.time().replace(hour=14), ZoneInfo(zone)).astimezone(UTC)
    taken = await _book(h, store, holder.name, slot)
    entries = {}
    for member in (zh, en):
        joined = await h.stub.JoinWaitlist(
            bpb.JoinWaitlistRequest(
                waitlist_entry=waitlist_pb2.WaitlistEntry(
                    member=member.name,
                    store=store,
                    service="services/hydra",
                    date=tomorrow.isoformat(),
                    channel=appointments_pb2.BOOKING_CHANNEL_STORE,
                ),
                request_id=rid(),
            ),
            metadata=h.hq,
        )
        entries[member.name] = joined.waitlist_entry.name
    await h.stub.CancelAppointment(
        bpb.CancelAppointmentRequest(name=taken.name, request_id=rid()), metadata=h.hq
    )

    async def offer_of(member) -> waitlist_pb2.WaitlistOffer:
        got = await h.stub.GetWaitlistEntry(
            bpb.GetWaitlistEntryRequest(name=entries[member.name]), metadata=h.hq
        )
        return got.waitlist_entry.offer

    (first,) = await _settled(notify, tenant, "waitlist_offer", 1)
    offer = await offer_of(zh)
    lapse = offer.expire_time.ToDatetime(tzinfo=UTC)
    assert first["recipient"] == zh.name and first["channel"] == "sms"
    assert first["body"] == (
        f"候补通知：{zh_when(slot, zone)} 有空位，请在 {zh_when(lapse, zone)} 前确认预约，逾期将让给下一位。"
    )
    await h.stub.DeclineWaitlistOffer(
        bpb.DeclineWaitlistOfferRequest(name=entries[zh.name], request_id=rid()), metadata=h.hq
    )
    rows = await _settled(notify, tenant, "waitlist_offer", 2)
    (second,) = [r for r in rows if r["recipient"] == en.name]
    lapse = (await offer_of(en)).expire_time.ToDatetime(tzinfo=UTC)
    assert second["body"] == (
        f"A slot opened on {en_when(slot, zone)}. Confirm before {en_when(lapse, zone)}"
        " or it goes to the next person."
    )
    for row in rows:
        await _at_provider(notify, row["message_id"])


def _minute_after(at: datetime, margin: timedelta) -> datetime:
    """The first whole minute at least ``margin`` after ``at``."""
    t = at + margin
    return t.replace(second=0, microsecond=0) + timedelta(minutes=1)


async def test_follow_up_at_store_local_time_and_complaint_sla_through_booking(notify: Stack, booking):
    """Service plan: completing a 深层补水护理 schedules a follow-up whose reminder fires at the
    policy's store-local time (set to the next minute here): FollowUpDue reaches the opted-in
    member then, not before. Complaints: OpenComplaint is acknowledged to the member at once and,
    the 1-minute first-response SLA lapsing, booking's ComplaintSlaBreached is e-mailed to the
    store's manager. Both waits overlap."""
    zone = DAY
    tenant, store, h = await _booking_tenant(notify, booking, zone, tenant=SLA_TENANT, store_id="s-sla")
    store_id = store.removeprefix("stores/")
    await h.service("essence", display_name="精华护理", duration_minutes=30, list_price_minor=9_900)
    await h.staff(store_id, "bella", weekly_hours=weekly("00:00", "23:59"))
    opted_in = member_pb2.Consent(marketing_sms=True)
    zh = await notify.member(tenant, store, name="小美", consent=opted_in)
    en = await notify.member(tenant, store, name="Amy", locale="en", consent=opted_in)
    await register_members(booking.engine, tenant, *(m.name.split("/")[1] for m in (zh, en)))
    remind_at = _minute_after(datetime.now(UTC), timedelta(seconds=25))
    local_remind = remind_at.astimezone(ZoneInfo(zone))
    await h.stub.UpdateBookingPolicy(
        bpb.UpdateBookingPolicyRequest(
            booking_policy=appointments_pb2.BookingPolicy(
                name="bookingPolicy",
                follow_up_remind_time=f"{local_remind:%H:%M}",
                complaint_first_response_minutes=1,
            ),
            update_mask=field_mask_pb2.FieldMask(
                paths=["follow_up_remind_time", "complaint_first_response_minutes"]
            ),
            request_id=rid(),
        ),
        metadata=h.hq,
    )
    await h.stub.CreateServicePlan(
        bpb.CreateServicePlanRequest(
            service_plan=appointments_pb2.ServicePlan(
                display_name="补水 → 精华",
                trigger_service="services/hydra",
                follow_up_service="services/essence",
                follow_up_after_days=7,
                remind_days_before=7,  # the reminder falls on the completion's local date
            ),
            request_id=rid(),
        ),
        metadata=h.hq,
    )
    complaints = {}
    start = datetime.now(UTC) + timedelta(seconds=3)  # completing needs the visit to have started
    visits = {}
    for member, staff in ((zh, "anna"), (en, "bella")):
        request = h.booking(store_id, ["services/hydra"], start)
        request.member = member.name
        request.preferred_staff = f"stores/{store_id}/staff/{staff}"
        visits[member.name] = (await h.stub.BookAppointment(request, metadata=h.hq)).appointment
    await asyncio.sleep(max(0.0, (start - datetime.now(UTC)).total_seconds()) + 0.2)
    for member in (zh, en):
        appointment = visits[member.name]
        for call, req in (
            (h.stub.CheckInAppointment, bpb.CheckInAppointmentRequest),
            (h.stub.CompleteAppointment, bpb.CompleteAppointmentRequest),
        ):
            await call(req(name=appointment.name, request_id=rid()), metadata=h.hq)
        opened = await h.stub.OpenComplaint(
            bpb.OpenComplaintRequest(
                complaint=feedback_pb2.Complaint(
                    member=member.name,
                    store=store,
                    category=feedback_pb2.COMPLAINT_CATEGORY_SERVICE_QUALITY,
                    description="等了很久",
                    channel=appointments_pb2.BOOKING_CHANNEL_STORE,
                ),
                request_id=rid(),
            ),
            metadata=h.hq,
        )
        complaints[member.name] = opened.complaint
    assert datetime.now(UTC) < remind_at  # the follow-ups were scheduled before their time

    acks = {r["recipient"]: r for r in await _settled(notify, tenant, "complaint_acknowledged", 2)}
    zdue = complaints[zh.name].first_response_due_time.ToDatetime(tzinfo=UTC)
    edue = complaints[en.name].first_response_due_time.ToDatetime(tzinfo=UTC)
    assert acks[zh.name]["body"] == (
        f"我们已收到您的反馈，门店将在 {zh_when(zdue, zone)} 前与您联系。感谢您的耐心。"
    )
    assert acks[en.name]["body"] == (
        f"We received your feedback; the store will contact you by {en_when(edue, zone)}."
    )
    assert await notify.rows(tenant, "follow_up") == []  # not before its store-local time

    scheduled = await h.stub.ListFollowUps(bpb.ListFollowUpsRequest(member=zh.name), metadata=h.hq)
    assert [f.remind_time.ToDatetime(tzinfo=UTC) for f in scheduled.follow_ups] == [remind_at]
    wait = (remind_at - datetime.now(UTC)).total_seconds() + 30
    follow = {r["recipient"]: r for r in await _settled(notify, tenant, "follow_up", 2, within=wait)}
    due = (local_remind + timedelta(days=7)).date()
    assert follow[zh.name]["body"] == (
        f"小美，根据您的护理计划，建议您于 {due.year}年{due.month}月{due.day}日 前后预约「精华护理」。"
    )
    assert follow[en.name]["body"] == (
        f"Amy, your care plan suggests booking 精华护理 around {due:%b} {due.day}, {due.year}."
    )
    for row in follow.values():
        assert row["create_time"] >= remind_at and row["channel"] == "sms"
        await _at_provider(notify, row["message_id"])

    # The SLA sweep is a booking job and the escalation crosses two consumers: allow for a loaded
    # machine (the wait ends as soon as both arrive).
    escalated = {
        r["message_id"]: r for r in await _settled(notify, tenant, "complaint_escalated", 2, within=90)
    }
    assert {r["recipient"] for r in escalated.values()} == {store}
    assert sorted(r["body"] for r in escalated.values()) == sorted(
        f"【投诉超时】{c.name} 于 {zh_when(c.create_time.ToDatetime(tzinfo=UTC), zone)} 提交，首次回复期限"
        f" {zh_when(c.first_response_due_time.ToDatetime(tzinfo=UTC), zone)} 已过，请立即处理。"
        for c in complaints.values()
    )

    async def two_mails():
        mails = await _mails_to(notify, SLA_EMAIL)
        return mails if len(mails) >= 2 else None

    mails = await eventually(two_mails, what="both escalations at the SMTP server")
    assert len(mails) == 2 and {m["subject"] for m in mails} == {"投诉超时未回复"}


# Last in the module: it restarts notify with other settings and leaves it stopped.
@pytest.mark.timeout(900)  # 10,000 events through a shared 2-core machine
async def test_sms_flood_against_the_spend_cap_sends_at_most_the_budget(stack: Stack, notify: Stack):
    """10,000 marketing SMS against a budget worth 500 segments: at most 500 go out, the rest are
    recorded as suppressed (SPEND_CAP). Frequency caps are lifted for this run so that only the
    spend cap stands between the flood and the bill."""
    tenant = FLOOD
    for runner in list(stack.runners):
        await stack.stop_notify(runner)
    await stack.start_notify(
        PEONY_NOTIFY_QUIET_HOURS="off",
        PEONY_NOTIFY_MARKETING_PER_DAY="1000",
        PEONY_NOTIFY_MARKETING_PER_WEEK="10000",
        PEONY_NOTIFY_TENANT_SPEND_CAPS=f'{{"{tenant}": 2500}}',  # 500 segments at 5 fen
        PEONY_NOTIFY_DISPATCH_BATCH="200",
    )
    try:
        store = await stack.store(tenant, DAY)
        members = [
            await stack.member(tenant, store, name=f"客{i}", consent=member_pb2.Consent(marketing_sms=True))
            for i in range(20)
        ]
        expire = _ts(datetime.now(UTC) + timedelta(days=30))
        total = 10_000
        for i in range(total):
            m = members[i % len(members)]
            event = wallet_events.PointsExpiring(member=m.name, points=i + 1, expire_time=expire)
            await stack.publish(tenant, event)

        async def settled():
            async with stack.notify_db.connect() as conn:
                rows = (
                    await conn.execute(
                        text(
                            "SELECT state, count(*) AS n, coalesce(sum(billable_units), 0) AS units"
                            " FROM messages WHERE tenant_id = :t AND trigger = 'points_expiring'"
                            " GROUP BY state"
                        ),
                        {"t": tenant},
                    )
                ).all()
            by_state = {r.state: (r.n, r.units) for r in rows}
            pending = sum(n for s, (n, _) in by_state.items() if s in ("queued", "deferred"))
            return by_state if sum(n for n, _ in by_state.values()) == total and not pending else None

        by_state = await eventually(settled, within=600, what="the flood decided")
        async with stack.notify_db.connect() as conn:
            spent_by_day = (
                (
                    await conn.execute(
                        text("SELECT spent_minor FROM spend_daily WHERE tenant_id = :t"), {"t": tenant}
                    )
                )
                .scalars()
                .all()
            )
        # The cap is per day of the spend zone (Shanghai): a flood running across its midnight
        # (16:00 UTC) spends two days' budgets, each within the cap.
        days = len(spent_by_day)
        assert 1 <= days <= 2 and all(spent <= 2500 for spent in spent_by_day)
        sent_units = sum(units for state, (_, units) in by_state.items() if state in SENT)
        sent = sum(n for state, (n, _) in by_state.items() if state in SENT)
        assert sent_units <= 500 * days and sent <= 500 * days
        assert sent >= 400  # the budget is used, not refused wholesale (welcomes took a few segments)
        assert by_state["suppressed"][0] == total - sent
        flood_ids = {
            str(r.message_id)
            for r in (
                await _query(
                    stack,
                    "SELECT message_id FROM messages WHERE tenant_id = :t AND trigger = 'points_expiring'"
                    " AND state IN ('sent', 'delivered')",
                    tenant,
                )
            )
        }
        assert len(await stack.sent_for(flood_ids)) == len(flood_ids)
    finally:
        for runner in list(stack.runners):
            await stack.stop_notify(runner)


async def _query(stack: Stack, sql: str, tenant: str) -> list:
    async with stack.notify_db.connect() as conn:
        return list((await conn.execute(text(sql), {"t": tenant})).all())
