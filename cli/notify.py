"""``peony notify retry``: send failed (dead-lettered) messages again.

    peony notify retry messages/<id> [messages/<id> ...]
    peony notify retry --all-failed [--trigger reminder]

Calls notify's ``RetryMessage`` (one ``request_id`` per message and run, so a re-run of the same
command line after a timeout does not queue a message twice) with the bearer token in
``--token`` or ``PEONY_TOKEN`` (``peony token`` mints one for development).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import uuid

import grpc
from peony.notify.v1 import message_pb2
from peony.notify.v1 import notify_service_pb2 as pb
from peony.notify.v1 import notify_service_pb2_grpc as pb_grpc

from kit.config import DEFAULT_GRPC_PORTS
from kit.grpc_client import client_target


def add_parser(sub) -> None:
    notify = sub.add_parser("notify", help="notify operations (retry failed messages)")
    actions = notify.add_subparsers(dest="action", required=True)
    retry = actions.add_parser("retry", help="queue failed messages to be sent again")
    retry.add_argument("names", nargs="*", help="messages/<id> to retry")
    retry.add_argument("--all-failed", action="store_true", help="every failed message of the tenant")
    retry.add_argument("--trigger", default="", help="with --all-failed: only this trigger")
    default_addr = os.environ.get("PEONY_NOTIFY_ADDR") or f"127.0.0.1:{DEFAULT_GRPC_PORTS['notify']}"
    retry.add_argument("--addr", default=default_addr)
    retry.add_argument("--token", default=os.environ.get("PEONY_TOKEN", ""), help="or PEONY_TOKEN")


async def retry(addr: str, token: str, names: list[str], *, all_failed: bool, trigger: str = "") -> list[str]:
    """The names retried; raises grpc.aio.AioRpcError on the first refusal."""
    metadata = (("authorization", f"Bearer {token}"),)
    run = uuid.uuid4().hex[:12]
    async with grpc.aio.insecure_channel(client_target(addr)) as channel:  # any PEONY_<SVC>_ADDR form
        stub = pb_grpc.NotifyServiceStub(channel)
        targets = list(names)
        if all_failed:
            token_ = ""
            while True:
                page = await stub.ListMessages(
                    pb.ListMessagesRequest(
                        state=message_pb2.MESSAGE_STATE_FAILED,
                        trigger=trigger,
                        page_size=500,
                        page_token=token_,
                    ),
                    metadata=metadata,
                    timeout=30,
                )
                targets.extend(m.name for m in page.messages)
                token_ = page.next_page_token
                if not token_:
                    break
        done = []
        for name in dict.fromkeys(targets):
            await stub.RetryMessage(
                pb.RetryMessageRequest(name=name, request_id=f"cli-retry:{run}:{name.rsplit('/', 1)[-1]}"),
                metadata=metadata,
                timeout=30,
            )
            done.append(name)
        return done


def run(args: argparse.Namespace) -> int:
    if args.action != "retry":
        return 2
    if not args.names and not args.all_failed:
        print("peony notify retry: name messages/<id> or pass --all-failed", file=sys.stderr)
        return 2
    if not args.token:
        print("peony notify retry: no token (--token or PEONY_TOKEN; see `peony token`)", file=sys.stderr)
        return 2
    try:
        done = asyncio.run(
            retry(args.addr, args.token, args.names, all_failed=args.all_failed, trigger=args.trigger)
        )
    except grpc.aio.AioRpcError as exc:
        print(f"peony notify retry: {exc.code().name}: {exc.details()}", file=sys.stderr)
        return 1
    for name in done:
        print(f"queued again: {name}")
    print(f"{len(done)} message(s) queued again")
    return 0
