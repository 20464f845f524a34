"""Model-based test of the wallet: random sequences of operations on real PostgreSQL must agree,
step by step, with a small reference model — and the ledger invariants must hold throughout."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from kit.auth import principal_from_claims
from kit.config import to_async_url
from kit.db import session_factory
from kit.errors import FailedPrecondition
from kit.uow import UnitOfWorkFactory
from services.wallet.domain import rules
from services.wallet.entrypoints.jobs import WalletJobs
from services.wallet.service_layer import points as pts
from services.wallet.service_layer import stored_value as sv
from services.wallet.service_layer.unit_of_work import WalletUnitOfWork
from tests.support.wallet import seed_stores, sv_lot_disagreements

pytestmark = pytest.mark.integration
STAFF_CLAIMS = {"sub": "user:model", "roles": ["hq_admin"], "exp": time.time() + 86400}
PLANS = {
    "": (0, 0, "immediate", 1),
    "imm": (100_000, 20_000, "immediate", 1),
    "mon": (100_000, 24_000, "monthly", 12),
}


class WalletModel(RuleBasedStateMachine):
    url: str  # set by the test

    def __init__(self):
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.tenant = f"model-{uuid.uuid4().hex[:8]}"
        self.staff = principal_from_claims({**STAFF_CLAIMS, "tenant": self.tenant})
        self.engine = create_async_engine(self.url, pool_size=2)
        self.uows = UnitOfWorkFactory(WalletUnitOfWork, session_factory(self.engine), service="wallet")
        self.jobs = WalletJobs(self.engine, self.uows)
        self.members: list[str] = []
        self.model: dict[str, dict] = {}
        self.holds: dict[str, tuple[str, int, int, int]] = {}  # hold -> (member, amount, principal, bonus)

    def run(self, coro):
        return self.loop.run_until_complete(coro)

    def teardown(self):
        self.run(self.engine.dispose())
        self.loop.close()

    @initialize()
    def setup(self):
        async def go():
            async with self.engine.begin() as conn:
                await conn.execute(
                    text(
                        "INSERT INTO top_up_plans (tenant_id, plan_id, display_name, pay_minor, bonus_minor,"
                        " bonus_release, release_months)"
                        " VALUES (:t, 'imm', 'i', 100000, 20000, 'immediate', 1),"
                        " (:t, 'mon', 'm', 100000, 24000, 'monthly', 12)"
                    ),
                    {"t": self.tenant},
                )
                for _ in range(2):
                    member_id = str(uuid.uuid4())
                    await conn.execute(
                        text(
                            "INSERT INTO member_directory (tenant_id, member_id, home_store_id, tier_id,"
                            " discount_bps, points_multiplier_permille, registered_time)"
                            " VALUES (:t, :m, 's1', 'regular', 0, 1000, now())"
                        ),
                        {"t": self.tenant, "m": member_id},
                    )
                    await seed_stores(conn, self.tenant)
                    self.members.append(member_id)
                    self.model[member_id] = {"principal": 0, "bonus": 0, "locked": 0, "held": 0, "points": 0}

        self.run(go())

    def tx(self, fn):
        return self.run(self.uows.run(self.tenant, fn))

    # --- stored value -------------------------------------------------------------------------
    @rule(i=st.integers(0, 1), plan=st.sampled_from(sorted(PLANS)), amount=st.integers(1, 80_000))
    def top_up(self, i, plan, amount):
        m = self.members[i]
        pay, bonus, release, months = PLANS[plan]
        amount = pay or amount
        self.tx(
            lambda uow: sv.top_up(
                uow,
                self.staff,
                member_id=m,
                store_id="s1",
                amount=amount,
                currency="CNY",
                tender="cash",
                plan_id=plan,
            )
        )
        parts = rules.instalments(bonus, months) if release == "monthly" else [bonus]
        self.model[m]["principal"] += amount
        self.model[m]["bonus"] += parts[0]
        self.model[m]["locked"] += sum(parts[1:])

    @rule(i=st.integers(0, 1))
    def release_everything_due(self, i):
        m = self.members[i]

        async def go():
            async with self.engine.begin() as conn:
                await conn.execute(
                    text("UPDATE bonus_releases SET due_time = now() WHERE member_id = :m"), {"m": m}
                )
            await self.jobs.release_bonuses(datetime.now(UTC) + timedelta(seconds=1))

        self.run(go())
        self.model[m]["bonus"] += self.model[m]["locked"]
        self.model[m]["locked"] = 0

    @rule(i=st.integers(0, 1), amount=st.integers(1, 150_000))
    def authorize(self, i, amount):
        m, state = self.members[i], self.model[self.members[i]]
        if amount > state["principal"] + state["bonus"]:
            with pytest.raises(FailedPrecondition, match="insufficient"):
                self.tx(
                    lambda uow: sv.authorize_hold(
                        uow,
                        self.staff,
                        member_id=m,
                        store_id="s1",
                        amount=amount,
                        reference="x",
                        ttl_minutes=60,
                    )
                )
            return
        hold, _ = self.tx(
            lambda uow: sv.authorize_hold(
                uow, self.staff, member_id=m, store_id="s1", amount=amount, reference="x", ttl_minutes=60
            )
        )
        p, b = rules.split_spend(amount, state["principal"], state["bonus"], rules.PROPORTIONAL)
        assert (hold.principal_minor, hold.bonus_minor) == (p, b)
        state["principal"] -= p
        state["bonus"] -= b
        state["held"] += amount
        self.holds[hold.hold_id] = (m, amount, p, b)

    @precondition(lambda self: self.holds)
    @rule(data=st.data(), capture=st.booleans())
    def settle(self, data, capture):
        hold_id = data.draw(st.sampled_from(sorted(self.holds)))
        m, amount, p, b = self.holds.pop(hold_id)
        if capture:
            self.tx(lambda uow: sv.capture_hold(uow, self.staff, hold_id))
        else:
            self.tx(lambda uow: sv.void_hold(uow, self.staff, hold_id))
            self.model[m]["principal"] += p
            self.model[m]["bonus"] += b
        self.model[m]["held"] -= amount

    @rule(i=st.integers(0, 1))
    def refund(self, i):
        m, state = self.members[i], self.model[self.members[i]]
        if state["held"]:
            with pytest.raises(FailedPrecondition, match="holds"):
                self.tx(
                    lambda uow: sv.refund_stored_value(
                        uow, self.staff, member_id=m, store_id="s1", tender="cash"
                    )
                )
        elif state["principal"] == 0 and state["bonus"] == 0:
            with pytest.raises(FailedPrecondition, match="nothing"):
                self.tx(
                    lambda uow: sv.refund_stored_value(
                        uow, self.staff, member_id=m, store_id="s1", tender="cash"
                    )
                )
        else:
            result = self.tx(
                lambda uow: sv.refund_stored_value(uow, self.staff, member_id=m, store_id="s1", tender="cash")
            )
            assert result.principal_refunded == state["principal"]
            state.update(principal=0, bonus=0, locked=0)

    # --- points -------------------------------------------------------------------------------
    @rule(i=st.integers(0, 1), n=st.integers(1, 5_000))
    def grant(self, i, n):
        m = self.members[i]
        self.tx(
            lambda uow: pts.grant_points(
                uow, self.staff, member_id=m, points=n, source="activity", reason="r"
            )
        )
        self.model[m]["points"] += n

    @rule(i=st.integers(0, 1), n=st.integers(1, 8_000))
    def redeem(self, i, n):
        m = self.members[i]
        if n > self.model[m]["points"]:
            with pytest.raises(FailedPrecondition, match="points"):
                self.tx(lambda uow: pts.deduct_points(uow, self.staff, member_id=m, points=n, reason="r"))
            return
        self.tx(lambda uow: pts.deduct_points(uow, self.staff, member_id=m, points=n, reason="r"))
        self.model[m]["points"] -= n

    @rule(i=st.integers(0, 1))
    def expire_all(self, i):
        m = self.members[i]

        async def go():
            async with self.engine.begin() as conn:
                await conn.execute(
                    text(
                        "UPDATE point_lots SET expire_time = now() - interval '1 second'"
                        " WHERE member_id = :m AND remaining > 0"
                    ),
                    {"m": m},
                )
            await self.jobs.expire_points(datetime.now(UTC))

        self.run(go())
        self.model[m]["points"] = 0

    # --- checks -------------------------------------------------------------------------------
    @invariant()
    def agrees_with_model_and_ledger_is_sound(self):
        if not self.members:
            return
        for m in self.members:
            snap = self.run(self.uows.run(self.tenant, lambda uow, m=m: sv.snapshot(uow, m), read_only=True))
            want = self.model[m]
            got = {
                "principal": snap.principal,
                "bonus": snap.bonus,
                "locked": snap.locked_bonus,
                "held": snap.held,
                "points": snap.points_available,
            }
            assert got == want

        async def ledger_checks():
            async with self.engine.connect() as conn:
                drift = (
                    await conn.execute(
                        text(
                            "SELECT count(*) FROM account_balances a"
                            " WHERE a.tenant_id = :t AND a.balance <> COALESCE("
                            "(SELECT sum(amount) FROM postings p WHERE p.tenant_id = a.tenant_id"
                            " AND p.account_id = a.account_id), 0)"
                        ),
                        {"t": self.tenant},
                    )
                ).scalar_one()
                unbalanced = (
                    await conn.execute(
                        text(
                            "SELECT count(*) FROM (SELECT 1 FROM postings WHERE tenant_id = :t"
                            " GROUP BY transaction_id, unit HAVING sum(amount) <> 0) x"
                        ),
                        {"t": self.tenant},
                    )
                ).scalar_one()
                lots_vs_account = (
                    await conn.execute(
                        text(
                            "SELECT count(*) FROM accounts a"
                            " WHERE a.tenant_id = :t AND a.kind = 'points' AND -a.balance <>"
                            " (SELECT COALESCE(sum(remaining), 0) FROM point_lots l"
                            " WHERE l.tenant_id = a.tenant_id"
                            " AND l.member_id::text = a.owner)"
                        ),
                        {"t": self.tenant},
                    )
                ).scalar_one()
                sv_lots = await sv_lot_disagreements(conn, self.tenant)
            assert (drift, unbalanced, lots_vs_account, sv_lots) == (0, 0, 0, 0)

        self.run(ledger_checks())


def test_wallet_agrees_with_its_model(infra):
    loop = asyncio.new_event_loop()
    url = to_async_url(loop.run_until_complete(infra.amigrated_database("wallet", "wallet_model")))
    loop.close()
    WalletModel.url = url
    machine = WalletModel.TestCase
    machine.settings = settings(
        max_examples=15,
        stateful_step_count=25,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    machine().runTest()
