"""Repositories: the only code that knows how members, stores, cards and tiers are stored.

Every query is filtered by the tenant the repository was built for, so no handler can read
another tenant's rows. Personal fields are encrypted on the way in and decrypted on the way
out here, so neither the domain nor the database ever sees the other's form.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import datetime
from typing import Any

from peony.members.v1 import tier_pb2
from sqlalchemy import and_, delete, func, insert, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from kit.crypto import PiiCipher
from kit.errors import AlreadyExists
from kit.ids import new_id
from services.members.adapters import tables as t
from services.members.domain.cards import Card
from services.members.domain.member import CareProfile, Consent, Member, MemberTier
from services.members.domain.stores import DEFAULT_TIME_ZONE, OpeningHours, Store
from services.members.domain.tiers import DEFAULT_LADDER, Tier, TierBenefits, TierLadder

PHONE_INDEX = "phone"
NAME_PREFIX_INDEX = "name_prefix"
# ListMembers finds a name by its prefix through keyed blind indexes of the name's first prefixes
# (the name itself is encrypted): a longer prefix is matched on its first NAME_PREFIX_INDEXED
# characters, then checked against the decrypted names.
NAME_PREFIX_INDEXED = 8
ERASED = "erased"
BIRTHDAY_MD_INDEX = "birthday_md"


def _aad(tenant: str, member_id: str, field: str) -> str:
    return f"{tenant}/{member_id}/{field}"


class MemberCodec:
    """Row <-> Member, including encryption of personal data."""

    def __init__(self, tenant: str, cipher: PiiCipher):
        self.tenant = tenant
        self.cipher = cipher

    def phone_index(self, normalised_phone: str) -> bytes:
        return self.cipher.blind_index(self.tenant, PHONE_INDEX, normalised_phone)

    def name_prefix_index(self, prefix: str) -> bytes:
        return self.cipher.prefix_blind_index(self.tenant, NAME_PREFIX_INDEX, prefix)

    def name_prefix_indexes(self, name: str) -> list[bytes]:
        return self.cipher.prefix_blind_indexes(self.tenant, NAME_PREFIX_INDEX, name, NAME_PREFIX_INDEXED)

    def birthday_index_of_row(self, member_id: str, dek_wrapped: bytes, birthday_ct: bytes) -> bytes:
        """The month-day index of a stored (encrypted) birthday, for rows saved before it existed."""
        dek = self.cipher.unwrap(self.tenant, dek_wrapped)
        birthday = self.cipher.decrypt_field(dek, birthday_ct, _aad(self.tenant, member_id, "birthday"))
        return self.birthday_index(birthday[5:10])

    def birthday_index(self, month_day: str) -> bytes:
        """The blind index of a birthday's "MM-DD" (segments select birthdays by it)."""
        return self.cipher.blind_index(self.tenant, BIRTHDAY_MD_INDEX, month_day)

    def encrypt(self, m: Member, wrapped_dek: bytes | None) -> dict[str, Any]:
        if wrapped_dek is None:
            dek, wrapped_dek = self.cipher.new_data_key(self.tenant)
        else:
            dek = self.cipher.unwrap(self.tenant, wrapped_dek)

        def enc(field: str, value: str) -> bytes | None:
            return (
                self.cipher.encrypt_field(dek, value, _aad(self.tenant, m.member_id, field))
                if value
                else None
            )

        return {
            "dek_wrapped": wrapped_dek,
            "phone_ct": enc("phone", m.phone),
            "phone_bidx": self.phone_index(m.phone),
            "display_name_ct": enc("display_name", m.display_name),
            "name_prefix_bidx": self.name_prefix_indexes(m.display_name),
            "birthday_ct": enc("birthday", m.birthday),
            "birthday_md_bidx": self.birthday_index(m.birthday[5:10]) if m.birthday else None,
            "id_number_ct": enc("id_number", m.id_number),
            "email_ct": enc("email", m.email),
            "wechat_openid_ct": enc("wechat_openid", m.wechat_openid),
            "push_tokens_ct": enc("push_tokens", json.dumps(m.push_tokens)) if m.push_tokens else None,
            "care_profile_ct": enc("care_profile", _care_json(m.care_profile))
            if m.care_profile != _NO_CARE_PROFILE
            else None,
        }

    def to_row(self, m: Member, wrapped_dek: bytes | None) -> dict[str, Any]:
        tier = m.tier or MemberTier(tier_id=DEFAULT_LADDER.entry_tier.tier_id)
        row = {
            "tenant_id": self.tenant,
            "member_id": m.member_id,
            "member_number": m.member_number,
            "display_name": "",  # encrypted in display_name_ct
            "gender": m.gender,
            "email": "",  # encrypted in email_ct
            "address": m.address,
            "photo_uri": m.photo_uri,
            "home_store_id": m.home_store_id,
            "registration_channel": m.registration_channel,
            "agreement_version": m.agreement_version,
            "consent": _consent_json(m.consent),
            "tags": list(m.tags),
            "custom_attributes": dict(m.custom_attributes),
            "care_profile": {},  # encrypted in care_profile_ct
            "referral_code": m.referral_code,
            "referrer_id": m.referrer_id,
            "tier_id": tier.tier_id,
            "tier_override": tier.staff_override,
            "tier_override_reason": tier.override_reason,
            "state": m.state,
            "locale": m.locale,
        }
        if tier.since is not None:
            row["tier_since"] = tier.since
        row.update(self.encrypt(m, wrapped_dek))
        return row

    def from_row(self, r: Row) -> Member:
        dek = self.cipher.unwrap(self.tenant, r.dek_wrapped) if r.dek_wrapped is not None else None

        def dec(field: str, blob: bytes | None) -> str:
            if blob is None or dek is None:
                return ""
            return self.cipher.decrypt_field(dek, blob, _aad(self.tenant, r.member_id, field))

        consent = r.consent or {}
        return Member(
            member_id=r.member_id,
            member_number=r.member_number,
            display_name=dec("display_name", r.display_name_ct) or r.display_name,
            phone=dec("phone", r.phone_ct),
            home_store_id=r.home_store_id,
            gender=r.gender,
            email=dec("email", r.email_ct) or r.email,
            address=r.address,
            birthday=dec("birthday", r.birthday_ct),
            id_number=dec("id_number", r.id_number_ct),
            photo_uri=r.photo_uri,
            registration_channel=r.registration_channel,
            agreement_version=r.agreement_version,
            consent=Consent(
                **{flag: bool(consent.get(flag)) for flag in Consent.FLAGS},
                update_time=datetime.fromisoformat(consent["update_time"])
                if consent.get("update_time")
                else None,
            ),
            tags=list(r.tags or []),
            custom_attributes=dict(r.custom_attributes or {}),
            care_profile=CareProfile(
                **(json.loads(dec("care_profile", r.care_profile_ct) or "null") or r.care_profile or {})
            ),
            referral_code=r.referral_code,
            referrer_id=r.referrer_id,
            tier=MemberTier(
                tier_id=r.tier_id,
                since=r.tier_since,
                staff_override=r.tier_override,
                override_reason=r.tier_override_reason,
            ),
            state=r.state,
            create_time=r.create_time,
            update_time=r.update_time,
            wechat_openid=dec("wechat_openid", r.wechat_openid_ct),
            push_tokens=json.loads(dec("push_tokens", r.push_tokens_ct) or "[]"),
            locale=r.locale,
        )


_NO_CARE_PROFILE = CareProfile()


def _care_json(cp: CareProfile) -> str:
    # vars() rather than dataclasses.asdict: a flat dataclass of strings and string lists
    return json.dumps(vars(cp), ensure_ascii=False)


def _consent_json(c: Consent) -> dict[str, Any]:
    out: dict[str, Any] = {flag: getattr(c, flag) for flag in Consent.FLAGS}
    out["update_time"] = c.update_time.isoformat() if c.update_time else None
    return out


class MemberRepository:
    def __init__(self, session: AsyncSession, tenant: str, cipher: PiiCipher):
        self.session = session
        self.tenant = tenant
        self.codec = MemberCodec(tenant, cipher)
        self._wrapped_deks: dict[str, bytes] = {}

    def _where(self, *clauses):
        return and_(t.members.c.tenant_id == self.tenant, *clauses)

    async def next_member_number(self) -> str:
        n = await self.session.scalar(select(t.member_number_seq.next_value()))
        return f"M{n:08d}"

    async def add(self, m: Member) -> bool:
        """Inserts a new member; False when the phone is already registered with this tenant."""
        stmt = (
            pg_insert(t.members)
            .values(self.codec.to_row(m, None))
            .on_conflict_do_nothing(constraint="uq_members_phone")
            .returning(t.members.c.create_time, t.members.c.update_time, t.members.c.tier_since)
        )
        row = (await self.session.execute(stmt)).first()
        if row is None:
            return False
        m.create_time, m.update_time = row.create_time, row.update_time
        if m.tier is not None:
            m.tier.since = row.tier_since
        return True

    async def get(self, member_id: str, *, for_update: bool = False) -> Member | None:
        stmt = select(t.members).where(self._where(t.members.c.member_id == member_id))
        if for_update:
            stmt = stmt.with_for_update()
        row = (await self.session.execute(stmt)).first()
        if row is None:
            return None
        self._wrapped_deks[row.member_id] = row.dek_wrapped
        return self.codec.from_row(row)

    async def find_by_referral_code(self, code: str) -> Member | None:
        row = (
            await self.session.execute(
                select(t.members).where(self._where(t.members.c.referral_code == code))
            )
        ).first()
        return self.codec.from_row(row) if row else None

    async def save(self, m: Member) -> None:
        """Writes back a member loaded with `get(..., for_update=True)`."""
        values = self.codec.to_row(m, self._wrapped_deks.get(m.member_id))
        values["update_time"] = func.now()
        stmt = (
            update(t.members)
            .where(self._where(t.members.c.member_id == m.member_id))
            .values(values)
            .returning(t.members.c.update_time, t.members.c.tier_since)
        )
        try:
            async with self.session.begin_nested():
                row = (await self.session.execute(stmt)).one()
        except IntegrityError as exc:
            if "uq_members_phone" in str(exc.orig):
                raise AlreadyExists(
                    "another member of this tenant already has that phone", reason="PHONE_ALREADY_REGISTERED"
                ) from exc
            raise
        m.update_time = row.update_time
        if m.tier is not None:
            m.tier.since = row.tier_since

    async def erase(self, member_id: str, *, actor: str, reason: str) -> tuple[datetime, list[Row]]:
        """Erases a member (the caller holds its row lock): destroys its data key, so every field
        encrypted under it is unreadable wherever it is stored, blanks the plaintext profile, drops
        the phone's and the name's blind indexes (lookups stop matching), closes every card not yet
        closed or replaced, records who erased it and why, and deletes the published outbox copies
        of the member's events (MemberRegistered carries the name). Returns the erase time and the
        closed cards' (card_id, card_number)."""
        c = t.members.c
        await self.session.execute(
            update(t.members)
            .where(self._where(c.member_id == member_id))
            .values(
                state=ERASED,
                dek_wrapped=None,
                phone_ct=None,
                phone_bidx=None,
                birthday_ct=None,
                birthday_md_bidx=None,  # segments and the birthday programme stop finding it
                id_number_ct=None,
                email_ct=None,
                email="",
                display_name="",
                display_name_ct=None,
                name_prefix_bidx=None,
                wechat_openid_ct=None,
                push_tokens_ct=None,
                care_profile_ct=None,
                address="",
                photo_uri="",
                gender="unspecified",
                agreement_version="",
                tags=[],
                custom_attributes={},
                care_profile={},
                consent=_consent_json(Consent()),
                update_time=func.now(),
            )
        )
        self._wrapped_deks.pop(member_id, None)
        erase_time = (
            await self.session.execute(
                insert(t.member_erasures)
                .values(tenant_id=self.tenant, member_id=member_id, actor=actor, reason=reason)
                .returning(t.member_erasures.c.erase_time)
            )
        ).scalar_one()
        closed = (
            await self.session.execute(
                update(t.cards)
                .where(
                    t.cards.c.tenant_id == self.tenant,
                    t.cards.c.member_id == member_id,
                    t.cards.c.state.in_(("active", "frozen", "lost")),
                )
                .values(state="closed", update_time=func.now())
                .returning(t.cards.c.card_id, t.cards.c.card_number)
            )
        ).all()
        outbox = t.metadata.tables["outbox"]
        await self.session.execute(
            delete(outbox).where(
                outbox.c.tenant_id == self.tenant,
                outbox.c.aggregate_type == "member",
                outbox.c.aggregate_id == member_id,
                outbox.c.published_at.is_not(None),
            )
        )
        return erase_time, list(closed)


class MemberReader:
    """Read-only queries on an autocommit connection: one round trip, no BEGIN/ROLLBACK."""

    def __init__(self, conn: AsyncConnection, tenant: str, cipher: PiiCipher):
        self.conn = conn
        self.tenant = tenant
        self.codec = MemberCodec(tenant, cipher)

    async def get_with_ladder_version(self, member_id: str) -> tuple[Member, int] | None:
        stmt = (
            select(t.members, t.tenant_settings.c.ladder_version)
            .select_from(
                t.members.outerjoin(t.tenant_settings, t.tenant_settings.c.tenant_id == t.members.c.tenant_id)
            )
            .where(t.members.c.tenant_id == self.tenant, t.members.c.member_id == member_id)
        )
        row = (await self.conn.execute(stmt)).first()
        if row is None:
            return None
        return self.codec.from_row(row), row.ladder_version or 0

    async def exists(self, member_id: str) -> bool:
        stmt = select(t.members.c.member_id).where(
            t.members.c.tenant_id == self.tenant, t.members.c.member_id == member_id
        )
        return (await self.conn.execute(stmt)).first() is not None

    def _with_time_zone(self):
        return select(t.members, t.stores.c.time_zone).select_from(
            t.members.outerjoin(
                t.stores,
                and_(
                    t.stores.c.tenant_id == t.members.c.tenant_id,
                    t.stores.c.store_id == t.members.c.home_store_id,
                ),
            )
        )

    async def get_with_time_zone(self, member_id: str) -> tuple[Member, str] | None:
        """The member and its home store's time zone, in one statement."""
        stmt = self._with_time_zone().where(
            t.members.c.tenant_id == self.tenant, t.members.c.member_id == member_id
        )
        row = (await self.conn.execute(stmt)).first()
        if row is None:
            return None
        return self.codec.from_row(row), row.time_zone or DEFAULT_TIME_ZONE

    async def get_many_with_time_zone(self, member_ids: list[str]) -> list[tuple[Member, str]]:
        """The members of ``member_ids`` that exist, each with its home store's time zone, in one
        statement."""
        if not member_ids:
            return []
        stmt = self._with_time_zone().where(
            t.members.c.tenant_id == self.tenant, t.members.c.member_id.in_(member_ids)
        )
        rows = (await self.conn.execute(stmt)).all()
        return [(self.codec.from_row(row), row.time_zone or DEFAULT_TIME_ZONE) for row in rows]

    async def find_by_phone(self, normalised_phone: str) -> Member | None:
        stmt = select(t.members).where(
            t.members.c.tenant_id == self.tenant,
            t.members.c.phone_bidx == self.codec.phone_index(normalised_phone),
        )
        row = (await self.conn.execute(stmt)).first()
        return self.codec.from_row(row) if row else None

    async def list(
        self,
        *,
        limit: int,
        after_member_id: str | None,
        home_store_id: str | None,
        tier_id: str | None,
        name_prefix: str | None,
    ) -> list[Member]:
        c = t.members.c
        clauses = [c.tenant_id == self.tenant]
        if home_store_id:
            clauses.append(c.home_store_id == home_store_id)
        if tier_id:
            clauses.append(c.tier_id == tier_id)
        if name_prefix:
            probe = self.codec.name_prefix_index(name_prefix[:NAME_PREFIX_INDEXED])
            escaped = name_prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            # The plaintext column only matches rows written before names were encrypted.
            clauses.append(
                or_(c.name_prefix_bidx.contains([probe]), c.display_name.like(escaped + "%", escape="\\"))
            )
        found: list[Member] = []
        while True:
            page_clauses = [*clauses, c.member_id > after_member_id] if after_member_id else clauses
            stmt = select(t.members).where(*page_clauses).order_by(c.member_id).limit(limit)
            rows = (await self.conn.execute(stmt)).all()
            members = [self.codec.from_row(r) for r in rows]
            # Only a prefix longer than the indexed ones can match a row that is not a real match.
            found += [m for m in members if not name_prefix or m.display_name.startswith(name_prefix)]
            if len(found) >= limit or len(rows) < limit:
                return found[:limit]
            after_member_id = rows[-1].member_id


class StoreRepository:
    def __init__(self, db: AsyncSession | AsyncConnection, tenant: str):
        self.db = db
        self.tenant = tenant

    @staticmethod
    def _from_row(r: Row) -> Store:
        return Store(
            store_id=r.store_id,
            display_name=r.display_name,
            address=r.address,
            time_zone=r.time_zone,
            opening_hours=[OpeningHours(**h) for h in r.opening_hours],
            create_time=r.create_time,
            update_time=r.update_time,
        )

    async def add(self, s: Store) -> bool:
        stmt = (
            pg_insert(t.stores)
            .values(
                tenant_id=self.tenant,
                store_id=s.store_id,
                display_name=s.display_name,
                address=s.address,
                time_zone=s.time_zone,
                opening_hours=[asdict(h) for h in s.opening_hours],
            )
            .on_conflict_do_nothing()
            .returning(t.stores.c.create_time, t.stores.c.update_time)
        )
        row = (await self.db.execute(stmt)).first()
        if row is None:
            return False
        s.create_time, s.update_time = row.create_time, row.update_time
        return True

    async def get(self, store_id: str, *, for_update: bool = False) -> Store | None:
        stmt = select(t.stores).where(t.stores.c.tenant_id == self.tenant, t.stores.c.store_id == store_id)
        if for_update:
            stmt = stmt.with_for_update()
        row = (await self.db.execute(stmt)).first()
        return self._from_row(row) if row else None

    async def exists(self, store_id: str) -> bool:
        stmt = select(t.stores.c.store_id).where(
            t.stores.c.tenant_id == self.tenant, t.stores.c.store_id == store_id
        )
        return (await self.db.execute(stmt)).first() is not None

    async def save(self, s: Store) -> None:
        stmt = (
            update(t.stores)
            .where(t.stores.c.tenant_id == self.tenant, t.stores.c.store_id == s.store_id)
            .values(
                display_name=s.display_name,
                address=s.address,
                time_zone=s.time_zone,
                opening_hours=[asdict(h) for h in s.opening_hours],
                update_time=func.now(),
            )
            .returning(t.stores.c.update_time)
        )
        s.update_time = (await self.db.execute(stmt)).scalar_one()

    async def list(self, *, limit: int, after_store_id: str | None) -> list[Store]:
        clauses = [t.stores.c.tenant_id == self.tenant]
        if after_store_id:
            clauses.append(t.stores.c.store_id > after_store_id)
        stmt = select(t.stores).where(*clauses).order_by(t.stores.c.store_id).limit(limit)
        return [self._from_row(r) for r in (await self.db.execute(stmt)).all()]


def ladder_to_json(ladder: TierLadder) -> dict[str, Any]:
    return {
        "tiers": [asdict(tier) for tier in ladder.tiers],
        "currency_code": ladder.currency_code,
        "qualification_window_days": ladder.qualification_window_days,
        "downgrade_policy": ladder.downgrade_policy,
        "downgrade_grace_days": ladder.downgrade_grace_days,
    }


def ladder_from_json(data: dict[str, Any], version: int) -> TierLadder:
    tiers = tuple(Tier(**{**tier, "benefits": TierBenefits(**tier["benefits"])}) for tier in data["tiers"])
    return TierLadder(
        tiers=tiers,
        currency_code=data["currency_code"],
        qualification_window_days=data["qualification_window_days"],
        downgrade_policy=data["downgrade_policy"],
        downgrade_grace_days=data["downgrade_grace_days"],
        version=version,
    )


class SettingsRepository:
    def __init__(self, db: AsyncSession | AsyncConnection, tenant: str):
        self.db = db
        self.tenant = tenant

    async def ladder(self, *, for_update: bool = False) -> TierLadder:
        stmt = select(t.tenant_settings).where(t.tenant_settings.c.tenant_id == self.tenant)
        if for_update:
            stmt = stmt.with_for_update()
        row = (await self.db.execute(stmt)).first()
        if row is None:
            return DEFAULT_LADDER
        return ladder_from_json(row.tier_ladder, row.ladder_version)

    async def save_ladder(self, ladder: TierLadder) -> datetime:
        stmt = pg_insert(t.tenant_settings).values(
            tenant_id=self.tenant, tier_ladder=ladder_to_json(ladder), ladder_version=ladder.version
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=[t.tenant_settings.c.tenant_id],
            set_={
                "tier_ladder": stmt.excluded.tier_ladder,
                "ladder_version": stmt.excluded.ladder_version,
                "update_time": func.now(),
            },
        ).returning(t.tenant_settings.c.update_time)
        return (await self.db.execute(stmt)).scalar_one()

    async def ladder_update_time(self) -> datetime | None:
        stmt = select(t.tenant_settings.c.update_time).where(t.tenant_settings.c.tenant_id == self.tenant)
        return (await self.db.execute(stmt)).scalar_one_or_none()


class CardRepository:
    def __init__(self, db: AsyncSession | AsyncConnection, tenant: str):
        self.db = db
        self.tenant = tenant

    async def _legacy_numbers(self, card_ids: list[str]) -> dict[str, list[str]]:
        if not card_ids:
            return {}
        stmt = (
            select(t.card_numbers.c.card_id, t.card_numbers.c.number)
            .where(
                t.card_numbers.c.tenant_id == self.tenant,
                t.card_numbers.c.card_id.in_(card_ids),
                t.card_numbers.c.kind == "legacy",
            )
            .order_by(t.card_numbers.c.number)
        )
        out: dict[str, list[str]] = {}
        for r in (await self.db.execute(stmt)).all():
            out.setdefault(r.card_id, []).append(r.number)
        return out

    @staticmethod
    def _from_row(r: Row, legacy: list[str]) -> Card:
        return Card(
            card_id=r.card_id,
            member_id=r.member_id,
            card_number=r.card_number,
            state=r.state,
            replaced_by=r.replaced_by,
            replaces=r.replaces,
            legacy_numbers=legacy,
            create_time=r.create_time,
            update_time=r.update_time,
        )

    async def claim_number(self, number: str, card_id: str, kind: str) -> bool:
        """Reserves a number for a card; False when any card of the tenant already answers to it."""
        stmt = (
            pg_insert(t.card_numbers)
            .values(tenant_id=self.tenant, number=number, card_id=card_id, kind=kind)
            .on_conflict_do_nothing()
            .returning(t.card_numbers.c.number)
        )
        return (await self.db.execute(stmt)).first() is not None

    async def add(self, card: Card) -> None:
        stmt = (
            insert(t.cards)
            .values(
                tenant_id=self.tenant,
                card_id=card.card_id,
                member_id=card.member_id,
                card_number=card.card_number,
                state=card.state,
                replaced_by=card.replaced_by,
                replaces=card.replaces,
            )
            .returning(t.cards.c.create_time, t.cards.c.update_time)
        )
        try:
            async with self.db.begin_nested():  # type: ignore[union-attr]
                row = (await self.db.execute(stmt)).one()
        except IntegrityError as exc:
            if "uq_cards_one_live_per_member" in str(exc.orig):
                from kit.errors import FailedPrecondition

                raise FailedPrecondition(
                    "the member already holds a live card; report it lost or replace it",
                    reason="MEMBER_HAS_LIVE_CARD",
                ) from exc
            raise
        card.create_time, card.update_time = row.create_time, row.update_time

    async def get(
        self, card_id: str, *, member_id: str | None = None, for_update: bool = False
    ) -> Card | None:
        clauses = [t.cards.c.tenant_id == self.tenant, t.cards.c.card_id == card_id]
        if member_id is not None:
            clauses.append(t.cards.c.member_id == member_id)
        stmt = select(t.cards).where(*clauses)
        if for_update:
            stmt = stmt.with_for_update()
        row = (await self.db.execute(stmt)).first()
        if row is None:
            return None
        return self._from_row(row, (await self._legacy_numbers([row.card_id])).get(row.card_id, []))

    async def save_state(self, card: Card) -> None:
        stmt = (
            update(t.cards)
            .where(t.cards.c.tenant_id == self.tenant, t.cards.c.card_id == card.card_id)
            .values(
                state=card.state, replaced_by=card.replaced_by, replaces=card.replaces, update_time=func.now()
            )
            .returning(t.cards.c.update_time)
        )
        card.update_time = (await self.db.execute(stmt)).scalar_one()

    async def list_for_member(self, member_id: str, *, limit: int, after_card_id: str | None) -> list[Card]:
        clauses = [t.cards.c.tenant_id == self.tenant, t.cards.c.member_id == member_id]
        if after_card_id:
            clauses.append(t.cards.c.card_id > after_card_id)
        rows = (
            await self.db.execute(select(t.cards).where(*clauses).order_by(t.cards.c.card_id).limit(limit))
        ).all()
        legacy = await self._legacy_numbers([r.card_id for r in rows])
        return [self._from_row(r, legacy.get(r.card_id, [])) for r in rows]

    async def resolve_number(self, number: str) -> tuple[str, str] | None:
        """(card_id, kind) the number belongs to, or None."""
        stmt = select(t.card_numbers.c.card_id, t.card_numbers.c.kind).where(
            t.card_numbers.c.tenant_id == self.tenant, t.card_numbers.c.number == number
        )
        row = (await self.db.execute(stmt)).first()
        return (row.card_id, row.kind) if row else None


def reason_code_name(code: int) -> str:
    """How a ``TierChangeReason`` is stored: its name without the prefix (``UPGRADE_SPEND``)."""
    return tier_pb2.TierChangeReason.Name(code).removeprefix(TIER_REASON_PREFIX)


def reason_code_value(name: str) -> int:
    """The stored name back to the enum ('' — a change recorded before codes were — is UNSPECIFIED)."""
    return tier_pb2.TierChangeReason.Value(TIER_REASON_PREFIX + (name or "UNSPECIFIED"))


TIER_REASON_PREFIX = "TIER_CHANGE_REASON_"


class TierChangeRepository:
    def __init__(self, db: AsyncSession | AsyncConnection, tenant: str):
        self.db = db
        self.tenant = tenant

    async def add(
        self,
        *,
        change_id: str,
        member_id: str,
        from_tier_id: str,
        to_tier_id: str,
        reason: str,
        actor: str,
        staff_override: bool,
        reason_code: int,
    ) -> datetime:
        stmt = (
            insert(t.tier_changes)
            .values(
                tenant_id=self.tenant,
                change_id=change_id,
                member_id=member_id,
                from_tier_id=from_tier_id,
                to_tier_id=to_tier_id,
                reason=reason,
                reason_code=reason_code_name(reason_code),
                actor=actor,
                staff_override=staff_override,
            )
            .returning(t.tier_changes.c.change_time)
        )
        return (await self.db.execute(stmt)).scalar_one()

    async def move_member(
        self, *, member_id: str, from_tier_id: str, to_tier_id: str, reason: str, reason_code: int, actor: str
    ) -> datetime:
        """An earned (not staff-set) tier change: the history row and the member's new tier.
        The caller holds the member's row lock and writes the ``TierChanged`` event."""
        change_time = await self.add(
            change_id=new_id(),
            member_id=member_id,
            from_tier_id=from_tier_id,
            to_tier_id=to_tier_id,
            reason=reason,
            reason_code=reason_code,
            actor=actor,
            staff_override=False,
        )
        m = t.members.c
        await self.db.execute(
            update(t.members)
            .where(m.tenant_id == self.tenant, m.member_id == member_id)
            .values(
                tier_id=to_tier_id,
                tier_since=change_time,
                tier_override=False,
                tier_override_reason="",
                update_time=func.now(),
            )
        )
        return change_time

    async def list(self, member_id: str, *, limit: int, after_change_id: str | None) -> list[Row]:
        c = t.tier_changes.c
        clauses = [c.tenant_id == self.tenant, c.member_id == member_id]
        if after_change_id:
            clauses.append(c.change_id > after_change_id)
        return list(
            (
                await self.db.execute(
                    select(t.tier_changes).where(*clauses).order_by(c.change_id).limit(limit)
                )
            ).all()
        )
