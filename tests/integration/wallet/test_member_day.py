"""Member day (会员日) through the wallet's public gRPC API on real PostgreSQL: on the tenant's
member day — the checkout store's local date — listed tiers earn points times the member-day
multiplier; the day after (locally) they do not, nor do unlisted tiers.

The checkouts happen now (the wall clock); "the day after" is a store whose local date is
already tomorrow (Pacific/Kiritimati, UTC+14) compared with one in Pacific/Pago_Pago (UTC-11):
at every instant their local dates differ by one (25 hours apart), so the test never depends on
the time of day it runs at. The one-call path (stored value and tenders, no packages/vouchers)
and the statement-by-statement path (``validate_only`` is not used: it earns nothing) are the
same rule; this test goes through the one-call path, as a plain checkout does.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import grpc
import pytest
from google.protobuf.field_mask_pb2 import FieldMask
from peony.wallet.v1 import checkout_pb2, ledger_pb2, stored_value_pb2
from peony.wallet.v1 import wallet_service_pb2 as pb
from sqlalchemy import text

from kit.auth import mint_dev_token

pytestmark = pytest.mark.integration

TENANT = "member-day"
BEHIND, AHEAD = "Pacific/Pago_Pago", "Pacific/Kiritimati"


def md(roles=("hq_admin",)):
    return (
        ("authorization", f"Bearer {mint_dev_token(tenant=TENANT, subject='user:t', roles=list(roles))}"),
    )


async def seed(engine) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO store_directory (tenant_id, store_id, time_zone) VALUES"
                " (:t, 'behind', :b), (:t, 'ahead', :a) ON CONFLICT DO NOTHING"
            ),
            {"t": TENANT, "b": BEHIND, "a": AHEAD},
        )


async def member(engine, tier: str) -> str:
    member_id = str(uuid.uuid4())
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO member_directory (tenant_id, member_id, home_store_id, tier_id, discount_bps,"
                " points_multiplier_permille, registered_time)"
                " VALUES (:t, :m, 'behind', :tier, 0, 1000, now())"
            ),
            {"t": TENANT, "m": member_id, "tier": tier},
        )
    return f"members/{member_id}"


async def checkout(stub, member_name: str, store: str, amount: int = 10_000) -> int:
    resp = await stub.Checkout(
        pb.CheckoutRequest(
            member=member_name,
            store=f"stores/{store}",
            lines=[checkout_pb2.CheckoutLine(item="Facial", quantity=1, list_price_minor=amount)],
            tenders=[checkout_pb2.TenderAmount(tender=ledger_pb2.TENDER_CASH, amount_minor=amount)],
            request_id=str(uuid.uuid4()),
        ),
        metadata=md(),
    )
    return resp.checkout.points_earned


async def set_member_day(stub, day: int, tiers=(), multiplier: int = 2000):
    return await stub.UpdateWalletSettings(
        pb.UpdateWalletSettingsRequest(
            wallet_settings=stored_value_pb2.WalletSettings(
                member_day_of_month=day,
                member_day_points_multiplier_permille=multiplier,
                member_day_tier_ids=list(tiers),
            ),
            update_mask=FieldMask(
                paths=["member_day_of_month", "member_day_points_multiplier_permille", "member_day_tier_ids"]
            ),
            request_id=str(uuid.uuid4()),
        ),
        metadata=md(),
    )


async def test_a_checkout_on_the_member_day_earns_double_and_the_day_after_does_not(wallet):
    stub, engine = wallet.stub, wallet.engine
    await seed(engine)
    gold, regular = await member(engine, "gold"), await member(engine, "regular")
    # no member day by default: 1 point per yuan
    assert await checkout(stub, gold, "behind") == 100

    member_day = datetime.now(UTC).astimezone(ZoneInfo(BEHIND)).day  # today where the store is behind
    updated = await set_member_day(stub, member_day, tiers=["gold"])
    assert updated.wallet_settings.member_day_of_month == member_day
    assert list(updated.wallet_settings.member_day_tier_ids) == ["gold"]

    on_the_day = await checkout(stub, gold, "behind")
    day_after = await checkout(stub, gold, "ahead")  # the same instant is the next day there
    if datetime.now(UTC).astimezone(ZoneInfo(BEHIND)).day != member_day:  # midnight passed mid-test
        pytest.skip("the store-local date changed during the test")
    assert (on_the_day, day_after) == (200, 100)
    assert await checkout(stub, regular, "behind") == 100  # not a listed tier

    got = await stub.GetWalletSettings(pb.GetWalletSettingsRequest(name="walletSettings"), metadata=md())
    assert got.wallet_settings.member_day_points_multiplier_permille == 2000


@pytest.mark.parametrize(
    ("day", "tiers", "multiplier", "field"),
    [
        (32, (), 2000, "member_day_of_month"),
        (-1, (), 2000, "member_day_of_month"),
        (8, (), 999, "member_day_points_multiplier_permille"),
        (8, (), 10_001, "member_day_points_multiplier_permille"),
        (8, ("Gold Tier",), 2000, "member_day_tier_ids"),
        (8, tuple(f"t{i}" for i in range(21)), 2000, "member_day_tier_ids"),
    ],
)
async def test_bad_member_day_settings_are_refused(wallet, day, tiers, multiplier, field):
    async def current():
        got = await wallet.stub.GetWalletSettings(
            pb.GetWalletSettingsRequest(name="walletSettings"), metadata=md()
        )
        return got.wallet_settings

    before = await current()
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await set_member_day(wallet.stub, day, tiers, multiplier)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in (err.value.details() or "") + str(err.value.trailing_metadata())
    assert await current() == before  # nothing written
