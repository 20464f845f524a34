"""An import's batch in the wallet (the ImportService's `ApplyImportBatch`): the opening balances
or legacy vouchers of one batch written by the wallet's import adapter — the one `peony import`
uses — exactly once by (import id, row), and the import's reconciliation."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine

from services.wallet.adapters.legacy_import import (
    ImportedVoucher,
    OpeningBalance,
    OpeningBalanceImporter,
    OpeningItem,
)

__all__ = ["BatchResult", "ImportedVoucher", "OpeningBalance", "OpeningItem", "apply_batch"]


@dataclass
class BatchResult:
    openings_written: int = 0
    rejected_voucher_rows: list[int] = field(default_factory=list)
    ledger: dict[str, int] | None = None  # with reconcile: what the ledger holds for the import
    vouchers: dict[str, int] | None = None  # with reconcile: the vouchers the import issued


async def apply_batch(
    engine: AsyncEngine,
    tenant: str,
    import_id: str,
    openings: list[OpeningBalance],
    vouchers: list[ImportedVoucher],
    *,
    dry_run: bool,
    reconcile: bool,
) -> BatchResult:
    importer = OpeningBalanceImporter(engine, tenant)
    currency = await importer.currency()
    result = BatchResult()
    async with engine.connect() as conn:
        if openings:
            result.openings_written = await importer.apply(conn, import_id, openings, currency=currency)
        if vouchers:
            issued = await importer.apply_vouchers(conn, import_id, vouchers, dry_run=dry_run)
            result.rejected_voucher_rows = sorted(row for row, ok in issued.items() if not ok)
    if reconcile:
        result.ledger = await importer.reconcile(import_id, currency)
        result.vouchers = await importer.voucher_totals(import_id)
    return result
