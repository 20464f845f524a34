"""``peony dev-providers`` / ``python -m services.notify.devproviders``: the local provider servers.

Credentials come from ``PEONY_NOTIFY_PROVIDERS_FILE`` or, without one, the development provider
configuration notify itself uses, so signatures verify with no setup. Receipts are posted to
the gateway's receipts route (``--receipt-url``, default from ``PEONY_GATEWAY_ADDR``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
from urllib.parse import urlsplit

from kit.config import DEFAULT_GATEWAY_ADDR, ConfigError
from services.notify.adapters.providers.config import (
    DEV_PROVIDERS_URL,
    DEV_PROVIDERS_URL_VAR,
    DEV_SMTP_PORT,
    DEV_SMTP_PORT_VAR,
    providers_config,
)
from services.notify.devproviders.server import DevProviders


def default_receipt_url() -> str:
    gateway = os.environ.get("PEONY_GATEWAY_ADDR") or DEFAULT_GATEWAY_ADDR
    return f"http://{gateway}/v1/notify/receipts/{{provider}}"


def parser() -> argparse.ArgumentParser:
    dev_url = urlsplit(os.environ.get(DEV_PROVIDERS_URL_VAR) or DEV_PROVIDERS_URL)
    p = argparse.ArgumentParser(prog="peony dev-providers", description=__doc__.split("\n")[0])
    p.add_argument("--host", default=dev_url.hostname or "127.0.0.1")
    p.add_argument("--port", type=int, default=dev_url.port or 8099, help="HTTP port (default 8099)")
    p.add_argument(
        "--smtp-port",
        type=int,
        default=int(os.environ.get(DEV_SMTP_PORT_VAR) or DEV_SMTP_PORT),
        help="SMTP port (default 8025)",
    )
    p.add_argument(
        "--receipt-url",
        default=default_receipt_url(),
        help="where receipts are posted; {provider} is replaced; 'none' posts none",
    )
    return p


async def serve(args: argparse.Namespace) -> None:
    receipt_url = None if args.receipt_url == "none" else args.receipt_url
    sim = DevProviders(providers_config(), receipt_url=receipt_url)
    await sim.start(args.host, args.port, args.smtp_port)
    print(
        f"dev providers: sent messages at {sim.url}/ (JSON {sim.url}/_sim/messages), "
        f"SMTP on {args.host}:{sim.smtp_port}, receipts to {receipt_url or 'nowhere'}",
        flush=True,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await sim.stop()


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        asyncio.run(serve(args))
    except ConfigError as exc:
        print(exc, flush=True)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
