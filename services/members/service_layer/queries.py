"""Members reads. They run on autocommit connections (no BEGIN/ROLLBACK round trips): every read
is a single statement, so it sees one consistent snapshot anyway."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from kit import auth
from kit.auth import Principal
from kit.cache import ReadCache
from kit.crypto import PiiCipher
from kit.errors import NotFound
from kit.messaging.envelope import EventEnvelope
from kit.uow import Emitted
from services.members.adapters.audit import PiiAuditTrail
from services.members.adapters.referral_repository import ReferralSettingsRepository
from services.members.adapters.repository import (
    CardRepository,
    MemberReader,
    SettingsRepository,
    StoreRepository,
    TierChangeRepository,
)
from services.members.domain.cards import Card
from services.members.domain.member import Member
from services.members.domain.referral import ReferralTerms
from services.members.domain.stores import Store
from services.members.domain.tiers import TierLadder
from services.members.service_layer.handlers import ResolvedCard, member_name, resolve_card_number


@dataclass
class MemberView:
    """A decoded member as cached; `rendered` memoises its wire form per (reveal_pii, reveal_care,
    ladder version) for the entrypoint, so a cache hit does not rebuild the response message."""

    member: Member
    rendered: dict[tuple[bool, bool, int], Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Contact:
    """What notify needs to reach a member: the member (unmasked) and the home store's zone."""

    member: Member
    time_zone: str


class MembersQueries:
    """Reads, with read-through caches of decoded members and ladders.

    GetMember is the hottest call in the platform (every checkout, booking and front-desk lookup
    starts with it). Cached entries are evicted at commit on this replica (read-your-writes) and
    from every other replica's own-stream events (`invalidate_from_event`); a TTL bounds anything
    an invalidation might miss.
    """

    def __init__(
        self, engine: AsyncEngine, cipher: PiiCipher, audit: PiiAuditTrail, *, cache_ttl_s: float = 30.0
    ):
        self._engine = engine.execution_options(isolation_level="AUTOCOMMIT")
        self._cipher = cipher
        self._audit = audit
        self.members_cache: ReadCache[tuple[str, str], MemberView] = ReadCache(
            max_entries=100_000, ttl_s=cache_ttl_s
        )
        self.ladders: ReadCache[str, TierLadder] = ReadCache(max_entries=10_000, ttl_s=cache_ttl_s)

    # --- invalidation ------------------------------------------------------------------------
    def invalidate(self, tenant: str, aggregate_type: str, aggregate_id: str) -> None:
        if aggregate_type == "member":
            self.members_cache.invalidate((tenant, aggregate_id))
        elif aggregate_type == "tier_ladder":
            self.ladders.invalidate(tenant)

    def invalidate_committed(self, tenant: str, emitted: list[Emitted]) -> None:
        for _event, aggregate_type, aggregate_id in emitted:
            self.invalidate(tenant, aggregate_type, aggregate_id)

    def invalidate_from_event(self, envelope: EventEnvelope) -> None:
        self.invalidate(envelope.tenant, envelope.aggregate_type, envelope.aggregate_id)

    def reset_caches(self) -> None:
        self.members_cache.clear()
        self.ladders.clear()

    async def ladder(self, caller: Principal) -> TierLadder:
        """The caller's tenant's ladder (cached), for rendering members' tiers."""
        async with self._engine.connect() as conn:
            return await self._ladder(conn, caller.tenant)

    async def _ladder(self, conn, tenant: str, version: int | None = None) -> TierLadder:
        cached = self.ladders.get(tenant)
        if cached is not None and (version is None or cached.version == version):
            return cached
        token = self.ladders.token()
        ladder = await SettingsRepository(conn, tenant).ladder()
        self.ladders.put(tenant, ladder, token)
        return ladder

    def reveal_pii(self, caller: Principal, member_id: str, rpc: str) -> bool:
        """Whether the caller sees personal data unmasked; every such read is audited."""
        reveal = caller.has(auth.MEMBERS_PII_READ)
        if reveal:
            self._audit.record(tenant=caller.tenant, actor=caller.subject, member_id=member_id, rpc=rpc)
        return reveal

    async def get_member(self, caller: Principal, member_id: str) -> tuple[MemberView, TierLadder]:
        caller.require(auth.MEMBERS_READ)
        caller.require_member(member_name(member_id))
        key = (caller.tenant, member_id)
        view = self.members_cache.get(key)
        ladder = self.ladders.get(caller.tenant)
        if view is not None and ladder is not None:
            return view, ladder
        token = self.members_cache.token()
        async with self._engine.connect() as conn:
            found = await MemberReader(conn, caller.tenant, self._cipher).get_with_ladder_version(member_id)
            if found is None:
                raise NotFound(f"{member_name(member_id)} not found", reason="MEMBER_NOT_FOUND")
            member, version = found
            view = MemberView(member)
            self.members_cache.put(key, view, token)
            return view, await self._ladder(conn, caller.tenant, version)

    async def resolve_contact(self, caller: Principal, member_id: str) -> Contact:
        """Unmasked addresses for a Peony service that may send messages (notify); audited."""
        caller.require(auth.MEMBERS_CONTACT_RESOLVE)  # only notify's identity (role notifier) has it
        async with self._engine.connect() as conn:
            found = await MemberReader(conn, caller.tenant, self._cipher).get_with_time_zone(member_id)
        if found is None:
            raise NotFound(f"{member_name(member_id)} not found", reason="MEMBER_NOT_FOUND")
        self._audit.record(
            tenant=caller.tenant, actor=caller.subject, member_id=member_id, rpc="ResolveContact"
        )
        return Contact(*found)

    async def resolve_contacts(self, caller: Principal, member_ids: list[str]) -> list[Contact]:
        """``resolve_contact`` for many members in one statement; the ones that exist, each once,
        in the order first asked for. Each is audited like a single resolution."""
        caller.require(auth.MEMBERS_CONTACT_RESOLVE)
        wanted = list(dict.fromkeys(member_ids))
        async with self._engine.connect() as conn:
            found = await MemberReader(conn, caller.tenant, self._cipher).get_many_with_time_zone(wanted)
        by_id = {member.member_id: Contact(member, zone) for member, zone in found}
        contacts = [by_id[member_id] for member_id in wanted if member_id in by_id]
        for contact in contacts:
            self._audit.record(
                tenant=caller.tenant,
                actor=caller.subject,
                member_id=contact.member.member_id,
                rpc="ResolveContacts",
            )
        return contacts

    async def find_member_by_phone(self, caller: Principal, phone: str) -> tuple[Member, TierLadder]:
        caller.require(auth.MEMBERS_READ)
        async with self._engine.connect() as conn:
            member = await MemberReader(conn, caller.tenant, self._cipher).find_by_phone(phone)
            if member is None:
                raise NotFound("no member has that phone", reason="MEMBER_NOT_FOUND")
            caller.require_member(member_name(member.member_id))
            return member, await self._ladder(conn, caller.tenant)

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
            return rows, await self._ladder(conn, caller.tenant)

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

    async def get_referral_settings(self, caller: Principal) -> tuple[ReferralTerms, Any, str]:
        """The referral terms, when they last changed (None: the defaults) and their currency."""
        caller.require(auth.MEMBERS_READ)
        async with self._engine.connect() as conn:
            terms, update_time = await ReferralSettingsRepository(conn, caller.tenant).get()
            ladder = await SettingsRepository(conn, caller.tenant).ladder()
            return terms, update_time, ladder.currency_code

    async def list_tier_changes(self, caller: Principal, member_id: str, *, limit: int, after: str | None):
        caller.require(auth.MEMBERS_READ)
        caller.require_member(member_name(member_id))
        async with self._engine.connect() as conn:
            rows = await TierChangeRepository(conn, caller.tenant).list(
                member_id, limit=limit, after_change_id=after
            )
            # An empty first page is where an unknown member would hide: say NOT_FOUND instead.
            if (
                not rows
                and after is None
                and not await MemberReader(conn, caller.tenant, self._cipher).exists(member_id)
            ):
                raise NotFound(f"{member_name(member_id)} not found", reason="MEMBER_NOT_FOUND")
            return rows
