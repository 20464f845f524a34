"""A manual discount beyond the tier rate at checkout only with a store manager's approval
(院长审批; issue 12, point 6), over real gRPC, PostgreSQL and NATS JetStream: the approval RPC is
store managers' and HQ's (not the front desk's), within the tenant's ceiling, above the tier rate,
audited, single use for its store (and member), and a checkout without one gets the tier rate."""

from __future__ import annotations

import asyncio
import uuid

import grpc
import pytest
from google.protobuf import field_mask_pb2
from peony.wallet.v1 import checkout_pb2, ledger_pb2, stored_value_pb2
from peony.wallet.v1 import wallet_service_pb2 as pb
from sqlalchemy import text

from tests.integration.wallet.test_package_commission import field_of
from tests.support.wallet import add_member, count_rows, md, reason_of, rid, running_wallet

pytestmark = pytest.mark.integration

PRICE = 10_000
WRITES = ("checkouts", "ledger_transactions", "discount_approvals", "outbox", "idempotency_keys")


@pytest.fixture(scope="module")
async def wallet(infra):
    async with running_wallet(infra, "wallet_discount_approval") as w:
        yield w


def manager(tenant: str, store: str = "stores/s1"):
    return md(tenant, ("store_manager",), subject="user:manager-wang", stores=[store])


async def gold_member(w, tenant: str) -> str:
    member = await add_member(w.engine, tenant)
    async with w.engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE member_directory SET tier_id = 'gold', discount_bps = 1500"
                " WHERE tenant_id = :t AND member_id = :m"
            ),
            {"t": tenant, "m": member.split("/")[1]},
        )
    return member


def approval(member: str, bps: int, *, store="stores/s1", reason="老客户, 院长同意", minutes=0):
    return pb.ApproveCheckoutDiscountRequest(
        store=store, member=member, discount_bps=bps, reason=reason, valid_minutes=minutes, request_id=rid()
    )


def bill(
    member: str, *, approval_name: str = "", store="stores/s1", pay: int | None = None, validate_only=False
):
    return pb.CheckoutRequest(
        member=member,
        store=store,
        lines=[
            checkout_pb2.CheckoutLine(
                item="services/facial", category="facial", quantity=1, list_price_minor=PRICE
            )
        ],
        tenders=[]
        if validate_only
        else [checkout_pb2.TenderAmount(tender=ledger_pb2.TENDER_CASH, amount_minor=pay or 0)],
        discount_approval=approval_name,
        validate_only=validate_only,
        request_id=rid(),
    )


async def refused(call, code: grpc.StatusCode) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call
    assert err.value.code() == code, err.value.details()
    return err.value


async def test_an_approved_discount_applies_once_and_is_audited(wallet):
    w = wallet
    tenant = f"disc-{uuid.uuid4().hex[:8]}"
    member = await gold_member(w, tenant)

    # Without an approval: the tier's 15 %.
    plain = await w.stub.Checkout(bill(member, pay=8_500), metadata=md(tenant))
    assert (plain.checkout.tier_discount_bps, plain.checkout.total_due_minor) == (1500, 8_500)
    assert plain.checkout.discount_approval == ""

    approved = (
        await w.stub.ApproveCheckoutDiscount(approval(member, 3000), metadata=manager(tenant))
    ).discount_approval
    assert (approved.store, approved.member, approved.discount_bps, approved.approver, approved.checkout) == (
        "stores/s1",
        member,
        3000,
        "user:manager-wang",
        "",
    )
    assert approved.reason == "老客户, 院长同意"

    # A preview shows the approved rate and does not use the approval.
    preview = await w.stub.Checkout(
        bill(member, approval_name=approved.name, validate_only=True), metadata=md(tenant)
    )
    assert preview.checkout.total_due_minor == 7_000

    done = await w.stub.Checkout(bill(member, approval_name=approved.name, pay=7_000), metadata=md(tenant))
    assert (done.checkout.tier_discount_bps, done.checkout.total_due_minor) == (3000, 7_000)
    assert done.checkout.discount_approval == approved.name
    got = await w.stub.GetCheckout(pb.GetCheckoutRequest(name=done.checkout.name), metadata=md(tenant))
    assert got.checkout.discount_approval == approved.name
    async with w.engine.connect() as conn:
        used = (
            await conn.execute(
                text("SELECT checkout_id::text, approver FROM discount_approvals WHERE tenant_id = :t"),
                {"t": tenant},
            )
        ).one()
    assert (f"checkouts/{used[0]}", used[1]) == (done.checkout.name, "user:manager-wang")

    # Single use: a second checkout with it is refused and writes nothing.
    before = await count_rows(w.engine, tenant, WRITES)
    err = await refused(
        w.stub.Checkout(bill(member, approval_name=approved.name, pay=7_000), metadata=md(tenant)),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    assert reason_of(err) == "DISCOUNT_APPROVAL_USED"
    assert await count_rows(w.engine, tenant, WRITES) == before


async def test_who_may_approve_and_up_to_what(wallet):
    w = wallet
    tenant = f"disc-{uuid.uuid4().hex[:8]}"
    member = await gold_member(w, tenant)
    before = await count_rows(w.engine, tenant, WRITES)
    # The front desk cannot approve; a manager of another store cannot approve for this one.
    await refused(
        w.stub.ApproveCheckoutDiscount(
            approval(member, 3000), metadata=md(tenant, ("front_desk",), stores=["stores/s1"])
        ),
        grpc.StatusCode.PERMISSION_DENIED,
    )
    await refused(
        w.stub.ApproveCheckoutDiscount(approval(member, 3000), metadata=manager(tenant, "stores/s2")),
        grpc.StatusCode.PERMISSION_DENIED,
    )
    # Above the tenant's ceiling (default 30 %), or not above the member's tier rate.
    err = await refused(
        w.stub.ApproveCheckoutDiscount(approval(member, 3500), metadata=manager(tenant)),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    assert reason_of(err) == "DISCOUNT_ABOVE_CEILING"
    err = await refused(
        w.stub.ApproveCheckoutDiscount(approval(member, 1500), metadata=manager(tenant)),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    assert reason_of(err) == "DISCOUNT_NOT_ABOVE_TIER"
    assert await count_rows(w.engine, tenant, WRITES) == before

    # HQ raises the ceiling: now 35 % may be approved.
    await w.stub.UpdateWalletSettings(
        pb.UpdateWalletSettingsRequest(
            wallet_settings=stored_value_pb2.WalletSettings(max_manual_discount_bps=4000),
            update_mask=field_mask_pb2.FieldMask(paths=["max_manual_discount_bps"]),
            request_id=rid(),
        ),
        metadata=md(tenant),
    )
    ok = await w.stub.ApproveCheckoutDiscount(approval(member, 3500), metadata=manager(tenant))
    assert ok.discount_approval.discount_bps == 3500
    # ... and lowered again before use: the approval no longer applies.
    await w.stub.UpdateWalletSettings(
        pb.UpdateWalletSettingsRequest(
            wallet_settings=stored_value_pb2.WalletSettings(max_manual_discount_bps=0),
            update_mask=field_mask_pb2.FieldMask(paths=["max_manual_discount_bps"]),
            request_id=rid(),
        ),
        metadata=md(tenant),
    )
    err = await refused(
        w.stub.Checkout(
            bill(member, approval_name=ok.discount_approval.name, pay=6_500), metadata=md(tenant)
        ),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    assert reason_of(err) == "DISCOUNT_ABOVE_CEILING"


async def test_an_approval_is_for_its_store_member_and_time_only(wallet):
    w = wallet
    tenant = f"disc-{uuid.uuid4().hex[:8]}"
    member = await gold_member(w, tenant)
    other = await gold_member(w, tenant)
    name = (
        await w.stub.ApproveCheckoutDiscount(approval(member, 2500), metadata=manager(tenant))
    ).discount_approval.name
    before = await count_rows(w.engine, tenant, WRITES)
    for request, reason in (
        (bill(member, approval_name=name, store="stores/s2", pay=7_500), "DISCOUNT_APPROVAL_OTHER_STORE"),
        (bill(other, approval_name=name, pay=7_500), "DISCOUNT_APPROVAL_OTHER_MEMBER"),
    ):
        err = await refused(
            w.stub.Checkout(request, metadata=md(tenant)), grpc.StatusCode.FAILED_PRECONDITION
        )
        assert reason_of(err) == reason
    unknown = f"discountApprovals/{uuid.uuid4()}"
    await refused(
        w.stub.Checkout(bill(member, approval_name=unknown, pay=7_500), metadata=md(tenant)),
        grpc.StatusCode.NOT_FOUND,
    )
    async with w.engine.begin() as conn:  # time passes: the approval's 30 minutes are over
        await conn.execute(
            text(
                "UPDATE discount_approvals SET expire_time = now() - interval '1 second' WHERE tenant_id = :t"
            ),
            {"t": tenant},
        )
    err = await refused(
        w.stub.Checkout(bill(member, approval_name=name, pay=7_500), metadata=md(tenant)),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    assert reason_of(err) == "DISCOUNT_APPROVAL_EXPIRED"
    assert await count_rows(w.engine, tenant, WRITES) == before


async def test_two_checkouts_racing_for_one_approval_one_wins(wallet):
    w = wallet
    tenant = f"disc-{uuid.uuid4().hex[:8]}"
    member = await gold_member(w, tenant)
    name = (
        await w.stub.ApproveCheckoutDiscount(approval(member, 2500), metadata=manager(tenant))
    ).discount_approval.name
    results = await asyncio.gather(
        *(
            w.stub.Checkout(bill(member, approval_name=name, pay=7_500), metadata=md(tenant))
            for _ in range(4)
        ),
        return_exceptions=True,
    )
    wins = [r for r in results if not isinstance(r, BaseException)]
    losses = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
    assert len(wins) == 1 and len(losses) == 3, results
    assert {reason_of(e) for e in losses} == {"DISCOUNT_APPROVAL_USED"}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"discount_bps": 0}, "discount_bps"),
        ({"discount_bps": 10_001}, "discount_bps"),
        ({"reason": "  "}, "reason"),
        ({"reason": "x" * 201}, "reason"),
        ({"valid_minutes": 1441}, "valid_minutes"),
        ({"valid_minutes": -1}, "valid_minutes"),
        ({"store": "s1"}, "store"),
        ({"member": "members/nope"}, "member"),
    ],
)
async def test_bad_approval_requests_are_refused_and_write_nothing(wallet, change, field):
    w = wallet
    tenant = f"disc-{uuid.uuid4().hex[:8]}"
    member = await gold_member(w, tenant)
    request = approval(member, 2500)
    for key, value in change.items():
        setattr(request, key, value)
    before = await count_rows(w.engine, tenant, WRITES)
    err = await refused(
        w.stub.ApproveCheckoutDiscount(request, metadata=manager(tenant)), grpc.StatusCode.INVALID_ARGUMENT
    )
    assert field in field_of(err)
    assert await count_rows(w.engine, tenant, WRITES) == before


async def test_a_malformed_approval_name_at_checkout_is_refused(wallet):
    w = wallet
    tenant = f"disc-{uuid.uuid4().hex[:8]}"
    member = await gold_member(w, tenant)
    for name in ("abc", "discountApprovals/not-a-uuid", "checkouts/" + str(uuid.uuid4())):
        err = await refused(
            w.stub.Checkout(bill(member, approval_name=name, pay=7_500), metadata=md(tenant)),
            grpc.StatusCode.INVALID_ARGUMENT,
        )
        assert field_of(err) == ["discount_approval"]
