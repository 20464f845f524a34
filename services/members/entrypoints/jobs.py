"""Background jobs of the members service, kept in the database (no in-memory timers)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from kit.logging import get_logger
from kit.uow import UnitOfWorkFactory
from kit.workers import PeriodicWorker
from services.members.adapters.tier_jobs import pending_jobs
from services.members.adapters.tier_reviews import tenants_with_automatic_downgrade
from services.members.service_layer import tier_anniversary
from services.members.service_layer.tier_reevaluation import BATCH_SIZE, run_job
from services.members.service_layer.unit_of_work import MembersUnitOfWork

log = get_logger("peony.members.jobs")


class TierReevaluationWorker(PeriodicWorker):
    """Runs the pending tier re-evaluation jobs (``UpdateTierLadder``), batch by batch."""

    name = "tier-reevaluation"

    def __init__(
        self,
        engine: AsyncEngine,
        uows: UnitOfWorkFactory[MembersUnitOfWork],
        *,
        interval_s: float = 1.0,
        batch_size: int = BATCH_SIZE,
    ):
        super().__init__(interval_s=interval_s)
        self._engine = engine
        self._uows = uows
        self._batch_size = batch_size

    async def tick(self) -> int:
        async with self._engine.connect() as conn:
            jobs = await pending_jobs(conn, limit=20)
        changed = 0
        for tenant, version in jobs:
            try:
                outcome = await run_job(self._uows, tenant, version, batch_size=self._batch_size)
            except Exception:
                # One tenant's failing batch must not hold up the others; it is retried next tick
                # from its last committed batch.
                log.exception("tier re-evaluation batch failed", tenant=tenant, ladder_version=version)
                continue
            changed += outcome.changed
        return changed


class TierAnniversaryWorker(PeriodicWorker):
    """The tier anniversary review (``service_layer/tier_anniversary.py``) of every tenant whose
    ladder downgrades automatically. Every replica runs it; the member rows' SKIP LOCKED and the
    review rows' primary key make each review happen once."""

    name = "tier-anniversary"

    def __init__(
        self,
        engine: AsyncEngine,
        uows: UnitOfWorkFactory[MembersUnitOfWork],
        *,
        interval_s: float = 60.0,
        batch_size: int = tier_anniversary.BATCH_SIZE,
    ):
        super().__init__(interval_s=interval_s)
        self._engine = engine
        self._uows = uows
        self._batch_size = batch_size

    async def tick(self) -> int:
        async with self._engine.connect() as conn:
            tenants = await tenants_with_automatic_downgrade(conn, limit=10_000)
        downgraded = 0
        for tenant in tenants:
            try:
                outcome = await tier_anniversary.review_tenant(
                    self._uows, tenant, batch_size=self._batch_size
                )
            except Exception:
                # One tenant's failing batch must not hold up the others; the next tick retries
                # it from what is committed.
                log.exception("tier anniversary review failed", tenant=tenant)
                continue
            downgraded += outcome.downgraded
        return downgraded
