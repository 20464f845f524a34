"""CPU a booking spends building its planning statements: built per call vs built once.

Every BookAppointment reads the roster (staff rows FOR SHARE), their schedule exceptions and the
member's booking window with the tier ladder. py-spy on bench_booking showed a fifth of the
handler's Python time in SQLAlchemy building those statements (column comparisons, `IN`
coercion) and generating their cache keys. The adapters now build each shape once with bind
parameters (`catalog_repository._staff_query`, `_exceptions_query`,
`member_projection._WINDOW_AND_LADDER`); a reused statement's cache key is memoized.

This measures, with `time.process_time` (CPU, not wall time, so a loaded machine disturbs it
less), what an execute needs before it reaches the driver: the baseline builds the three
statements as the adapters did before and generates their cache keys; the measured variant takes
the adapters' prebuilt statements and their parameters. Rounds interleave; medians. No database.

    python bench/bench_booking_statements.py [--calls 5000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import date

from sqlalchemy import select, true

from bench._common import emit_result, log, machine_info, ratio
from services.booking.adapters import catalog_repository as catalog
from services.booking.adapters import member_projection as members
from services.booking.adapters import tables as t
from services.booking.adapters.catalog_tables import schedule_exceptions as sx

STAFF = ["anna", "bob"]
FIRST = date(2026, 1, 1)


def built_per_call() -> None:
    """The three statements as the adapters built them on every booking (the baseline)."""
    st, mw, tl = t.staff, members.mw, members.tl
    roster = (
        select(st)
        .where(st.c.tenant_id == "tenant", st.c.store_id == "s1", st.c.active)
        .where(st.c.staff_id.in_(STAFF))
        .with_for_update(read=True)
        .order_by(st.c.staff_id)
    )
    exceptions = (
        select(sx)
        .where(
            sx.c.tenant_id == "tenant",
            sx.c.store_id == "s1",
            sx.c.staff_id.in_(list(STAFF)),
            sx.c.end_date >= FIRST,
            true(),
        )
        .order_by(sx.c.start_date, sx.c.exception_id)
    )
    ladder = select(tl.c.tiers).where(tl.c.tenant_id == "tenant").scalar_subquery()
    window = select(
        mw.c.registered_time, mw.c.tier_id, mw.c.booking_window_days, ladder.label("tiers")
    ).where(mw.c.tenant_id == "tenant", mw.c.member_id == "m")
    for stmt in (roster, exceptions, window):
        stmt._generate_cache_key()


def built_once() -> None:
    """The adapters' prebuilt statements with their parameters, as they execute them now."""
    statements = (
        (catalog._staff_query(True, False, True), {"tenant": "tenant", "store": "s1", "ids": STAFF}),
        (
            catalog._exceptions_query(False, False),
            {"tenant": "tenant", "store": "s1", "ids": list(STAFF), "first": FIRST},
        ),
        (members._WINDOW_AND_LADDER, {"tenant": "tenant", "member": "m"}),
    )
    for stmt, _params in statements:
        stmt._generate_cache_key()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--calls", type=int, default=5000, help="bookings' worth of statements per round")
    p.add_argument("--rounds", type=int, default=5, help="interleaved rounds of each variant")
    args = p.parse_args(argv)
    built_per_call(), built_once()  # warm: imports, first compilations
    us: dict[str, list[float]] = {"per_call": [], "once": []}
    for _ in range(args.rounds):
        for name, fn in (("per_call", built_per_call), ("once", built_once)):
            start = time.process_time()
            for _ in range(args.calls):
                fn()
            us[name].append((time.process_time() - start) / args.calls * 1e6)
            log(f"{name}: {us[name][-1]:.1f} us per booking")
    median = {name: sorted(values)[len(values) // 2] for name, values in us.items()}
    emit_result(
        {
            "benchmark": "booking_statements",
            "calls": args.calls,
            "rounds": args.rounds,
            "cpu_us_per_booking": {
                "built_per_call": round(median["per_call"], 1),
                "built_once": round(median["once"], 1),
            },
            "saved_us_per_booking": round(median["per_call"] - median["once"], 1),
            "ratios": {"built_once_vs_built_per_call": ratio(median["once"], median["per_call"])},
            "machine": machine_info(),
        }
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
