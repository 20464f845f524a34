"""Vouchers, the rewards catalog, daily check-in and the referral reward on real PostgreSQL and
NATS JetStream: the service layer (including the checkout contract), concurrency, the referral
consumer and the RPCs over real gRPC."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2
from peony.members.v1 import events_pb2 as members_events
from peony.wallet.v1 import points_pb2, vouchers_pb2
from peony.wallet.v1 import wallet_service_pb2 as pb
from peony.wallet.v1 import wallet_service_pb2_grpc as pb_grpc
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from kit.auth import mint_dev_token, principal_from_claims
from kit.config import load_config, to_async_url
from kit.db import session_factory
from kit.errors import FailedPrecondition, NotFound
from kit.messaging import connect, ensure_stream, new_envelope
from kit.uow import UnitOfWorkFactory
from services.wallet.domain import vouchers as dv
from services.wallet.entrypoints.referral_consumer import (
    REFERRAL_DURABLE,
    REFERRAL_SUBJECT,
    referral_consumer,
)
from services.wallet.service_layer import points as pts
from services.wallet.service_layer import rewards as rw
from services.wallet.service_layer import vouchers as vs
from services.wallet.service_layer.unit_of_work import WalletUnitOfWork
from tests.support.wallet import seed_stores

pytestmark = pytest.mark.integration
TENANT = "vch-chain"
STAFF = principal_from_claims(
    {"tenant": TENANT, "sub": "user:desk", "roles": ["hq_admin"], "exp": time.time() + 3600}
)


async def migrated(infra, prefix: str) -> str:
    url = to_async_url(await infra.amigrated_database("wallet", prefix))
    engine = create_async_engine(url)
    await engine.dispose()
    return url


@pytest.fixture(scope="module")
async def wallet(infra):
    url = await migrated(infra, "wallet_vch")
    engine = create_async_engine(url, pool_size=10)
    uows = UnitOfWorkFactory(WalletUnitOfWork, session_factory(engine), service="wallet")
    yield engine, uows
    await engine.dispose()


async def new_member(engine, tenant: str = TENANT) -> str:
    member_id = str(uuid.uuid4())
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO member_directory (tenant_id, member_id, home_store_id, tier_id, discount_bps,"
                " points_multiplier_permille, registered_time)"
                " VALUES (:t, :m, 's1', 'regular', 0, 1000, now())"
            ),
            {"t": tenant, "m": member_id},
        )
        await seed_stores(conn, tenant)
    return member_id


async def run(uows, fn):
    return await uows.run(TENANT, fn)


async def template(uows, *, kind=dv.AMOUNT_OFF, valid_days=30, valid_until=None, **terms) -> str:
    template_id = f"t-{uuid.uuid4().hex[:8]}"
    defaults = {dv.AMOUNT_OFF: {"amount_off_minor": 5000}, dv.PERCENT_OFF: {"percent_off_bps": 1000}}
    t = dv.VoucherTerms(display_name="test", kind=kind, **{**defaults.get(kind, {}), **terms})
    await run(
        uows,
        lambda uow: vs.create_template(
            uow,
            STAFF,
            template_id=template_id,
            terms=t,
            valid_days=valid_days,
            valid_from=None,
            valid_until=valid_until,
            currency="",
        ),
    )
    return template_id


async def issue(uows, member_id: str, template_id: str):
    return await run(
        uows,
        lambda uow: vs.issue_voucher(uow, STAFF, member_id=member_id, template_id=template_id, reason="test"),
    )


async def redeem(uows, member_id, voucher_ids, *, store="s1", lines=None, due=20000, checkout=None):
    return await run(
        uows,
        lambda uow: vs.redeem_for_checkout(
            uow,
            member_id=member_id,
            voucher_ids=voucher_ids,
            store_id=store,
            lines=lines or [("services/facial", due)],
            amount_due_minor=due,
            checkout_id=checkout or str(uuid.uuid4()),
        ),
    )


async def voucher_state(engine, voucher_id: str) -> tuple[str, str | None]:
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                text("SELECT state, redeemed_checkout_id FROM vouchers WHERE voucher_id = :v"),
                {"v": voucher_id},
            )
        ).one()
    return row.state, row.redeemed_checkout_id


async def outbox_count(engine, event_type: str, aggregate_id: str) -> int:
    async with engine.connect() as conn:
        return (
            await conn.execute(
                text("SELECT count(*) FROM outbox WHERE event_type = :e AND aggregate_id = :a"),
                {"e": event_type, "a": aggregate_id},
            )
        ).scalar_one()


async def give_points(uows, member_id: str, points: int) -> None:
    await run(
        uows,
        lambda uow: pts.grant_points(
            uow, STAFF, member_id=member_id, points=points, source="activity", reason="test"
        ),
    )


async def points_of(uows, member_id: str) -> int:
    return await uows.run(TENANT, lambda uow: rw.points_available(uow, member_id), read_only=True)


# --- vouchers and the checkout contract ------------------------------------------------------------
async def test_issue_copies_terms_and_redeem_marks_it_used(wallet):
    engine, uows = wallet
    m = await new_member(engine)
    tid = await template(uows, amount_off_minor=5000, min_spend_minor=10000, stores=["s1"])
    v = await issue(uows, m, tid)
    assert (v.state, v.amount_off_minor, v.min_spend_minor, list(v.stores)) == ("issued", 5000, 10000, ["s1"])
    assert len(v.code) == dv.CODE_LENGTH
    assert v.valid_until - v.valid_from == timedelta(days=30)
    assert await outbox_count(engine, "peony.wallet.v1.VoucherIssued", m) == 1

    checkout = str(uuid.uuid4())
    uses = await redeem(uows, m, [v.voucher_id], due=12000, checkout=checkout)
    assert uses == [vs.VoucherUse(v.voucher_id, 5000, None)]
    assert await voucher_state(engine, v.voucher_id) == ("redeemed", checkout)
    assert await outbox_count(engine, "peony.wallet.v1.VoucherRedeemed", m) == 1

    with pytest.raises(FailedPrecondition) as e:
        await redeem(uows, m, [v.voucher_id])
    assert e.value.reason == "VOUCHER_USED"
    with pytest.raises(FailedPrecondition) as e:  # a redeemed voucher cannot be voided
        await run(uows, lambda uow: vs.void_voucher(uow, STAFF, member_id=m, voucher_id=v.voucher_id))
    assert e.value.reason == "VOUCHER_USED"

    assert await run(uows, lambda uow: vs.restore_for_refund(uow, checkout_id=checkout)) == [v.voucher_id]
    assert await voucher_state(engine, v.voucher_id) == ("issued", None)


async def test_free_service_and_percent_vouchers(wallet):
    engine, uows = wallet
    m = await new_member(engine)
    free = await issue(uows, m, await template(uows, kind=dv.FREE_SERVICE, free_service="services/facial"))
    pct = await issue(uows, m, await template(uows, kind=dv.PERCENT_OFF, percent_off_bps=1000))
    lines = [("products/serum", 3000), ("services/facial", 8000)]
    uses = await redeem(uows, m, [free.voucher_id, pct.voucher_id], lines=lines, due=11000)
    assert uses == [vs.VoucherUse(free.voucher_id, 8000, 1), vs.VoucherUse(pct.voucher_id, 1100, None)]


async def test_each_refusal_reason(wallet):
    engine, uows = wallet
    m, other = await new_member(engine), await new_member(engine)

    async def refused(voucher_ids, member=m, **kw) -> str:
        with pytest.raises((FailedPrecondition, NotFound)) as e:
            await redeem(uows, member, voucher_ids, **kw)
        return e.value.reason

    v = await issue(uows, m, await template(uows))
    assert await refused([str(uuid.uuid4())]) == "VOUCHER_NOT_FOUND"
    assert await refused(["not-a-uuid"]) == "VOUCHER_NOT_FOUND"
    assert await refused([v.voucher_id], member=other) == "VOUCHER_NOT_FOUND"  # someone else's

    at_s2 = await issue(uows, m, await template(uows, stores=["s2"]))
    assert await refused([at_s2.voucher_id]) == "VOUCHER_NOT_AT_STORE"

    minimum = await issue(uows, m, await template(uows, min_spend_minor=30000))
    assert await refused([minimum.voucher_id], due=29999) == "MINIMUM_SPEND_NOT_MET"

    massage = await issue(
        uows, m, await template(uows, kind=dv.FREE_SERVICE, free_service="services/massage")
    )
    assert await refused([massage.voucher_id]) == "VOUCHER_NOT_APPLICABLE"

    expired = await issue(uows, m, await template(uows))
    async with engine.begin() as conn:
        await conn.execute(
            text("UPDATE vouchers SET valid_until = now() - interval '1 second' WHERE voucher_id = :v"),
            {"v": expired.voucher_id},
        )
    assert await refused([expired.voucher_id]) == "VOUCHER_EXPIRED"

    voided = await run(uows, lambda uow: vs.void_voucher(uow, STAFF, member_id=m, voucher_id=v.voucher_id))
    assert voided.state == "voided"
    assert await refused([v.voucher_id]) == "VOUCHER_NOT_APPLICABLE"

    # a refused redemption changes nothing, even for the good voucher in the same call
    good = await issue(uows, m, await template(uows))
    assert await refused([good.voucher_id, at_s2.voucher_id]) == "VOUCHER_NOT_AT_STORE"
    assert (await voucher_state(engine, good.voucher_id))[0] == "issued"


async def test_the_same_voucher_in_two_concurrent_checkouts_is_used_once(wallet):
    engine, uows = wallet
    m = await new_member(engine)
    v = await issue(uows, m, await template(uows))
    results = await asyncio.gather(
        *(redeem(uows, m, [v.voucher_id]) for _ in range(4)), return_exceptions=True
    )
    ok = [r for r in results if isinstance(r, list)]
    refused = [r for r in results if isinstance(r, FailedPrecondition)]
    assert len(ok) == 1 and len(refused) == 3, results
    assert {r.reason for r in refused} == {"VOUCHER_USED"}
    assert await outbox_count(engine, "peony.wallet.v1.VoucherRedeemed", m) == 1


async def test_list_vouchers_filters_by_state_and_cart(wallet):
    engine, uows = wallet
    m = await new_member(engine)
    anywhere = await issue(uows, m, await template(uows))
    at_s2 = await issue(uows, m, await template(uows, stores=["s2"]))
    big = await issue(uows, m, await template(uows, min_spend_minor=50000))
    used = await issue(uows, m, await template(uows))
    await redeem(uows, m, [used.voucher_id])

    async def listed(**kw):
        rows, _ = await uows.run(
            TENANT,
            lambda uow: vs.list_vouchers(
                uow, m, limit=50, before=None, states=kw.get("states", set()), cart=kw.get("cart")
            ),
            read_only=True,
        )
        return {r.voucher_id for r in rows}

    assert await listed() == {anywhere.voucher_id, at_s2.voucher_id, big.voucher_id, used.voucher_id}
    assert await listed(states={"redeemed"}) == {used.voucher_id}
    assert await listed(cart=("s1", 20000)) == {anywhere.voucher_id}
    assert await listed(cart=("s2", 60000)) == {anywhere.voucher_id, at_s2.voucher_id, big.voucher_id}


# --- rewards ---------------------------------------------------------------------------------------
async def test_last_unit_of_a_reward_goes_to_one_of_two_concurrent_redemptions(wallet):
    engine, uows = wallet
    a, b = await new_member(engine), await new_member(engine)
    for m in (a, b):
        await give_points(uows, m, 1000)
    tid = await template(uows)
    reward_id = f"r-{uuid.uuid4().hex[:8]}"
    await run(
        uows,
        lambda uow: rw.create_reward(
            uow,
            STAFF,
            reward_id=reward_id,
            display_name="¥50 voucher",
            points_cost=300,
            stock=1,
            kind=dv.VOUCHER,
            item=f"voucherTemplates/{tid}",
        ),
    )

    async def redeem_reward(m):
        return await run(
            uows, lambda uow: rw.redeem_reward(uow, STAFF, member_id=m, reward_id=reward_id, store_id="s1")
        )

    results = await asyncio.gather(redeem_reward(a), redeem_reward(b), return_exceptions=True)
    ok = [r for r in results if isinstance(r, rw.Redemption)]
    refused = [r for r in results if isinstance(r, FailedPrecondition)]
    assert len(ok) == 1 and len(refused) == 1, results
    assert refused[0].reason == "OUT_OF_STOCK"
    done = ok[0]
    winner = done.transaction.member_id
    loser = b if winner == a else a
    assert done.reward.stock == 0 and done.voucher is not None and done.voucher.member_id == winner
    assert done.transaction.kind == "points_redeem"
    assert (await points_of(uows, winner), await points_of(uows, loser)) == (700, 1000)
    assert await outbox_count(engine, "peony.wallet.v1.PointsRedeemed", winner) == 1
    async with engine.connect() as conn:
        moved = (
            await conn.execute(
                text("SELECT sum(delta) FROM lot_movements WHERE transaction_id = :t"),
                {"t": done.transaction.transaction_id},
            )
        ).scalar_one()
    assert moved == -300


async def test_unlimited_reward_and_insufficient_points(wallet):
    engine, uows = wallet
    m = await new_member(engine)
    await give_points(uows, m, 250)
    reward_id = f"r-{uuid.uuid4().hex[:8]}"
    await run(
        uows,
        lambda uow: rw.create_reward(
            uow,
            STAFF,
            reward_id=reward_id,
            display_name="hand cream",
            points_cost=100,
            stock=-1,
            kind=dv.PRODUCT,
            item="products/hand-cream",
        ),
    )

    async def redeem_reward():
        return await run(
            uows, lambda uow: rw.redeem_reward(uow, STAFF, member_id=m, reward_id=reward_id, store_id=None)
        )

    for _ in range(2):
        assert (await redeem_reward()).reward.stock == -1
    with pytest.raises(FailedPrecondition) as e:
        await redeem_reward()
    assert e.value.reason == "INSUFFICIENT_POINTS"
    assert await points_of(uows, m) == 50


# --- check-in --------------------------------------------------------------------------------------
async def test_check_in_once_a_day_with_a_streak_bonus(wallet):
    engine, uows = wallet
    m = await new_member(engine)
    start = datetime(2025, 3, 1, 2, tzinfo=UTC)  # 10:00 in Shanghai

    async def check_in(when):
        return await run(uows, lambda uow: rw.check_in(uow, STAFF, member_id=m, store_id="s1", now=when))

    got = [await check_in(start + timedelta(days=i)) for i in range(7)]
    assert [r.streak_days for r in got] == [1, 2, 3, 4, 5, 6, 7]
    assert [r.points for r in got] == [5] * 6 + [25] and got[-1].streak_bonus == 20
    with pytest.raises(FailedPrecondition) as e:
        await check_in(start + timedelta(days=6, hours=10))  # 20:00 the same Shanghai day
    assert e.value.reason == "ALREADY_CHECKED_IN"
    # 16:30 UTC of day 6 is already the next day in Shanghai; then a gap resets the streak
    assert (await check_in(start + timedelta(days=6, hours=14, minutes=30))).streak_days == 8
    assert (await check_in(start + timedelta(days=9))).streak_days == 1
    assert await points_of(uows, m) == 6 * 5 + 25 + 5 + 5
    assert await outbox_count(engine, "peony.wallet.v1.PointsEarned", m) == 9


async def test_concurrent_check_ins_grant_once(wallet):
    engine, uows = wallet
    m = await new_member(engine)
    results = await asyncio.gather(
        *(run(uows, lambda uow: rw.check_in(uow, STAFF, member_id=m, store_id=None)) for _ in range(3)),
        return_exceptions=True,
    )
    assert sum(isinstance(r, rw.CheckInResult) for r in results) == 1, results
    assert await points_of(uows, m) == 5


# --- referral consumer -----------------------------------------------------------------------------
async def test_referral_reward_is_granted_once_per_referee(infra):
    url = await migrated(infra, "wallet_referral")
    engine = create_async_engine(url)
    uows = UnitOfWorkFactory(WalletUnitOfWork, session_factory(engine), service="wallet")
    nc, js = await connect(infra.nats_url, "wallet-referral-tests")
    await ensure_stream(js, "members")
    consumer = referral_consumer(engine, js, backoff=(0.2, 0.5), fetch_timeout=1.0)
    await consumer.start()
    try:
        referrer, referee = await new_member(engine), await new_member(engine)

        def earned(event_id=None):
            event = members_events.ReferralRewardEarned(
                referrer=f"members/{referrer}",
                referee=f"members/{referee}",
                qualifying_spend_minor=50000,
                currency_code="CNY",
            )
            return new_envelope(
                event, tenant=TENANT, aggregate_type="member", aggregate_id=referee, event_id=event_id
            )

        first = earned()
        again = earned()  # the same fact under a new event id: the referee row drops it
        for env, msg_id in (
            (first, first.event_id),
            (first, f"copy-{uuid.uuid4()}"),
            (again, again.event_id),
        ):
            await js.publish(REFERRAL_SUBJECT, env.SerializeToString(), headers={"Nats-Msg-Id": msg_id})

        deadline = time.monotonic() + 20
        while True:
            async with engine.connect() as conn:
                handled = (
                    await conn.execute(
                        text("SELECT count(*) FROM inbox WHERE consumer = :c AND event_id IN (:a, :b)"),
                        {"c": REFERRAL_DURABLE, "a": first.event_id, "b": again.event_id},
                    )
                ).scalar_one()
            if handled == 2:
                break
            assert time.monotonic() < deadline, "referral events not handled"
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)  # let the copy of the first event be delivered (and skipped) too

        assert (await points_of(uows, referrer), await points_of(uows, referee)) == (200, 200)
        async with engine.connect() as conn:
            vouchers = (
                await conn.execute(
                    text(
                        "SELECT member_id::text AS member_id, template_id, amount_off_minor, kind"
                        " FROM vouchers WHERE tenant_id = :t AND member_id IN (:a, :b)"
                    ),
                    {"t": TENANT, "a": referrer, "b": referee},
                )
            ).all()
        assert [(v.member_id, v.template_id, v.amount_off_minor, v.kind) for v in vouchers] == [
            (referrer, "referral-reward", 5000, "amount_off")
        ]
        assert await outbox_count(engine, "peony.wallet.v1.VoucherIssued", referrer) == 1
        assert await outbox_count(engine, "peony.wallet.v1.PointsEarned", referee) == 1
    finally:
        await consumer.stop()
        await nc.close()
        await engine.dispose()


async def test_the_referral_reward_grants_the_terms_its_event_carries(infra):
    """The tenant's terms when the reward was earned (members' ReferralSettings): the voucher's
    amount and validity, each member's points; a zero grants nothing of its kind. Terms out of
    bounds are refused (dead-lettered), granting nothing."""
    url = await migrated(infra, "wallet_referral_terms")
    engine = create_async_engine(url)
    uows = UnitOfWorkFactory(WalletUnitOfWork, session_factory(engine), service="wallet")
    nc, js = await connect(infra.nats_url, "wallet-referral-terms-tests")
    await ensure_stream(js, "members")
    consumer = referral_consumer(engine, js, backoff=(0.2, 0.2), fetch_timeout=1.0)
    await consumer.start()
    try:
        referrer, referee = await new_member(engine), await new_member(engine)
        other_referrer, other_referee = await new_member(engine), await new_member(engine)

        def earned(by: str, of: str, **terms):
            event = members_events.ReferralRewardEarned(
                referrer=f"members/{by}",
                referee=f"members/{of}",
                qualifying_spend_minor=100_000,
                currency_code="CNY",
                terms_included=True,
                **terms,
            )
            return new_envelope(event, tenant=TENANT, aggregate_type="member", aggregate_id=of)

        good = earned(
            referrer, referee, referrer_voucher_minor=8_800, voucher_valid_days=30, referrer_points=500
        )
        bad = earned(other_referrer, other_referee, referrer_voucher_minor=-1, voucher_valid_days=30)
        for env in (good, bad):
            await js.publish(REFERRAL_SUBJECT, env.SerializeToString(), headers={"Nats-Msg-Id": env.event_id})

        deadline = time.monotonic() + 20
        while True:
            async with engine.connect() as conn:
                handled = (
                    await conn.execute(
                        text("SELECT count(*) FROM inbox WHERE consumer = :c AND event_id = :a"),
                        {"c": REFERRAL_DURABLE, "a": good.event_id},
                    )
                ).scalar_one()
            if handled == 1:
                break
            assert time.monotonic() < deadline, "referral event not handled"
            await asyncio.sleep(0.1)

        assert (await points_of(uows, referrer), await points_of(uows, referee)) == (500, 0)
        assert await outbox_count(engine, "peony.wallet.v1.PointsEarned", referee) == 0
        async with engine.connect() as conn:
            vouchers = (
                await conn.execute(
                    text(
                        "SELECT member_id::text AS member_id, template_id, amount_off_minor,"
                        " (valid_until - valid_from) AS validity"
                        " FROM vouchers WHERE tenant_id = :t AND member_id IN (:a, :b, :c, :d)"
                    ),
                    {"t": TENANT, "a": referrer, "b": referee, "c": other_referrer, "d": other_referee},
                )
            ).all()
        assert [(v.member_id, v.template_id, v.amount_off_minor, v.validity.days) for v in vouchers] == [
            (referrer, "referral-reward-8800-30d", 8_800, 30)
        ]
        assert (await points_of(uows, other_referrer), await points_of(uows, other_referee)) == (0, 0)
    finally:
        await consumer.stop()
        await nc.close()
        await engine.dispose()


# --- over gRPC -------------------------------------------------------------------------------------
def md(roles=("hq_admin",)):
    return (
        ("authorization", f"Bearer {mint_dev_token(tenant=TENANT, subject='user:t', roles=list(roles))}"),
    )


def reason_of(err: grpc.aio.AioRpcError) -> str:
    raw = dict(err.trailing_metadata() or ()).get("grpc-status-details-bin")
    for any_ in status_pb2.Status.FromString(raw).details:
        info = error_details_pb2.ErrorInfo()
        if any_.Unpack(info):
            return info.reason
    return ""


async def test_rpcs(infra):
    from services.wallet.entrypoints.app import build

    url = await migrated(infra, "wallet_vch_api")
    config = load_config(
        "wallet",
        {
            "PEONY_WALLET_DATABASE_URL": url,
            "PEONY_WALLET_MEMBERS_READ_THROUGH": "off",  # no members service here
            "PEONY_NATS_URL": infra.nats_url,
            "PEONY_WALLET_GRPC_PORT": "0",
            "PEONY_SHUTDOWN_GRACE_SECONDS": "2",
        },
    )
    runner = await build(config)
    port = await runner.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    engine = create_async_engine(url)
    stub = pb_grpc.WalletServiceStub(channel)
    rid = lambda: str(uuid.uuid4())  # noqa: E731
    try:
        m = f"members/{await new_member(engine)}"
        t = await stub.CreateVoucherTemplate(
            pb.CreateVoucherTemplateRequest(
                voucher_template=vouchers_pb2.VoucherTemplate(
                    display_name="¥20 off",
                    kind=vouchers_pb2.VOUCHER_KIND_AMOUNT_OFF,
                    amount_off_minor=2000,
                    min_spend_minor=10000,
                    stores=["stores/s1"],
                    valid_days=30,
                ),
                voucher_template_id="twenty-off",
                request_id=rid(),
            ),
            metadata=md(),
        )
        assert t.voucher_template.name == "voucherTemplates/twenty-off" and t.voucher_template.active
        listed = await stub.ListVoucherTemplates(pb.ListVoucherTemplatesRequest(), metadata=md())
        assert [x.name for x in listed.voucher_templates] == ["voucherTemplates/twenty-off"]

        issue_req = pb.IssueVoucherRequest(
            member=m, template=t.voucher_template.name, reason="birthday", request_id=rid()
        )
        issued = await stub.IssueVoucher(issue_req, metadata=md())
        assert await stub.IssueVoucher(issue_req, metadata=md()) == issued  # idempotent
        v = issued.voucher
        assert v.state == vouchers_pb2.VOUCHER_STATE_ISSUED and v.amount_off_minor == 2000 and v.code

        def cart(store, subtotal):
            return pb.ListVouchersRequest(
                parent=m, valid_for_cart=pb.CartFilter(store=store, subtotal_minor=subtotal)
            )

        assert [
            x.name for x in (await stub.ListVouchers(cart("stores/s1", 10000), metadata=md())).vouchers
        ] == [v.name]
        assert not (await stub.ListVouchers(cart("stores/s1", 9999), metadata=md())).vouchers
        assert not (await stub.ListVouchers(cart("stores/s2", 10000), metadata=md())).vouchers

        voided = await stub.VoidVoucher(pb.VoidVoucherRequest(name=v.name, request_id=rid()), metadata=md())
        assert voided.voucher.state == vouchers_pb2.VOUCHER_STATE_VOIDED
        only_voided = pb.ListVouchersRequest(parent=m, states=[vouchers_pb2.VOUCHER_STATE_VOIDED])
        assert len((await stub.ListVouchers(only_voided, metadata=md())).vouchers) == 1

        await stub.GrantPoints(
            pb.GrantPointsRequest(
                member=m, points=500, source=points_pb2.LOT_SOURCE_ACTIVITY, reason="x", request_id=rid()
            ),
            metadata=md(),
        )
        r = await stub.CreateReward(
            pb.CreateRewardRequest(
                reward=points_pb2.Reward(
                    display_name="voucher",
                    points_cost=200,
                    stock=1,
                    kind=points_pb2.REWARD_KIND_VOUCHER,
                    item=t.voucher_template.name,
                ),
                reward_id="twenty-for-200",
                request_id=rid(),
            ),
            metadata=md(),
        )
        redeemed = await stub.RedeemReward(
            pb.RedeemRewardRequest(member=m, reward=r.reward.name, request_id=rid()), metadata=md()
        )
        assert redeemed.reward.stock == 0 and redeemed.voucher.template == t.voucher_template.name
        assert redeemed.wallet.points_available == 300
        with pytest.raises(grpc.aio.AioRpcError) as e:
            await stub.RedeemReward(
                pb.RedeemRewardRequest(member=m, reward=r.reward.name, request_id=rid()), metadata=md()
            )
        assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION and reason_of(e.value) == "OUT_OF_STOCK"
        restocked = await stub.UpdateReward(
            pb.UpdateRewardRequest(reward=points_pb2.Reward(name=r.reward.name, stock=5), request_id=rid()),
            metadata=md(),
        )
        assert restocked.reward.stock == 5
        rewards = await stub.ListRewards(pb.ListRewardsRequest(), metadata=md())
        assert [x.stock for x in rewards.rewards] == [5]

        checked = await stub.CheckIn(
            pb.CheckInRequest(member=m, store="stores/s1", request_id=rid()), metadata=md()
        )
        assert (checked.points, checked.streak_days, checked.wallet.points_available) == (5, 1, 305)
        with pytest.raises(grpc.aio.AioRpcError) as e:
            await stub.CheckIn(pb.CheckInRequest(member=m, request_id=rid()), metadata=md())
        assert reason_of(e.value) == "ALREADY_CHECKED_IN"
    finally:
        await channel.close()
        await engine.dispose()
        await runner.stop()


async def test_deactivate_voucher_template(infra):
    """DeactivateVoucherTemplate: idempotent, permission-gated like creating a template; after
    it no voucher is issued (directly or as a catalog reward) and nothing is written, while the
    vouchers already issued stay redeemable. Hostile names get INVALID_ARGUMENT / NOT_FOUND."""
    from services.wallet.entrypoints.app import build

    url = await migrated(infra, "wallet_vch_deact")
    config = load_config(
        "wallet",
        {
            "PEONY_WALLET_DATABASE_URL": url,
            "PEONY_WALLET_MEMBERS_READ_THROUGH": "off",
            "PEONY_NATS_URL": infra.nats_url,
            "PEONY_WALLET_GRPC_PORT": "0",
            "PEONY_SHUTDOWN_GRACE_SECONDS": "2",
        },
    )
    runner = await build(config)
    port = await runner.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    engine = create_async_engine(url)
    uows = UnitOfWorkFactory(WalletUnitOfWork, session_factory(engine), service="wallet")
    stub = pb_grpc.WalletServiceStub(channel)
    rid = lambda: str(uuid.uuid4())  # noqa: E731

    async def vouchers_of(member: str) -> int:
        async with engine.connect() as conn:
            return await conn.scalar(
                text("SELECT count(*) FROM vouchers WHERE tenant_id = :t AND member_id = :m"),
                {"t": TENANT, "m": member},
            )

    try:
        member = await new_member(engine)
        m = f"members/{member}"
        await stub.CreateVoucherTemplate(
            pb.CreateVoucherTemplateRequest(
                voucher_template=vouchers_pb2.VoucherTemplate(
                    display_name="¥30 off",
                    kind=vouchers_pb2.VOUCHER_KIND_AMOUNT_OFF,
                    amount_off_minor=3000,
                    valid_days=30,
                ),
                voucher_template_id="thirty-off",
                request_id=rid(),
            ),
            metadata=md(),
        )
        name = "voucherTemplates/thirty-off"
        held = await stub.IssueVoucher(
            pb.IssueVoucherRequest(member=m, template=name, reason="before", request_id=rid()), metadata=md()
        )
        await stub.GrantPoints(
            pb.GrantPointsRequest(
                member=m, points=500, source=points_pb2.LOT_SOURCE_ACTIVITY, reason="x", request_id=rid()
            ),
            metadata=md(),
        )
        reward = await stub.CreateReward(
            pb.CreateRewardRequest(
                reward=points_pb2.Reward(
                    display_name="thirty",
                    points_cost=100,
                    stock=10,
                    kind=points_pb2.REWARD_KIND_VOUCHER,
                    item=name,
                ),
                reward_id="thirty-for-100",
                request_id=rid(),
            ),
            metadata=md(),
        )

        # hostile input and callers: refused, the template stays active
        for bad, code in (
            ("", grpc.StatusCode.INVALID_ARGUMENT),
            ("voucherTemplates/UPPER", grpc.StatusCode.INVALID_ARGUMENT),
            ("voucherTemplates/a/b", grpc.StatusCode.INVALID_ARGUMENT),
            ("voucherTemplates/" + "x" * 300, grpc.StatusCode.INVALID_ARGUMENT),
            ("members/thirty-off", grpc.StatusCode.INVALID_ARGUMENT),
            ("voucherTemplates/nope", grpc.StatusCode.NOT_FOUND),
        ):
            with pytest.raises(grpc.aio.AioRpcError) as e:
                await stub.DeactivateVoucherTemplate(
                    pb.DeactivateVoucherTemplateRequest(name=bad, request_id=rid()), metadata=md()
                )
            assert e.value.code() == code, bad
        with pytest.raises(grpc.aio.AioRpcError) as e:
            await stub.DeactivateVoucherTemplate(
                pb.DeactivateVoucherTemplateRequest(name=name), metadata=md()
            )
        assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT  # no request_id
        for roles in (("front_desk",), ("store_manager",), ("marketing",)):
            with pytest.raises(grpc.aio.AioRpcError) as e:
                await stub.DeactivateVoucherTemplate(
                    pb.DeactivateVoucherTemplateRequest(name=name, request_id=rid()), metadata=md(roles)
                )
            assert e.value.code() == grpc.StatusCode.PERMISSION_DENIED, roles
        got = await stub.GetVoucherTemplate(pb.GetVoucherTemplateRequest(name=name), metadata=md())
        assert got.voucher_template.active

        request = pb.DeactivateVoucherTemplateRequest(name=name, request_id=rid())
        done = await stub.DeactivateVoucherTemplate(request, metadata=md())
        assert done.voucher_template.name == name and not done.voucher_template.active
        assert await stub.DeactivateVoucherTemplate(request, metadata=md()) == done  # replayed
        again = await stub.DeactivateVoucherTemplate(
            pb.DeactivateVoucherTemplateRequest(name=name, request_id=rid()), metadata=md()
        )
        assert not again.voucher_template.active  # deactivating an inactive template: a no-op
        got = await stub.GetVoucherTemplate(pb.GetVoucherTemplateRequest(name=name), metadata=md())
        assert not got.voucher_template.active

        # no new voucher from it: neither issued nor redeemed from the catalog; nothing written
        before = await vouchers_of(member)
        with pytest.raises(grpc.aio.AioRpcError) as e:
            await stub.IssueVoucher(
                pb.IssueVoucherRequest(member=m, template=name, reason="after", request_id=rid()),
                metadata=md(),
            )
        assert (e.value.code(), reason_of(e.value)) == (
            grpc.StatusCode.FAILED_PRECONDITION,
            "VOUCHER_TEMPLATE_INACTIVE",
        )
        with pytest.raises(grpc.aio.AioRpcError) as e:
            await stub.RedeemReward(
                pb.RedeemRewardRequest(member=m, reward=reward.reward.name, request_id=rid()), metadata=md()
            )
        assert (e.value.code(), reason_of(e.value)) == (
            grpc.StatusCode.FAILED_PRECONDITION,
            "VOUCHER_TEMPLATE_INACTIVE",
        )
        assert await vouchers_of(member) == before
        wallet = await stub.GetWallet(pb.GetWalletRequest(name=f"{m}/wallet"), metadata=md())
        assert wallet.wallet.points_available == 500  # the refused reward took no points

        # the voucher issued before stays redeemable
        voucher_id = held.voucher.name.rsplit("/", 1)[-1]
        uses = await redeem(uows, member, [voucher_id])
        assert [u.voucher_id for u in uses] == [voucher_id]
        assert (await voucher_state(engine, voucher_id))[0] == dv.REDEEMED
    finally:
        await channel.close()
        await engine.dispose()
        await runner.stop()
