"""Time the dashboard's metric SQL in-process (no gRPC) on data a `bench_insights.py --keep` run
left, with whichever tree is first on PYTHONPATH: the same data under two versions of the code.

    PYTHONPATH=<tree>:<tree>/gen .venv/bin/python -m bench.bench_insights_direct <kept dir>/chdb [rounds]

Prints one JSON line: per query the p50 and the max over ``rounds`` (3) after one warm-up round.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import sys
import time

from bench.bench_insights import DASHBOARD, DATABASE, TENANT
from services.insights.adapters.warehouse import ChdbWarehouse
from services.insights.domain.catalogue import CATALOGUE, Period
from services.insights.service_layer import queries


async def main(path: str, rounds: int) -> dict[str, object]:
    wh = await ChdbWarehouse(path, DATABASE).open()
    metric_queries = queries.MetricQueries(wh)
    today = dt.date.today()
    start = (today.replace(day=1) - dt.timedelta(days=335)).replace(day=1)
    timings: dict[str, list[float]] = {}
    try:
        for rnd in range(rounds + 1):  # the first round warms caches and is not counted
            for metric, granularity in DASHBOARD:
                key = f"{metric}/{granularity.split('_')[1].lower()}"
                started = time.perf_counter()
                scope = await metric_queries.scope(TENANT, None, "", Period(start, today), key.split("/")[1])
                await metric_queries.rows(CATALOGUE[metric], scope)
                if rnd:
                    timings.setdefault(key, []).append((time.perf_counter() - started) * 1000)
    finally:
        await wh.close()
    summary = {
        k: {"p50_ms": round(sorted(v)[len(v) // 2], 1), "max_ms": round(max(v), 1)}
        for k, v in timings.items()
    }
    return {"code": queries.__file__, "rounds": rounds, "queries": summary}


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 3))))
