"""Members reads. They run on autocommit connections (no BEGIN/ROLLBACK round trips): every read
is a single statement, so it sees one consistent snapshot anyway."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from kit import auth
from kit.auth import Principal
from kit.crypto import PiiCipher
from kit.errors import NotFound
from kit.logging import get_logger
from services.members.adapters.repository import (
    CardRepository,
    MemberReader,
    SettingsRepository,
    StoreRepository,
    TierChangeRepository,
)
from services.members.domain.cards import Card
from services.members.domain.member import Member
from services.members.domain.stores import Store
from services.members.domain.tiers import DEFAULT_LADDER, TierLadder
from services.members.service_layer.handlers import ResolvedCard, member_name, resolve_card_number

audit = get_logger("peony.audit")


class MembersQueries:
    def __init__(self, engine: AsyncEngine, cipher: PiiCipher):
        self._engine = engine.execution_options(isolation_level="AUTOCOMMIT")
        self._cipher = cipher
        # Parsed ladders by (tenant, version): a read only reloads when the version it sees moved.
        self._ladders: dict[str, TierLadder] = {}

    async def _ladder(self, conn, tenant: str, version: int) -> TierLadder:
        if version == 0:
            return DEFAULT_LADDER
        cached = self._ladders.get(tenant)
        if cached is None or cached.version != version:
            cached = await SettingsRepository(conn, tenant).ladder()
            self._ladders[tenant] = cached
        return cached

    def reveal_pii(self, caller: Principal, member_id: str) -> bool:
        reveal = caller.has(auth.MEMBERS_PII_READ)
        if reveal:
            # Every read of unmasked personal data is audited (who, which member) - never the data itself.
            audit.info("pii.read", actor=caller.subject, tenant=caller.tenant, member=member_name(member_id))
        return reveal

    async def get_member(self, caller: Principal, member_id: str) -> tuple[Member, TierLadder]:
        caller.require(auth.MEMBERS_READ)
        caller.require_member(member_name(member_id))
        async with self._engine.connect() as conn:
            found = await MemberReader(conn, caller.tenant, self._cipher).get_with_ladder_version(member_id)
            if found is None:
                raise NotFound(f"{member_name(member_id)} not found", reason="MEMBER_NOT_FOUND")
            member, version = found
            return member, await self._ladder(conn, caller.tenant, version)

    async def find_member_by_phone(self, caller: Principal, phone: str) -> tuple[Member, TierLadder]:
        caller.require(auth.MEMBERS_READ)
        async with self._engine.connect() as conn:
            member = await MemberReader(conn, caller.tenant, self._cipher).find_by_phone(phone)
            if member is None:
                raise NotFound("no member has that phone", reason="MEMBER_NOT_FOUND")
            caller.require_member(member_name(member.member_id))
            ladder = await SettingsRepository(conn, caller.tenant).ladder()
            return member, ladder

    async def list_members(
        self,
        caller: Principal,
        *,
        limit: int,
        after: str | None,
        home_store_id: str,
        tier_id: str,
        name_prefix: str,
    ) -> tuple[list[Member], TierLadder]:
        caller.require(auth.MEMBERS_READ)
        if caller.is_member_self_service:
            caller.require_member("")  # members cannot list other members
        async with self._engine.connect() as conn:
            rows = await MemberReader(conn, caller.tenant, self._cipher).list(
                limit=limit,
                after_member_id=after,
                home_store_id=home_store_id or None,
                tier_id=tier_id or None,
                name_prefix=name_prefix or None,
            )
            return rows, await SettingsRepository(conn, caller.tenant).ladder()

    async def get_store(self, caller: Principal, store_id: str) -> Store:
        caller.require(auth.STORES_READ)
        async with self._engine.connect() as conn:
            store = await StoreRepository(conn, caller.tenant).get(store_id)
        if store is None:
            raise NotFound(f"stores/{store_id} not found", reason="STORE_NOT_FOUND")
        return store

    async def list_stores(self, caller: Principal, *, limit: int, after: str | None) -> list[Store]:
        caller.require(auth.STORES_READ)
        async with self._engine.connect() as conn:
            return await StoreRepository(conn, caller.tenant).list(limit=limit, after_store_id=after)

    async def list_cards(
        self, caller: Principal, member_id: str, *, limit: int, after: str | None
    ) -> list[Card]:
        caller.require(auth.MEMBERS_READ)
        caller.require_member(member_name(member_id))
        async with self._engine.connect() as conn:
            if (
                await MemberReader(conn, caller.tenant, self._cipher).get_with_ladder_version(member_id)
                is None
            ):
                raise NotFound(f"{member_name(member_id)} not found", reason="MEMBER_NOT_FOUND")
            return await CardRepository(conn, caller.tenant).list_for_member(
                member_id, limit=limit, after_card_id=after
            )

    async def find_member_by_card_number(
        self, caller: Principal, number: str
    ) -> tuple[Member, TierLadder, ResolvedCard]:
        caller.require(auth.MEMBERS_READ)
        async with self._engine.connect() as conn:
            resolved = await resolve_card_number(CardRepository(conn, caller.tenant), number)
            found = await MemberReader(conn, caller.tenant, self._cipher).get_with_ladder_version(
                resolved.card.member_id
            )
            assert found is not None  # a card always belongs to an existing member
            caller.require_member(member_name(found[0].member_id))
            return found[0], await self._ladder(conn, caller.tenant, found[1]), resolved

    async def get_tier_ladder(self, caller: Principal) -> tuple[TierLadder, object]:
        caller.require(auth.MEMBERS_READ)
        async with self._engine.connect() as conn:
            repo = SettingsRepository(conn, caller.tenant)
            return await repo.ladder(), await repo.ladder_update_time()

    async def list_tier_changes(self, caller: Principal, member_id: str, *, limit: int, after: str | None):
        caller.require(auth.MEMBERS_READ)
        caller.require_member(member_name(member_id))
        async with self._engine.connect() as conn:
            return await TierChangeRepository(conn, caller.tenant).list(
                member_id, limit=limit, after_change_id=after
            )
