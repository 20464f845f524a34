"""`peony import <kind> FILE`: stream a legacy export into Peony, batch by batch.

    peony import stores  stores.csv  --tenant acme
    peony import members members.xlsx --tenant acme [--mapping yikayi_zh|generic_en|FILE.yaml]
                 [--dry-run] [--encoding gb18030] [--errors errors.csv] [--batch 500] [--import-id ID]

One pass reads the file, a batch of rows at a time (memory stays flat whatever the file's size):
each row is parsed and validated (services/members/adapters/legacy_files; the batch logic the
ImportService's worker shares is services/members/service_layer/legacy_rows.py); members' import
adapter writes the batch's members, cards and legacy card numbers in one transaction on the members
database; then the wallet's adapter writes the accepted rows' opening balances in one transaction on
the wallet database. Both record every row under (import id, row), so running the command again —
after a crash, a SIGKILL, or just twice — finishes the job with every row applied exactly once. The
import id is a hash of (tenant, kind, file bytes) unless given.

At the end the summary reconciles: rows read / imported / rejected, and Σ principal, bonus, points
and sessions of the accepted rows against what the ledger's opening transactions hold for this
import (and that each of them balances). Exit status: 0 reconciled, 1 not reconciled, 2 unusable
input (mapping, file, configuration). A dry run validates everything against the databases and
writes nothing (the cross-batch duplicate check uses a temporary table).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import math
import sys
import time
from pathlib import Path

from services.members.adapters.legacy_files import readers
from services.members.adapters.legacy_files.mapping import FIELDS, Mapping, MappingError
from services.members.adapters.legacy_files.records import RowError, reason_text
from services.members.service_layer.legacy_rows import (
    REPORT_HEADER,
    SHIPPED_BY_KIND,
    SUMS,
    Tally,
    accept_outcomes,
    batches,
    check_member_rows,
    import_id_of,
    import_store_row,
    imported_member,
    known_voucher_rows,
    resolve_mapping,
)

DEFAULT_BATCH = 500


def add_parser(sub) -> None:
    p = sub.add_parser(
        "import",
        help="import stores or members (with balances) from a legacy system's CSV/XLSX export",
        description=(__doc__ or "").split("\n\n")[0],
    )
    p.add_argument("kind", choices=sorted(FIELDS))
    p.add_argument("file", type=Path)
    p.add_argument("--tenant", required=True)
    p.add_argument(
        "--mapping",
        help="a YAML mapping file, or a shipped one: "
        + ", ".join(n for ns in SHIPPED_BY_KIND.values() for n in ns)
        + " (default: the shipped mapping whose columns the file has)",
    )
    p.add_argument("--encoding", help="CSV encoding (default: UTF-8 with or without BOM, else GB18030)")
    p.add_argument("--dry-run", action="store_true", help="validate everything, write nothing")
    p.add_argument("--errors", type=Path, help="the row error report (default: FILE.errors.csv)")
    p.add_argument(
        "--batch", type=int, default=DEFAULT_BATCH, help=f"rows per transaction (default {DEFAULT_BATCH})"
    )
    p.add_argument("--import-id", help="default: a hash of tenant, kind and the file's bytes")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


class ErrorReport:
    """The row error report (CSV, in the file's language), written as rows are rejected."""

    def __init__(self, path: Path, mapping: Mapping):
        self.path, self.mapping = path, mapping
        self._f = path.open("w", newline="", encoding="utf-8-sig")  # Excel opens a BOM'd UTF-8 CSV right
        self._w = csv.writer(self._f)
        self._w.writerow(REPORT_HEADER[mapping.language])
        self.rows = 0

    def add(self, e: RowError) -> None:
        self._w.writerow([e.row, e.column, reason_text(e.code, self.mapping.language), e.code])
        self.rows += 1

    def close(self) -> None:
        self._f.close()


def _progress(total: int, enabled: bool):
    from tqdm import tqdm

    return tqdm(
        total=total,
        unit="rows",
        unit_scale=True,
        disable=not enabled,
        file=sys.stderr,
        smoothing=0.1,
        mininterval=0.5,
    )


async def _engines():
    from kit.config import load_config
    from kit.db import create_engine

    members_config, wallet_config = load_config("members"), load_config("wallet")
    members = create_engine(
        members_config.database_url,
        service="members-import",
        pool_size=2,
        max_overflow=2,
        statement_timeout_ms=600_000,
    )
    wallet = create_engine(
        wallet_config.database_url,
        service="wallet-import",
        pool_size=2,
        max_overflow=2,
        statement_timeout_ms=600_000,
    )
    return members_config, members, wallet


async def import_members(
    args, mapping: Mapping, header_rows, total: int, import_id: str, report: ErrorReport
) -> dict:
    from kit.crypto import PiiCipher
    from services.members.adapters.legacy_import import BatchConflict, MemberImporter
    from services.wallet.adapters.legacy_import import OpeningBalanceImporter

    config, members_engine, wallet_engine = await _engines()
    try:
        members = MemberImporter(members_engine, args.tenant, PiiCipher(config.pii_master_key))
        wallet = OpeningBalanceImporter(wallet_engine, args.tenant)
        stores = await members.stores()
        tier_ids, entry_tier = await members.tiers()
        currency = await wallet.currency()
        tally = Tally()
        bar = _progress(total, not args.no_progress)
        started = time.monotonic()
        async with members_engine.connect() as mconn, wallet_engine.connect() as wconn:
            if args.dry_run:
                await members.prepare_dry_run(mconn)
            wallet_write: asyncio.Future | None = None
            try:
                for batch in batches(header_rows, args.batch):
                    valid = check_member_rows(batch, mapping, stores, tier_ids, tally, report)
                    by_row = {r.row: r for r in valid}
                    imported = [imported_member(r, stores) for r in valid]
                    for attempt in range(8):
                        try:
                            outcomes = await members.apply(
                                mconn, import_id, imported, entry_tier=entry_tier, dry_run=args.dry_run
                            )
                            break
                        except BatchConflict:
                            if attempt == 7:
                                raise
                            await asyncio.sleep(0.05 * (attempt + 1))
                    openings = accept_outcomes(outcomes, by_row, stores, mapping, tally, report)
                    # The wallet writes this batch while members writes the next one (two databases,
                    # two connections): each side records its rows, so a crash between them is
                    # finished by the next run like any other.
                    if wallet_write is not None:
                        await wallet_write
                        wallet_write = None
                    if not args.dry_run:
                        wallet_write = asyncio.ensure_future(
                            wallet.apply(wconn, import_id, openings, currency=currency)
                        )
                    bar.update(len(batch))
            except BaseException:
                if wallet_write is not None:  # do not leave the wallet's write running unowned
                    wallet_write.cancel()
                raise
            if wallet_write is not None:
                await wallet_write
        bar.close()
        elapsed = time.monotonic() - started
        summary = {
            "import_id": import_id,
            "kind": "members",
            "dry_run": args.dry_run,
            "rows_read": tally.read,
            "rows_imported": tally.imported,
            "rows_already_imported": tally.already,
            "rows_rejected": tally.rejected,
            "file_totals": tally.file_totals,
            "accepted_totals": tally.accepted_totals,
            "seconds": round(elapsed, 2),
            "rows_per_second": round(tally.read / elapsed, 1) if elapsed else None,
        }
        if not args.dry_run:
            ledger = await wallet.reconcile(import_id, currency)
            summary["ledger_totals"] = {k: ledger[k] for k in SUMS}
            summary["opening_transactions"] = ledger["opening_transactions"]
            summary["unbalanced_transactions"] = ledger["unbalanced_transactions"]
            summary["reconciled"] = (
                summary["ledger_totals"] == tally.accepted_totals
                and ledger["unbalanced_transactions"] == 0
                and ledger["opening_money_debit"]
                == tally.accepted_totals["principal_minor"] + tally.accepted_totals["bonus_minor"]
                and ledger["opening_points_debit"] == tally.accepted_totals["points"]
                and ledger["opening_sessions_debit"] == tally.accepted_totals["sessions"]
            )
        return summary
    finally:
        await members_engine.dispose()
        await wallet_engine.dispose()


async def import_stores(
    args, mapping: Mapping, header_rows, total: int, import_id: str, report: ErrorReport
) -> dict:
    from kit.auth import ROLE_PERMISSIONS, Principal
    from kit.crypto import PiiCipher
    from kit.db import session_factory
    from kit.uow import UnitOfWorkFactory
    from services.members.service_layer.unit_of_work import MembersUnitOfWork

    config, members_engine, wallet_engine = await _engines()
    await wallet_engine.dispose()
    caller = Principal(
        tenant=args.tenant,
        subject=f"import:{import_id}",
        roles=frozenset({"hq_admin"}),
        permissions=frozenset(ROLE_PERMISSIONS["hq_admin"]),
        stores=None,
        expires_at=math.inf,
    )
    uows = UnitOfWorkFactory(
        MembersUnitOfWork,
        session_factory(members_engine),
        service="members",
        cipher=PiiCipher(config.pii_master_key),
    )
    tally = Tally()
    bar = _progress(total, not args.no_progress)
    try:
        for number, cells in header_rows:
            tally.read += 1
            parsed = await import_store_row(uows, caller, args.tenant, number, cells, mapping, args.dry_run)
            if not isinstance(parsed, list):
                tally.imported += 1
                tally.already += parsed is None
            if isinstance(parsed, list):
                tally.rejected += 1
                for e in parsed:
                    report.add(e)
            bar.update(1)
    finally:
        bar.close()
        await members_engine.dispose()
    return {
        "import_id": import_id,
        "kind": "stores",
        "dry_run": args.dry_run,
        "rows_read": tally.read,
        "rows_imported": tally.imported,
        "rows_already_imported": tally.already,
        "rows_rejected": tally.rejected,
        "reconciled": True,
    }


async def import_vouchers(
    args, mapping: Mapping, header_rows, total: int, import_id: str, report: ErrorReport
) -> dict:
    """Legacy vouchers of imported members (named by a card number they answer to)."""
    from kit.crypto import PiiCipher
    from services.members.adapters.legacy_import import MemberImporter
    from services.wallet.adapters.legacy_import import ImportedVoucher, OpeningBalanceImporter

    config, members_engine, wallet_engine = await _engines()
    members = MemberImporter(members_engine, args.tenant, PiiCipher(config.pii_master_key))
    wallet = OpeningBalanceImporter(wallet_engine, args.tenant)
    tally = Tally()
    accepted = {"vouchers": 0, "amount_minor": 0}
    bar = _progress(total, not args.no_progress)
    started = time.monotonic()
    try:
        async with wallet_engine.connect() as wconn:
            for batch in batches(header_rows, args.batch):
                known, owners = await known_voucher_rows(batch, mapping, members, tally, report)
                issued = await wallet.apply_vouchers(
                    wconn,
                    import_id,
                    [
                        ImportedVoucher(
                            v.row,
                            owners[v.card_number],
                            v.code,
                            v.name,
                            v.amount_minor,
                            v.min_spend_minor,
                            v.valid_until,
                        )
                        for v in known
                    ],
                    dry_run=args.dry_run,
                )
                for v in known:
                    if issued[v.row]:
                        tally.imported += 1
                        accepted["vouchers"] += 1
                        accepted["amount_minor"] += v.amount_minor
                    else:
                        tally.rejected += 1
                        report.add(RowError(v.row, mapping.columns["code"], "DUPLICATE_VOUCHER_CODE"))
                bar.update(len(batch))
    finally:
        bar.close()
        await members_engine.dispose()
    summary = {
        "import_id": import_id,
        "kind": "vouchers",
        "dry_run": args.dry_run,
        "rows_read": tally.read,
        "rows_imported": tally.imported,
        "rows_already_imported": 0,
        "rows_rejected": tally.rejected,
        "accepted_vouchers": accepted,
        "seconds": round(time.monotonic() - started, 2),
    }
    try:
        if not args.dry_run:
            summary["issued_vouchers"] = await wallet.voucher_totals(import_id)
            summary["reconciled"] = summary["issued_vouchers"] == accepted
    finally:
        await wallet_engine.dispose()
    return summary


def run(args: argparse.Namespace) -> int:
    path: Path = args.file
    if not path.is_file():
        print(f"peony import: no such file {path}", file=sys.stderr)
        return 2
    from kit.ids import is_resource_id

    if not is_resource_id(args.tenant):
        print("peony import: --tenant must be a tenant id (a-z, 0-9 and '-', up to 63)", file=sys.stderr)
        return 2
    if args.import_id is not None and not is_resource_id(args.import_id):
        print("peony import: --import-id must be 1-63 characters of a-z, 0-9 and '-'", file=sys.stderr)
        return 2
    if args.batch < 1 or args.batch > 5000:
        print("peony import: --batch must be within 1..5000", file=sys.stderr)
        return 2
    try:
        header, rows = readers.open_rows(path, encoding=args.encoding)
        mapping = resolve_mapping(args.mapping, args.kind, header)
        total = readers.count_rows(path, encoding=args.encoding)
    except (readers.ReadError, MappingError) as exc:
        print(f"peony import: {exc}", file=sys.stderr)
        return 2
    import_id = args.import_id or import_id_of(path, args.tenant, args.kind)
    report_path = args.errors or path.with_name(path.name + ".errors.csv")
    report = ErrorReport(report_path, mapping)
    run_kind = {"members": import_members, "stores": import_stores, "vouchers": import_vouchers}[args.kind]
    try:
        summary = asyncio.run(run_kind(args, mapping, rows, total, import_id, report))
    except readers.ReadError as exc:
        print(
            f"peony import: {exc} (rows before it are imported; run again after fixing the file)",
            file=sys.stderr,
        )
        return 2
    finally:
        report.close()
    summary["error_report"] = str(report_path)
    summary["error_rows"] = report.rows
    _print_summary(summary, mapping.language)
    print(json.dumps(summary, ensure_ascii=False))
    return 0 if summary.get("reconciled", True) else 1


def _print_summary(s: dict, language: str) -> None:
    """A human summary on stderr (the JSON line on stdout is for scripts)."""
    zh = language == "zh"
    out = sys.stderr
    mode = ""
    if s["dry_run"]:
        mode = "（试运行，未写入）" if zh else " (dry run: nothing written)"
    print(("导入 " if zh else "import ") + s["import_id"] + mode, file=out)
    read, done, rejected = s["rows_read"], s["rows_imported"], s["rows_rejected"]
    before = s["rows_already_imported"]
    if zh:
        print(f"读取 {read} 行，导入 {done} 行（其中此前已导入 {before} 行），拒绝 {rejected} 行", file=out)
    else:
        print(f"rows read {read}, imported {done} (earlier runs: {before}), rejected {rejected}", file=out)
    if "accepted_totals" in s:
        a = s["accepted_totals"]
        principal, bonus = a["principal_minor"] / 100, a["bonus_minor"] / 100
        if zh:
            line = f"Σ 储值本金 {principal:.2f}，赠送 {bonus:.2f}，积分 {a['points']}，次数 {a['sessions']}"
        else:
            line = f"accepted: principal {principal:.2f}, bonus {bonus:.2f}, points {a['points']}"
            line += f", sessions {a['sessions']}"
        print(line, file=out)
    if "ledger_totals" in s:
        if zh:
            verdict = (
                "对账一致：账本与文件（已接受行）分毫不差，期初分录全部平衡"
                if s["reconciled"]
                else "对账不一致！"
            )
        elif s["reconciled"]:
            verdict = "reconciled: the ledger equals the accepted rows to the fen and point; openings balance"
        else:
            verdict = "reconciliation MISMATCH"
        print(verdict, file=out)
    if s.get("error_rows"):
        print(("错误报告：" if zh else "error report: ") + s["error_report"], file=out)
