"""The members and wallet services in-process for integration tests that need both (a card or an
import resolved by members and acted on by the wallet): each on a fresh, migrated database, the
wallet reading members through `PEONY_MEMBERS_ADDR`; and members as a process of its own, for the
tests that SIGKILL it."""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import grpc
from peony.members.v1 import members_service_pb2_grpc as mpb_grpc
from peony.wallet.v1 import wallet_service_pb2_grpc as wpb_grpc

from kit.config import load_config, to_async_url


@dataclass
class MembersAndWallet:
    members: mpb_grpc.MembersServiceStub
    wallet: wpb_grpc.WalletServiceStub
    members_url: str  # the databases, as SQLAlchemy async URLs
    wallet_url: str


@asynccontextmanager
async def members_and_wallet(infra, prefix: str) -> AsyncIterator[MembersAndWallet]:
    """Both services on databases `{prefix}_members` and `{prefix}_wallet`, stopped on exit."""
    from services.members.entrypoints.app import build as build_members
    from services.wallet.entrypoints.app import build as build_wallet

    members_url = to_async_url(await infra.amigrated_database("members", f"{prefix}_members"))
    wallet_url = to_async_url(await infra.amigrated_database("wallet", f"{prefix}_wallet"))
    common = {"PEONY_NATS_URL": infra.nats_url}
    members = await build_members(
        load_config(
            "members",
            {**common, "PEONY_MEMBERS_DATABASE_URL": members_url, "PEONY_MEMBERS_GRPC_PORT": "0"},
        )
    )
    members_port = await members.start()
    wallet = await build_wallet(
        load_config(
            "wallet",
            {
                **common,
                "PEONY_WALLET_DATABASE_URL": wallet_url,
                "PEONY_WALLET_GRPC_PORT": "0",
                "PEONY_MEMBERS_ADDR": f"127.0.0.1:{members_port}",
            },
        )
    )
    wallet_port = await wallet.start()
    mch = grpc.aio.insecure_channel(f"127.0.0.1:{members_port}")
    wch = grpc.aio.insecure_channel(f"127.0.0.1:{wallet_port}")
    try:
        yield MembersAndWallet(
            mpb_grpc.MembersServiceStub(mch), wpb_grpc.WalletServiceStub(wch), members_url, wallet_url
        )
    finally:
        await mch.close()
        await wch.close()
        await wallet.stop()
        await members.stop()


def members_process(url: str, nats_url: str, port: int, log_path: Path, **settings: str):
    """`peony serve members` as a child process (a `ServiceProcess`: start, kill, restart) on
    database `url`, with extra environment `settings` (e.g. a job's interval)."""
    from tests.e2e.conftest import ServiceProcess

    env = {k: v for k, v in os.environ.items() if not k.startswith(("PEONY_", "OTEL_"))}
    env.update(
        {
            "PEONY_ENV": "test",
            "PEONY_MEMBERS_DATABASE_URL": url,
            "PEONY_NATS_URL": nats_url,
            "PEONY_MEMBERS_GRPC_PORT": str(port),
            "PEONY_LOG_LEVEL": "WARNING",
            "PEONY_MIGRATE_ON_START": "false",
            "PEONY_SHUTDOWN_GRACE_SECONDS": "2",
            **settings,
        }
    )
    command = [
        sys.executable,
        "-c",
        "import sys; from services.members.entrypoints.app import main; sys.exit(main())",
    ]
    return ServiceProcess("members", command, env, log_path, f"grpc:127.0.0.1:{port}")
