"""Members' side of `peony import`: imported members, their cards and legacy card numbers.

Written in batches, one transaction per batch, idempotent by (import id, row): the row's outcome
is recorded in ``member_import_rows`` (primary key tenant, import, row) in the same transaction as
the member it created, so a batch is either wholly applied with its records or not at all, and a
re-run (after a crash, or of the same file) skips every recorded row and reports it as before.

Ids are derived, not random: a member's id is a UUIDv5 of (tenant, legacy card number) and its
card's of the member, so the wallet (another database) can be told the member id, and a re-run
after a crash produces the same rows. A card number another member already answers to, a phone
another member has, or an unknown store or tier rejects the row (the database's unique keys decide
races with live traffic: a batch that loses one is re-planned).

A member whose row names a tier gets a tier history entry (reason code IMPORT, actor the import).
Imported members emit no ``TierChanged`` and no ``MemberRegistered``: they are not new customers
(no welcome message), and the wallet's and booking's projections fill themselves by read-through
on first use.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from peony.members.v1 import tier_pb2
from sqlalchemy import func, insert, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from kit.crypto import PiiCipher
from kit.ids import new_id
from services.members.adapters import tables as t
from services.members.adapters.import_tables import IMPORTED, REJECTED, member_import_rows
from services.members.adapters.repository import MemberCodec, SettingsRepository, reason_code_name
from services.members.domain.cards import ACTIVE, luhn_digit
from services.members.domain.member import CareProfile, Consent, Member, MemberTier, generate_referral_code

IMPORT_TIER_REASON = "tier carried over from the previous system (import)"
_MEMBER_NS = uuid.UUID("0b6f7c52-9a51-4c43-8d0b-7a3e1f2c5d90")


@dataclass(frozen=True)
class ImportedMember:
    row: int
    legacy_numbers: tuple[str, ...]  # the first is the row's key card number
    display_name: str
    phone: str  # E.164
    birthday: str
    tier_id: str  # "" = the tenant's entry tier
    home_store_id: str
    notes: str


@dataclass(frozen=True)
class RowOutcome:
    row: int
    member_id: str | None  # set when the member is (or was already) imported
    field: str = ""  # for a rejection: the field and reason code
    reason: str = ""
    fresh: bool = True  # False: recorded by an earlier run of this import


class BatchConflict(Exception):
    """A unique key was taken between the batch's checks and its insert: re-plan the batch."""


def imported_member_id(tenant: str, card_number: str) -> str:
    return str(uuid.uuid5(_MEMBER_NS, f"{tenant}|{card_number}"))


def _card_id(member_id: str) -> str:
    return str(uuid.uuid5(_MEMBER_NS, f"card|{member_id}"))


def _card_number(member_id: str, attempt: int) -> str:
    """A Peony card number (12 digits, Luhn) derived from the member id."""
    digest = int.from_bytes(hashlib.sha256(f"{member_id}|{attempt}".encode()).digest()[:8], "big")
    body = "8" + f"{digest % 10**10:010d}"
    return body + luhn_digit(body)


class MemberImporter:
    def __init__(self, engine: AsyncEngine, tenant: str, cipher: PiiCipher):
        self.engine = engine
        self.tenant = tenant
        self.codec = MemberCodec(tenant, cipher)

    async def stores(self) -> dict[str, str]:
        """Store reference (id or display name) -> store id, for the tenant's stores."""
        async with self.engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(t.stores.c.store_id, t.stores.c.display_name).where(
                        t.stores.c.tenant_id == self.tenant
                    )
                )
            ).all()
        refs = {r.display_name: r.store_id for r in rows}
        refs.update({r.store_id: r.store_id for r in rows})
        return refs

    async def tiers(self) -> tuple[set[str], str]:
        """The tenant's tier ids and its entry tier."""
        async with self.engine.connect() as conn:
            ladder = await SettingsRepository(conn, self.tenant).ladder()
        return {tier.tier_id for tier in ladder.tiers}, ladder.entry_tier.tier_id

    async def prepare_dry_run(self, conn: AsyncConnection) -> None:
        """A dry run claims phones and numbers in a temporary table (gone with the connection), so
        duplicates across batches are found without writing to the members tables."""
        await conn.execute(
            text("CREATE TEMP TABLE IF NOT EXISTS import_dry_run_keys (key bytea PRIMARY KEY)")
        )
        await conn.commit()

    async def apply(
        self,
        conn: AsyncConnection,
        import_id: str,
        batch: list[ImportedMember],
        *,
        entry_tier: str,
        dry_run: bool = False,
    ) -> list[RowOutcome]:
        """Applies one batch in one transaction on ``conn`` (committed here, or rolled back for a
        dry run); raises :class:`BatchConflict` when the batch must be planned again."""
        try:
            outcomes = await self._apply(conn, import_id, batch, entry_tier=entry_tier, dry_run=dry_run)
        except IntegrityError as exc:
            await conn.rollback()
            raise BatchConflict(str(exc.orig)) from exc
        except BaseException:
            await conn.rollback()
            raise
        await conn.commit()
        return outcomes

    async def _apply(
        self,
        conn: AsyncConnection,
        import_id: str,
        batch: list[ImportedMember],
        *,
        entry_tier: str,
        dry_run: bool,
    ) -> list[RowOutcome]:
        r = member_import_rows.c
        done = {
            row.row_number: RowOutcome(row.row_number, row.member_id, row.field, row.reason, fresh=False)
            for row in (
                await conn.execute(
                    select(r.row_number, r.member_id, r.field, r.reason).where(
                        r.tenant_id == self.tenant,
                        r.import_id == import_id,
                        r.row_number.in_([m.row for m in batch]),
                    )
                )
            ).all()
        }
        fresh = [m for m in batch if m.row not in done]
        if not fresh:
            return [done[m.row] for m in batch]

        ids = {m.row: imported_member_id(self.tenant, m.legacy_numbers[0]) for m in fresh}
        bidx = {m.row: self.codec.phone_index(m.phone) for m in fresh}
        cards = {m.row: _card_number(ids[m.row], 0) for m in fresh}
        numbers = [n for m in fresh for n in (*m.legacy_numbers, cards[m.row])]
        taken_phones = set(
            (
                await conn.execute(
                    select(t.members.c.phone_bidx).where(
                        t.members.c.tenant_id == self.tenant, t.members.c.phone_bidx.in_(list(bidx.values()))
                    )
                )
            ).scalars()
        )
        taken_numbers = set(
            (
                await conn.execute(
                    select(t.card_numbers.c.number).where(
                        t.card_numbers.c.tenant_id == self.tenant, t.card_numbers.c.number.in_(numbers)
                    )
                )
            ).scalars()
        )
        taken_ids = set(
            (
                await conn.execute(
                    select(t.members.c.member_id).where(
                        t.members.c.tenant_id == self.tenant, t.members.c.member_id.in_(list(ids.values()))
                    )
                )
            ).scalars()
        )
        outcomes: dict[int, RowOutcome] = {}
        accepted: list[ImportedMember] = []
        for m in fresh:
            if ids[m.row] in taken_ids or any(n in taken_numbers for n in m.legacy_numbers):
                outcomes[m.row] = RowOutcome(m.row, None, "card_number", "DUPLICATE_CARD_NUMBER")
                continue
            if bidx[m.row] in taken_phones:
                outcomes[m.row] = RowOutcome(m.row, None, "phone", "PHONE_TAKEN")
                continue
            attempt = 0
            while cards[m.row] in taken_numbers:  # a generated number collides: derive the next one
                attempt += 1
                cards[m.row] = _card_number(ids[m.row], attempt)
            taken_ids.add(ids[m.row])
            taken_phones.add(bidx[m.row])
            taken_numbers.update((*m.legacy_numbers, cards[m.row]))
            accepted.append(m)

        if dry_run:
            accepted = await self._claim_dry_run_keys(conn, accepted, ids, bidx, outcomes)
        for m in accepted:
            outcomes[m.row] = RowOutcome(m.row, ids[m.row])
        if dry_run:
            await conn.rollback()  # nothing but the temp table's claims (committed by the caller)
            await self._commit_dry_run_claims(conn, accepted, ids, bidx)
            return [done.get(m.row) or outcomes[m.row] for m in batch]

        if accepted:
            await self._insert(conn, import_id, accepted, ids, cards, entry_tier)
        await conn.execute(
            insert(member_import_rows),
            [
                {
                    "tenant_id": self.tenant,
                    "import_id": import_id,
                    "row_number": o.row,
                    "outcome": IMPORTED if o.member_id else REJECTED,
                    "member_id": o.member_id,
                    "field": o.field,
                    "reason": o.reason,
                }
                for o in outcomes.values()
            ],
        )
        return [done.get(m.row) or outcomes[m.row] for m in batch]

    async def _claim_dry_run_keys(self, conn, accepted, ids, bidx, outcomes) -> list[ImportedMember]:
        """Rows of earlier batches of this dry run hold their phones and numbers in the temp table."""
        keys = [k for m in accepted for k in self._dry_keys(m, ids, bidx)]
        if not keys:
            return accepted
        seen = set(
            (
                await conn.execute(
                    text("SELECT key FROM import_dry_run_keys WHERE key = ANY(:k)"), {"k": keys}
                )
            ).scalars()
        )
        kept = []
        for m in accepted:
            phone_key, *number_keys = self._dry_keys(m, ids, bidx)
            if any(k in seen for k in number_keys):
                outcomes[m.row] = RowOutcome(m.row, None, "card_number", "DUPLICATE_CARD_NUMBER")
            elif phone_key in seen:
                outcomes[m.row] = RowOutcome(m.row, None, "phone", "PHONE_TAKEN")
            else:
                kept.append(m)
        return kept

    async def _commit_dry_run_claims(self, conn, accepted, ids, bidx) -> None:
        keys = [k for m in accepted for k in self._dry_keys(m, ids, bidx)]
        if keys:
            await conn.execute(
                text(
                    "INSERT INTO import_dry_run_keys SELECT unnest(CAST(:k AS bytea[]))"
                    " ON CONFLICT DO NOTHING"
                ),
                {"k": keys},
            )

    @staticmethod
    def _dry_keys(m: ImportedMember, ids, bidx) -> list[bytes]:
        return [
            b"p" + bidx[m.row],
            *(b"n" + n.encode() for n in m.legacy_numbers),
            b"i" + ids[m.row].encode(),
        ]

    async def _insert(
        self, conn: AsyncConnection, import_id: str, accepted, ids, cards, entry_tier: str
    ) -> None:
        numbers = (
            (
                await conn.execute(
                    select(t.member_number_seq.next_value()).select_from(
                        func.generate_series(1, len(accepted)).table_valued("n")
                    )
                )
            )
            .scalars()
            .all()
        )
        now = datetime.now(UTC)
        member_rows, card_rows, number_rows, tier_rows = [], [], [], []
        for m, n in zip(accepted, numbers, strict=True):
            member_id = ids[m.row]
            member = Member(
                member_id=member_id,
                member_number=f"M{n:08d}",
                display_name=m.display_name,
                phone=m.phone,
                home_store_id=m.home_store_id,
                birthday=m.birthday,
                registration_channel="store",
                consent=Consent(update_time=now),
                care_profile=CareProfile(notes=m.notes),
                referral_code=generate_referral_code(),
                tier=MemberTier(tier_id=m.tier_id or entry_tier),
            )
            member_rows.append(self.codec.to_row(member, None))
            card_id = _card_id(member_id)
            card_rows.append(
                {
                    "tenant_id": self.tenant,
                    "card_id": card_id,
                    "member_id": member_id,
                    "card_number": cards[m.row],
                    "state": ACTIVE,
                }
            )
            number_rows.append(
                {"tenant_id": self.tenant, "number": cards[m.row], "card_id": card_id, "kind": "card"}
            )
            number_rows.extend(
                {"tenant_id": self.tenant, "number": legacy, "card_id": card_id, "kind": "legacy"}
                for legacy in m.legacy_numbers
            )
            if m.tier_id:  # the tier the member had in the old system: its history says where from
                tier_rows.append(
                    {
                        "tenant_id": self.tenant,
                        "change_id": new_id(),
                        "member_id": member_id,
                        "from_tier_id": "",
                        "to_tier_id": m.tier_id,
                        "reason": IMPORT_TIER_REASON,
                        "reason_code": reason_code_name(tier_pb2.TIER_CHANGE_REASON_IMPORT),
                        "actor": f"imports/{import_id}",
                        "staff_override": False,
                        "change_time": now,
                    }
                )
        await conn.execute(insert(t.members), member_rows)
        await conn.execute(insert(t.cards), card_rows)
        await conn.execute(insert(t.card_numbers), number_rows)
        if tier_rows:
            await conn.execute(insert(t.tier_changes), tier_rows)

    async def counts(self, import_id: str) -> dict[str, int]:
        """Rows recorded for an import, by outcome."""
        r = member_import_rows.c
        async with self.engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(r.outcome, func.count())
                    .where(r.tenant_id == self.tenant, r.import_id == import_id)
                    .group_by(r.outcome)
                )
            ).all()
        return {outcome: n for outcome, n in rows}

    async def members_by_card(self, numbers: list[str]) -> dict[str, str]:
        """Card number (current or legacy) -> member id, for the numbers a member answers to (a
        voucher import names its members by their legacy card numbers)."""
        if not numbers:
            return {}
        n, c = t.card_numbers.c, t.cards.c
        async with self.engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(n.number, c.member_id)
                    .join(t.cards, (c.tenant_id == n.tenant_id) & (c.card_id == n.card_id))
                    .where(n.tenant_id == self.tenant, n.number.in_(numbers))
                )
            ).all()
        return {r.number: r.member_id for r in rows}
