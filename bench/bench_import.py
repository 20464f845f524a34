"""Benchmark: `peony import members` of a generated legacy export of 1,000,000 members with
balances (2 % bad rows), on a fresh PostgreSQL (fsync on) — rows/s, the import process's peak RSS,
and the reconciliation.

Constant memory is shown against a baseline measured in the same run: the same import of a file
one tenth the size (``--baseline-rows``). Peak RSS comes from the kernel (``wait4``'s
``ru_maxrss`` of the import process), not from sampling.

    python -m bench.bench_import [--rows 1000000] [--baseline-rows 100000] [--batch 500]

Human progress on stderr, one JSON line on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench._common import REPO_ROOT, child_env, claim_stdout, emit_result, log, machine_info, plain_pg_url
from bench.legacy_export import write_members, write_stores

RSS_GOAL_MB = 300


def _import(env: dict[str, str], *args: str) -> tuple[dict[str, Any], float, float]:
    """Runs `peony import` as a child process: (its summary, wall seconds, peak RSS in MB)."""
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "import", *args, "--tenant", "bench", "--no-progress"],
        env=env,
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out = proc.stdout.read() if proc.stdout else b""
    err = proc.stderr.read() if proc.stderr else b""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.monotonic() - started
    if proc.returncode not in (0, 1):
        raise RuntimeError(
            f"peony import {' '.join(args)} failed ({proc.returncode}): {err.decode()[-2000:]}"
        )
    return json.loads(out.decode().strip().splitlines()[-1]), wall, usage.ru_maxrss / 1024


def _databases(server_url: str, stamp: str, label: str) -> dict[str, str]:
    from cli.devstack import database_url, ensure_database
    from kit.config import to_async_url
    from kit.migrations import upgrade

    urls = {}
    for service in ("members", "wallet"):
        name = f"peony_bench_import_{label}_{service}_{stamp}"
        asyncio.run(ensure_database(server_url, name))
        url = to_async_url(database_url(server_url, name))
        asyncio.run(upgrade(service, url))
        urls[f"PEONY_{service.upper()}_DATABASE_URL"] = url
    return urls


def _one(server_url: str, stamp: str, label: str, tmp: Path, rows: int, batch: int) -> dict[str, Any]:
    env = child_env({**_databases(server_url, stamp, label), "PEONY_LOG_LEVEL": "WARNING"})
    stores, members = tmp / f"{label}-stores.csv", tmp / f"{label}-members.csv"
    write_stores(stores)
    t0 = time.monotonic()
    expected = write_members(members, rows)
    size_mb, took = members.stat().st_size / 1e6, time.monotonic() - t0
    log(f"{label}: generated {rows} rows ({size_mb:.0f} MB) in {took:.0f} s")
    _import(env, "stores", str(stores))
    summary, wall, rss = _import(env, "members", str(members), "--batch", str(batch))
    log(
        f"{label}: {summary['rows_read']} rows in {wall:.0f} s ({summary['rows_per_second']} rows/s), "
        f"peak RSS {rss:.0f} MB, reconciled={summary.get('reconciled')}"
    )
    return {
        "rows": rows,
        "file_mb": round(members.stat().st_size / 1e6, 1),
        "rows_per_second": summary["rows_per_second"],
        "import_seconds": summary["seconds"],
        "process_wall_seconds": round(wall, 1),
        "peak_rss_mb": round(rss, 1),
        "rows_imported": summary["rows_imported"],
        "rows_rejected": summary["rows_rejected"],
        "expected_rejected": expected.count_bad(),
        "accepted_totals": summary["accepted_totals"],
        "ledger_totals": summary.get("ledger_totals"),
        "expected_totals": expected.totals,
        "unbalanced_transactions": summary.get("unbalanced_transactions"),
        "reconciled": bool(summary.get("reconciled")) and summary["accepted_totals"] == expected.totals,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--baseline-rows", type=int, default=100_000)
    p.add_argument("--batch", type=int, default=500)
    args = p.parse_args(argv)
    claim_stdout()
    from cli.devstack import DevStack, free_port

    stamp = f"{int(time.time())}_{os.getpid()}"
    with tempfile.TemporaryDirectory(prefix="peony-bench-import-") as tmp_name:
        tmp = Path(tmp_name)
        stack = DevStack(tmp / "stack", environ={}, fast=False, pg_port=free_port(), nats_port=free_port())
        with stack:
            server_url = plain_pg_url(stack.database_url)
            baseline = _one(server_url, stamp, "baseline", tmp, args.baseline_rows, args.batch)
            full = _one(server_url, stamp, "full", tmp, args.rows, args.batch)
    result = {
        "benchmark": "import",
        "params": vars(args),
        "machine": machine_info(),
        "full": full,
        "baseline": baseline,
        "rss_ratio_full_to_baseline": round(full["peak_rss_mb"] / baseline["peak_rss_mb"], 3),
        "rows_per_second_ratio_full_to_baseline": round(
            full["rows_per_second"] / baseline["rows_per_second"], 3
        ),
        "rss_goal_mb": RSS_GOAL_MB,
        "rss_within_goal": full["peak_rss_mb"] <= RSS_GOAL_MB,
        "reconciled": full["reconciled"] and baseline["reconciled"],
    }
    emit_result(result)
    return 0 if result["reconciled"] and result["rss_within_goal"] else 1


if __name__ == "__main__":
    sys.exit(main())
