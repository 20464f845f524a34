"""`peony import` end to end, as a real subprocess against real members and wallet databases:
a generated 10,000-member legacy export with bad rows, a dry run that writes nothing, a SIGKILL in
the middle of the import and a re-run that finishes it with every row exactly once — the same end
state as a clean run — and a reconciliation to the fen and point."""

from __future__ import annotations

import asyncio
import csv
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from bench.legacy_export import STORES, write_members, write_stores
from kit.config import to_async_url

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
TENANT = "acme"


def _env(members_url: str, wallet_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(ROOT / "gen"), env.get("PYTHONPATH", "")])
    env["PEONY_MEMBERS_DATABASE_URL"] = members_url
    env["PEONY_WALLET_DATABASE_URL"] = wallet_url
    env["PEONY_LOG_LEVEL"] = "WARNING"
    return env


def _cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "cli.main", "import", *args, "--tenant", TENANT]


async def _run(env: dict[str, str], *args: str) -> tuple[int, dict | None, str]:
    proc = await asyncio.create_subprocess_exec(
        *_cmd(*args), env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=900)
    lines = out.decode().strip().splitlines()
    summary = json.loads(lines[-1]) if lines else None
    return proc.returncode or 0, summary, err.decode()


class Databases:
    def __init__(self, members_url: str, wallet_url: str):
        self.members_url, self.wallet_url = members_url, wallet_url
        self.members = create_async_engine(members_url)
        self.wallet = create_async_engine(wallet_url)
        self.env = _env(members_url, wallet_url)

    async def scalar(self, engine, sql: str, **args):
        async with engine.connect() as conn:
            return (await conn.execute(text(sql), args)).scalar_one()

    async def rows(self, engine, sql: str) -> list:
        async with engine.connect() as conn:
            return [tuple(r) for r in (await conn.execute(text(sql))).all()]

    async def snapshot(self) -> dict[str, str]:
        """A digest per table of everything the import writes, ids included (they are derived),
        minus what is random by design (data keys and ciphertexts, referral codes, member numbers,
        timestamps)."""
        queries = {
            "members": (
                self.members,
                "SELECT member_id, display_name, tier_id, home_store_id, state, care_profile::text,"
                " phone_bidx FROM members ORDER BY member_id",
            ),
            "cards": (
                self.members,
                "SELECT card_id, member_id, card_number, state FROM cards ORDER BY card_id",
            ),
            "card_numbers": (self.members, "SELECT number, card_id, kind FROM card_numbers ORDER BY number"),
            "import_rows": (
                self.members,
                "SELECT row_number, outcome, member_id, field, reason FROM member_import_rows"
                " ORDER BY row_number",
            ),
            "accounts": (
                self.wallet,
                "SELECT account_id, kind, owner, unit, balance FROM accounts ORDER BY account_id",
            ),
            "transactions": (
                self.wallet,
                "SELECT transaction_id, kind, member_id, store_id, reference FROM ledger_transactions"
                " ORDER BY transaction_id",
            ),
            "postings": (
                self.wallet,
                "SELECT transaction_id, account_id, amount, unit FROM postings"
                " ORDER BY transaction_id, account_id, amount, unit",  # one account twice: a total order
            ),
            "lots": (
                self.wallet,
                "SELECT lot_id, member_id, source, original, remaining, expire_time FROM point_lots"
                " ORDER BY lot_id",
            ),
            "sv_lots": (
                self.wallet,
                "SELECT member_id, store_id, principal_minor, bonus_minor FROM stored_value_lots"
                " ORDER BY member_id, store_id",
            ),
            "packages": (
                self.wallet,
                "SELECT package_id, member_id, store_sold, state FROM member_packages ORDER BY package_id",
            ),
            "items": (
                self.wallet,
                "SELECT package_id, service, sessions_total, sessions_remaining, expire_time"
                " FROM member_package_items ORDER BY package_id, service",
            ),
            "wallet_import_rows": (
                self.wallet,
                "SELECT row_number, member_id, transaction_id FROM wallet_import_rows ORDER BY row_number",
            ),
        }
        out = {}
        for name, (engine, sql) in queries.items():
            rows = await self.rows(engine, sql)
            out[name] = f"{len(rows)}:{hashlib.sha256(repr(rows).encode()).hexdigest()[:16]}"
        return out

    async def dispose(self) -> None:
        await self.members.dispose()
        await self.wallet.dispose()


async def _databases(infra, prefix: str) -> Databases:
    return Databases(
        to_async_url(await infra.amigrated_database("members", f"{prefix}_members")),
        to_async_url(await infra.amigrated_database("wallet", f"{prefix}_wallet")),
    )


def _report(path: Path) -> dict[int, tuple[str, str]]:
    with path.open(encoding="utf-8-sig") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["行号", "列", "原因", "代码"]
    report = {int(r[0]): (r[1], r[3]) for r in rows[1:]}
    assert len(report) == len(rows) - 1, "one line per bad row"
    return report


N = 10_000


@pytest.fixture(scope="module")
def export(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("legacy")
    stores, members = tmp / "stores.csv", tmp / "members.csv"
    write_stores(stores)
    expected = write_members(members, N)
    return tmp, stores, members, expected


# Five imports of 10,000 rows as subprocesses: ~3 minutes on a quiet machine, far more on a loaded one.
@pytest.mark.timeout(2400)
async def test_ten_thousand_members_survive_a_sigkill_and_reconcile(infra, export):
    tmp, stores_csv, members_csv, expected = export
    db = await _databases(infra, "imp")
    clean = await _databases(infra, "imp_clean")
    try:
        rc, summary, err = await _run(db.env, "stores", str(stores_csv), "--no-progress")
        assert rc == 0, err
        assert summary["rows_imported"] == len(STORES)

        # --dry-run: every check, nothing written.
        dry_report = tmp / "dry.errors.csv"
        rc, dry, err = await _run(
            db.env, "members", str(members_csv), "--dry-run", "--errors", str(dry_report)
        )
        assert rc == 0, err
        assert (dry["rows_read"], dry["rows_rejected"]) == (N, expected.count_bad())
        assert dry["accepted_totals"] == expected.totals
        assert _report(dry_report) == expected.bad
        assert await db.scalar(db.members, "SELECT count(*) FROM members") == 0
        assert await db.scalar(db.members, "SELECT count(*) FROM member_import_rows") == 0
        assert await db.scalar(db.members, "SELECT count(*) FROM card_numbers") == 0
        assert await db.scalar(db.wallet, "SELECT count(*) FROM ledger_transactions") == 0

        # The import, SIGKILLed part way (with a progress bar on stderr), then run again.
        report = tmp / "members.errors.csv"
        proc = subprocess.Popen(
            _cmd("members", str(members_csv), "--errors", str(report), "--batch", "200"),
            env=db.env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 600
        while await db.scalar(db.wallet, "SELECT count(*) FROM wallet_import_rows") < 2_000:
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            assert time.monotonic() < deadline, "the import made no progress"
            await asyncio.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        _, progress = proc.communicate(timeout=60)
        assert "rows" in progress.decode(), "a progress bar (rows/s) was shown"
        done_at_kill = await db.scalar(db.members, "SELECT count(*) FROM member_import_rows")
        assert 2_000 <= done_at_kill < N

        rc, summary, err = await _run(
            db.env, "members", str(members_csv), "--errors", str(report), "--no-progress"
        )
        assert rc == 0, err
        assert summary["rows_read"] == N
        assert summary["rows_rejected"] == expected.count_bad()
        assert summary["rows_imported"] == N - expected.count_bad()
        assert summary["rows_already_imported"] > 0
        assert summary["accepted_totals"] == expected.totals
        assert summary["ledger_totals"] == expected.totals
        assert summary["unbalanced_transactions"] == 0
        assert summary["reconciled"] is True
        assert _report(report) == expected.bad, "the report lists exactly the bad rows"

        # The ledger: balances are the sum of postings, every opening balances per unit, lots agree.
        assert (
            await db.scalar(
                db.wallet,
                "SELECT count(*) FROM accounts a WHERE a.balance <> (SELECT coalesce(sum(p.amount), 0)"
                " FROM postings p WHERE p.tenant_id = a.tenant_id AND p.account_id = a.account_id)"
                " AND a.kind IN ('sv_principal', 'sv_bonus', 'points', 'package_item')",
            )
            == 0
        )
        assert (
            await db.scalar(
                db.wallet,
                "SELECT count(*) FROM (SELECT transaction_id, unit FROM postings GROUP BY 1, 2"
                " HAVING sum(amount) <> 0) u",
            )
            == 0
        )
        assert (
            await db.scalar(db.wallet, "SELECT coalesce(sum(original), 0) FROM point_lots")
            == expected.totals["points"]
        )
        assert (
            await db.scalar(db.wallet, "SELECT coalesce(sum(principal_minor), 0) FROM stored_value_lots")
            == expected.totals["principal_minor"]
        )
        assert (
            await db.scalar(
                db.wallet, "SELECT coalesce(sum(sessions_remaining), 0) FROM member_package_items"
            )
            == expected.totals["sessions"]
        )
        assert await db.scalar(db.members, "SELECT count(*) FROM members") == N - expected.count_bad()
        # no plaintext phone at rest
        assert await db.scalar(db.members, "SELECT count(*) FROM members WHERE phone_ct IS NULL") == 0
        after_rerun = await db.snapshot()

        # Running the same file once more changes nothing.
        rc, again, err = await _run(
            db.env, "members", str(members_csv), "--errors", str(report), "--no-progress"
        )
        assert rc == 0, err
        assert again["rows_already_imported"] == again["rows_imported"] == N - expected.count_bad()
        assert await db.snapshot() == after_rerun
        assert _report(report) == expected.bad

        # The killed-and-resumed import ends exactly where a clean one does.
        rc, _, err = await _run(clean.env, "stores", str(stores_csv), "--no-progress")
        assert rc == 0, err
        rc, one_go, err = await _run(clean.env, "members", str(members_csv), "--no-progress")
        assert rc == 0, err
        assert one_go["rows_already_imported"] == 0
        assert await clean.snapshot() == after_rerun
    finally:
        await db.dispose()
        await clean.dispose()
