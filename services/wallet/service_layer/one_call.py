"""The wallet's hot paths (Checkout, TopUp) in two database calls: read, plan in Python, apply.

A checkout used to run ~28 statements in two transactions through the ORM session. Here:

1. **read** — one call, no locks (`wallet_context`): the store and member references, the PIN row
   (a PIN that is not plainly right goes through `payment_pin.check`, which counts the failure in
   its own committed transaction), the idempotency key (a duplicate replays the recorded
   response), settings, first-visit, commission rules (a top-up: its plan), point lots, the
   member's balances and stored-value lots, and what the wallet snapshot of the response needs.
   A store or member the projections do not know yet takes the unit-of-work read (read-through);
2. **plan** — the same rules as the statement-by-statement path (`checkout.plan_checkout`), and
   from the plan every row, the events (outbox rows) and the response, sealed as the idempotency
   record: the plan assumes every member balance, lot and stored-value lot it read, so what the
   database will hold afterwards is known before the call;
3. **apply** — one `wallet_apply` call in autocommit (adapters/wallet_apply.py), which locks,
   re-checks those assumptions and writes everything, or raises 40001 ("stale plan").

A stale plan is planned once more on fresh reads (`planned_twice`: two more calls, where the
statement-by-statement path costs ~28 statements and several times the CPU: in bench_wallet, 32
desks on 500 members, it took ~5 % of the server's checkout samples); a second stale plan runs on the
statement-by-statement path, which re-plans under the locks (a busy member costs at most two
re-plans, not many). Checkouts that use packages or vouchers and `validate_only` previews take that path
from the start (`handles`). Both calls go through the asyncpg pool of adapters/wallet_apply.py,
each one span.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import TypeVar

import asyncpg
from google.protobuf.message import Message

from kit.auth import Principal
from kit.idempotency import Idempotency
from kit.ids import is_resource_id, is_uuid, new_id
from kit.messaging.envelope import new_envelope
from kit.messaging.outbox import notify_channel, outbox_rows
from kit.uow import Emitted, UnitOfWorkFactory
from services.wallet.adapters.ledger_repository import LedgerRepository, PostedTransaction
from services.wallet.adapters.member_directory import MemberTierView, view_of
from services.wallet.adapters.repository import PinRecord, TopUpPlan
from services.wallet.adapters.wallet_apply import (
    IdempotencyKey,
    LedgerPlan,
    StoredValueLotChange,
    WalletApply,
    WalletPlan,
)
from services.wallet.domain import checkout as pricing
from services.wallet.domain import rules, sv_lots
from services.wallet.domain.ledger import AccountKey, TransactionDraft
from services.wallet.domain.settings import WalletSettings
from services.wallet.service_layer import checkout as co
from services.wallet.service_layer import commission as com
from services.wallet.service_layer import membership, payment_pin, sv_attribution
from services.wallet.service_layer import stored_value as sv
from services.wallet.service_layer.unit_of_work import WalletUnitOfWork as UoW

R = TypeVar("R", bound=Message)


@dataclass
class OneCall:
    """What the one-call paths need: units of work for the read, the apply, the idempotency
    helper (same table and sealed format as `kit.idempotency`) and the service's name."""

    uows: UnitOfWorkFactory[UoW]
    apply: WalletApply
    idempotency: Idempotency
    service: str = "wallet"

    @property
    def pin_pepper(self) -> bytes:
        """The deployment's PIN pepper, as the units of work have it (`stored_value.pin_pepper`)."""
        return self.uows.deps.get("pin_pepper", b"")


# How many plans a command gets on the one-call path before the statement-by-statement path.
PLANS = 2


async def planned_twice(command: Callable[[], Awaitable[R | None]]) -> R | None:
    """Runs a one-call `command` (`checkout`, `top_up`) up to `PLANS` times while its plan is
    stale; its response, or None when every plan was: the caller then takes the locked path."""
    for _ in range(PLANS):
        response = await command()
        if response is not None:
            return response
    return None


class EventBuffer:
    """Collects a command's events (the `emit` of a unit of work) to write as outbox rows."""

    def __init__(self) -> None:
        self.emitted: list[Emitted] = []

    def emit(self, event: Message, *, aggregate_type: str, aggregate_id: str) -> None:
        self.emitted.append((event, aggregate_type, aggregate_id))

    def outbox_rows(self, service: str, tenant: str) -> list[dict]:
        return outbox_rows(
            service,
            [
                new_envelope(event, tenant=tenant, aggregate_type=aggregate_type, aggregate_id=aggregate_id)
                for event, aggregate_type, aggregate_id in self.emitted
            ],
        )


class _PinNotPlain(Exception):
    """The PIN needs the counted check (wrong, locked, failures on record, not set, empty)."""


@dataclass
class _Replay:
    stored_hash: bytes
    response: bytes


def handles(inp: co.CheckoutInput) -> bool:
    """Whether a checkout takes the one-call path (packages, vouchers, manager-approved
    discounts and membership fees do not, yet)."""
    return (
        not inp.validate_only
        and not inp.voucher_ids
        and not inp.discount_approval_id
        and not any(line.use_package or line.item == membership.MEMBERSHIP_ITEM for line in inp.lines)
    )


async def checkout(
    one: OneCall,
    caller: Principal,
    inp: co.CheckoutInput,
    request: Message,
    *,
    pin: str,
    response_type: type[R],
    respond: Callable[[co.CheckoutResult, sv.WalletSnapshot | None], R],
) -> R | None:
    """Runs a checkout `handles` accepts in one write round trip and returns its response (or
    the recorded one of a duplicate); None when the plan was stale: the caller runs it on the
    statement-by-statement path."""
    co.authorize(caller, inp)
    request_id: str = request.request_id  # type: ignore[attr-defined]
    key_hash = one.idempotency.key_hash(request, caller.binding())
    member_id = inp.member_id
    needs_pin = bool(inp.stored_value and member_id)
    want = _Want(
        "Checkout",
        inp.store_id,
        member_id,
        request_id,
        check_pin=needs_pin,
        pin=pin,
        pay_with_pin=needs_pin,
        with_store_lots=bool(inp.stored_value),
        for_checkout=True,
    )
    try:
        read = await _read(one, caller.tenant, want)
    except _PinNotPlain:
        assert member_id is not None
        # counted in its own committed transaction; raises when wrong
        await payment_pin.check(one.uows, caller, member_id, pin, store_id=inp.store_id)
        read = await _read(one, caller.tenant, dataclasses.replace(want, check_pin=False))
    if isinstance(read, _Replay):
        return one.idempotency.replay(caller.tenant, key_hash, read.stored_hash, read.response, response_type)
    return await _plan_and_apply(one, caller, inp, request_id, key_hash, read, respond)


@dataclass
class _Read:
    """What a plan needs (`wallet_context`); a checkout's first visit and commission rules and a
    top-up's plan only for those."""

    settings: WalletSettings
    view: MemberTierView | None
    pin: PinRecord | None
    balances: dict[AccountKey, int]  # the member's principal, bonus, held and points accounts
    lots: list[rules.Lot]
    store_lots: list[sv_lots.StoreLot]
    locked_bonus: int
    customer_type: str = "new"
    rule_rows: list = dataclasses.field(default_factory=list)
    plan: TopUpPlan | None = None
    pin_verified: tuple[str, bytes] | None = None  # (member, PIN hash) the PIN was verified on
    store_zone: str | None = None  # the checkout store's time zone (member day)


@dataclass
class _Want:
    """What one command reads."""

    method: str
    store_id: str
    member_id: str | None
    request_id: str
    check_pin: bool = False
    pin: str = ""
    pay_with_pin: bool = False  # the apply re-checks the PIN row (also once `check_pin` is done)
    with_store_lots: bool = False
    for_checkout: bool = False
    plan_id: str = ""


async def _read(one: OneCall, tenant: str, want: _Want) -> _Read | _Replay:
    """Everything the plan needs, in one call (`wallet_context`). A store or member the
    projections do not know (or a malformed id) is resolved by the unit-of-work read instead:
    it reads through to the members service, or answers NOT_FOUND / INVALID_ARGUMENT. The PIN is
    checked after the references resolve (a refused payment counts no attempt)."""
    member_id = want.member_id
    if not is_resource_id(want.store_id) or (member_id is not None and not is_uuid(member_id)):
        return await one.uows.run(tenant, lambda uow: _read_in_unit_of_work(uow, one, want))
    # Account ids depend on the currency: asked for the default one; another (read in the same
    # call) takes the unit-of-work read.
    cur = WalletSettings().currency_code
    keys = _member_keys(member_id, cur)
    ctx = await one.apply.context(
        tenant,
        want.store_id,
        member_id,
        want.method,
        want.request_id,
        [k.account_id(tenant) for k in keys],
        with_store_lots=want.with_store_lots,
        for_checkout=want.for_checkout,
        plan_id=want.plan_id or None,
    )
    settings = WalletSettings.from_json(ctx["settings"]) if ctx["settings"] else WalletSettings()
    if not ctx["store"] or (member_id and ctx["member"] is None) or settings.currency_code != cur:
        return await one.uows.run(tenant, lambda uow: _read_in_unit_of_work(uow, one, want))
    record = _pin_of(ctx["pin"])
    if want.check_pin and not sv.pin_plainly_matches(one.pin_pepper, record, want.pin):
        raise _PinNotPlain
    if ctx["recorded"] is not None:
        return _Replay(
            bytes.fromhex(ctx["recorded"]["request_hash"]), bytes.fromhex(ctx["recorded"]["response"])
        )
    found = {aid: int(b) for aid, b in ctx["balances"].items()}
    plan = ctx["plan"]
    return _Read(
        store_zone=ctx.get("store_time_zone"),
        settings=settings,
        view=view_of(**ctx["member"]) if ctx["member"] else None,
        pin=record,
        balances={k: found.get(k.account_id(tenant), 0) for k in keys},
        lots=[
            rules.Lot(
                lot["lot_id"],
                lot["remaining"],
                _time(lot["expire_time"]),
                _time(lot["earned_time"]),
                _time(lot["pending_until"]),
            )
            for lot in ctx["lots"]
        ],
        store_lots=[
            sv_lots.StoreLot(x["store_id"], x["principal"], x["bonus"], _time(x["opened"]))
            for x in ctx["store_lots"]
        ],
        locked_bonus=int(ctx["locked_bonus"]),
        customer_type="member" if ctx["has_checkouts"] else "new",
        rule_rows=[SimpleNamespace(**r) for r in ctx["rules"]],
        plan=TopUpPlan(
            plan["plan_id"],
            plan["display_name"],
            plan["pay_minor"],
            plan["bonus_minor"],
            plan["bonus_release"],
            plan["release_months"],
            plan["active"],
            list(plan["stores"]),
            _time(plan["create_time"]),
        )
        if plan
        else None,
        pin_verified=_verified(want, record),
    )


def _verified(want: _Want, record: PinRecord | None) -> tuple[str, bytes] | None:
    """What the apply re-checks of the PIN: the row it was verified on (a PIN verified by the
    counted check has no failures left on record either, and is re-read here after it)."""
    if not want.pay_with_pin or record is None or want.member_id is None:
        return None
    return want.member_id, record.pin_hash


def _member_keys(member_id: str | None, currency: str) -> list[AccountKey]:
    if not member_id:
        return []
    accts = sv.MemberAccounts.of(member_id, currency)
    return [accts.principal, accts.bonus, accts.held, accts.points]


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value is not None else None


def _pin_of(row: dict | None) -> PinRecord | None:
    if row is None:
        return None
    return PinRecord(
        bytes.fromhex(row["pin_hash"]),
        bytes.fromhex(row["salt"]),
        row["failed_attempts"],
        _time(row["locked_until"]),
    )


async def _read_in_unit_of_work(uow: UoW, one: OneCall, want: _Want) -> _Read | _Replay:
    """The same read statement by statement, with the projections' read-through."""
    member_id = want.member_id
    store_zone = await uow.stores.require(want.store_id)
    view = await uow.members.require(member_id) if member_id else None
    record = await uow.pins.get(member_id) if member_id else None
    if want.check_pin and not sv.pin_plainly_matches(one.pin_pepper, record, want.pin):
        raise _PinNotPlain
    recorded = await one.idempotency.recorded(uow.session, uow.tenant, want.method, want.request_id)
    if recorded is not None:
        return _Replay(*recorded)
    settings = await uow.settings.get()
    read = _Read(settings, view, record, {}, [], [], 0, store_zone=store_zone)
    if member_id:
        keys = _member_keys(member_id, settings.currency_code)
        read.balances = await uow.ledger.balances(keys)
        read.lots = uow.lots.as_lots(await uow.lots.for_member(member_id))
        if want.with_store_lots:
            read.store_lots = await uow.sv_lots.of_member(member_id)
        read.locked_bonus = sum(row.amount_minor for row in await uow.releases.pending_for_member(member_id))
    if want.for_checkout:
        r = co.repo(uow)
        if member_id and await r.has_checkouts(member_id):
            read.customer_type = "member"
        read.rule_rows = await r.rules()
    if want.plan_id:
        read.plan = await uow.plans.get(want.plan_id)
    read.pin_verified = _verified(want, record)
    return read


async def _plan_and_apply(
    one: OneCall,
    caller: Principal,
    inp: co.CheckoutInput,
    request_id: str,
    key_hash: bytes,
    read: _Read,
    respond: Callable[[co.CheckoutResult, sv.WalletSnapshot | None], R],
) -> R | None:
    tenant = caller.tenant
    now = datetime.now(UTC)
    checkout_id = new_id()
    draft = co.new_draft(inp, checkout_id)
    n = len(inp.lines)
    priced = pricing.start(inp.lines, [0] * n)
    pricing.apply_tier_discount(priced, read.view.discount_bps if read.view else 0)
    plan = co.plan_checkout(
        inp,
        checkout_id=checkout_id,
        draft=draft,
        settings=read.settings,
        view=read.view,
        customer_type=read.customer_type,
        rule_rows=read.rule_rows,
        priced=priced,
        sessions=[0] * n,
        package_values=[0] * n,
        uses=[],
        voucher_uses=[],
        lots=read.lots,
        balances=read.balances,
        now=now,
        store_zone=read.store_zone,
    )
    member_id, store_id = inp.member_id, inp.store_id
    posted, after = _posted(draft, read.balances, request_id, now)
    transaction_id = posted.transaction_id

    rows: dict[str, list[dict]] = {}
    sv_changes: list[StoredValueLotChange] = []
    if member_id and (plan.principal or plan.bonus):
        try:
            shares = sv_lots.take(
                read.store_lots, principal=plan.principal, bonus=plan.bonus, at_store=store_id
            )
        except sv_lots.LotsShort:  # read apart from the balances: they moved in between
            return None
        held = {lot.store_id: lot for lot in read.store_lots}
        sv_changes = [
            StoredValueLotChange(
                s.store_id, -s.principal, -s.bonus, (held[s.store_id].principal, held[s.store_id].bonus)
            )
            for s in shares
        ]
        rows["stored_value_lot_movements"] = [
            {"tenant_id": tenant, "create_time": now, **m}
            for m in sv_attribution.movement_rows(posted, member_id, "spend", shares, -1)
        ]
    remaining = {lot.lot_id: lot.remaining for lot in read.lots}
    lot_moves = [(lot_id, delta, remaining[lot_id]) for lot_id, delta in plan.movements]
    if plan.movements:
        rows["lot_movements"] = [
            {"tenant_id": tenant, "transaction_id": transaction_id, "lot_id": lot_id, "delta": delta}
            for lot_id, delta in plan.movements
        ]
    lot = plan.earned_lot
    if lot is not None:
        rows["point_lots"] = [{"tenant_id": tenant, "transaction_id": transaction_id, **lot}]
    checkout_row = {
        **plan.record.as_row(),
        "tenant_id": tenant,
        "earned_lot_id": lot["lot_id"] if lot else None,
        "transaction_id": transaction_id,
        "create_time": now,
        "update_time": now,
    }
    rows["checkouts"] = [checkout_row]
    commission = [{"tenant_id": tenant, "create_time": now, **c} for c in co.commission_rows_of(plan)]
    rows["commission_records"] = commission

    events = EventBuffer()
    co.emit_checkout(events, SimpleNamespace(**checkout_row), posted, plan.accts, lot, plan.movements)
    rows["outbox"] = events.outbox_rows(one.service, tenant)

    snapshot = None
    if member_id and plan.accts is not None:
        lots_after = _lots_after(read.lots, plan.movements, lot)
        snapshot = sv.snapshot_of(
            member_id, read.settings, plan.accts, after, lots_after, read.pin, read.locked_bonus, now
        )
    records = [
        SimpleNamespace(**{"package_id": None, "package_member_id": None, "refund_id": None, **c})
        for c in sorted(commission, key=lambda c: (c["line_index"], c["record_id"]))
    ]
    response = respond(co.CheckoutResult(checkout_row, records, [], posted), snapshot)

    key = IdempotencyKey("Checkout", request_id, key_hash, one.idempotency.seal(tenant, response))
    applied = await _apply(
        one, tenant, key, posted, draft, read.balances, lot_moves, sv_changes, rows, read.pin_verified
    )
    return response if applied else None


def _posted(
    draft: TransactionDraft, balances: dict[AccountKey, int], request_id: str, now: datetime
) -> tuple[PostedTransaction, dict[AccountKey, int]]:
    """The transaction as it will be posted, and the member balances afterwards: the plan
    assumes every balance it read (`wallet_apply` re-checks them), so they are known now."""
    after = dict(balances)
    for p in draft.postings:
        if p.account.kind.guarded:
            after[p.account] = after.get(p.account, 0) + p.amount
    posted = PostedTransaction(
        transaction_id=new_id(),
        kind=draft.kind,
        member_id=draft.member_id,
        store_id=draft.store_id,
        description=draft.description,
        reverses=draft.reverses,
        create_time=now,
        postings=list(draft.postings),
        balances={p.account: after[p.account] for p in draft.postings if p.account.kind.guarded},
        request_id=request_id,
        reference=draft.reference,
    )
    return posted, after


async def _apply(
    one: OneCall,
    tenant: str,
    key: IdempotencyKey,
    posted: PostedTransaction,
    draft: TransactionDraft,
    assumed: dict[AccountKey, int],
    lot_moves: list[tuple[str, int, int]],
    sv_changes: list[StoredValueLotChange],
    rows: dict[str, list[dict]],
    pin_verified: tuple[str, bytes] | None = None,
) -> bool:
    """One `wallet_apply` call; False when the plan was stale (or a duplicate raced it)."""
    ledger_repo = LedgerRepository(None, tenant, database=one.apply.database)
    touched = {p.account for p in draft.postings if p.account.kind.guarded}
    plan = WalletPlan(
        tenant=tenant,
        idempotency=key,
        pin_verified=pin_verified,
        lot_moves=lot_moves,
        ledger=LedgerPlan(
            posted.transaction_id,
            draft,
            key.request_id,
            assumed={k: assumed.get(k, 0) for k in touched},
            new_accounts=ledger_repo.accounts_to_create(draft),
            create_time=posted.create_time,
        ),
        sv_changes=sv_changes,
        rows=rows,
        notify_channel=notify_channel(one.service),
    )
    try:
        await one.apply(plan)
    except (asyncpg.SerializationError, asyncpg.DeadlockDetectedError):
        return False  # the locked path re-plans (or replays the duplicate)
    ledger_repo.mark_committed()
    return True


# --- TopUp ------------------------------------------------------------------------------------
async def top_up(
    one: OneCall,
    caller: Principal,
    request: Message,
    *,
    member_id: str,
    store_id: str,
    amount: int,
    currency: str,
    tender: str,
    plan_id: str,
    response_type: type[R],
    respond: Callable[[PostedTransaction, sv.WalletSnapshot], R],
    sold_by: str = "",
    staff_position: str = "",
) -> R | None:
    """A top-up in one read and one write call (as `stored_value.top_up` writes it); its
    response, or the recorded one of a duplicate; None when the plan was stale. With a seller,
    the same read brings the commission rules and the member's first-visit flag."""
    sv.authorize_top_up(
        caller,
        store_id=store_id,
        amount=amount,
        tender=tender,
        sold_by=sold_by,
        staff_position=staff_position,
    )
    tenant = caller.tenant
    request_id: str = request.request_id  # type: ignore[attr-defined]
    key_hash = one.idempotency.key_hash(request, caller.binding())
    want = _Want("TopUp", store_id, member_id, request_id, for_checkout=bool(sold_by), plan_id=plan_id)
    read = await _read(one, tenant, want)
    if isinstance(read, _Replay):
        return one.idempotency.replay(tenant, key_hash, read.stored_hash, read.response, response_type)
    sv.require_currency(currency, read.settings.currency_code)
    planned = sv.plan_top_up(
        read.settings,
        read.plan,
        member_id=member_id,
        store_id=store_id,
        amount=amount,
        tender=tender,
        plan_id=plan_id,
    )
    now = datetime.now(UTC)
    posted, after = _posted(planned.draft, read.balances, request_id, now)
    bonus_now, later = planned.bonus_parts[0], planned.bonus_parts[1:]
    credit = sv_lots.Share(store_id, amount, bonus_now)
    rows = {
        "stored_value_lot_movements": [
            {"tenant_id": tenant, "create_time": now, **m}
            for m in sv_attribution.movement_rows(posted, member_id, "credit", [credit], 1)
        ],
        "bonus_releases": [{"tenant_id": tenant, **r} for r in sv.release_rows(planned, posted)],
    }
    if sold_by:
        record = sv.top_up_commission(
            [com.rule_from_row(x, n) for n, x in enumerate(read.rule_rows)],
            planned,
            posted,
            sold_by=sold_by,
            staff_position=staff_position,
            store_id=store_id,
            customer_type=read.customer_type,
            currency=read.settings.currency_code,
        )
        rows["commission_records"] = [{"tenant_id": tenant, "create_time": now, **record}] if record else []
    events = EventBuffer()
    sv.emit_top_up(events, planned, posted)
    rows["outbox"] = events.outbox_rows(one.service, tenant)
    snapshot = sv.snapshot_of(
        member_id,
        read.settings,
        planned.accts,
        after,
        read.lots,
        read.pin,
        read.locked_bonus + sum(later),
        now,
    )
    response = respond(posted, snapshot)
    key = IdempotencyKey("TopUp", request_id, key_hash, one.idempotency.seal(tenant, response))
    changes = [StoredValueLotChange(store_id, amount, bonus_now, None)]
    applied = await _apply(one, tenant, key, posted, planned.draft, read.balances, [], changes, rows)
    return response if applied else None


def _lots_after(
    lots: list[rules.Lot], movements: list[tuple[str, int]], earned: dict | None
) -> list[rules.Lot]:
    delta = dict(movements)
    # only the lots the plan moved are copied; the others are the read's own (nothing else holds them)
    out = [
        dataclasses.replace(lot, remaining=lot.remaining + delta[lot.lot_id]) if lot.lot_id in delta else lot
        for lot in lots
    ]
    if earned is not None:
        out.append(
            rules.Lot(
                earned["lot_id"],
                earned["remaining"],
                earned["expire_time"],
                earned["earned_time"],
                earned["pending_until"],
            )
        )
    return out
