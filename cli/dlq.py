"""`peony dlq list|show|replay|purge <svc>`: the events a service's consumers dead-lettered.

Connects to NATS with the service's own configuration (PEONY_NATS_URL). Dead letters live in the
service's stream under ``peony.<svc>.dlq.<consumer>``; see :mod:`kit.messaging.dlq` for what a
replay does (and why it is safe to repeat).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Iterable, Mapping
from typing import Any

DEFAULT_NATS_URL = "nats://127.0.0.1:4222"  # kit.config's development default


def add_parser(sub: Any, services: Iterable[str]) -> None:
    """Add `dlq` and its commands to the `peony` parser's subcommands."""
    choices = sorted(services)
    dlq = sub.add_parser(
        "dlq",
        help="a service's dead-lettered events: list, show, replay, purge",
        description="A consumer that cannot handle an event after its retries dead-letters it. Fix "
        "the cause, then `replay` it: it is published again on its original subject, and each "
        "consumer's inbox makes that safe (consumers that already applied it only ack it).",
    )
    cmds = dlq.add_subparsers(dest="dlq_command", required=True)

    def command(name: str, help_: str) -> argparse.ArgumentParser:
        p = cmds.add_parser(name, help=help_)
        p.add_argument("service", choices=choices)
        p.add_argument("--json", action="store_true", help="print JSON instead of text")
        return p

    listing = command("list", "dead letters, oldest first (seq, consumer, event, reason)")
    listing.add_argument("--consumer", help="only this consumer's (durable name)")
    listing.add_argument("--limit", type=_positive, default=100, help="at most this many (default 100)")
    show = command("show", "one dead letter by its seq, with its headers")
    show.add_argument("seq", type=_positive)
    for name, help_ in (
        ("replay", "publish a dead letter (or --all) again on its original subject, then remove it"),
        ("purge", "delete a dead letter (or --all) without replaying it"),
    ):
        p = command(name, help_)
        which = p.add_mutually_exclusive_group(required=True)
        which.add_argument("seq", nargs="?", type=_positive)
        which.add_argument("--all", action="store_true", help="every dead letter of the service")
        p.add_argument("--consumer", help="with --all: only this consumer's")


def _positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not a positive number")
    return number


def run(args: argparse.Namespace) -> int:
    from kit.logging import configure_logging

    # stdout is the command's output (`--json | jq`): only warnings and errors are logged.
    configure_logging("peony-cli", level="WARNING", fmt="console")
    return asyncio.run(run_dlq(args))


async def run_dlq(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> int:
    from kit.messaging import dlq
    from kit.messaging.nats import connect

    env = os.environ if environ is None else environ
    # Only NATS is needed (not the service's database): PEONY_NATS_URL, as the services read it.
    nats_url = env.get("PEONY_NATS_URL") or DEFAULT_NATS_URL
    from kit.config import ConfigError, load_nats_settings

    try:
        settings = load_nats_settings(env)
    except ConfigError as exc:
        print(f"peony dlq: {exc}", file=sys.stderr)
        return 2
    try:
        nc, js = await connect(
            nats_url, f"peony-dlq-{args.service}", settings=settings, max_reconnect_attempts=0
        )
    except Exception as exc:
        print(f"peony dlq: cannot connect to NATS ({type(exc).__name__}: {exc})", file=sys.stderr)
        return 2
    try:
        svc = args.service
        if args.dlq_command == "list":
            letters = await dlq.dead_letters(js, svc, consumer=args.consumer, limit=args.limit)
            if args.json:
                print(json.dumps([_summary(x) for x in letters]))
            elif not letters:
                print(f"{svc}: no dead letters")
            else:
                _table([_summary(x) for x in letters])
            return 0
        if args.dlq_command == "show":
            letter = await dlq.dead_letter(js, svc, args.seq)
            if letter is None:
                print(f"peony dlq: {svc} has no dead letter at seq {args.seq}", file=sys.stderr)
                return 1
            fields = {**_summary(letter), "headers": letter.headers}
            if args.json:
                print(json.dumps(fields))
            else:
                width = max(len(k) for k in fields)
                for key, value in fields.items():
                    print(f"{key:<{width}}  {json.dumps(value) if isinstance(value, dict) else value}")
            return 0
        if args.dlq_command == "replay":
            if args.all:
                letters = await dlq.dead_letters(js, svc, consumer=args.consumer, limit=1_000_000)
            else:
                one = await dlq.dead_letter(js, svc, args.seq)
                letters = [one] if one is not None else []
            for letter in letters:
                await dlq.replay(js, svc, letter)
            _say(args, {"replayed": len(letters)}, f"{svc}: replayed {len(letters)} dead letter(s)")
            return 0 if letters or args.all else 1
        if args.dlq_command == "purge":
            count = await dlq.purge(js, svc, seq=None if args.all else args.seq, consumer=args.consumer)
            _say(args, {"purged": count}, f"{svc}: purged {count} dead letter(s)")
            return 0 if count or args.all else 1
        return 2
    finally:
        await nc.close()


def _summary(letter: Any) -> dict[str, Any]:
    return {
        "seq": letter.seq,
        "consumer": letter.consumer,
        "event_id": letter.event_id,
        "event_type": letter.event_type,
        "aggregate": letter.aggregate,
        "tenant": letter.tenant,
        "subject": letter.original_subject,
        "deliveries": letter.deliveries,
        "dead_lettered_at": letter.dead_lettered_at.isoformat() if letter.dead_lettered_at else None,
        "size": letter.size,
        "reason": letter.reason,
    }


def _say(args: argparse.Namespace, data: dict[str, Any], text: str) -> None:
    print(json.dumps(data) if args.json else text)


def _table(rows: list[dict[str, Any]]) -> None:
    columns = ["seq", "consumer", "event_type", "aggregate", "deliveries", "reason"]
    cells = [[str(r[c] or "")[:80] for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    print("  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True)))
    for row in cells:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)))
