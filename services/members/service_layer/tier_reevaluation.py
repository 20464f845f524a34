"""Re-evaluating every member of a tenant after ``UpdateTierLadder`` (members_service.proto).

``UpdateTierLadder`` schedules a job in its own transaction (``adapters/tier_jobs.py``); the
members service's ``TierReevaluationWorker`` runs it here, ``BATCH_SIZE`` members per
transaction: lock the job (SKIP LOCKED, so replicas share the work without doing it twice), lock
the next members in ``member_id`` order, read their qualifying totals in one query, apply
``domain.tiers.reevaluate`` to each, and write every change (tier row, history, ``TierChanged``
through the outbox) together with the advanced cursor. Members are evaluated against the ladder
current at the batch, so a job whose ladder was replaced meanwhile stops (the newer job covers
everyone).

Why a job rather than the request: a large tenant's members do not fit in one transaction or one
RPC deadline, and a batch that crashes is simply re-run. The response of ``UpdateTierLadder``
therefore returns before every member has moved; the moves follow within seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from peony.members.v1 import events_pb2, tier_pb2

from kit.logging import get_logger
from kit.uow import UnitOfWorkFactory
from services.members.adapters.tier_jobs import DONE, PENDING, SUPERSEDED
from services.members.domain.tiers import reevaluate
from services.members.service_layer.handlers import benefits_message, member_name
from services.members.service_layer.spend import SYSTEM_ACTOR, SpendBook, WindowTotals
from services.members.service_layer.unit_of_work import MembersUnitOfWork

log = get_logger("peony.members.tier_reevaluation")

BATCH_SIZE = 200


@dataclass(frozen=True)
class BatchOutcome:
    evaluated: int = 0
    changed: int = 0
    finished: bool = True  # nothing more to do for this job on this call


async def reevaluate_batch(
    uow: MembersUnitOfWork, ladder_version: int, *, batch_size: int = BATCH_SIZE
) -> BatchOutcome:
    job = await uow.tier_jobs.claim(ladder_version)
    if job is None:
        return BatchOutcome()  # finished, superseded, or another replica holds it right now
    ladder = await uow.settings.ladder()
    if ladder.version != ladder_version:
        await uow.tier_jobs.advance(
            job, after_member_id=job.after_member_id, evaluated=0, changed=0, state=SUPERSEDED
        )
        return BatchOutcome()
    batch = await uow.tier_jobs.lock_member_batch(job.after_member_id, batch_size)
    totals = await SpendBook(uow.session, uow.tenant).window_totals_of(
        [m.member_id for m in batch], ladder.qualification_window_days
    )
    now = datetime.now(UTC)
    changed = 0
    for m in batch:
        spend, visits, points = totals.get(m.member_id, WindowTotals())
        move = reevaluate(
            ladder,
            tier_id=m.tier_id,
            staff_override=m.tier_override,
            tier_since=m.tier_since,
            spend_minor=spend,
            visits=visits,
            points=points,
            now=now,
        )
        if move is None or move.to_tier.tier_id == m.tier_id:
            continue
        await uow.tier_changes.move_member(
            member_id=m.member_id,
            from_tier_id=m.tier_id,
            to_tier_id=move.to_tier.tier_id,
            reason=move.reason,
            reason_code=tier_pb2.TIER_CHANGE_REASON_LADDER_CHANGE,
            actor=SYSTEM_ACTOR,
        )
        uow.emit(
            events_pb2.TierChanged(
                member=member_name(m.member_id),
                from_tier_id=m.tier_id,
                to_tier_id=move.to_tier.tier_id,
                reason=move.reason,
                reason_code=tier_pb2.TIER_CHANGE_REASON_LADDER_CHANGE,
                staff_override=False,
                benefits=benefits_message(move.to_tier.benefits),
            ),
            aggregate_type="member",
            aggregate_id=m.member_id,
        )
        changed += 1
    finished = len(batch) < batch_size
    await uow.tier_jobs.advance(
        job,
        after_member_id=batch[-1].member_id if batch else job.after_member_id,
        evaluated=len(batch),
        changed=changed,
        state=DONE if finished else PENDING,
    )
    if finished:
        log.info(
            "members.tier_reevaluation_done",
            tenant=uow.tenant,
            ladder_version=ladder_version,
            evaluated=job.evaluated + len(batch),
            changed=job.changed + changed,
        )
    return BatchOutcome(evaluated=len(batch), changed=changed, finished=finished)


async def run_job(
    uows: UnitOfWorkFactory[MembersUnitOfWork],
    tenant: str,
    ladder_version: int,
    *,
    batch_size: int = BATCH_SIZE,
) -> BatchOutcome:
    """Every remaining batch of one job, one transaction each. Returns the totals of this run."""
    evaluated = changed = 0
    while True:
        outcome = await uows.run(
            tenant, lambda uow: reevaluate_batch(uow, ladder_version, batch_size=batch_size)
        )
        evaluated += outcome.evaluated
        changed += outcome.changed
        if outcome.finished:
            return BatchOutcome(evaluated=evaluated, changed=changed)
