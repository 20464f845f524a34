"""Top-up plans (充值方案): the terms a top-up is sold under. Terms that change what a top-up is
worth are fixed once created; only the name, `active` and the stores may change, so past top-ups
keep pointing at the terms they were sold under."""

from __future__ import annotations

from kit import auth
from kit.auth import Principal
from kit.errors import AlreadyExists, NotFound, Violations
from services.wallet.adapters.repository import TopUpPlan
from services.wallet.service_layer import stored_value as sv
from services.wallet.service_layer.unit_of_work import WalletUnitOfWork as UoW

__all__ = ["UPDATABLE", "TopUpPlan", "check_terms", "create", "listed", "update"]

UPDATABLE = ("display_name", "active", "stores")


def check_terms(
    v: Violations, field: str, *, pay_minor: int, bonus_minor: int, release: str, months: int
) -> None:
    sv.validate_money(v, f"{field}.pay_minor", pay_minor)
    if bonus_minor < 0 or bonus_minor > pay_minor:
        v.add(f"{field}.bonus_minor", "must be within 0..pay_minor")
    if release == "monthly" and not 1 <= months <= 36:
        v.add(f"{field}.release_months", "must be within 1..36 for monthly release")


async def create(uow: UoW, caller: Principal, plan: TopUpPlan, currency: str) -> tuple[TopUpPlan, str]:
    """The plan and the tenant's currency."""
    caller.require(auth.WALLET_ADMIN)
    await uow.stores.require_all(plan.stores, "top_up_plan.stores")
    settings = await uow.settings.get()
    sv.require_currency(currency, settings.currency_code, "top_up_plan.currency_code")
    if not await uow.plans.add(plan):
        raise AlreadyExists(f"topUpPlans/{plan.plan_id} already exists", reason="PLAN_EXISTS")
    return plan, settings.currency_code


async def update(uow: UoW, caller: Principal, plan_id: str, values: dict) -> TopUpPlan:
    caller.require(auth.WALLET_ADMIN)
    await uow.stores.require_all(values.get("stores", []), "top_up_plan.stores")
    if not await uow.plans.update(plan_id, values):
        raise NotFound(f"topUpPlans/{plan_id} not found", reason="PLAN_NOT_FOUND")
    plan = await uow.plans.get(plan_id)
    assert plan is not None
    return plan


async def listed(
    uow: UoW, *, limit: int, after: str | None, store_id: str | None, show_inactive: bool
) -> tuple[list[TopUpPlan], str | None]:
    """A page of plans shown at `store_id` (None: anywhere) and the last plan id read (the page
    cursor: filtering happens after the page is read, so a page may show fewer than `limit`)."""
    plans = await uow.plans.list(limit=limit, after=after)
    last = plans[-1].plan_id if len(plans) == limit else None
    shown = [
        p
        for p in plans
        if (show_inactive or p.active) and (store_id is None or not p.stores or store_id in p.stores)
    ]
    return shown, last
