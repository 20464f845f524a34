"""Segments on a large tenant: CountSegment and the first page of ListSegmentMembers.

    .venv/bin/python bench/bench_segments.py [--members 1000000] [--repeats 20]

Progress goes to stderr; stdout gets exactly one JSON line with every figure (see bench/README.md).

Steps:
1. PostgreSQL + NATS: embedded servers (``cli.devstack.DevStack``, fsync on) in a temp dir, or
   ``PEONY_DATABASE_URL`` / ``PEONY_NATS_URL`` when set; a fresh database migrated for members.
2. ``--members`` members generated straight into the database (one ``INSERT … SELECT
   generate_series`` per table, not through the API): 20 home stores, the default ladder's tiers,
   tags, marketing consent, birthdays as the service's own month-day blind index (same PII key),
   registrations over three years; ``member_activity`` for 80% of them (last visit within a year,
   points, stored value) and three checkouts each in ``member_spend`` over the last year; a package
   card for every third member in ``member_package_sessions`` (facial 0-10, massage on every
   sixth), its per-(member, service) totals in ``member_service_sessions``; the members row's copies
   of those facts (``last_visit_at``, balances, ``package_sessions_remaining``, ``last_checkout_at``
   = the latest of its checkouts) as the consumers keep them. Then ``VACUUM ANALYZE``.
3. The real members service as a separate process; for each of four typical segments,
   ``--repeats`` sequential CountSegment calls and as many first pages (50 members) of
   ListSegmentMembers, one client, through gRPC; p50/p99 per call.
4. Baseline in the same run: ``SELECT count(*) FROM members WHERE tenant_id = …`` straight over
   asyncpg (the floor any count over the tenant pays), p50; each segment's ratio to it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `bench`, `kit`, `peony` importable
    _root = Path(__file__).resolve().parent.parent
    sys.path[:0] = [str(_root), str(_root / "gen")]

from bench._common import Children, log, machine_info, percentile, pg_settings, plain_pg_url, run_benchmark
from bench.bench_members import _start_members, _with_db

TENANT = "bench"
GOAL_MS = 1000.0
STORES = 20


def _segments():
    from peony.members.v1 import segment_pb2 as sg

    return {
        # The birthday programme's audience: birthday within a week, reachable by SMS.
        "birthday_7d_sms": sg.SegmentFilter(
            birthday_within_days=7, consented_channels=[sg.MARKETING_CHANNEL_SMS]
        ),
        # 流失预警 for the upper tiers: no visit in 60 days, gold and above.
        "lapsed_60d_gold_plus": sg.SegmentFilter(
            no_visit_for_days=60, include_never_visited=True, tier_ids=["gold", "platinum", "diamond"]
        ),
        # High spenders of a quarter at two stores: ≥ ¥1,000 and ≥ 2 visits in 90 days.
        "spend_90d_two_stores": sg.SegmentFilter(
            home_stores=["stores/store-1", "stores/store-2"],
            spend=sg.WindowedRange(window_days=90, range=sg.Int64Range(min=100_000)),
            visits=sg.WindowedRange(window_days=90, range=sg.Int64Range(min=2)),
        ),
        # Card renewal reminder: 1 or 2 facial sessions left on their package cards.
        "facial_sessions_1_2": sg.SegmentFilter(
            package_sessions_remaining=sg.PackageSessionsRange(
                service="services/facial", range=sg.Int64Range(min=1, max=2)
            ),
        ),
    }


async def _generate(db_url: str, n: int) -> None:
    import asyncpg

    from kit.config import load_config
    from kit.crypto import PiiCipher
    from services.members.adapters.repository import BIRTHDAY_MD_INDEX
    from services.members.domain.segments import birthday_days_in_months

    config = load_config("members", {"PEONY_MEMBERS_DATABASE_URL": db_url})
    cipher = PiiCipher(config.pii_master_key)
    month_days = sorted(birthday_days_in_months(list(range(1, 13))))
    indexes = [cipher.blind_index(TENANT, BIRTHDAY_MD_INDEX, md) for md in month_days]
    conn = await asyncpg.connect(plain_pg_url(db_url))
    try:
        await conn.execute("SET synchronous_commit = off")
        for i in range(STORES):
            await conn.execute(
                "INSERT INTO stores (tenant_id, store_id, display_name, time_zone)"
                " VALUES ($1, $2, $2, 'Asia/Shanghai')",
                TENANT,
                f"store-{i}",
            )
        started = time.monotonic()
        now = datetime.now(UTC)  # one "now" for the members row and member_activity: equal copies
        await conn.execute(
            """
            INSERT INTO members (tenant_id, member_id, member_number, display_name, gender,
                home_store_id,
                registration_channel, consent, tags, referral_code, tier_id, birthday_md_bidx,
                create_time, update_time, state,
                last_visit_at, points_available, stored_value_minor, package_sessions_remaining,
                last_checkout_at)
            SELECT $1, md5('m' || i)::uuid, 'M' || lpad(i::text, 9, '0'), 'member ' || i,
                'female',
                'store-' || (i % $3), 'store',
                jsonb_build_object('marketing_sms', i % 3 <> 0, 'marketing_wechat', i % 2 = 0,
                                   'marketing_email', i % 5 = 0, 'marketing_app_push', false),
                CASE WHEN i % 10 = 0 THEN ARRAY['vip'] WHEN i % 7 = 0 THEN ARRAY['facial']
                     ELSE '{}'::text[] END,
                'R' || i,
                (ARRAY['regular', 'regular', 'regular', 'silver', 'silver', 'gold', 'platinum',
                       'diamond'])[1 + i % 8],
                CASE WHEN i % 20 = 0 THEN NULL ELSE ($4::bytea[])[1 + (i * 7919) % 366] END,
                now() - make_interval(days => (i % 1095)::int), now(), 'active',
                -- the segment facts as the engagement consumers copy them onto the row: the same
                -- values as member_activity and member_package_sessions below
                CASE WHEN i % 5 <> 0 THEN $5::timestamptz - make_interval(days => ((i * 31) % 365)::int) END,
                CASE WHEN i % 5 <> 0 THEN (i * 37) % 5000 ELSE 0 END,
                CASE WHEN i % 5 <> 0 THEN (i * 101) % 200000 ELSE 0 END,
                CASE WHEN i % 3 = 0 THEN (i * 7) % 11 + CASE WHEN i % 6 = 0 THEN (i * 3) % 6 ELSE 0 END
                     ELSE 0 END,
                -- the latest of the member's three checkouts in member_spend below
                CASE WHEN i % 5 <> 0 THEN $5::timestamptz - make_interval(days => least(
                    (i * 31) % 365, (i * 31 + 45) % 365, (i * 31 + 90) % 365)::int) END
            FROM generate_series(1, $2::bigint) AS i
            """,
            TENANT,
            n,
            STORES,
            indexes,
            now,
        )
        log(f"{n} members inserted in {time.monotonic() - started:.1f}s")
        started = time.monotonic()
        await conn.execute(
            """
            INSERT INTO member_activity (tenant_id, member_id, last_visit_at, points_available,
                points_as_of,
                stored_value_minor, stored_value_as_of)
            SELECT $1, md5('m' || i)::uuid, $3::timestamptz - make_interval(days => ((i * 31) % 365)::int),
                (i * 37) % 5000, $3, (i * 101) % 200000, $3
            FROM generate_series(1, $2::bigint) AS i WHERE i % 5 <> 0
            """,
            TENANT,
            n,
            now,
        )
        await conn.execute(
            """
            INSERT INTO member_spend (tenant_id, checkout_id, refund_id, member_id, kind,
                qualifying_spend_minor,
                visit, store_id, currency_code, occurred_at, event_id)
            SELECT $1, 'c' || i || '-' || k, '', md5('m' || i)::uuid, 'checkout',
                ((i * 13 + k * 7) % 2000) * 100,
                true, 'store-' || ((i + k) % $3), 'CNY',
                $4::timestamptz - make_interval(days => ((i * 31 + k * 45) % 365)::int),
                md5('e' || i || '-' || k)::uuid
            FROM generate_series(1, $2::bigint) AS i, generate_series(0, 2) AS k WHERE i % 5 <> 0
            """,
            TENANT,
            n,
            STORES,
            now,
        )
        # a package card for every third member: facial sessions 0-10, a massage item on every sixth
        await conn.execute(
            """
            INSERT INTO member_package_sessions (tenant_id, package_id, service_id, member_id,
                sessions_remaining, as_of)
            SELECT $1, 'p' || i, s.service, md5('m' || i)::uuid,
                CASE s.service WHEN 'facial' THEN (i * 7) % 11 ELSE (i * 3) % 6 END, now()
            FROM generate_series(1, $2::bigint) AS i,
                 (VALUES ('facial'), ('massage')) AS s(service)
            WHERE i % 3 = 0 AND (s.service = 'facial' OR i % 6 = 0)
            """,
            TENANT,
            n,
        )
        # the per-(member, service) totals the consumer recomputes from the card rows
        await conn.execute(
            """
            INSERT INTO member_service_sessions (tenant_id, member_id, service_id, sessions_remaining)
            SELECT tenant_id, member_id, service_id, sum(sessions_remaining)
            FROM member_package_sessions WHERE tenant_id = $1 GROUP BY tenant_id, member_id, service_id
            """,
            TENANT,
        )
        log(f"activity, spend and package sessions inserted in {time.monotonic() - started:.1f}s")
        started = time.monotonic()
        await conn.execute("VACUUM ANALYZE members")
        await conn.execute("VACUUM ANALYZE member_activity")
        await conn.execute("VACUUM ANALYZE member_spend")
        await conn.execute("VACUUM ANALYZE member_package_sessions")
        await conn.execute("VACUUM ANALYZE member_service_sessions")
        log(f"vacuum analyze in {time.monotonic() - started:.1f}s")
    finally:
        await conn.close()


async def _baseline(db_url: str, repeats: int) -> dict[str, Any]:
    import asyncpg

    conn = await asyncpg.connect(plain_pg_url(db_url))
    try:
        lat = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            await conn.fetchval("SELECT count(*) FROM members WHERE tenant_id = $1", TENANT)
            lat.append((time.perf_counter() - t0) * 1000)
    finally:
        await conn.close()
    lat.sort()
    return {"p50_ms": round(percentile(lat, 50), 1), "p99_ms": round(percentile(lat, 99), 1)}


async def _measure(addr: str, token: str, repeats: int) -> dict[str, Any]:
    import grpc
    from peony.members.v1 import members_service_pb2 as pb
    from peony.members.v1 import members_service_pb2_grpc as pb_grpc

    metadata = (("authorization", f"Bearer {token}"),)
    out: dict[str, Any] = {}
    async with grpc.aio.insecure_channel(addr) as channel:
        stub = pb_grpc.MembersServiceStub(channel)
        for name, f in _segments().items():
            figures: dict[str, Any] = {}
            for call in ("count", "first_page"):
                lat, value = [], None
                for _ in range(repeats + 1):  # the first call warms the caches and is not counted
                    t0 = time.perf_counter()
                    if call == "count":
                        resp = await stub.CountSegment(
                            pb.CountSegmentRequest(filter=f), metadata=metadata, timeout=60
                        )
                        value = resp.member_count
                    else:
                        resp = await stub.ListSegmentMembers(
                            pb.ListSegmentMembersRequest(filter=f, page_size=50),
                            metadata=metadata,
                            timeout=60,
                        )
                        value = len(resp.members)
                    lat.append((time.perf_counter() - t0) * 1000)
                lat = sorted(lat[1:])
                figures[call] = {
                    "p50_ms": round(percentile(lat, 50), 1),
                    "p99_ms": round(percentile(lat, 99), 1),
                    "result": value,
                }
            log(f"{name}: {figures}")
            out[name] = figures
    return out


def run(args: argparse.Namespace) -> dict[str, Any]:
    from cli.devstack import DevStack, drop_database, ensure_database, free_port
    from kit.auth import mint_dev_token
    from kit.config import to_async_url
    from kit.migrations import upgrade

    tmp = Path(tempfile.mkdtemp(prefix="peony-bench-segments-"))
    children = Children(log_dir=tmp / "logs")
    children.log_dir.mkdir()
    stack = DevStack(tmp / "stack", fast=False, pg_port=free_port(), nats_port=free_port())
    db_name = f"peony_bench_segments_{int(time.time())}_{os.getpid()}"
    server_url: str | None = None
    try:
        stack.start()
        server_url = plain_pg_url(stack.database_url)
        asyncio.run(ensure_database(server_url, db_name))
        db_url = _with_db(server_url, db_name)
        asyncio.run(upgrade("members", to_async_url(db_url)))
        pg = asyncio.run(pg_settings(db_url))
        log(f"database {db_name} migrated (PostgreSQL {pg['server_version']}, fsync={pg['fsync']})")
        asyncio.run(_generate(db_url, args.members))
        token = mint_dev_token(
            tenant=TENANT,
            subject="user:bench",
            roles=["marketing"],
            secret=os.environ.get("PEONY_JWT_SECRET") or None,
            issuer=os.environ.get("PEONY_JWT_ISSUER", "peony"),
            audience=os.environ.get("PEONY_JWT_AUDIENCE", "peony"),
        )
        baseline = asyncio.run(_baseline(db_url, args.repeats))
        log(f"baseline SELECT count(*) of the tenant: {baseline}")
        members, addr = _start_members(children, db_url, stack.nats_url, {})
        segments = asyncio.run(_measure(addr, token, args.repeats))
        children.stop(members)
        worst = max(f[c]["p50_ms"] for f in segments.values() for c in f)
        return {
            "benchmark": "segments",
            "members": args.members,
            "repeats": args.repeats,
            "segments": segments,
            "baseline_tenant_count": baseline,
            "ratio_worst_p50_to_baseline": round(worst / baseline["p50_ms"], 2)
            if baseline["p50_ms"]
            else None,
            "goal_ms": GOAL_MS,
            "goal_met": all(f[c]["p99_ms"] <= GOAL_MS for f in segments.values() for c in f),
            "machine": machine_info(),
            "errors_total": 0,
        }
    finally:
        children.stop_all()
        if server_url is not None:
            try:
                asyncio.run(drop_database(server_url, db_name))
            except Exception as exc:
                log(f"could not drop {db_name}: {exc}")
        stack.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--members", type=int, default=1_000_000)
    p.add_argument("--repeats", type=int, default=20)
    return run_benchmark(run, p.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
