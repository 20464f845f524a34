"""Benchmark: the ImportService path — a generated legacy export (``--rows``, default 100,000
members with balances, 2 % bad rows) uploaded in 2 MiB chunks to `peony serve members`, imported by
its worker (members' rows on its database, the wallet's through `peony serve wallet`'s
ApplyImportBatch) — rows/s of the operation and the members process's peak RSS (VmHWM), plus the
reconciliation. Fresh PostgreSQL and NATS (the devstack), both services as child processes.

    python -m bench.bench_import_api [--rows 100000] [--batch 500]

rows/s = rows read / (operation finish - operation start, from the operation's own times: upload
excluded). Human progress on stderr, one JSON line on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from bench._common import Children, child_env, claim_stdout, emit_result, log, machine_info, plain_pg_url
from bench.bench_import import _databases
from bench.legacy_export import write_members, write_stores

CHUNK = 2 << 20


def _peak_rss_mb(pid: int) -> float:
    """The process's peak resident set (VmHWM, kB) as the kernel counted it."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def _run_import(members_port: int, stores: Path, members: Path, rows: int) -> dict[str, Any]:
    import grpc
    from peony.members.v1 import imports_pb2
    from peony.members.v1 import members_service_pb2 as mpb
    from peony.members.v1 import members_service_pb2_grpc as mpb_grpc

    from kit.auth import mint_dev_token

    md = (
        (
            "authorization",
            f"Bearer {mint_dev_token(tenant='bench', subject='user:bench', roles=['hq_admin'])}",
        ),
    )
    channel = grpc.aio.insecure_channel(
        f"127.0.0.1:{members_port}", options=[("grpc.max_send_message_length", 8 << 20)]
    )
    await asyncio.wait_for(channel.channel_ready(), 60)
    stub = mpb_grpc.ImportServiceStub(channel)

    async def upload(path: Path) -> str:
        size = (await asyncio.to_thread(path.stat)).st_size
        created = await stub.CreateImportUpload(
            mpb.CreateImportUploadRequest(
                upload=imports_pb2.ImportUpload(file_name=path.name, size_bytes=size),
                request_id=str(uuid.uuid4()),
            ),
            metadata=md,
        )
        with path.open("rb") as f:
            offset = 0
            while chunk := f.read(CHUNK):
                await stub.AppendImportChunk(
                    mpb.AppendImportChunkRequest(upload=created.upload.name, offset=offset, data=chunk),
                    metadata=md,
                )
                offset += len(chunk)
        return created.upload.name

    async def run(kind, path: Path) -> imports_pb2.ImportOperation:
        name = (
            await stub.StartImport(
                mpb.StartImportRequest(kind=kind, upload=await upload(path), request_id=str(uuid.uuid4())),
                metadata=md,
            )
        ).operation.name
        last = -1
        while True:
            op = (await stub.GetOperation(mpb.GetOperationRequest(name=name), metadata=md)).operation
            if op.done:
                return op
            if op.metadata.rows_read // 10_000 != last // 10_000:
                log(f"  {op.metadata.rows_read}/{op.metadata.rows_total} rows")
                last = op.metadata.rows_read
            await asyncio.sleep(1)

    try:
        await run(imports_pb2.IMPORT_KIND_STORES, stores)
        t0 = time.monotonic()
        op = await run(imports_pb2.IMPORT_KIND_MEMBERS, members)
        wall = time.monotonic() - t0
    finally:
        await channel.close()
    meta, s = op.metadata, op.response
    seconds = (meta.update_time.ToDatetime() - meta.create_time.ToDatetime()).total_seconds()
    return {
        "state": imports_pb2.ImportState.Name(meta.state),
        "error": op.error.message,
        "rows_read": s.rows_read,
        "rows_imported": s.rows_imported,
        "rows_rejected": s.rows_rejected,
        "operation_seconds": round(seconds, 1),
        "wall_seconds_with_upload": round(wall, 1),
        "rows_per_second": round(s.rows_read / seconds, 1) if seconds else 0.0,
        "reconciled": s.reconciled,
        "accepted_totals": {
            k: getattr(s.accepted_totals, k) for k in ("principal_minor", "bonus_minor", "points", "sessions")
        },
        "unbalanced_transactions": s.unbalanced_transactions,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--rows", type=int, default=100_000)
    p.add_argument("--batch", type=int, default=500)
    args = p.parse_args(argv)
    claim_stdout()
    from cli.devstack import DevStack, free_port

    stamp = f"{int(time.time())}_{os.getpid()}"
    with tempfile.TemporaryDirectory(prefix="peony-bench-import-api-") as tmp_name:
        tmp = Path(tmp_name)
        stack = DevStack(tmp / "stack", environ={}, fast=False, pg_port=free_port(), nats_port=free_port())
        with stack, Children() as children:
            urls = _databases(plain_pg_url(stack.database_url), stamp, "api")
            stores, members = tmp / "stores.csv", tmp / "members.csv"
            write_stores(stores)
            expected = write_members(members, args.rows)
            members_port, wallet_port = free_port(), free_port()
            common = {
                "PEONY_ENV": "test",
                "PEONY_NATS_URL": stack.nats_url,
                "PEONY_LOG_LEVEL": "WARNING",
                "PEONY_MIGRATE_ON_START": "false",
            }
            children.spawn(
                "wallet",
                [sys.executable, "-m", "cli.main", "serve", "wallet"],
                child_env(
                    {
                        **common,
                        "PEONY_WALLET_DATABASE_URL": urls["PEONY_WALLET_DATABASE_URL"],
                        "PEONY_WALLET_GRPC_PORT": str(wallet_port),
                        "PEONY_MEMBERS_ADDR": f"127.0.0.1:{members_port}",
                    }
                ),
            )
            served = children.spawn(
                "members",
                [sys.executable, "-m", "cli.main", "serve", "members"],
                child_env(
                    {
                        **common,
                        "PEONY_MEMBERS_DATABASE_URL": urls["PEONY_MEMBERS_DATABASE_URL"],
                        "PEONY_MEMBERS_GRPC_PORT": str(members_port),
                        "PEONY_WALLET_ADDR": f"127.0.0.1:{wallet_port}",
                        "PEONY_MEMBERS_IMPORT_INTERVAL_SECONDS": "0.5",
                        "PEONY_MEMBERS_IMPORT_BATCH_ROWS": str(args.batch),
                        "PEONY_MEMBERS_BIRTHDAY_TIME": "23:59",
                    }
                ),
            )
            log(f"api: {args.rows} rows, members pid {served.pid}")
            outcome = asyncio.run(_run_import(members_port, stores, members, args.rows))
            rss = _peak_rss_mb(served.pid)
    outcome["members_peak_rss_mb"] = round(rss, 1)
    outcome["reconciled"] = bool(outcome["reconciled"]) and outcome["accepted_totals"] == expected.totals
    log(
        f"api: {outcome['rows_read']} rows in {outcome['operation_seconds']} s "
        f"({outcome['rows_per_second']} rows/s), members peak RSS {rss:.0f} MB, "
        f"reconciled={outcome['reconciled']}"
    )
    emit_result({"benchmark": "import_api", "params": vars(args), "machine": machine_info(), **outcome})
    return 0 if outcome["reconciled"] else 1


if __name__ == "__main__":
    sys.exit(main())
