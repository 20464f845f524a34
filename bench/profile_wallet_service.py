"""The wallet process's own CPU per one-call Checkout and TopUp: the service layer alone, no gRPC.

bench_wallet.py measures the whole stack, and its per-call figures move with the machine's load
and with every PostgreSQL process it charges to the calls. This drives `one_call.checkout` /
`one_call.top_up` in this process, sequentially (as the tests do: read call, plan, rows, events,
response, seal, apply call), on bench_wallet's bill (a facial with a 10 % commission rule, 100
points, the rest from stored value with the PIN; top-ups on a plan with a bonus), and reads

* this process's CPU (``time.process_time``: user + system of every thread, the kernel's loopback
  TCP work for the two calls included), and
* the CPU of the one PostgreSQL backend serving the calls (utime + stime from /proc/<pid>/stat),

before and after `--calls` calls, `--rounds` times. ``--cprofile FILE`` also writes a cProfile of
one more round of checkouts (``python -m pstats FILE``) and prints its top functions on stderr.

    PYTHONPATH=$TREE:$TREE/gen .venv/bin/python bench/profile_wallet_service.py            # embedded PG
    PYTHONPATH=... .venv/bin/python bench/profile_wallet_service.py --calls 500 --cprofile /tmp/co.prof

Prints one line per measurement on stderr and a JSON summary (medians, ms per call) on stdout.
PostgreSQL must run on this machine (its /proc is read).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import io
import json
import os
import pstats
import statistics
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `bench`, `kit`, `peony` importable
    _root = Path(__file__).resolve().parent.parent
    sys.path[:0] = [str(_root), str(_root / "gen")]

from bench.profile_wallet_apply import backend_cpu_seconds, seed


async def run(server_url: str, args) -> dict:
    seeded = await seed(server_url, args.members)
    pool = await seeded.applier._get_pool()
    pid = await pool.fetchval("SELECT pg_backend_pid()")
    results: dict[str, list[float]] = {}
    workloads = (("checkout", seeded.checkout), ("top_up", seeded.top_up))
    for _what, call in workloads:
        for i in range(50):  # warm the caches (plans, imports, protobuf descriptors)
            await call(i)
    for _ in range(args.rounds):
        for what, call in workloads:
            process_before, backend_before = time.process_time(), backend_cpu_seconds(pid)
            for i in range(args.calls):
                await call(i)
            process_ms = (time.process_time() - process_before) / args.calls * 1000
            backend_ms = (backend_cpu_seconds(pid) - backend_before) / args.calls * 1000
            results.setdefault(f"{what} process", []).append(process_ms)
            results.setdefault(f"{what} backend", []).append(backend_ms)
            print(
                f"{what:>8}: process {process_ms:.3f} ms, backend {backend_ms:.3f} ms CPU per call"
                f" (load average {os.getloadavg()[0]:.2f})",
                file=sys.stderr,
                flush=True,
            )
    assert pid == await pool.fetchval("SELECT pg_backend_pid()"), "the pool changed backends"
    if args.cprofile:
        profiler = cProfile.Profile(time.process_time)  # CPU, not wall time: the machine is shared
        profiler.enable()
        for i in range(args.calls):
            await seeded.checkout(i)
        profiler.disable()
        profiler.dump_stats(args.cprofile)
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(40)
        print(out.getvalue(), file=sys.stderr)
    await seeded.close()
    return {
        "calls_per_measurement": args.calls,
        "rounds": args.rounds,
        "members": args.members,
        "cpu_ms_per_call_median": {k: round(statistics.median(v), 3) for k, v in results.items()},
        "cpu_ms_per_call_all": {k: [round(x, 3) for x in v] for k, v in results.items()},
        "load_average_after": os.getloadavg(),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--server-url", help="server-level postgresql:// URL (superuser); default: embedded")
    p.add_argument("--calls", type=int, default=500, help="calls per measurement")
    p.add_argument("--rounds", type=int, default=3, help="rounds (checkouts, then top-ups)")
    p.add_argument("--members", type=int, default=50, help="members the calls rotate over")
    p.add_argument("--cprofile", help="write a cProfile of one more round of checkouts here")
    args = p.parse_args()
    with contextlib.ExitStack() as stack:
        server_url = args.server_url
        if server_url is None:
            from tests.support.stack import start_infra

            server_url = stack.enter_context(start_infra()).server_url
        print(json.dumps(asyncio.run(run(server_url, args))))


if __name__ == "__main__":
    main()
