"""The wallet service for integration tests (tests/integration/wallet).

`running_wallet` runs the wallet server in-process on a fresh, migrated database of its own. Next
to it: tokens of each role (optionally store-scoped), the reason of a refused call, and a member
row in the wallet's member directory. Tests keep their own tenant, so they never see each other's
rows.

The wallet refuses money movements at a store or for a member its projections (fed by members'
events, read through to members on a miss) do not know; tests without a members service write the
projection rows directly (`add_member`, `seed_stores`).
"""

from __future__ import annotations

import importlib.util
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import grpc
from google.rpc import error_details_pb2, status_pb2
from peony.wallet.v1 import wallet_service_pb2_grpc as pb_grpc
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from kit.auth import mint_dev_token
from kit.config import load_config, to_async_url
from kit.grpc_server import GrpcServiceRunner
from services.wallet.entrypoints.app import build
from tests.support.stack import Infra


def rid() -> str:
    return str(uuid.uuid4())


def md(tenant: str, roles=("hq_admin",), *, subject: str = "user:t", stores: list[str] | None = None):
    """gRPC metadata with a dev token of `tenant` for `roles` (store-bound roles: `stores`)."""
    token = mint_dev_token(tenant=tenant, subject=subject, roles=list(roles), stores=stores)
    return (("authorization", f"Bearer {token}"),)


def reason_of(err: grpc.aio.AioRpcError) -> str:
    raw = dict(err.trailing_metadata() or ()).get("grpc-status-details-bin")
    if not raw:
        return ""
    for any_ in status_pb2.Status.FromString(raw).details:
        info = error_details_pb2.ErrorInfo()
        if any_.Unpack(info):
            return info.reason
    return ""


_W = TypeVar("_W")


@dataclass
class Wallet:
    stub: pb_grpc.WalletServiceStub
    engine: AsyncEngine
    url: str
    channel: grpc.aio.Channel
    runner: GrpcServiceRunner | None = None

    def worker(self, kind: type[_W]) -> _W:
        """The server's background worker of `kind` (e.g. `WalletJobs`), so a test can run a pass
        itself instead of sleeping until the periodic one comes round."""
        assert self.runner is not None
        return next(w for w in self.runner.workers if isinstance(w, kind))


@asynccontextmanager
async def running_wallet(infra: Infra, database: str, **env: str) -> AsyncIterator[Wallet]:
    """`env`: extra configuration for the server (e.g. PEONY_MAX_EVENT_BYTES)."""
    url = to_async_url(await infra.amigrated_database("wallet", database))
    config = load_config(
        "wallet",
        {
            "PEONY_WALLET_DATABASE_URL": url,
            "PEONY_NATS_URL": infra.nats_url,
            "PEONY_WALLET_GRPC_PORT": "0",
            "PEONY_SHUTDOWN_GRACE_SECONDS": "2",
            **env,
        },
    )
    runner = await build(config)
    port = await runner.start()
    # The client may send more than the server accepts: oversized requests are refused server-side.
    channel = grpc.aio.insecure_channel(
        f"127.0.0.1:{port}", options=[("grpc.max_send_message_length", 4 * 1024 * 1024)]
    )
    engine = create_async_engine(url)
    try:
        yield Wallet(pb_grpc.WalletServiceStub(channel), engine, url, channel, runner)
    finally:
        await channel.close()
        await engine.dispose()
        await runner.stop()


async def add_member(engine: AsyncEngine, tenant: str, home_store: str = "s1") -> str:
    """A member the wallet knows (its directory row, as the members projection writes it), and the
    test stores (`TEST_STORES` and the home store) in the wallet's store projection."""
    member_id = str(uuid.uuid4())
    async with engine.begin() as conn:
        await seed_stores(conn, tenant, (*TEST_STORES, home_store))
        await conn.execute(
            text(
                "INSERT INTO member_directory (tenant_id, member_id, home_store_id, tier_id, discount_bps,"
                " points_multiplier_permille, registered_time)"
                " VALUES (:t, :m, :s, 'regular', 0, 1000, now())"
            ),
            {"t": tenant, "m": member_id, "s": home_store},
        )
    return f"members/{member_id}"


async def count_rows(engine: AsyncEngine, tenant: str, tables: tuple[str, ...]) -> dict[str, int]:
    """Row counts of `tables` for `tenant`: what a refused call must leave unchanged."""
    out = {}
    async with engine.connect() as conn:
        for table in tables:
            out[table] = (
                # table names come from the test itself, never from input
                await conn.execute(text(f"SELECT count(*) FROM {table} WHERE tenant_id = :t"), {"t": tenant})  # noqa: S608
            ).scalar_one()
    return out


_LOTS_VS_LEDGER = """
SELECT
  (SELECT count(*) FROM accounts a
    WHERE a.kind IN ('sv_principal', 'sv_bonus') AND (:t = '' OR a.tenant_id = :t)
      AND -a.balance + coalesce((
            SELECT sum(CASE WHEN a.kind = 'sv_principal' THEN h.principal_minor ELSE h.bonus_minor END)
            FROM holds h
            WHERE h.tenant_id = a.tenant_id AND h.member_id::text = a.owner AND h.state = 'authorized'), 0)
        <> coalesce((
            SELECT sum(CASE WHEN a.kind = 'sv_principal' THEN l.principal_minor ELSE l.bonus_minor END)
            FROM stored_value_lots l WHERE l.tenant_id = a.tenant_id AND l.member_id::text = a.owner), 0))
  +
  (SELECT count(*) FROM stored_value_lots l
    WHERE (:t = '' OR l.tenant_id = :t)
      AND (l.principal_minor, l.bonus_minor) <> (
            SELECT coalesce(sum(m.principal_minor), 0), coalesce(sum(m.bonus_minor), 0)
            FROM stored_value_lot_movements m
            WHERE m.tenant_id = l.tenant_id AND m.member_id = l.member_id AND m.store_id = l.store_id))
"""


async def sv_lot_disagreements(conn, tenant: str = "") -> int:
    """Members whose stored-value lots per selling store disagree with their ledger accounts
    (principal and bonus, plus what open holds reserve), and lots that disagree with their
    movements; 0 when the attribution is sound. All tenants when `tenant` is empty."""
    return (await conn.execute(text(_LOTS_VS_LEDGER), {"t": tenant})).scalar_one()


# The stores the wallet tests move money at.
TEST_STORES = ("s1", "s2", "s3", "s5", "s9", "sh", "ny", "loop", "other", "a", "b", "c")


async def seed_stores(conn: AsyncConnection, tenant: str, stores: tuple[str, ...] = TEST_STORES) -> None:
    await conn.execute(
        text(
            "INSERT INTO store_directory (tenant_id, store_id, time_zone)"
            " SELECT :t, unnest(CAST(:s AS text[])), 'Asia/Shanghai' ON CONFLICT DO NOTHING"
        ),
        {"t": tenant, "s": list(stores)},
    )


async def install_ledger_post(conn: AsyncConnection) -> None:
    """Today's ledger code posts through the `ledger_post` function of migration 0010; a test that
    writes history on an older schema with today's code installs the function first (the
    migration's CREATE OR REPLACE then finds it in place)."""
    path = Path(__file__).parents[2] / "services/wallet/migrations/versions/0010_ledger_post_function.py"
    spec = importlib.util.spec_from_file_location("wallet_migration_0010", path)
    assert spec is not None and spec.loader is not None
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    await conn.execute(text(migration.LEDGER_POST))
