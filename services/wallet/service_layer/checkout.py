"""Checkout (结账) and its refunds: one balanced ledger transaction each, plus the records a refund
needs to reverse exactly what was done.

Checkout transaction (kind "checkout"):
  Dr tender(store, t)            each external tender
  Dr sv_principal / sv_bonus     stored value, split by the tenant's spend order
  Dr points_deduction_expense    money value of the redeemed points
  Cr revenue(store)              all of the above
  Dr points / Cr points_redeemed the redeemed points (PTS)
  Dr points_issued / Cr points   the points earned on the qualifying spend (PTS)
  + the package postings added by the packages area.

Lock order (wallet-wide): domain rows (checkout row, package rows, point lots), then accounts.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from peony.wallet.v1 import events_pb2, ledger_pb2, points_pb2

from kit import auth
from kit.auth import Principal
from kit.errors import FailedPrecondition, InvalidArgument, NotFound, Violations
from kit.ids import new_id
from kit.proto import ts
from services.wallet.adapters.checkout_repository import CheckoutRepository
from services.wallet.adapters.ledger_repository import PostedTransaction
from services.wallet.domain import checkout as pricing
from services.wallet.domain import ledger, rules
from services.wallet.domain.ledger import AccountKey, TransactionDraft
from services.wallet.domain.settings import member_day_multiplier_permille
from services.wallet.service_layer import commission as com
from services.wallet.service_layer import discount_approvals, membership, packages, sv_attribution, vouchers
from services.wallet.service_layer import points as pts
from services.wallet.service_layer import stored_value as sv
from services.wallet.service_layer.unit_of_work import WalletUnitOfWork as UoW

CHECKOUT_REFUND = "checkout_refund"  # the ledger kind of a RefundCheckout transaction
POINTS_REDEEMED = AccountKey(ledger.POINTS_REDEEMED, "", ledger.POINTS)
POINTS_ISSUED = AccountKey(ledger.POINTS_ISSUED, "", ledger.POINTS)


class EventSink(Protocol):
    """Where events go: a unit of work, or the events of a command applied in one call."""

    def emit(self, event: Any, *, aggregate_type: str, aggregate_id: str) -> None: ...


def repo(uow: UoW) -> CheckoutRepository:
    return CheckoutRepository(uow.session, uow.tenant)


def _use_to_json(line_index: int, use: packages.PackageUse) -> dict:
    """A package use as the checkout record keeps it (JSON), with the line it paid for."""
    return {**dataclasses.asdict(use), "line_index": line_index}


def _use_from_json(data: dict, sessions: int, value: int) -> packages.PackageUse:
    """The recorded use of a line cut down to the `sessions` (worth `value`) a refund gives back."""
    fields = {f.name for f in dataclasses.fields(packages.PackageUse)}
    values = {k: v for k, v in data.items() if k in fields}
    return packages.PackageUse(**{**values, "sessions": sessions, "value_minor": value})


@dataclass
class CheckoutInput:
    member_id: str | None
    store_id: str
    lines: list[pricing.Line]
    voucher_ids: list[str] = field(default_factory=list)
    points_to_redeem: int = 0
    stored_value: int = 0
    tenders: list[tuple[str, int]] = field(default_factory=list)
    package_ids: list[str | None] = field(default_factory=list)  # per line
    validate_only: bool = False
    discount_approval_id: str | None = None  # a store manager's approval (院长审批)


@dataclass
class CheckoutResult:
    record: dict  # the checkout's columns (also for validate_only, unsaved)
    commission: list  # records written (rows)
    refunds: list
    posted: PostedTransaction | None = None


def validate_input(inp: CheckoutInput) -> None:
    v = Violations()
    v.require("store", inp.store_id)
    pricing.validate_lines(inp.lines, v)
    if not 0 <= inp.points_to_redeem <= ledger.MAX_AMOUNT:
        v.add("points_to_redeem", f"must be within 0..{ledger.MAX_AMOUNT}")
    if not 0 <= inp.stored_value <= ledger.MAX_AMOUNT:
        v.add("stored_value_minor", f"must be within 0..{ledger.MAX_AMOUNT}")
    for i, (tender, amount) in enumerate(inp.tenders):
        if tender not in sv.EXTERNAL_TENDERS:
            v.add(f"tenders[{i}].tender", "must be cash, bank card, WeChat Pay or Alipay")
        sv.validate_money(v, f"tenders[{i}].amount_minor", amount)
    if sum(a for _, a in inp.tenders) > ledger.MAX_AMOUNT:
        v.add("tenders", f"must add up to at most {ledger.MAX_AMOUNT}")
    if inp.member_id is None:
        why = "a walk-in customer cannot use it"
        if inp.voucher_ids:
            v.add("vouchers", why)
        if inp.points_to_redeem:
            v.add("points_to_redeem", why)
        if inp.stored_value:
            v.add("stored_value_minor", why)
        for i, line in enumerate(inp.lines):
            if line.use_package:
                v.add(f"lines[{i}].use_package", why)
    v.raise_if_any()


def _merge_tenders(tenders: list[tuple[str, int]]) -> list[tuple[str, int]]:
    merged: dict[str, int] = {}
    for tender, amount in tenders:
        merged[tender] = merged.get(tender, 0) + amount
    return list(merged.items())


def authorize(caller: Principal, inp: CheckoutInput) -> None:
    """The checks before any read or effect: permission, input, store and member scope."""
    caller.require(auth.WALLET_WRITE)
    validate_input(inp)
    caller.require_store(f"stores/{inp.store_id}")
    if inp.member_id:
        caller.require_member(f"members/{inp.member_id}")


def new_draft(inp: CheckoutInput, checkout_id: str) -> TransactionDraft:
    return TransactionDraft(
        "checkout",
        member_id=inp.member_id,
        store_id=inp.store_id,
        description=f"checkouts/{checkout_id}",
        reference=f"checkouts/{checkout_id}",
    )


@dataclass
class CheckoutPlan:
    """What a checkout will write, planned from what was read (see `plan_checkout`)."""

    checkout_id: str
    record: pricing.CheckoutRecord
    commission: list[dict]  # one record per line that earns commission, unsaved
    draft: TransactionDraft
    accts: sv.MemberAccounts | None
    principal: int  # stored value taken, by part
    bonus: int
    movements: list[tuple[str, int]]  # point lots taken from: (lot id, negative delta)
    earned_lot: dict | None  # the lot of the points earned, to insert once posted


DEFAULT_STORE_ZONE = "Asia/Shanghai"  # a store the projection has no zone for (never expected)


def _points_multiplier(settings, view, store_zone: str | None, now: datetime) -> int:
    """The tier's points multiplier, times the member day's on that store-local day (permille)."""
    if not settings.member_day_of_month:
        return view.points_multiplier_permille
    local_day = now.astimezone(ZoneInfo(store_zone or DEFAULT_STORE_ZONE)).day
    extra = member_day_multiplier_permille(settings, view.tier_id, local_day)
    return view.points_multiplier_permille * extra // 1000


def plan_checkout(
    inp: CheckoutInput,
    *,
    checkout_id: str,
    draft: TransactionDraft,
    settings,
    view,
    customer_type: str,
    rule_rows: list,
    priced: pricing.Priced,
    sessions: list[int],
    package_values: list[int],
    uses: list[tuple[int, Any]],
    voucher_uses: list[Any],
    lots: list,
    balances: dict[AccountKey, int],
    now: datetime,
    store_zone: str | None = None,
) -> CheckoutPlan:
    """The checkout's rules after packages and vouchers (pure): points deduction, tenders and
    stored value (split on `balances`), points earned, commission, the record and the ledger
    draft. `lots`: the member's point lots when points are redeemed; `balances`: the member's
    principal and bonus accounts when stored value pays."""
    cur = settings.currency_code
    member_id, store_id = inp.member_id, inp.store_id
    # 4. points deduction
    movements: list[tuple[str, int]] = []
    deduction = 0
    if inp.points_to_redeem:
        due_now = sum(pricing.due_after_discounts(priced))
        value = pricing.points_value(inp.points_to_redeem, settings.redemption_points_per_yuan)
        cap = pricing.max_points_deduction(due_now, settings.max_redeem_bps)
        if inp.points_to_redeem < settings.min_redeem_points:
            raise InvalidArgument(
                [("points_to_redeem", f"must be at least {settings.min_redeem_points}")],
                reason="POINTS_BELOW_MINIMUM",
            )
        if value is None:
            raise InvalidArgument(
                [("points_to_redeem", "must be a multiple of the points worth one minor unit")],
            )
        if value > cap:
            raise InvalidArgument(
                [("points_to_redeem", f"may take at most {cap} minor units off this bill")],
                reason="POINTS_ABOVE_MAXIMUM",
            )
        assert member_id is not None  # validate_input refuses points for a walk-in
        movements = pts.plan_take(
            lots, member_id=member_id, points=inp.points_to_redeem, sink=POINTS_REDEEMED, draft=draft, now=now
        )
        deduction = value
    pricing.apply_points(priced, deduction, inp.points_to_redeem)
    total_due = priced.total_due

    tenders = _merge_tenders(inp.tenders)
    principal = bonus = 0
    funding: list[tuple[str, int]] = []
    accts = sv.MemberAccounts.of(member_id, cur) if member_id else None
    if not inp.validate_only:
        paid = inp.stored_value + sum(a for _, a in tenders)
        if paid != total_due:
            raise FailedPrecondition(
                f"stored value and tenders add up to {paid}, the total due is {total_due}",
                reason="TENDERS_MISMATCH",
                metadata={"total_due_minor": str(total_due), "paid_minor": str(paid)},
            )
        if inp.stored_value:
            assert accts is not None
            have_p, have_b = -balances[accts.principal], -balances[accts.bonus]
            if inp.stored_value > have_p + have_b:
                raise FailedPrecondition(
                    "insufficient stored value",
                    reason="INSUFFICIENT_BALANCE",
                    metadata={"available": str(have_p + have_b)},
                )
            principal, bonus = rules.split_spend(inp.stored_value, have_p, have_b, settings.spend_order)
        funding = [(pricing.PRINCIPAL, principal), (pricing.BONUS, bonus), *tenders]
        pricing.apply_funding(priced, funding)

    qualifying = rules.qualifying_spend(funding)
    earned = (
        rules.points_for_spend(
            qualifying, settings.points_per_yuan, _points_multiplier(settings, view, store_zone, now)
        )
        if view and not inp.validate_only
        else 0
    )
    pricing.apply_points_earned(priced, earned)

    commission_rules = [com.rule_from_row(x, n) for n, x in enumerate(rule_rows)]
    records = com.compute_records(
        commission_rules,
        lines=inp.lines,
        priced=priced,
        package_values=package_values,
        store_id=store_id,
        customer_type=customer_type,
    )
    by_line = {rec["line_index"]: rec for rec in records}
    package_of = {i: u for i, u in uses}
    tier_bps = view.discount_bps if view else 0

    record = pricing.CheckoutRecord(
        checkout_id=checkout_id,
        member_id=member_id,
        store_id=store_id,
        state="completed",
        customer_type=customer_type,
        tier_id=view.tier_id if view else "",
        tier_discount_bps=tier_bps,
        currency_code=cur,
        lines=list(inp.lines),
        line_results=[
            pricing.LineResult.of(
                p,
                sessions=sessions[i],
                package_value=package_values[i],
                package=f"members/{member_id}/packages/{package_of[i].package_id}" if i in package_of else "",
            )
            for i, p in enumerate(priced.lines)
        ],
        vouchers=[f"members/{member_id}/vouchers/{v}" for v in inp.voucher_ids],
        points_to_redeem=inp.points_to_redeem,
        tenders=tenders,
        subtotal_minor=priced.subtotal,
        package_covered_minor=priced.total("package_covered"),
        tier_discount_minor=priced.total("tier_discount"),
        voucher_discount_minor=priced.total("voucher_discount"),
        points_deduction_minor=priced.total("points_deduction"),
        total_due_minor=total_due,
        principal_funded_minor=principal,
        bonus_funded_minor=bonus,
        qualifying_spend_minor=qualifying,
        points_earned=earned,
        redeemed_lots=[(lot, -d) for lot, d in movements],
        package_uses=[_use_to_json(i, u) for i, u in uses],
        voucher_uses=[
            {
                "voucher_id": str(u.voucher_id),
                "discount_minor": int(u.discount_minor),
                "line_index": getattr(u, "line_index", None),
            }
            for u in voucher_uses
        ],
        refunded_units=[0] * len(inp.lines),
    )
    plan = CheckoutPlan(
        checkout_id, record, list(by_line.values()), draft, accts, principal, bonus, movements, None
    )
    if inp.validate_only:
        return plan

    # 5. the ledger: money in, revenue out; points earned in the same transaction
    revenue = sv.store_account(ledger.REVENUE, store_id, cur)
    for tender, amount in tenders:
        draft.move(amount, debit=sv.tender_account(store_id, tender, cur), credit=revenue)
    if accts is not None:
        draft.move(principal, debit=accts.principal, credit=revenue)
        draft.move(bonus, debit=accts.bonus, credit=revenue)
    draft.move(
        deduction, debit=sv.store_account(ledger.POINTS_DEDUCTION_EXPENSE, store_id, cur), credit=revenue
    )
    if earned:
        assert member_id is not None  # earned only with a member's view
        plan.earned_lot = pts.plan_grant(
            settings,
            draft,
            member_id=member_id,
            points=earned,
            source="purchase",
            reason=f"checkouts/{checkout_id}",
            now=now,
        )
    return plan


async def checkout(uow: UoW, caller: Principal, inp: CheckoutInput) -> CheckoutResult:
    """A checkout statement by statement in the unit of work's transaction: the path of checkouts
    that use packages or vouchers, of `validate_only` previews, and of a one-call checkout
    (service_layer/one_call.py) whose plan was stale (this one re-plans under the locks)."""
    authorize(caller, inp)
    settings = await uow.settings.get()
    store_zone = await uow.stores.require(inp.store_id)
    view = await uow.members.require(inp.member_id) if inp.member_id else None
    r = repo(uow)
    customer_type = "member" if inp.member_id and await r.has_checkouts(inp.member_id) else "new"
    checkout_id = new_id()
    member_id, store_id = inp.member_id, inp.store_id
    draft = new_draft(inp, checkout_id)

    # 1. package sessions
    sessions = [0] * len(inp.lines)
    package_values = [0] * len(inp.lines)
    uses: list[tuple[int, Any]] = []
    for i, line in enumerate(inp.lines):
        if not line.use_package:
            continue
        consume = packages.consume_for_checkout
        use = await consume(
            uow,
            draft,
            member_id=member_id,
            store_id=store_id,
            service=line.item,
            quantity=line.quantity,
            package_id=inp.package_ids[i] if inp.package_ids else None,
        )
        sessions[i] = min(int(use.sessions), line.quantity)
        package_values[i] = int(use.value_minor)
        uses.append((i, use))
    priced = pricing.start(inp.lines, sessions)

    # 2. tier discount — or the rate a store manager approved beyond it (locked, used up here)
    discount_bps = view.discount_bps if view else 0
    if inp.discount_approval_id:
        discount_bps = await discount_approvals.use(
            uow,
            inp.discount_approval_id,
            store_id=store_id,
            member_id=member_id,
            checkout_id=None if inp.validate_only else checkout_id,
        )
    pricing.apply_tier_discount(priced, discount_bps)

    # 3. vouchers
    voucher_uses: list[Any] = []
    if inp.voucher_ids:
        redeem = vouchers.redeem_for_checkout
        due = pricing.due_after_discounts(priced)
        voucher_uses = list(
            await redeem(
                uow,
                member_id=member_id,
                voucher_ids=list(inp.voucher_ids),
                store_id=store_id,
                lines=[(line.item, d) for line, d in zip(inp.lines, due, strict=True)],
                amount_due_minor=sum(due),
                checkout_id=checkout_id,
            )
        )
        pricing.apply_vouchers(
            priced,
            [
                (
                    u.line_index
                    if getattr(u, "line_index", None) is not None and u.line_index >= 0
                    else None,
                    int(u.discount_minor),
                )
                for u in voucher_uses
            ],
        )

    # What the plan reads: the point lots (locked: domain rows first), then the balances.
    lots = []
    if inp.points_to_redeem and member_id:
        lots = uow.lots.as_lots(await uow.lots.for_member(member_id, for_update=True))
    balances: dict[AccountKey, int] = {}
    assumed: dict[AccountKey, int] = {}  # the balances the stored-value split was planned on
    if inp.stored_value and member_id and not inp.validate_only:
        accts = sv.MemberAccounts.of(member_id, settings.currency_code)
        # First planned on balances read without a lock: posting re-checks them under its
        # lock and says "stale" (40001) if they moved meanwhile. The unit of work then re-runs
        # and re-plans under the accounts' locks, so a busy member costs one re-plan, not many.
        if uow.attempt == 0:
            balances = await uow.ledger.balances([accts.principal, accts.bonus])
            assumed = dict(balances)
        else:
            # The points account too: the posting may earn or redeem points, and locking it later
            # (in the posting) would take it out of account-id order — two re-plans of one member
            # then deadlock against each other.
            balances = await uow.ledger.lock_balances([accts.principal, accts.bonus, accts.points])
    plan = plan_checkout(
        inp,
        checkout_id=checkout_id,
        draft=draft,
        settings=settings,
        view=view,
        customer_type=customer_type,
        rule_rows=await r.rules(),
        priced=priced,
        sessions=sessions,
        package_values=package_values,
        uses=uses,
        voucher_uses=voucher_uses,
        lots=lots,
        balances=balances,
        now=datetime.now(UTC),
        store_zone=store_zone,
    )
    if inp.discount_approval_id:
        plan.record = dataclasses.replace(
            plan.record, tier_discount_bps=discount_bps, discount_approval_id=inp.discount_approval_id
        )
    if inp.validate_only:  # a priced preview: nothing saved, no id
        preview = dataclasses.replace(plan.record, checkout_id="", state="").as_row()
        return CheckoutResult({**preview, "commission_preview": plan.commission}, [], [])

    # the paid membership a fee line buys (its row locked here, just before the ledger post)
    extension = await membership.plan_extension(
        uow, member_id=member_id, lines=inp.lines, settings=settings, now=datetime.now(UTC)
    )
    posted = await uow.ledger.post(draft, assumed=assumed)
    if extension is not None:
        await membership.record_extension(
            uow, extension, checkout_id=checkout_id, currency=settings.currency_code
        )
    if member_id:
        await sv_attribution.spend(
            uow, posted, member_id=member_id, principal=plan.principal, bonus=plan.bonus
        )
    await uow.lots.move(posted.transaction_id, plan.movements)
    lot = plan.earned_lot
    if lot is not None:
        await pts.record_grant(uow, posted, lot)
    if uses:
        record_uses = packages.record_checkout_uses
        await record_uses(
            uow, posted.transaction_id, [u for _, u in uses], store_id, checkout=f"checkouts/{checkout_id}"
        )

    row = await r.add(
        **{k: v for k, v in plan.record.as_row().items() if k != "refunded_minor"},
        earned_lot_id=lot["lot_id"] if lot else None,
        transaction_id=posted.transaction_id,
    )
    commission_rows = await r.add_records(commission_rows_of(plan))
    emit_checkout(uow, row, posted, plan.accts, lot, plan.movements)
    return CheckoutResult(dict(row._mapping), commission_rows, [], posted)


def commission_rows_of(plan: CheckoutPlan) -> list[dict]:
    return [
        {
            "record_id": new_id(),
            "checkout_id": plan.checkout_id,
            "store_id": plan.record.store_id,
            "currency_code": plan.record.currency_code,
            **rec,
        }
        for rec in plan.commission
    ]


def emit_checkout(uow: EventSink, row, posted: PostedTransaction, accts, lot, movements) -> None:
    """The checkout's events: CheckoutCompleted, PointsEarned, PointsRedeemed, BalanceChanged."""
    member = f"members/{row.member_id}" if row.member_id else ""
    name = f"checkouts/{row.checkout_id}"
    uow.emit(
        events_pb2.CheckoutCompleted(
            checkout=name,
            member=member,
            store=f"stores/{row.store_id}",
            lines=[
                events_pb2.CheckoutCompletedLine(
                    item=line["item"],
                    category=line["category"],
                    quantity=line["quantity"],
                    net_minor=_net(res),
                    serving_staff=line["serving_staff"],
                    package_sessions_used=res["sessions"],
                )
                for line, res in zip(row.lines, row.line_results, strict=True)
            ],
            total_minor=row.total_due_minor,
            principal_funded_minor=row.principal_funded_minor,
            bonus_funded_minor=row.bonus_funded_minor,
            points_earned=row.points_earned,
            qualifying_spend_minor=row.qualifying_spend_minor,
            subtotal_minor=row.subtotal_minor,
            create_time=ts(row.create_time),
            currency_code=row.currency_code,
        ),
        aggregate_type="wallet",
        aggregate_id=row.member_id or row.store_id,
    )
    if not row.member_id:
        return
    available = -posted.balances.get(pts.member_points(row.member_id), 0)
    if lot is not None:
        uow.emit(
            events_pb2.PointsEarned(
                member=member,
                points=row.points_earned,
                source=points_pb2.LOT_SOURCE_PURCHASE,
                point_lot=f"{member}/pointLots/{lot['lot_id']}",
                transaction=sv.transaction_name(posted),
                expire_time=ts(lot["expire_time"]),
                points_available=available,
                checkout=name,
            ),
            aggregate_type="wallet",
            aggregate_id=row.member_id,
        )
    if movements:
        uow.emit(
            events_pb2.PointsRedeemed(
                member=member,
                points=row.points_to_redeem,
                transaction=sv.transaction_name(posted),
                checkout=name,
                points_available=available,
            ),
            aggregate_type="wallet",
            aggregate_id=row.member_id,
        )
    if row.principal_funded_minor or row.bonus_funded_minor:
        sv.emit_balance_changed(uow, posted, accts, ledger_pb2.TRANSACTION_KIND_CHECKOUT)


def _net(res: dict) -> int:
    return (
        res["gross"]
        - res["package_covered"]
        - res["tier_discount"]
        - res["voucher_discount"]
        - res["points_deduction"]
    )


# --- reads ------------------------------------------------------------------------------------
async def get(uow: UoW, caller: Principal, checkout_id: str) -> CheckoutResult:
    caller.require(auth.WALLET_READ)
    r = repo(uow)
    row = await r.get(checkout_id)
    if row is None:
        raise NotFound(f"checkouts/{checkout_id} not found", reason="CHECKOUT_NOT_FOUND")
    if row.member_id:
        caller.require_member(f"members/{row.member_id}")
    return await _result(uow, row)


async def _result(uow: UoW, row) -> CheckoutResult:
    r = repo(uow)
    record = dict(row._mapping)
    refunds = await r.refunds_of(row.checkout_id)
    if not refunds and row.state == "completed" and await uow.ledger.reversed_by(row.transaction_id):
        record["state"] = "reversed"  # ReverseTransaction undid it (a correction)
    return CheckoutResult(record, await r.records_of(row.checkout_id), refunds)


async def list_checkouts(uow: UoW, caller: Principal, **query) -> list[CheckoutResult]:
    caller.require(auth.WALLET_READ)
    rows = await repo(uow).list(**query)
    return [await _result(uow, row) for row in rows]


# --- refunds ----------------------------------------------------------------------------------
@dataclass
class RefundResult:
    refund: Any  # the refund row
    checkout: dict


async def refund(
    uow: UoW,
    caller: Principal,
    *,
    checkout_id: str,
    lines: list[tuple[int, int]],
    full: bool,
    reason: str,
) -> RefundResult:
    caller.require(auth.WALLET_WRITE)
    if full == bool(lines):
        raise InvalidArgument([("lines", "give exactly one of lines and full")])
    r = repo(uow)
    row = await r.get(checkout_id, for_update=True)  # domain row first
    if row is None:
        raise NotFound(f"checkouts/{checkout_id} not found", reason="CHECKOUT_NOT_FOUND")
    caller.require_store(f"stores/{row.store_id}")
    if row.member_id:
        caller.require_member(f"members/{row.member_id}")
    if row.state == "refunded":
        raise FailedPrecondition("the checkout is refunded already", reason="REFUND_EXCEEDS_CHECKOUT")
    refunded = list(row.refunded_units)
    no_refund_yet = not any(refunded)
    if no_refund_yet and await uow.ledger.reversed_by(row.transaction_id):
        raise FailedPrecondition("the checkout's transaction was reversed", reason="CHECKOUT_REVERSED")
    quantities = [line["quantity"] for line in row.lines]
    wanted: dict[int, int] = {}
    if full:
        wanted = {i: q - refunded[i] for i, q in enumerate(quantities) if q > refunded[i]}
    else:
        v = Violations()
        for n, (index, qty) in enumerate(lines):
            if not 0 <= index < len(quantities):
                v.add(f"lines[{n}].line_index", f"must be within 0..{len(quantities) - 1}")
            elif qty <= 0:
                v.add(f"lines[{n}].quantity", "must be greater than zero")
            else:
                wanted[index] = wanted.get(index, 0) + qty
        v.raise_if_any()
        for index, qty in wanted.items():
            if refunded[index] + qty > quantities[index]:
                raise FailedPrecondition(
                    f"line {index} has {quantities[index] - refunded[index]} units left to refund",
                    reason="REFUND_EXCEEDS_CHECKOUT",
                    metadata={"line_index": str(index)},
                )
    if not wanted:
        raise FailedPrecondition("nothing left to refund", reason="REFUND_EXCEEDS_CHECKOUT")

    # What the refunded units did, cumulatively exact.
    units = {i: (refunded[i], refunded[i] + q, quantities[i]) for i, q in wanted.items()}

    def delta(amount: int, i: int) -> int:
        before, after, quantity = units[i]
        return pricing.share_of_units(amount, after, quantity) - pricing.share_of_units(
            amount, before, quantity
        )

    funding: dict[str, int] = {}
    deduction = points_restored = clawback = sessions_restored = 0
    package_restores: list[tuple[dict, int, int]] = []
    for i in wanted:
        res = row.line_results[i]
        for source, amount in res["funding"].items():
            funding[source] = funding.get(source, 0) + delta(amount, i)
        deduction += delta(res["points_deduction"], i)
        points_restored += delta(res["points_redeemed"], i)
        clawback += delta(res["points_earned"], i)
        s = delta(res["sessions"], i)
        if s:
            use = next((u for u in row.package_uses if u["line_index"] == i), None)
            if use is not None:
                package_restores.append((use, s, delta(res["package_value"], i)))
            sessions_restored += s
    principal = funding.pop(pricing.PRINCIPAL, 0)
    bonus = funding.pop(pricing.BONUS, 0)
    tender_back = [(t, a) for t, a in funding.items() if a]
    amount = principal + bonus + sum(a for _, a in tender_back)
    all_done = all(refunded[i] + wanted.get(i, 0) == q for i, q in enumerate(quantities))
    mirror = full and no_refund_yet

    settings = await uow.settings.get()
    cur = row.currency_code or settings.currency_code
    member_id, store_id = row.member_id, row.store_id

    # A checkout refund is a CHECKOUT transaction in the contract (ledger.proto), stored as
    # "checkout_refund" to tell it from a stored-value refund; a first full refund is the exact
    # mirror of the checkout's transaction (`reverses` names it).
    refund_id = new_id()
    refund_ref = f"checkouts/{checkout_id}/refunds/{refund_id}"
    if mirror:
        original = await uow.ledger.get(row.transaction_id)
        draft = ledger.reversal_of(
            "checkout",
            original.postings,
            reverses=row.transaction_id,
            member_id=member_id,
            store_id=store_id,
            reference=refund_ref,
        )
        draft.kind = CHECKOUT_REFUND
        draft.description = f"refund of checkouts/{checkout_id}"
    else:
        draft = TransactionDraft(
            CHECKOUT_REFUND,
            member_id=member_id,
            store_id=store_id,
            description=f"refund of checkouts/{checkout_id}",
            reference=refund_ref,
        )
        revenue = sv.store_account(ledger.REVENUE, store_id, cur)
        for tender, a in tender_back:
            draft.move(a, debit=revenue, credit=sv.tender_account(store_id, tender, cur))
        if member_id:
            accts = sv.MemberAccounts.of(member_id, cur)
            draft.move(principal, debit=revenue, credit=accts.principal)
            draft.move(bonus, debit=revenue, credit=accts.bonus)
            draft.move(points_restored, debit=POINTS_REDEEMED, credit=pts.member_points(member_id))
            draft.move(clawback, debit=pts.member_points(member_id), credit=POINTS_ISSUED)
        draft.move(
            deduction, debit=revenue, credit=sv.store_account(ledger.POINTS_DEDUCTION_EXPENSE, store_id, cur)
        )

    package_uses_back: list[Any] = []
    if package_restores:
        restore = packages.restore_for_refund
        package_uses_back = [_use_from_json(u, s, val) for u, s, val in package_restores]
        # The mirror already gives the sessions back in the ledger; the packages area still
        # updates its own records (its postings go to a scratch draft).
        target = TransactionDraft("scratch", store_id=store_id) if mirror else draft
        await restore(uow, target, member_id=member_id, uses=package_uses_back)
    # points: give back to the lots they came from, take back what was earned (locks the lots)
    lot_moves: list[tuple[str, int]] = []
    lot_restores: list[list] = []
    if member_id and (points_restored or clawback):
        lots = {lot.lot_id: lot for lot in await uow.lots.for_member(member_id, for_update=True)}
        if clawback:
            earned_lot = lots.get(row.earned_lot_id)
            if earned_lot is None or earned_lot.remaining < clawback:
                raise FailedPrecondition(
                    "the member has already spent the points this checkout earned",
                    reason="POINTS_ALREADY_SPENT",
                    metadata={"points": str(clawback)},
                )
            lot_moves.append((row.earned_lot_id, -clawback))
        if points_restored:
            restored_before: dict[str, int] = {}
            for prior in await r.refunds_of(checkout_id):
                for lot_id, n in prior.lot_restores:
                    restored_before[lot_id] = restored_before.get(lot_id, 0) + n
            given = rules.restore_lots(
                [(lot_id, n) for lot_id, n in row.redeemed_lots], points_restored, restored_before
            )
            lot_moves += given
            lot_restores += [[lot_id, n] for lot_id, n in given]

    if not draft.postings:
        raise FailedPrecondition("the refunded units moved nothing to give back", reason="NOTHING_TO_REFUND")
    # membership fee periods refunded: the paid membership is shortened by them
    fee_units = sum(q for i, q in wanted.items() if row.lines[i]["item"] == membership.MEMBERSHIP_ITEM)
    if fee_units and member_id:
        await membership.shorten(uow, member_id=member_id, checkout_id=checkout_id, periods=fee_units)
    posted = await uow.ledger.post(draft)
    if member_id:
        await sv_attribution.restore(
            uow,
            posted,
            member_id=member_id,
            spend_transaction_id=row.transaction_id,
            principal=principal,
            bonus=bonus,
        )
    await uow.lots.move(posted.transaction_id, lot_moves)
    if package_uses_back:
        record_restores = packages.record_refund_restores
        await record_restores(
            uow,
            posted.transaction_id,
            package_uses_back,
            store_id=store_id,
            checkout=f"checkouts/{checkout_id}",
        )

    vouchers_restored: list[str] = []
    if all_done and row.voucher_uses:
        restore_vouchers = vouchers.restore_for_refund
        restored = await restore_vouchers(uow, checkout_id=checkout_id, refund_id=refund_id)
        vouchers_restored = [
            v if str(v).startswith("members/") else f"members/{member_id}/vouchers/{v}"
            for v in restored or []
        ]

    refund_row = await r.add_refund(
        refund_id=refund_id,
        checkout_id=checkout_id,
        full=all_done,
        lines=[[i, q] for i, q in sorted(wanted.items())],
        amount_minor=amount,
        principal_refunded_minor=principal,
        bonus_refunded_minor=bonus,
        tenders=[list(t) for t in tender_back],
        points_restored=points_restored,
        points_clawed_back=clawback,
        sessions_restored=sessions_restored,
        vouchers_restored=vouchers_restored,
        lot_restores=lot_restores,
        reason=reason,
        transaction_id=posted.transaction_id,
    )
    old_records = await r.records_of(checkout_id)
    await r.add_records(
        [
            {
                "record_id": new_id(),
                "checkout_id": checkout_id,
                "refund_id": refund_id,
                "store_id": store_id,
                "currency_code": cur,
                **rec,
            }
            for rec in com.clawbacks(old_records, units)
        ]
    )
    for i, q in wanted.items():
        refunded[i] += q
    updated = await r.update(
        checkout_id,
        refunded_units=refunded,
        refunded_minor=row.refunded_minor + amount,
        state="refunded" if all_done else "partially_refunded",
    )
    uow.emit(
        events_pb2.CheckoutRefunded(
            checkout=f"checkouts/{checkout_id}",
            refund=f"checkouts/{checkout_id}/refunds/{refund_id}",
            member=f"members/{member_id}" if member_id else "",
            principal_refunded_minor=principal,
            points_clawed_back=clawback,
            amount_minor=amount,
            qualifying_spend_minor=rules.qualifying_spend(
                [(pricing.PRINCIPAL, principal), (pricing.BONUS, bonus), *tender_back]
            ),
            full=all_done,
            store=f"stores/{store_id}",
            currency_code=cur,
        ),
        aggregate_type="wallet",
        aggregate_id=member_id or store_id,
    )
    if member_id and (principal or bonus):
        sv.emit_balance_changed(
            uow, posted, sv.MemberAccounts.of(member_id, cur), ledger_pb2.TRANSACTION_KIND_CHECKOUT
        )
    return RefundResult(refund_row, dict(updated._mapping))
