"""`peony outbox ...`: a service's outbox backlog and its parked events (inspect, retry).

Connects to the service's database with the service's own configuration (PEONY_DATABASE_URL or
PEONY_<SVC>_DATABASE_URL, as `peony migrate` does).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from kit.config import ConfigError, load_config


def add_parser(sub: Any, services: Iterable[str]) -> None:
    """Add `outbox` and its commands to the `peony` parser's subcommands."""
    choices = sorted(services)
    outbox = sub.add_parser(
        "outbox",
        help="a service's event outbox: backlog, parked (unpublishable) events, retry",
        description="Events wait in each service's outbox until the relay publishes them. An event "
        "NATS refuses for good (too large, bad subject, corrupt) is parked after a few tries so its "
        "member's later events keep flowing; fix the cause, then `retry` it.",
    )
    cmds = outbox.add_subparsers(dest="outbox_command", required=True)

    def command(name: str, help_: str) -> argparse.ArgumentParser:
        p = cmds.add_parser(name, help=help_)
        p.add_argument("service", choices=choices)
        p.add_argument("--json", action="store_true", help="print JSON instead of text")
        return p

    command("status", "unpublished events, the oldest one's age, parked events")
    parked = command("parked", "list parked events (seq, event id, type, aggregate, attempts, error, size)")
    parked.add_argument("--limit", type=int, default=100, help="at most this many (default 100)")
    show = command("show", "one outbox event by id")
    show.add_argument("event_id")
    retry = command("retry", "un-park an event (or --all): the relay tries to publish it again")
    which = retry.add_mutually_exclusive_group(required=True)
    which.add_argument("event_id", nargs="?")
    which.add_argument("--all", action="store_true", help="every parked event of the service")


def run(args: argparse.Namespace) -> int:
    return asyncio.run(run_outbox(args))


async def run_outbox(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> int:
    from sqlalchemy.ext.asyncio import create_async_engine

    from kit.messaging import admin

    try:
        config = load_config(args.service, environ)
    except ConfigError as exc:
        print(f"peony outbox: {exc}", file=sys.stderr)
        return 2
    event_id = getattr(args, "event_id", None)
    if event_id is not None:
        try:
            event_id = str(uuid.UUID(event_id))
        except ValueError:
            print(f"peony outbox: {event_id!r} is not an event id (a UUID)", file=sys.stderr)
            return 2

    engine = create_async_engine(config.database_url, pool_size=1)
    try:
        if args.outbox_command == "status":
            stats = await admin.outbox_stats(engine)
            oldest = stats.oldest_pending_at
            _print(
                args,
                {
                    "service": args.service,
                    "pending": stats.pending,
                    "oldest_pending_age_s": round(stats.oldest_pending_age_s(), 3),
                    "oldest_pending_at": oldest.astimezone(UTC).isoformat() if oldest else None,
                    "parked": stats.parked,
                },
            )
            return 0
        if args.outbox_command == "parked":
            rows = await admin.parked_rows(engine, limit=args.limit)
            if args.json:
                print(json.dumps([_summary(r) for r in rows]))
            elif not rows:
                print(f"{args.service}: no parked events")
            else:
                _table([_summary(r) for r in rows])
            return 0
        if args.outbox_command == "show":
            row = await admin.find_row(engine, event_id)
            if row is None:
                print(f"peony outbox: {args.service} has no outbox event {event_id}", file=sys.stderr)
                return 1
            _print(args, {**_summary(row), **_details(row)})
            return 0
        if args.outbox_command == "retry":
            count = await admin.retry_parked(engine, args.service, None if args.all else event_id)
            if args.json:
                print(json.dumps({"unparked": count}))
            elif count:
                print(
                    f"{args.service}: un-parked {count} event(s); the relay publishes them next "
                    "(after any newer events of the same aggregate)"
                )
            else:
                print(f"{args.service}: nothing parked" + (f" with id {event_id}" if event_id else ""))
            return 0 if count or args.all else 1
        return 2
    finally:
        await engine.dispose()


def _summary(row: Any) -> dict[str, Any]:
    return {
        "seq": row.seq,
        "event_id": row.event_id,
        "event_type": row.event_type,
        "aggregate": f"{row.aggregate_type}/{row.aggregate_id}",
        "state": row.state,
        "attempts": row.attempts,
        "rejections": row.rejections,
        "size": row.size,
        "parked_at": _time(row.parked_at),
        "error": row.last_error,
    }


def _details(row: Any) -> dict[str, Any]:
    return {
        "tenant": row.tenant_id,
        "subject": row.subject,
        "created_at": _time(row.created_at),
        "published_at": _time(row.published_at),
        "next_attempt_at": _time(row.next_attempt_at),
        "headers": row.headers,
    }


def _time(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value else None


def _print(args: argparse.Namespace, fields: dict[str, Any]) -> None:
    if args.json:
        print(json.dumps(fields))
        return
    width = max(len(k) for k in fields)
    for key, value in fields.items():
        print(f"{key:<{width}}  {json.dumps(value) if isinstance(value, dict) else value}")


def _table(rows: list[dict[str, Any]]) -> None:
    columns = ["seq", "event_id", "event_type", "aggregate", "attempts", "size", "error"]
    cells = [[str(r[c] if c != "error" else (r[c] or ""))[:80] for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    print("  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True)))
    for row in cells:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)))
