"""The wallet's projection of members: who is a member, their home store and their tier benefits.

Fed by the members service's events (``services.wallet.entrypoints.consumers``) and read by
checkout on every call, so the wallet keeps working when the members service is slow or down.
Every statement is scoped to the tenant the directory was built for.

Ordering. Events of one member share an aggregate and reach the consumer in stream order, but a
failed delivery is nak'ed and retried *after* later events of the same member, so the writes here
do not rely on arrival order:

- ``apply_registered`` inserts the member; a second copy of the registration refreshes only the
  tier fields, and only while no TierChanged has been applied to the row (a member's tier changes
  only after the registration, so a late copy must not take them back to the entry tier);
- ``apply_tier_changed`` needs the row: when TierChanged overtook MemberRegistered it raises
  :class:`MemberNotYetRegistered`, the consumer rolls back (inbox row included) and naks, and the
  change is applied on a later delivery, after the registration;
- ``update_time`` is the occurred-at time of the last event applied to the row (= ``registered_time``
  while only the registration is). A TierChanged always supersedes the registration; among tier
  changes the later occurred-at wins, so a retried TierChanged that lost the race to a newer one is
  skipped. The members service stamps its events at commit, under the member's row lock, so for
  one member this time follows commit order (up to clock skew between its replicas, which only
  matters for two changes of one member within that skew);
- ``apply_ladder`` keeps the highest ladder ``version`` only.

Read-through. A member registered a moment ago may not have reached the consumer yet; ``require``
then asks the members service (``kit.members_client``, as the wallet itself) and, when members
knows the member, inserts the snapshot — only while the row is absent, with ``update_time`` = the
member record's own update time, so the consumer's rows are never overwritten, and a late
registration copy (``update_time == registered_time`` no longer holds once the member changed) or
an older TierChanged cannot take the tier back. Members' NOT_FOUND is ``MEMBER_NOT_FOUND``.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select

from kit.errors import InvalidArgument, NotFound
from kit.member_projection import MemberNotYetRegistered, MemberRows, Registration
from kit.members_client import MemberFacts
from services.wallet.adapters.tables import member_directory as md
from services.wallet.adapters.tables import payment_pins
from services.wallet.adapters.tables import tier_ladders as tl

__all__ = ["MemberDirectory", "MemberNotYetRegistered", "MemberTierView", "view_of"]


@dataclass(frozen=True)
class MemberTierView:
    member_id: str
    home_store_id: str
    tier_id: str
    discount_bps: int
    points_multiplier_permille: int


def view_of(
    *,
    member_id: str,
    home_store_id: str,
    tier_id: str,
    discount_bps: int,
    points_multiplier_permille: int,
    tiers: list[dict] | None,
) -> MemberTierView:
    """A member's projection row and the tenant's tier ladder (`tiers`) as the benefits in force."""
    discount, multiplier = discount_bps, points_multiplier_permille
    # The newest ladder is authoritative for its tiers' benefits; a tier it no longer lists
    # keeps the benefits carried by the member's last event.
    entry = next((t for t in tiers or [] if t.get("tier_id") == tier_id), None)
    if entry is not None:
        discount = int(entry.get("discount_bps", discount))
        multiplier = int(entry.get("points_multiplier_permille", multiplier))
    return MemberTierView(
        member_id=member_id,
        home_store_id=home_store_id,
        tier_id=tier_id,
        discount_bps=discount,
        points_multiplier_permille=multiplier,
    )


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except (ValueError, TypeError, AttributeError):
        return False
    return True


# What a second copy of a registration refreshes (while no TierChanged has been applied).
_TIER_FIELDS = ("tier_id", "discount_bps", "points_multiplier_permille")


def _tier(tier_id: str, discount_bps: int, multiplier_permille: int) -> dict[str, Any]:
    return {
        "tier_id": tier_id,
        "discount_bps": discount_bps,
        "points_multiplier_permille": multiplier_permille,
    }


class MemberDirectory(MemberRows):
    members = md
    ladders = tl

    # ---------------------------------------------------------------- writes (from events)

    async def erase(self, member_id: str) -> None:
        """MemberErased: the member's payment PIN goes; the directory row (tier, home store) and
        the ledger stay under the opaque member id, so balances and finance views do not move."""
        await self.db.execute(
            delete(payment_pins).where(
                payment_pins.c.tenant_id == self.tenant, payment_pins.c.member_id == member_id
            )
        )

    @staticmethod
    def registration(
        member_id: str,
        home_store_id: str,
        tier_id: str,
        discount_bps: int,
        multiplier_permille: int,
        registered_time: datetime,
    ) -> Registration:
        """A MemberRegistered as :meth:`apply_registrations` takes it."""
        tier = _tier(tier_id, discount_bps, multiplier_permille)
        return Registration(member_id, {"home_store_id": home_store_id, **tier}, registered_time)

    async def apply_registered(
        self,
        member_id: str,
        home_store_id: str,
        tier_id: str,
        discount_bps: int,
        multiplier_permille: int,
        registered_time: datetime,
    ) -> bool:
        """Record a registration; True when the row was written (inserted, or its tier refreshed)."""
        r = self.registration(
            member_id, home_store_id, tier_id, discount_bps, multiplier_permille, registered_time
        )
        return await super().apply_registered(r.member_id, r.values, r.registered_time, refresh=_TIER_FIELDS)

    async def apply_registrations(self, registrations: Sequence[Registration]) -> None:  # type: ignore[override]
        """:meth:`apply_registered` for a batch of registrations (stream order), in one round trip."""
        await super().apply_registrations(registrations, refresh=_TIER_FIELDS)

    async def apply_tier_changed(  # type: ignore[override]
        self,
        member_id: str,
        tier_id: str,
        discount_bps: int,
        multiplier_permille: int,
        *,
        changed_time: datetime | None = None,
    ) -> bool:
        """Move the member to ``tier_id``; False when a newer change is applied already. Raises
        :class:`MemberNotYetRegistered` when the member is not in the directory yet."""
        return await super().apply_tier_changed(
            member_id,
            {
                "tier_id": tier_id,
                "discount_bps": discount_bps,
                "points_multiplier_permille": multiplier_permille,
            },
            changed_time=changed_time,
        )

    async def fill(self, facts: MemberFacts) -> None:  # type: ignore[override]
        """Insert a read-through snapshot of a member the consumer has not delivered yet."""
        await super().fill(
            facts.member_id,
            {
                "home_store_id": facts.home_store_id,
                "tier_id": facts.tier_id,
                "discount_bps": facts.discount_bps,
                "points_multiplier_permille": facts.points_multiplier_permille,
            },
            registered_time=facts.create_time,
            update_time=facts.update_time,
        )

    # ---------------------------------------------------------------- reads

    async def find(self, member_id: str) -> MemberTierView | None:
        """The member's tier and effective benefits, or None when the member is unknown."""
        if not _is_uuid(member_id):
            return None
        row = (
            await self.db.execute(
                select(
                    md.c.member_id,
                    md.c.home_store_id,
                    md.c.tier_id,
                    md.c.discount_bps,
                    md.c.points_multiplier_permille,
                    tl.c.tiers,
                )
                .select_from(md.outerjoin(tl, tl.c.tenant_id == md.c.tenant_id))
                .where(md.c.tenant_id == self.tenant, md.c.member_id == member_id)
            )
        ).first()
        if row is None:
            return None
        return view_of(
            member_id=str(row.member_id),
            home_store_id=row.home_store_id,
            tier_id=row.tier_id,
            discount_bps=row.discount_bps,
            points_multiplier_permille=row.points_multiplier_permille,
            tiers=row.tiers,
        )

    async def require(self, member_id: str, field: str = "member") -> MemberTierView:
        """Like :meth:`find`, reading through to the members service on a miss; a malformed id is
        ``InvalidArgument``, an unknown member ``NotFound`` (reason ``MEMBER_NOT_FOUND``)."""
        if not _is_uuid(member_id):
            raise InvalidArgument([(field, "must be a resource name of the form members/{member}")])
        view = await self.find(member_id)
        if view is None and self.source is not None:
            facts = await self.source.get_member(self.tenant, member_id)
            if facts is not None:
                await self.fill(facts)
                view = await self.find(member_id)
        if view is None:
            raise NotFound(f"member {member_id!r} not found", reason="MEMBER_NOT_FOUND")
        return view
