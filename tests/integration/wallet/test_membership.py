"""The paid membership (会员费 / 续费; issue 12, point 6), over real gRPC, PostgreSQL and NATS
JetStream: a checkout line `membershipFee` pays a period (the tenant's fee and months), a
renewal before the end extends from the end, `MembershipRenewalDue` and `MembershipExpired`
are published once per period by the wallet jobs, and finance sees the renewal rate. Time passing
is simulated by moving `paid_until` / the periods back (SQL, the only direct writes here)."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from google.protobuf import field_mask_pb2
from google.protobuf.timestamp_pb2 import Timestamp
from peony.wallet.v1 import checkout_pb2, ledger_pb2, stored_value_pb2
from peony.wallet.v1 import wallet_service_pb2 as pb
from sqlalchemy import text

from services.wallet.entrypoints.jobs import WalletJobs
from services.wallet.service_layer.membership import add_months
from tests.support.wallet import add_member, count_rows, md, reason_of, rid, running_wallet

pytestmark = pytest.mark.integration

FEE = 29_900  # ¥299 a year
WRITES = ("checkouts", "ledger_transactions", "memberships", "membership_periods", "outbox")


@pytest.fixture(scope="module")
async def wallet(infra):
    async with running_wallet(infra, "wallet_membership") as w:
        yield w


async def offering(w, fee: int = FEE) -> str:
    tenant = f"fee-{uuid.uuid4().hex[:8]}"
    await w.stub.UpdateWalletSettings(
        pb.UpdateWalletSettingsRequest(
            wallet_settings=stored_value_pb2.WalletSettings(
                membership_fee_minor=fee, membership_months=12, membership_renewal_notice_days=30
            ),
            update_mask=field_mask_pb2.FieldMask(
                paths=["membership_fee_minor", "membership_months", "membership_renewal_notice_days"]
            ),
            request_id=rid(),
        ),
        metadata=md(tenant),
    )
    return tenant


def pay_fee(member: str, *, periods: int = 1, price: int = FEE, extra_line: bool = False):
    lines = [
        checkout_pb2.CheckoutLine(
            item="membershipFee", category="membership", quantity=periods, list_price_minor=price
        )
    ]
    if extra_line:
        lines.append(
            checkout_pb2.CheckoutLine(
                item="services/facial", category="facial", quantity=1, list_price_minor=10_000
            )
        )
    total = periods * price + (10_000 if extra_line else 0)
    return pb.CheckoutRequest(
        member=member,
        store="stores/s1",
        lines=lines,
        tenders=[checkout_pb2.TenderAmount(tender=ledger_pb2.TENDER_WECHAT_PAY, amount_minor=total)],
        request_id=rid(),
    )


async def membership_of(w, tenant: str, member: str) -> pb.Membership:
    got = await w.stub.GetMembership(
        pb.GetMembershipRequest(name=f"{member}/membership"), metadata=md(tenant)
    )
    return got.membership


async def events(w, tenant: str, event_type: str, member: str) -> int:
    async with w.engine.connect() as conn:
        return (
            await conn.execute(
                text(
                    "SELECT count(*) FROM outbox"
                    " WHERE tenant_id = :t AND event_type = :e AND aggregate_id = :m"
                ),
                {"t": tenant, "e": f"peony.wallet.v1.{event_type}", "m": member.split("/")[1]},
            )
        ).scalar_one()


async def shift(w, tenant: str, member: str, by: timedelta) -> None:
    """Time passes: the membership and its periods move ``by`` into the past."""
    async with w.engine.begin() as conn:
        params = {"t": tenant, "m": member.split("/")[1], "d": by}
        await conn.execute(
            text(
                "UPDATE memberships SET paid_until = paid_until - CAST(:d AS interval)"
                " WHERE tenant_id = :t AND member_id = :m"
            ),
            params,
        )
        await conn.execute(
            text(
                "UPDATE membership_periods SET period_start = period_start - CAST(:d AS interval),"
                " period_end = period_end - CAST(:d AS interval)"
                " WHERE tenant_id = :t AND member_id = :m"
            ),
            params,
        )


async def eventually(check, within: float = 40.0, what: str = "") -> None:
    deadline = time.monotonic() + within
    while not await check():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.3)


def window(days_back: int, days_ahead: int) -> tuple[Timestamp, Timestamp]:
    start, end = Timestamp(), Timestamp()
    start.FromDatetime(datetime.now(UTC) - timedelta(days=days_back))
    end.FromDatetime(datetime.now(UTC) + timedelta(days=days_ahead))
    return start, end


async def test_paying_and_renewing_the_fee_at_checkout(wallet):
    w = wallet
    tenant = await offering(w)
    member = await add_member(w.engine, tenant)
    assert not (await membership_of(w, tenant, member)).HasField("paid_until")

    before = datetime.now(UTC)
    first = await w.stub.Checkout(pay_fee(member, extra_line=True), metadata=md(tenant))
    assert first.checkout.total_due_minor == FEE + 10_000
    got = await membership_of(w, tenant, member)
    paid_until = got.paid_until.ToDatetime(UTC)
    assert add_months(before, 12) <= paid_until <= add_months(datetime.now(UTC), 12)
    assert (got.active, got.periods_paid, got.renewals) == (True, 1, 0)

    # A renewal while it runs extends from its end, by two periods here.
    await w.stub.Checkout(pay_fee(member, periods=2), metadata=md(tenant))
    got = await membership_of(w, tenant, member)
    assert got.paid_until.ToDatetime(UTC) == add_months(paid_until, 24)
    assert (got.periods_paid, got.renewals) == (3, 1)
    assert await events(w, tenant, "MembershipRenewed", member) == 2


async def test_renewal_due_and_expiry_are_published_once_per_period(wallet):
    w = wallet
    tenant = await offering(w)
    member = await add_member(w.engine, tenant)
    await w.stub.Checkout(pay_fee(member), metadata=md(tenant))
    # 11 months and a half later: within the 30 days' notice.
    await shift(w, tenant, member, timedelta(days=350))

    async def due_sent() -> bool:
        return await events(w, tenant, "MembershipRenewalDue", member) == 1

    await eventually(due_sent, what="MembershipRenewalDue")
    # ... and then past its end, unrenewed.
    await shift(w, tenant, member, timedelta(days=30))

    async def expired_sent() -> bool:
        return await events(w, tenant, "MembershipExpired", member) == 1

    await eventually(expired_sent, what="MembershipExpired")
    # Two more passes of the jobs (beside the server's own periodic one, as a second replica's
    # would run): nothing twice.
    jobs = w.worker(WalletJobs)
    for _ in range(2):
        await jobs.tick()
    assert await events(w, tenant, "MembershipRenewalDue", member) == 1
    assert await events(w, tenant, "MembershipExpired", member) == 1
    assert (await membership_of(w, tenant, member)).active is False

    # Paying after it lapsed starts a new period from now (not a renewal).
    await w.stub.Checkout(pay_fee(member), metadata=md(tenant))
    got = await membership_of(w, tenant, member)
    assert (got.active, got.renewals) == (True, 0)


async def test_finance_sees_the_renewal_rate(wallet):
    w = wallet
    tenant = await offering(w)
    renewing, lapsing = await add_member(w.engine, tenant), await add_member(w.engine, tenant)
    for member in (renewing, lapsing):
        await w.stub.Checkout(pay_fee(member), metadata=md(tenant))
        await shift(w, tenant, member, timedelta(days=360))  # both end in about 5 days
    await w.stub.Checkout(pay_fee(renewing), metadata=md(tenant))  # renewed before the end
    start, end = window(1, 30)
    rate = await w.stub.GetMembershipRenewalRate(
        pb.GetMembershipRenewalRateRequest(start_time=start, end_time=end), metadata=md(tenant, ("finance",))
    )
    assert (rate.due, rate.renewed, rate.renewal_rate_bps) == (2, 1, 5000)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await w.stub.GetMembershipRenewalRate(
            pb.GetMembershipRenewalRateRequest(start_time=start, end_time=end),
            metadata=md(tenant, ("front_desk",), stores=["stores/s1"]),
        )
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_a_fee_the_tenant_does_not_charge_or_at_another_price_is_refused(wallet):
    w = wallet
    tenant = await offering(w)
    member = await add_member(w.engine, tenant)
    before = await count_rows(w.engine, tenant, WRITES)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await w.stub.Checkout(pay_fee(member, price=FEE - 1), metadata=md(tenant))
    assert (err.value.code(), reason_of(err.value)) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "MEMBERSHIP_FEE_MISMATCH",
    )
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await w.stub.Checkout(pay_fee(member, periods=11), metadata=md(tenant))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert await count_rows(w.engine, tenant, WRITES) == before

    no_fee = f"fee-{uuid.uuid4().hex[:8]}"
    other = await add_member(w.engine, no_fee)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await w.stub.Checkout(pay_fee(other), metadata=md(no_fee))
    assert (err.value.code(), reason_of(err.value)) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "MEMBERSHIP_NOT_OFFERED",
    )
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await w.stub.GetMembership(pb.GetMembershipRequest(name="members/x/membership"), metadata=md(tenant))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_months_are_added_on_the_calendar():
    assert add_months(datetime(2027, 1, 31, 10, tzinfo=UTC), 1) == datetime(2027, 2, 28, 10, tzinfo=UTC)
    assert add_months(datetime(2027, 11, 15, tzinfo=UTC), 14) == datetime(2029, 1, 15, tzinfo=UTC)


async def test_refunding_fee_periods_takes_them_off_the_membership(wallet):
    w = wallet
    tenant = await offering(w)
    member = await add_member(w.engine, tenant)
    paid = await w.stub.Checkout(pay_fee(member, periods=3), metadata=md(tenant))
    three = (await membership_of(w, tenant, member)).paid_until.ToDatetime(UTC)
    await w.stub.RefundCheckout(
        pb.RefundCheckoutRequest(
            checkout=paid.checkout.name,
            lines=[checkout_pb2.RefundLine(line_index=0, quantity=2)],
            request_id=rid(),
        ),
        metadata=md(tenant),
    )
    got = await membership_of(w, tenant, member)
    assert got.paid_until.ToDatetime(UTC) == add_months(three, -24)
    assert got.periods_paid == 1
