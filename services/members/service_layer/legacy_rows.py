"""The rows of a legacy import, batch by batch — shared by the `peony import` command
(cli/importer/run.py) and the ImportService's worker (service_layer/imports.py), so the same file
gives the same result through either: checking member rows against the tenant's stores and tiers,
members' per-row outcomes into the wallet's opening balances, one store row, voucher rows whose
card names an imported member, the running tally and its sums, the import id of a file.

Files are read and mapped by ``services.members.adapters.legacy_files`` (readers, mapping,
records). The wallet's opening balances are the wallet adapter's value types
(``services.wallet.adapters.legacy_import``): the CLI hands them to that adapter on the wallet's
database, the worker sends them through the wallet's ``ApplyImportBatch``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from services.members.adapters.legacy_files.mapping import Mapping, MappingError, load_mapping, shipped
from services.members.adapters.legacy_files.records import (
    MemberRecord,
    RowError,
    VoucherRecord,
    member_record,
    store_record,
    voucher_record,
)

REPORT_HEADER = {"zh": ["行号", "列", "原因", "代码"], "en": ["row", "column", "reason", "code"]}


SHIPPED_BY_KIND = {
    "members": ("yikayi_zh", "generic_en"),
    "stores": ("stores_zh", "stores_en"),
    "vouchers": ("vouchers_zh", "vouchers_en"),
}


@dataclass
class Tally:
    read: int = 0
    imported: int = 0  # accepted: written by this run or an earlier run of the same import
    already: int = 0  # of those, recorded by an earlier run
    rejected: int = 0
    file_totals: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SUMS, 0))
    accepted_totals: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SUMS, 0))


SUMS = ("principal_minor", "bonus_minor", "points", "sessions")


def _sums(r: MemberRecord) -> dict[str, int]:
    return {
        "principal_minor": r.principal_minor,
        "bonus_minor": r.bonus_minor,
        "points": r.points,
        "sessions": r.sessions,
    }


def _add(into: dict[str, int], r: MemberRecord) -> None:
    for k, v in _sums(r).items():
        into[k] += v


class RowReport(Protocol):
    def add(self, e: RowError) -> None: ...


def check_member_rows(
    batch: list[tuple[int, dict[str, str]]],
    mapping: Mapping,
    stores: dict[str, str],
    tier_ids: set[str],
    tally: Tally,
    report: RowReport,
) -> list[MemberRecord]:
    """Parses and checks one batch of member rows (also for the ImportService's worker): the rows
    that may be imported; the others are counted rejected and reported."""
    valid: list[MemberRecord] = []
    for number, cells in batch:
        tally.read += 1
        parsed = member_record(number, cells, mapping)
        if isinstance(parsed, MemberRecord):
            _add(tally.file_totals, parsed)
            errors = []
            if parsed.tier_id and parsed.tier_id not in tier_ids:
                errors.append(RowError(number, mapping.columns["tier"], "UNKNOWN_TIER"))
            if parsed.store_ref not in stores:
                errors.append(RowError(number, mapping.columns["store"], "UNKNOWN_STORE"))
            if not errors:
                valid.append(parsed)
                continue
            parsed = errors
        tally.rejected += 1
        for e in parsed:
            report.add(e)
    return valid


def imported_member(r: MemberRecord, stores: dict[str, str]):
    """What members' import adapter writes for one accepted row."""
    from services.members.adapters.legacy_import import ImportedMember

    return ImportedMember(
        row=r.row,
        legacy_numbers=r.legacy_numbers,
        display_name=r.name,
        phone=r.phone,
        birthday=r.birthday,
        tier_id=r.tier_id,
        home_store_id=stores[r.store_ref],
        notes=r.notes,
    )


def accept_outcomes(
    outcomes, by_row: dict[int, MemberRecord], stores, mapping: Mapping, tally: Tally, report
):
    """Counts members' per-row outcomes and returns the wallet's opening balances of the rows
    members accepted (the rows it refused are reported)."""
    from services.wallet.adapters.legacy_import import OpeningBalance, OpeningItem

    openings = []
    for o in outcomes:
        record = by_row[o.row]
        if o.member_id is None:
            tally.rejected += 1
            report.add(RowError(o.row, mapping.columns.get(o.field, o.field), o.reason))
            continue
        tally.imported += 1
        tally.already += not o.fresh
        _add(tally.accepted_totals, record)
        openings.append(
            OpeningBalance(
                row=o.row,
                member_id=o.member_id,
                store_id=stores[record.store_ref],
                principal_minor=record.principal_minor,
                bonus_minor=record.bonus_minor,
                points=record.points,
                points_expire_time=record.points_expire_time,
                items=tuple(
                    OpeningItem(p.service_id, p.display_name, p.sessions, p.expire_time)
                    for p in record.packages
                ),
            )
        )
    return openings


def import_id_of(path: Path, tenant: str, kind: str) -> str:
    h = hashlib.sha256(f"{tenant}\0{kind}\0".encode())
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return f"{kind}-{h.hexdigest()[:24]}"


def resolve_mapping(value: str | None, kind: str, header: list[str]) -> Mapping:
    if value:
        path = Path(value)
        if not path.exists() and shipped(value).exists():
            path = shipped(value)
        return load_mapping(path, kind).fitted(header)
    for name in SHIPPED_BY_KIND[kind]:
        try:
            return load_mapping(shipped(name), kind).fitted(header)
        except MappingError:
            continue
    raise MappingError("no shipped mapping fits the file's columns; pass --mapping FILE.yaml")


def batches(rows, size: int):
    batch = []
    for item in rows:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


async def import_store_row(uows, caller, tenant: str, number: int, cells, mapping: Mapping, dry_run: bool):
    """One store row (also for the ImportService's worker): True created, None already there
    (same id and name: a re-run), or the row's errors."""
    from kit.errors import AlreadyExists
    from services.members.domain.stores import Store
    from services.members.service_layer import handlers

    parsed = store_record(number, cells, mapping)
    if isinstance(parsed, list):
        return parsed
    store = Store(
        store_id=parsed.store_id, display_name=parsed.name, address=parsed.address, time_zone=parsed.time_zone
    )

    async def create(uow):
        try:
            await handlers.create_store(uow, caller, store)
            return True
        except AlreadyExists:
            existing = await uow.stores.get(store.store_id)
            return None if existing and existing.display_name == store.display_name else False

    if dry_run:
        async with uows(tenant) as uow:
            exists = await uow.stores.get(store.store_id)
        created = None if exists and exists.display_name == store.display_name else (not exists)
    else:
        created = await uows.run(tenant, create)
    if created is False:
        return [RowError(number, mapping.columns["store_id"], "STORE_EXISTS")]
    return created


async def known_voucher_rows(
    batch, mapping: Mapping, members, tally: Tally, report
) -> tuple[list[VoucherRecord], dict[str, str]]:
    """A batch's voucher rows whose card number names an imported member, and those members' ids
    by card number; a bad row or an unknown card is counted rejected and goes to `report`."""
    parsed: list[VoucherRecord] = []
    for number, cells in batch:
        tally.read += 1
        record = voucher_record(number, cells, mapping)
        if isinstance(record, list):
            tally.rejected += 1
            for e in record:
                report.add(e)
        else:
            parsed.append(record)
    owners = await members.members_by_card([v.card_number for v in parsed])
    known = []
    for v in parsed:
        if v.card_number in owners:
            known.append(v)
        else:
            tally.rejected += 1
            report.add(RowError(v.row, mapping.columns["card_number"], "UNKNOWN_CARD"))
    return known, owners
