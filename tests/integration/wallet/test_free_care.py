"""The tier benefit "free care each month" (每月N次免费护理; issue 12, point 4), over real gRPC,
PostgreSQL and NATS JetStream: with the tenant's `free_care_service` set, the wallet's job grants
each member whose tier has N free care sessions a month a free package card of N sessions,
expiring at the end of the month in the home store's time zone — once per member and month — and
the card is consumed like any other. The member directory, tier ladders and store zones are the
projections of members' events, seeded here as those events would write them."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import grpc
import pytest
from google.protobuf import field_mask_pb2
from peony.wallet.v1 import stored_value_pb2
from peony.wallet.v1 import wallet_service_pb2 as pb
from sqlalchemy import text

from services.wallet.entrypoints.jobs import WalletJobs
from tests.integration.wallet.test_package_commission import field_of
from tests.support.wallet import add_member, count_rows, md, rid, running_wallet

pytestmark = pytest.mark.integration

SERVICE = "services/basic-care"
ZONE = "Pacific/Kiritimati"  # UTC+14: its month can differ from UTC's


@pytest.fixture(scope="module")
async def wallet(infra):
    async with running_wallet(infra, "wallet_free_care", PEONY_WALLET_FREE_CARE_INTERVAL_SECONDS="0.1") as w:
        yield w


async def enable(w, tenant: str) -> None:
    await w.stub.UpdateWalletSettings(
        pb.UpdateWalletSettingsRequest(
            wallet_settings=stored_value_pb2.WalletSettings(free_care_service=SERVICE),
            update_mask=field_mask_pb2.FieldMask(paths=["free_care_service"]),
            request_id=rid(),
        ),
        metadata=md(tenant),
    )


async def member_of_tier(
    w, tenant: str, tier: str, *, home_store: str = "s1", zone: str = "Asia/Shanghai"
) -> str:
    member = await add_member(w.engine, tenant, home_store=home_store)
    async with w.engine.begin() as conn:
        await conn.execute(
            text("UPDATE member_directory SET tier_id = :tier WHERE tenant_id = :t AND member_id = :m"),
            {"tier": tier, "t": tenant, "m": member.split("/")[1]},
        )
        await conn.execute(
            text("UPDATE store_directory SET time_zone = :z WHERE tenant_id = :t AND store_id = :s"),
            {"z": zone, "t": tenant, "s": home_store},
        )
    return member


async def cards(w, tenant: str, member: str):
    got = await w.stub.ListMemberPackages(pb.ListMemberPackagesRequest(parent=member), metadata=md(tenant))
    return list(got.member_packages)


async def wait_for_card(w, tenant: str, member: str, within: float = 40.0):
    deadline = time.monotonic() + within
    while not (found := await cards(w, tenant, member)):
        assert time.monotonic() < deadline, f"no free care card for {member} within {within}s"
        await asyncio.sleep(0.2)
    return found


async def more_passes(w, count: int = 3) -> None:
    """`count` whole free-care passes run here, beside the server's own periodic one (as a second
    replica's would): each is known to have run, where a fixed sleep only hoped for some."""
    jobs = w.worker(WalletJobs)
    for _ in range(count):
        await jobs.grant_free_care(datetime.now(UTC))


def month_end(zone: str) -> datetime:
    today = datetime.now(UTC).astimezone(ZoneInfo(zone)).date()
    following = date(today.year + (today.month == 12), today.month % 12 + 1, 1)
    return datetime.combine(following, datetime.min.time(), tzinfo=ZoneInfo(zone)).astimezone(UTC)


async def test_each_member_gets_their_tiers_free_care_once_a_month_expiring_at_month_end(wallet):
    w = wallet
    tenant = f"care-{uuid.uuid4().hex[:8]}"
    gold = await member_of_tier(w, tenant, "gold", home_store="far", zone=ZONE)  # default ladder: 2
    silver = await member_of_tier(w, tenant, "silver")  # default ladder: 1
    regular = await member_of_tier(w, tenant, "regular")
    await enable(w, tenant)

    [card] = await wait_for_card(w, tenant, gold)
    assert (card.product, card.price_minor, card.store_sold) == (
        "packageProducts/tier-free-care",
        0,
        "stores/far",
    )
    [item] = card.items
    assert (item.service, item.sessions_total, item.sessions_remaining, item.session_value_minor) == (
        SERVICE,
        2,
        2,
        0,
    )
    assert item.expire_time.ToDatetime(UTC) == month_end(ZONE)
    [silver_card] = await wait_for_card(w, tenant, silver)
    assert silver_card.items[0].sessions_total == 1

    await more_passes(w)  # nothing granted twice
    assert len(await cards(w, tenant, gold)) == 1
    assert len(await cards(w, tenant, silver)) == 1
    assert await cards(w, tenant, regular) == []
    assert (await count_rows(w.engine, tenant, ("free_care_grants",)))["free_care_grants"] == 2

    # The card is an ordinary package card: a session is consumed through the package path.
    used = await w.stub.ConsumePackageSession(
        pb.ConsumePackageSessionRequest(
            package=card.name, service=SERVICE, store="stores/s1", request_id=rid()
        ),
        metadata=md(tenant),
    )
    assert used.member_package.items[0].sessions_remaining == 1


async def test_the_tenants_own_ladder_decides_and_no_service_means_no_grants(wallet):
    w = wallet
    custom = f"care-{uuid.uuid4().hex[:8]}"
    gold = await member_of_tier(w, custom, "gold")
    async with w.engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO tier_ladders (tenant_id, version, tiers) VALUES (:t, 2, CAST(:tiers AS jsonb))"
            ),
            {
                "t": custom,
                "tiers": '[{"tier_id": "regular", "free_care_per_month": 0},'
                ' {"tier_id": "gold", "free_care_per_month": 5}]',
            },
        )
    await enable(w, custom)
    [card] = await wait_for_card(w, custom, gold)
    assert card.items[0].sessions_total == 5

    off = f"care-{uuid.uuid4().hex[:8]}"
    diamond = await member_of_tier(w, off, "diamond")
    await more_passes(w)
    assert await cards(w, off, diamond) == []


@pytest.mark.parametrize("service", ["basic-care", "services/", "services/a b", "services/" + "x" * 95])
async def test_a_bad_free_care_service_is_refused_and_changes_nothing(wallet, service):
    w = wallet
    tenant = f"care-{uuid.uuid4().hex[:8]}"
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await w.stub.UpdateWalletSettings(
            pb.UpdateWalletSettingsRequest(
                wallet_settings=stored_value_pb2.WalletSettings(free_care_service=service),
                update_mask=field_mask_pb2.FieldMask(paths=["free_care_service"]),
                request_id=rid(),
            ),
            metadata=md(tenant),
        )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "wallet_settings.free_care_service" in field_of(err.value)
    got = await w.stub.GetWalletSettings(
        pb.GetWalletSettingsRequest(name="walletSettings"), metadata=md(tenant)
    )
    assert got.wallet_settings.free_care_service == ""


def test_month_end_is_the_first_instant_of_the_next_month_in_the_zone():
    from services.wallet.service_layer.benefits import month_end as service_month_end

    assert service_month_end(date(2026, 12, 1), "Asia/Shanghai") == datetime(2026, 12, 31, 16, tzinfo=UTC)
    assert service_month_end(date(2027, 2, 1), "UTC") == datetime(2027, 3, 1, tzinfo=UTC)
    assert service_month_end(date(2027, 3, 1), "America/New_York") - timedelta(hours=4) == datetime(
        2027, 4, 1, tzinfo=UTC
    )
