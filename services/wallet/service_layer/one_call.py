"""The wallet's hot paths in one write round trip: read, plan in Python, apply with `wallet_apply`.

A checkout used to run ~28 statements in two transactions through the ORM session. Here:

1. **read** — one unit of work, no locks: the store and member references, the PIN row (a PIN that
   is not plainly right goes through `payment_pin.check`, which counts the failure in its own
   committed transaction), the idempotency key (a duplicate replays the recorded response),
   settings, first-visit, commission rules, point lots, the member's balances and stored-value
   lots, and what the wallet snapshot of the response needs;
2. **plan** — the same rules as the statement-by-statement path (`checkout.plan_checkout`), and
   from the plan every row, the events (outbox rows) and the response, sealed as the idempotency
   record: the plan assumes every member balance, lot and stored-value lot it read, so what the
   database will hold afterwards is known before the call;
3. **apply** — one `wallet_apply` call in autocommit (adapters/wallet_apply.py), which locks,
   re-checks those assumptions and writes everything, or raises 40001 ("stale plan").

A stale plan is not retried optimistically: the command runs once more on the
statement-by-statement path, which re-plans under the locks (a busy member costs one re-plan,
not many). Checkouts that use packages or vouchers and `validate_only` previews take that path
from the start (`handles`).
"""

from __future__ import annotations

import dataclasses
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import TypeVar

import asyncpg
from google.protobuf.message import Message
from sqlalchemy import select

from kit.auth import Principal
from kit.db import idempotency_table
from kit.idempotency import Idempotency
from kit.ids import is_resource_id, is_uuid, new_id
from kit.messaging.envelope import new_envelope
from kit.messaging.outbox import notify_channel, outbox_rows
from kit.uow import Emitted, UnitOfWorkFactory
from services.wallet.adapters.ledger_repository import LedgerRepository, PostedTransaction
from services.wallet.adapters.member_directory import MemberTierView, view_of
from services.wallet.adapters.repository import PinRecord
from services.wallet.adapters.tables import metadata
from services.wallet.adapters.wallet_apply import (
    IdempotencyKey,
    LedgerPlan,
    StoredValueLotChange,
    WalletApply,
    WalletPlan,
)
from services.wallet.domain import checkout as pricing
from services.wallet.domain import rules, sv_lots
from services.wallet.domain.ledger import AccountKey
from services.wallet.domain.pin import hash_pin
from services.wallet.domain.settings import WalletSettings
from services.wallet.service_layer import checkout as co
from services.wallet.service_layer import payment_pin, sv_attribution
from services.wallet.service_layer import stored_value as sv
from services.wallet.service_layer.unit_of_work import WalletUnitOfWork as UoW

R = TypeVar("R", bound=Message)
_keys = idempotency_table(metadata)


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


class EventBuffer:
    """Collects a command's events (the `emit` of a unit of work) to write as outbox rows."""

    def __init__(self) -> None:
        self.emitted: list[Emitted] = []

    def emit(self, event: Message, *, aggregate_type: str, aggregate_id: str) -> None:
        self.emitted.append((event, aggregate_type, aggregate_id))


class _PinNotPlain(Exception):
    """The PIN needs the counted check (wrong, locked, failures on record, not set, empty)."""


@dataclass
class _Replay:
    stored_hash: bytes
    response: bytes


def handles(inp: co.CheckoutInput) -> bool:
    """Whether a checkout takes the one-call path (packages and vouchers do not, yet)."""
    return not inp.validate_only and not inp.voucher_ids and not any(line.use_package for line in inp.lines)


async def _recorded(uow: UoW, method: str, request_id: str) -> _Replay | None:
    row = (
        await uow.session.execute(
            select(_keys.c.request_hash, _keys.c.response).where(
                _keys.c.tenant_id == uow.tenant, _keys.c.method == method, _keys.c.request_id == request_id
            )
        )
    ).first()
    return _Replay(bytes(row.request_hash), row.response) if row else None


def _pin_is_plainly_right(pepper: bytes, record, pin: str) -> bool:
    """As `stored_value.pin_is_plainly_right`, on a PIN row already read."""
    if record is None or record.failed_attempts or record.locked_until is not None or not pin:
        return False
    return hmac.compare_digest(hash_pin(pin, pepper, record.salt)[0], record.pin_hash)


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
    try:
        read = await _read_checkout(one, caller.tenant, inp, request_id, check_pin=needs_pin, pin=pin)
    except _PinNotPlain:
        assert member_id is not None
        # counted in its own committed transaction; raises when wrong
        await payment_pin.check(one.uows, caller, member_id, pin, store_id=inp.store_id)
        read = await _read_checkout(one, caller.tenant, inp, request_id, check_pin=False, pin=pin)
    if isinstance(read, _Replay):
        return one.idempotency.replay(caller.tenant, key_hash, read.stored_hash, read.response, response_type)
    return await _plan_and_apply(one, caller, inp, request_id, key_hash, read, respond)


@dataclass
class _CheckoutRead:
    settings: WalletSettings
    view: MemberTierView | None
    customer_type: str
    rule_rows: list
    lots: list[rules.Lot]
    balances: dict[AccountKey, int]
    store_lots: list[sv_lots.StoreLot]
    pin: PinRecord | None
    locked_bonus: int


async def _read_checkout(
    one: OneCall, tenant: str, inp: co.CheckoutInput, request_id: str, *, check_pin: bool, pin: str
) -> _CheckoutRead | _Replay:
    """Everything the plan needs, in one call (`checkout_context`). A store or member the
    projections do not know (or a malformed id) is resolved by the unit-of-work read instead:
    it reads through to the members service, or answers NOT_FOUND / INVALID_ARGUMENT."""
    member_id = inp.member_id
    if not is_resource_id(inp.store_id) or (member_id is not None and not is_uuid(member_id)):
        return await one.uows.run(
            tenant, lambda uow: _read_in_unit_of_work(uow, one, inp, request_id, check_pin, pin)
        )
    # the accounts' ids do not depend on the currency's settings but for the stored-value ones:
    # ask for the default currency's and the settings' (read in the same call) if they differ
    cur = WalletSettings().currency_code
    accts = sv.MemberAccounts.of(member_id, cur) if member_id else None
    ids = (
        [k.account_id(tenant) for k in (accts.principal, accts.bonus, accts.held, accts.points)]
        if accts
        else []
    )
    ctx = await one.apply.checkout_context(
        tenant, inp.store_id, member_id, "Checkout", request_id, ids, bool(inp.stored_value)
    )
    settings = WalletSettings.from_json(ctx["settings"]) if ctx["settings"] else WalletSettings()
    if not ctx["store"] or (member_id and ctx["member"] is None) or settings.currency_code != cur:
        return await one.uows.run(
            tenant, lambda uow: _read_in_unit_of_work(uow, one, inp, request_id, check_pin, pin)
        )
    record = _pin_of(ctx["pin"])
    if check_pin and not _pin_is_plainly_right(one.pin_pepper, record, pin):
        raise _PinNotPlain
    if ctx["recorded"] is not None:
        return _Replay(
            bytes.fromhex(ctx["recorded"]["request_hash"]), bytes.fromhex(ctx["recorded"]["response"])
        )
    found = {aid: int(b) for aid, b in ctx["balances"].items()}
    return _CheckoutRead(
        settings=settings,
        view=view_of(**ctx["member"]) if ctx["member"] else None,
        customer_type="member" if ctx["has_checkouts"] else "new",
        rule_rows=[SimpleNamespace(**r) for r in ctx["rules"]],
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
        balances={
            k: found.get(k.account_id(tenant), 0)
            for k in (accts.principal, accts.bonus, accts.held, accts.points)
        }
        if accts
        else {},
        store_lots=[
            sv_lots.StoreLot(x["store_id"], x["principal"], x["bonus"], _time(x["opened"]))
            for x in ctx["store_lots"]
        ],
        pin=record,
        locked_bonus=int(ctx["locked_bonus"]),
    )


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


async def _read_in_unit_of_work(
    uow: UoW, one: OneCall, inp: co.CheckoutInput, request_id: str, check_pin: bool, pin: str
) -> _CheckoutRead | _Replay:
    """The same read statement by statement, with the projections' read-through."""
    member_id = inp.member_id
    # references first, then the PIN: a payment refused for an unknown store or member counts
    # no attempt (as payment_pin.check)
    await uow.stores.require(inp.store_id)
    view = await uow.members.require(member_id) if member_id else None
    record = await uow.pins.get(member_id) if member_id else None
    if check_pin and not _pin_is_plainly_right(one.pin_pepper, record, pin):
        raise _PinNotPlain
    replay = await _recorded(uow, "Checkout", request_id)
    if replay is not None:
        return replay
    settings = await uow.settings.get()
    r = co.repo(uow)
    balances: dict[AccountKey, int] = {}
    lots: list[rules.Lot] = []
    store_lots: list[sv_lots.StoreLot] = []
    locked_bonus = 0
    customer_type = "new"
    if member_id:
        customer_type = "member" if await r.has_checkouts(member_id) else "new"
        accts = sv.MemberAccounts.of(member_id, settings.currency_code)
        balances = await uow.ledger.balances([accts.principal, accts.bonus, accts.held, accts.points])
        lots = uow.lots.as_lots(await uow.lots.for_member(member_id))
        if inp.stored_value:
            store_lots = await uow.sv_lots.of_member(member_id)
        locked_bonus = sum(row.amount_minor for row in await uow.releases.pending_for_member(member_id))
    return _CheckoutRead(
        settings, view, customer_type, await r.rules(), lots, balances, store_lots, record, locked_bonus
    )


async def _plan_and_apply(
    one: OneCall,
    caller: Principal,
    inp: co.CheckoutInput,
    request_id: str,
    key_hash: bytes,
    read: _CheckoutRead,
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
    )
    member_id, store_id = inp.member_id, inp.store_id
    transaction_id = new_id()

    # What the database will hold afterwards: the plan assumes every balance it read.
    after = dict(read.balances)
    for p in draft.postings:
        if p.account.kind.guarded:
            after[p.account] = after.get(p.account, 0) + p.amount
    posted = PostedTransaction(
        transaction_id=transaction_id,
        kind=draft.kind,
        member_id=member_id,
        store_id=store_id,
        description=draft.description,
        reverses=None,
        create_time=now,
        postings=list(draft.postings),
        balances={p.account: after[p.account] for p in draft.postings if p.account.kind.guarded},
        request_id=request_id,
        reference=draft.reference,
    )

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
            {"tenant_id": tenant, **m}
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
    rows["outbox"] = outbox_rows(
        one.service,
        [
            new_envelope(event, tenant=tenant, aggregate_type=aggregate_type, aggregate_id=aggregate_id)
            for event, aggregate_type, aggregate_id in events.emitted
        ],
    )

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

    ledger_repo = LedgerRepository(None, tenant, database=one.apply.database)
    wallet_plan = WalletPlan(
        tenant=tenant,
        idempotency=IdempotencyKey("Checkout", request_id, key_hash, one.idempotency.seal(tenant, response)),
        lot_moves=lot_moves,
        ledger=LedgerPlan(
            transaction_id,
            draft,
            request_id,
            assumed={k: read.balances.get(k, 0) for k in after},
            new_accounts=ledger_repo.accounts_to_create(draft),
        ),
        sv_changes=sv_changes,
        rows=rows,
        notify_channel=notify_channel(one.service),
    )
    try:
        await one.apply(wallet_plan)
    except (asyncpg.SerializationError, asyncpg.DeadlockDetectedError):
        return None  # stale plan (or a raced duplicate): the locked path re-plans or replays
    ledger_repo.mark_committed()
    return response


def _lots_after(
    lots: list[rules.Lot], movements: list[tuple[str, int]], earned: dict | None
) -> list[rules.Lot]:
    delta = dict(movements)
    out = [dataclasses.replace(lot, remaining=lot.remaining + delta.get(lot.lot_id, 0)) for lot in lots]
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
