"""The tier anniversary review (domain.md §2; members_service.proto, `TierLadder.downgrade_policy`).

Under the AUTOMATIC policy every member holding a tier above the entry tier is reviewed once per
anniversary of reaching it, when the grace period after it has passed, at local midnight of their
home store (``adapters/tier_reviews.py`` decides who is due). A member whose qualifying totals over
the ladder's window no longer reach their tier drops to the highest tier they still qualify for,
with a ``TierChange`` and one ``TierChanged`` (reason ``anniversary review: ...``) through the
outbox; otherwise the tier is kept until the next anniversary. Tiers staff set by hand are never
reviewed. Upgrades are not this job's: they happen at once when spend arrives.

The ``TierAnniversaryWorker`` (``entrypoints/jobs.py``) runs it: ``BATCH_SIZE`` members per
transaction, each member row locked (SKIP LOCKED, so replicas split the work), the review row
written with the outcome, so a crash repeats at most the uncommitted batch and a review happens
exactly once.
"""

from __future__ import annotations

from dataclasses import dataclass

from peony.members.v1 import events_pb2, tier_pb2

from kit.logging import get_logger
from kit.uow import UnitOfWorkFactory
from services.members.adapters.tier_reviews import DOWNGRADED, KEPT, TierReviewRepository
from services.members.domain.tiers import DOWNGRADE_AUTOMATIC
from services.members.service_layer.handlers import benefits_message, member_name
from services.members.service_layer.spend import SYSTEM_ACTOR, SpendBook, WindowTotals
from services.members.service_layer.unit_of_work import MembersUnitOfWork

log = get_logger("peony.members.tier_anniversary")

BATCH_SIZE = 200
ANNIVERSARY_REASON = "anniversary review"


@dataclass(frozen=True)
class ReviewOutcome:
    reviewed: int = 0
    downgraded: int = 0


def downgrade_reason(tier_id: str, anniversary: int) -> str:
    return f"{ANNIVERSARY_REASON}: no longer qualifies for {tier_id} (anniversary {anniversary})"


async def review_batch(uow: MembersUnitOfWork, *, batch_size: int = BATCH_SIZE) -> ReviewOutcome:
    ladder = await uow.settings.ladder()
    if ladder.downgrade_policy != DOWNGRADE_AUTOMATIC:
        return ReviewOutcome()
    reviews = TierReviewRepository(uow.session, uow.tenant)
    due = await reviews.lock_due(
        grace_days=ladder.downgrade_grace_days, entry_tier_id=ladder.entry_tier.tier_id, limit=batch_size
    )
    if not due:
        return ReviewOutcome()
    totals = await SpendBook(uow.session, uow.tenant).window_totals_of(
        [m.member_id for m in due], ladder.qualification_window_days
    )
    downgraded = 0
    for member in due:
        current = ladder.get(member.tier_id)
        spend, visits, points = totals.get(member.member_id, WindowTotals())
        target = ladder.qualifying_tier(spend_minor=spend, visits=visits, points=points)
        # A tier gone from the ladder is the re-evaluation job's (UpdateTierLadder), not ours.
        if current is None or target.rank >= current.rank:
            await reviews.record(member, outcome=KEPT, to_tier_id=member.tier_id)
            continue
        if not await reviews.record(member, outcome=DOWNGRADED, to_tier_id=target.tier_id):
            continue
        reason = downgrade_reason(member.tier_id, member.anniversary)
        await uow.tier_changes.move_member(
            member_id=member.member_id,
            from_tier_id=member.tier_id,
            to_tier_id=target.tier_id,
            reason=reason,
            reason_code=tier_pb2.TIER_CHANGE_REASON_ANNIVERSARY_DOWNGRADE,
            actor=SYSTEM_ACTOR,
        )
        uow.emit(
            events_pb2.TierChanged(
                member=member_name(member.member_id),
                from_tier_id=member.tier_id,
                to_tier_id=target.tier_id,
                reason=reason,
                reason_code=tier_pb2.TIER_CHANGE_REASON_ANNIVERSARY_DOWNGRADE,
                staff_override=False,
                benefits=benefits_message(target.benefits),
            ),
            aggregate_type="member",
            aggregate_id=member.member_id,
        )
        downgraded += 1
        log.info(
            "members.tier_downgraded",
            tenant=uow.tenant,
            member_id=member.member_id,
            from_tier=member.tier_id,
            to_tier=target.tier_id,
            anniversary=member.anniversary,
            window_spend_minor=spend,
            visits=visits,
            points=points,
        )
    return ReviewOutcome(reviewed=len(due), downgraded=downgraded)


async def review_tenant(
    uows: UnitOfWorkFactory[MembersUnitOfWork], tenant: str, *, batch_size: int = BATCH_SIZE
) -> ReviewOutcome:
    """Every due member of one tenant, one transaction per batch."""
    reviewed = downgraded = 0
    while True:
        outcome = await uows.run(tenant, lambda uow: review_batch(uow, batch_size=batch_size))
        reviewed += outcome.reviewed
        downgraded += outcome.downgraded
        if outcome.reviewed < batch_size:
            return ReviewOutcome(reviewed=reviewed, downgraded=downgraded)
