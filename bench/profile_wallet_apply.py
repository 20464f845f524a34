"""PostgreSQL CPU of the one-call Checkout and TopUp, one backend, A/B between two definitions of
`wallet_apply` / `ledger_post` (migration 0011's and the head's, 0021), interleaved.

The whole-stack bench (bench_wallet.py) charges every PostgreSQL process (the relay's queries,
WAL writer, checkpointer, autovacuum) to the calls and moves with the machine's load; this reads
the CPU of the ONE backend that runs `wallet_context` + `wallet_apply` (utime + stime from
/proc/<pid>/stat, the service layer driving it in this process as the tests do), before and after
`--calls` checkouts (100 points + stored value, a facial with a 10 % commission rule, as bench_wallet's
bill) and top-ups, for each definition in turn, `--rounds` times. The definitions are swapped with
CREATE OR REPLACE on the same database, so both see the same data and the same load.

    PYTHONPATH=$TREE:$TREE/gen .venv/bin/python bench/profile_wallet_apply.py            # embedded PG
    PYTHONPATH=... .venv/bin/python bench/profile_wallet_apply.py --server-url postgresql://...

Prints one line per measurement on stderr and a JSON summary (medians, ms per call) on stdout.
PostgreSQL must run on this machine (its /proc is read).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import json
import os
import statistics
import sys
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from cli.devstack import database_url, ensure_database
from kit.config import to_async_url
from kit.db import session_factory
from kit.idempotency import Idempotency
from kit.migrations import upgrade
from kit.uow import UnitOfWorkFactory
from services.wallet.adapters.tables import metadata
from services.wallet.adapters.wallet_apply import WalletApply
from services.wallet.domain.checkout import Line
from services.wallet.service_layer import checkout as co
from services.wallet.service_layer import one_call
from services.wallet.service_layer.unit_of_work import WalletUnitOfWork
from tests.integration.wallet import (
    test_wallet_apply as helpers,
)  # members, PIN, top-ups as the tests make them

VERSIONS = Path(__file__).resolve().parent.parent / "services/wallet/migrations/versions"


def _migration(file: str):
    spec = importlib.util.spec_from_file_location(file.removesuffix(".py"), VERSIONS / file)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def definitions() -> dict[str, list[str]]:
    m11 = _migration("0011_wallet_apply_function.py")
    m21 = _migration("0021_wallet_apply_static_inserts.py")
    return {
        "0011_dynamic": [m11.ledger_post_with_create_time(), m11.WALLET_APPLY],
        "0021_static": [m21.ledger_post_by_key(), m21.wallet_apply_static()],
    }


def backend_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def seed(server_url: str, members: int, *, pool_size: int = 1) -> Seeded:
    """A fresh migrated database with bench_wallet's bill: stores, a top-up plan, a facial with a
    10 % commission rule, `members` members with a PIN, three top-ups and points; ANALYZEd. The
    one-call paths run on a pool of `pool_size` connections (1: one backend, the one measured)."""
    name = f"profile_wallet_{uuid.uuid4().hex[:8]}"
    await ensure_database(server_url, name)
    url = to_async_url(database_url(server_url, name))
    await upgrade("wallet", url)
    engine = create_async_engine(url, pool_size=4)
    tenant = helpers.TENANT
    async with engine.begin() as conn:
        await helpers.seed_stores(conn, tenant)
        await conn.execute(
            text(
                "INSERT INTO top_up_plans (tenant_id, plan_id, display_name, pay_minor, bonus_minor,"
                " bonus_release, release_months) VALUES (:t, 'p1000', 'pay 1000 get 200', 100000, 20000,"
                " 'immediate', 1)"
            ),
            {"t": tenant},
        )
        await conn.execute(
            text(
                "INSERT INTO commission_rules (tenant_id, rule_id, item, basis, percent_bps, priority)"
                " VALUES (:t, 'facial10', 'services/facial', 'percent', 1000, 1)"
            ),
            {"t": tenant},
        )
    uows = UnitOfWorkFactory(WalletUnitOfWork, session_factory(engine), service="wallet")
    applier = WalletApply(engine, service="wallet", max_size=pool_size)
    one = one_call.OneCall(uows, applier, Idempotency(helpers.CIPHER, metadata))
    ids = []
    for _ in range(members):
        m = await helpers.new_member(engine, uows, 500, 1000)
        for _ in range(3):
            await helpers.top_up(uows, m, "s1", 1_000_000, "")
        await helpers.grant(uows, m, 100_000)
        ids.append(m)
    async with engine.connect() as conn:  # statistics as a database in service has them
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.exec_driver_sql("ANALYZE")
    lines = [Line("services/facial", "facial", 1, 29800, serving_staff="s-ann")]
    preview = await uows.run(
        tenant,
        lambda uow: co.checkout(
            uow,
            helpers.STAFF,
            co.CheckoutInput(
                member_id=ids[0], store_id="s1", lines=lines, points_to_redeem=100, validate_only=True
            ),
        ),
    )
    due = preview.record["total_due_minor"]

    async def checkout(i: int) -> None:
        bill = co.CheckoutInput(
            member_id=ids[i % len(ids)],
            store_id="s1",
            lines=lines,
            points_to_redeem=100,
            stored_value=due,
        )
        assert await helpers.one_call_checkout(one, bill) is not None

    async def top_up(i: int) -> None:
        assert await helpers.one_call_top_up(one, ids[i % len(ids)], "s1", 100_000, "p1000") is not None

    return Seeded(engine, applier, checkout, top_up)


@dataclass
class Seeded:
    engine: AsyncEngine
    applier: WalletApply
    checkout: Callable[[int], Awaitable[None]]  # the i-th one-call checkout (members in turn)
    top_up: Callable[[int], Awaitable[None]]

    async def close(self) -> None:
        await self.applier.close()
        await self.engine.dispose()


async def run(server_url: str, args) -> dict:
    seeded = await seed(server_url, args.members)
    engine, applier, checkout, top_up = seeded.engine, seeded.applier, seeded.checkout, seeded.top_up
    pool = await applier._get_pool()
    variants = definitions()
    results: dict[str, list[float]] = {}
    for _ in range(args.rounds):
        for variant, statements in variants.items():
            async with engine.begin() as conn:
                for sql in statements:
                    await conn.exec_driver_sql(sql)
            await pool.expire_connections()  # a fresh backend: no plan cached from the other variant
            pid = await pool.fetchval("SELECT pg_backend_pid()")
            for what, call in (("checkout", checkout), ("top_up", top_up)):
                for i in range(20):  # warm the backend's plan caches
                    await call(i)
                before = backend_cpu_seconds(pid)
                for i in range(args.calls):
                    await call(i)
                ms = (backend_cpu_seconds(pid) - before) / args.calls * 1000
                assert pid == await pool.fetchval("SELECT pg_backend_pid()")
                results.setdefault(f"{variant} {what}", []).append(ms)
                print(
                    f"{variant:>13} {what:>8}: {ms:.3f} ms backend CPU per call", file=sys.stderr, flush=True
                )
    await seeded.close()
    return {
        "calls_per_measurement": args.calls,
        "rounds": args.rounds,
        "members": args.members,
        "backend_cpu_ms_per_call_median": {k: round(statistics.median(v), 3) for k, v in results.items()},
        "backend_cpu_ms_per_call_all": {k: [round(x, 3) for x in v] for k, v in results.items()},
        "load_average_after": os.getloadavg(),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--server-url", help="server-level postgresql:// URL (superuser); default: embedded")
    p.add_argument("--calls", type=int, default=800, help="calls per measurement")
    p.add_argument("--rounds", type=int, default=4, help="interleaved rounds over the definitions")
    p.add_argument("--members", type=int, default=100, help="members the calls rotate over")
    args = p.parse_args()
    with contextlib.ExitStack() as stack:
        server_url = args.server_url
        if server_url is None:
            from tests.support.stack import start_infra

            server_url = stack.enter_context(start_infra()).server_url
        print(json.dumps(asyncio.run(run(server_url, args))))


if __name__ == "__main__":
    main()
