"""``peony insights``: rebuild the KPI facts from the event log, export a KPI as a file.

    peony insights rebuild                    replay every stream from its start into fresh tables
                                              and swap them in (figures equal before and after)
    peony insights export new_members --start 2026-01-01 --end 2026-03-31 --granularity month
                          [--store stores/s1] [--tier gold] [--format csv|xlsx] [--locale zh-CN] [-o FILE]

``rebuild`` opens the warehouse itself: with chDB (no PEONY_CLICKHOUSE_URL) stop the insights
service first — chDB's data directory belongs to one process at a time. With a ClickHouse server
it runs beside the service (the service's consumers keep writing to the live tables; an event
written to both is counted once). ``export`` calls the running service's ``ExportMetric``.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import grpc
from peony.insights.v1 import insights_service_pb2 as pb
from peony.insights.v1 import insights_service_pb2_grpc as pb_grpc

from kit.config import DEFAULT_GRPC_PORTS, ConfigError, load_config

_GRANULARITY = {
    "total": pb.GRANULARITY_TOTAL,
    "day": pb.GRANULARITY_DAY,
    "week": pb.GRANULARITY_WEEK,
    "month": pb.GRANULARITY_MONTH,
}


def add_parser(sub) -> None:
    insights = sub.add_parser("insights", help="insights operations (rebuild from the event log, export)")
    actions = insights.add_subparsers(dest="action", required=True)
    actions.add_parser("rebuild", help="replay the streams into fresh tables and swap them in")
    export = actions.add_parser("export", help="a KPI as CSV (UTF-8 with BOM) or XLSX")
    export.add_argument("metric")
    export.add_argument("--start", default="")
    export.add_argument("--end", default="")
    export.add_argument("--granularity", choices=sorted(_GRANULARITY), default="total")
    export.add_argument("--store", action="append", dest="stores", default=[])
    export.add_argument("--tier", default="")
    export.add_argument("--format", choices=("csv", "xlsx"), default="csv")
    export.add_argument("--locale", choices=("en", "zh-CN"), default="en")
    export.add_argument("-o", "--output", default="", help="file to write (default: the suggested name)")
    default_addr = os.environ.get("PEONY_INSIGHTS_ADDR") or f"127.0.0.1:{DEFAULT_GRPC_PORTS['insights']}"
    export.add_argument("--addr", default=default_addr)
    export.add_argument("--token", default=os.environ.get("PEONY_TOKEN", ""), help="or PEONY_TOKEN")


async def rebuild_now() -> int:
    from kit.messaging import connect
    from services.insights.adapters.schema import migrate
    from services.insights.entrypoints.app import insights_settings, open_settings_warehouse
    from services.insights.entrypoints.consumers import STREAMS
    from services.insights.service_layer.rebuild import rebuild

    config = load_config("insights")
    warehouse = await open_settings_warehouse(insights_settings(config))
    nc, js = await connect(config.nats_url, name="peony-insights-rebuild")
    try:
        await migrate(warehouse)
        return await rebuild(warehouse, js, STREAMS)
    finally:
        await nc.close()
        await warehouse.close()


async def export_metric(args) -> pb.ExportMetricResponse:
    async with grpc.aio.insecure_channel(args.addr) as channel:
        return await pb_grpc.InsightsServiceStub(channel).ExportMetric(
            pb.ExportMetricRequest(
                metric=args.metric,
                stores=args.stores,
                tier=args.tier,
                start_date=args.start,
                end_date=args.end,
                granularity=_GRANULARITY[args.granularity],
                format=pb.EXPORT_FORMAT_XLSX if args.format == "xlsx" else pb.EXPORT_FORMAT_CSV,
                locale=args.locale,
            ),
            metadata=(("authorization", f"Bearer {args.token}"),),
            timeout=120,
        )


def run(args) -> int:
    if args.action == "rebuild":
        try:
            events = asyncio.run(rebuild_now())
        except ConfigError as exc:
            print(f"peony insights rebuild: {exc}", file=sys.stderr)
            return 2
        except RuntimeError as exc:  # chDB refuses a data directory another process has open
            print(
                f"peony insights rebuild: cannot open the warehouse ({exc}). With chDB, stop the insights "
                "service first: its data directory belongs to one process at a time.",
                file=sys.stderr,
            )
            return 1
        print(f"peony insights rebuild: {events} events replayed; the rebuilt tables are live")
        return 0
    if not args.token:
        print("peony insights export: no token (--token or PEONY_TOKEN; see `peony token`)", file=sys.stderr)
        return 2
    try:
        got = asyncio.run(export_metric(args))
    except grpc.RpcError as exc:
        print(f"peony insights export: {exc.code().name}: {exc.details()}", file=sys.stderr)
        return 1
    path = Path(args.output or got.filename)
    path.write_bytes(got.content)
    print(f"peony insights export: wrote {path} ({len(got.content)} bytes)")
    return 0


def migrate_insights() -> int:
    """``peony migrate insights``: the versioned DDL against a ClickHouse server. With chDB the
    service applies it at start (in its own process), so there is nothing to do here."""
    from kit.config import load_config as _load
    from services.insights.adapters.schema import migrate
    from services.insights.entrypoints.app import insights_settings, open_settings_warehouse

    try:
        config = _load("insights")
    except ConfigError as exc:
        print(f"peony migrate insights: {exc}", file=sys.stderr)
        return 2
    if not config.clickhouse_url:
        print("peony migrate insights: chDB in-process: the service applies its DDL at start")
        return 0

    async def run_ddl() -> int:
        warehouse = await open_settings_warehouse(insights_settings(config))
        try:
            return await migrate(warehouse)
        finally:
            await warehouse.close()

    version = asyncio.run(run_ddl())
    print(f"peony migrate insights: schema version {version}")
    return 0
