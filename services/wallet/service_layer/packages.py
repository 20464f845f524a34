"""Package cards (计次卡 / 疗程卡 / 套餐): products, sale, consumption (核销), freeze / extend,
transfer, refund, and the hooks checkout uses to pay lines with sessions.

Ledger side (one balanced transaction per command, posted only through `LedgerRepository.post`):

- sale: money Dr tender(store, tender) / Dr member stored value  →  Cr deferred_package_revenue
  (store sold); sessions Dr sessions_issued / Cr package_item(`{package}:{service}`) per item;
  the member's own money (external tenders + principal) earns points in the same transaction;
- consume: sessions Dr package_item / Cr sessions_consumed; money Dr deferred_package_revenue
  (store sold) / Cr revenue (store used) by the exact session value (see domain/packages.py);
- transfer: sessions Dr package_item(source) / Cr package_item(new card); deferred revenue stays;
- refund: money Dr deferred_package_revenue(store sold) / Cr tender (or stored-value principal);
  sessions Dr package_item / Cr sessions_refunded.
- session hold (a booked treatment's sessions): authorise Dr package_item / Cr package_item_held
  (the item row counts them in `sessions_held`; they stay in `sessions_remaining` and in the
  deferred value); capture Dr package_item_held / Cr sessions_consumed plus the consumption's
  money (deferred → revenue at the store used, the same value as a plain consumption) and any
  uncaptured rest back to package_item; void / expiry Dr package_item_held / Cr package_item.
  A card with held sessions cannot be refunded or transferred (HOLDS_OUTSTANDING).
- unlimited time card (domain/packages.py): a use moves the session memo Dr sessions_issued /
  Cr sessions_consumed (nothing on a package_item account: uses are not counted) and the revenue
  due by time, deferred → revenue at the store used; its holds move sessions_issued → held and
  back; a refund first recognises what is due by time (at the store sold), then pays back the
  rest. Such a card is not transferable (TIME_CARD_NOT_TRANSFERABLE).

Lock order: the card rows first (`for_update`), then the ledger's accounts.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from peony.wallet.v1 import events_pb2, ledger_pb2

from kit import auth
from kit.auth import Principal
from kit.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound, Violations
from kit.ids import new_id
from kit.proto import ts as _ts
from services.wallet.adapters.ledger_repository import PostedTransaction
from services.wallet.adapters.package_repository import (
    MemberPackage,
    PackageItemRow,
    PackageProduct,
    PackageRepository,
)
from services.wallet.domain import ledger, rules
from services.wallet.domain import packages as dp
from services.wallet.domain.ledger import AccountKey, TransactionDraft
from services.wallet.service_layer import commission as com
from services.wallet.service_layer import points as pts
from services.wallet.service_layer import stored_value as sv
from services.wallet.service_layer import sv_attribution
from services.wallet.service_layer.unit_of_work import WalletUnitOfWork as UoW

STORED_VALUE = "stored_value"
SESSIONS_ISSUED = AccountKey(ledger.SESSIONS_ISSUED, "", ledger.SESSIONS)
SESSIONS_CONSUMED = AccountKey(ledger.SESSIONS_CONSUMED, "", ledger.SESSIONS)
SESSIONS_REFUNDED = AccountKey(ledger.SESSIONS_REFUNDED, "", ledger.SESSIONS)


def repo(uow: UoW) -> PackageRepository:
    return PackageRepository(uow.session, uow.tenant)


def item_account(package_id: str, service: str) -> AccountKey:
    return AccountKey(ledger.PACKAGE_ITEM, f"{package_id}:{service}", ledger.SESSIONS)


def deferred_account(store_id: str, currency: str) -> AccountKey:
    return sv.store_account(ledger.DEFERRED_PACKAGE_REVENUE, store_id, currency)


def revenue_account(store_id: str, currency: str) -> AccountKey:
    return sv.store_account(ledger.REVENUE, store_id, currency)


def package_name(member_id: str, package_id: str) -> str:
    return f"members/{member_id}/packages/{package_id}"


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except (ValueError, TypeError, AttributeError):
        return False
    return True


async def _load(
    uow: UoW, member_id: str | None, package_id: str, *, for_update: bool = True
) -> MemberPackage:
    pkg = await repo(uow).get_package(package_id, for_update=for_update) if _is_uuid(package_id) else None
    if pkg is None or (member_id is not None and pkg.member_id != member_id):
        name = package_name(member_id, package_id) if member_id else f"packages/{package_id}"
        raise NotFound(f"{name} not found", reason="PACKAGE_NOT_FOUND")
    return pkg


def _require_no_holds(pkg: MemberPackage) -> None:
    """Refunds and transfers move every remaining session: held ones must be settled first."""
    if pkg.sessions_held:
        raise FailedPrecondition(
            "capture or void the card's session holds first",
            reason="HOLDS_OUTSTANDING",
            metadata={"sessions_held": str(pkg.sessions_held)},
        )


async def _current_state(uow: UoW, pkg: MemberPackage, now: datetime) -> str:
    """The card's state, thawing (and saving) a freeze whose `frozen_until` has passed."""
    state = dp.effective_state(pkg.state, pkg.frozen_until, now)
    if state != pkg.state:
        await repo(uow).update_package(pkg.package_id, state=state, frozen_until=None)
        pkg.state, pkg.frozen_until = state, None
    return state


# --- products ---------------------------------------------------------------------------------
async def create_product(
    uow: UoW, caller: Principal, product: PackageProduct, currency: str
) -> PackageProduct:
    caller.require(auth.WALLET_ADMIN)
    v = Violations()
    dp.validate_product(v, "package_product", product.display_name, product.price_minor, product.items)
    v.raise_if_any()
    sv.require_currency(currency, (await uow.settings.get()).currency_code, "package_product.currency_code")
    if not await repo(uow).add_product(product):
        raise AlreadyExists(
            f"packageProducts/{product.product_id} already exists", reason="PACKAGE_PRODUCT_EXISTS"
        )
    return product


async def update_product(uow: UoW, caller: Principal, product_id: str, changes: dict) -> PackageProduct:
    """`changes`: any of display_name, price_minor, items, active. Cards already sold keep their terms."""
    caller.require(auth.WALLET_ADMIN)
    current = await repo(uow).get_product(product_id, for_update=True)
    if current is None:
        raise NotFound(f"packageProducts/{product_id} not found", reason="PACKAGE_PRODUCT_NOT_FOUND")
    for key, value in changes.items():
        setattr(current, key, value)
    v = Violations()
    dp.validate_product(v, "package_product", current.display_name, current.price_minor, current.items)
    v.raise_if_any()
    return await repo(uow).save_product(current)


# --- sale -------------------------------------------------------------------------------------
@dataclass
class SaleResult:
    package: MemberPackage
    transaction: PostedTransaction
    points_earned: int


def _check_tenders(tenders: list[tuple[str, int]], price: int) -> None:
    v = Violations()
    if not tenders:
        v.add("tenders", "name at least one tender")
    for i, (tender, amount) in enumerate(tenders):
        if tender not in (*sv.EXTERNAL_TENDERS, STORED_VALUE):
            v.add(f"tenders[{i}].tender", "must be cash, bank card, WeChat Pay, Alipay or stored value")
        sv.validate_money(v, f"tenders[{i}].amount_minor", amount)
    if sum(1 for t, _ in tenders if t == STORED_VALUE) > 1:
        v.add("tenders", "stored value may appear once")
    v.raise_if_any()
    paid = sum(a for _, a in tenders)
    if paid != price:  # the same refusal as Checkout's (documented in wallet_service.proto)
        raise FailedPrecondition(
            f"the tenders add up to {paid}, the price is {price}",
            reason="TENDERS_MISMATCH",
            metadata={"total_due_minor": str(price), "paid_minor": str(paid)},
        )


async def sell(
    uow: UoW,
    caller: Principal,
    *,
    member_id: str,
    product_id: str,
    store_id: str,
    tenders: list[tuple[str, int]],
    sold_by: str = "",
    staff_position: str = "",
) -> SaleResult:
    """Sells a card. The PIN for a stored-value tender is checked by the caller beforehand (in its
    own transaction, so wrong attempts count)."""
    caller.require(auth.WALLET_WRITE)
    caller.require_store(f"stores/{store_id}")
    validate_sold_by(sold_by, staff_position)
    await uow.stores.require(store_id)
    member = await uow.members.require(member_id)
    product = await repo(uow).get_product(product_id)
    if product is None or not product.active:
        raise NotFound(
            f"packageProducts/{product_id} not found or inactive", reason="PACKAGE_PRODUCT_NOT_FOUND"
        )
    _check_tenders(tenders, product.price_minor)
    settings = await uow.settings.get()
    cur = settings.currency_code
    deferred = deferred_account(store_id, cur)
    package_id = new_id()
    draft = TransactionDraft(
        "package_sale",
        member_id=member_id,
        store_id=store_id,
        description=f"packageProducts/{product_id}",
        reference=package_name(member_id, package_id),
    )
    sv_principal = sv_bonus = 0
    funding: list[tuple[str, int]] = []
    accts = sv.MemberAccounts.of(member_id, cur)
    paid_with_sv = False
    for tender, amount in tenders:
        if tender == STORED_VALUE:
            paid_with_sv = True
            # points too: the sale may earn them, and the posting must not lock a member account
            # out of account-id order after these (a deadlock with a concurrent checkout)
            bal = await uow.ledger.lock_balances([accts.principal, accts.bonus, accts.points])
            principal, bonus = -bal[accts.principal], -bal[accts.bonus]
            if amount > principal + bonus:
                raise FailedPrecondition(
                    "insufficient stored value",
                    reason="INSUFFICIENT_BALANCE",
                    metadata={"available": str(principal + bonus)},
                )
            from_principal, from_bonus = rules.split_spend(amount, principal, bonus, settings.spend_order)
            draft.move(from_principal, debit=accts.principal, credit=deferred)
            draft.move(from_bonus, debit=accts.bonus, credit=deferred)
            funding += [(rules.PRINCIPAL, from_principal), (rules.BONUS, from_bonus)]
            sv_principal, sv_bonus = sv_principal + from_principal, sv_bonus + from_bonus
        else:
            draft.move(amount, debit=sv.tender_account(store_id, tender, cur), credit=deferred)
            funding.append((tender, amount))
    now = datetime.now(UTC)
    allocations = dp.allocate_sale(product.price_minor, product.items, now)
    for a in allocations:
        draft.move(a.sessions, debit=SESSIONS_ISSUED, credit=item_account(package_id, a.service))
    earned = rules.points_for_spend(
        rules.qualifying_spend(funding), settings.points_per_yuan, member.points_multiplier_permille
    )
    lot = None
    if earned:
        _, lot = await pts.grant(
            uow,
            member_id=member_id,
            points=earned,
            source="purchase",
            reason=f"package {package_name(member_id, package_id)}",
            store_id=store_id,
            draft=draft,
        )
    posted = await uow.ledger.post(draft)
    await sv_attribution.spend(uow, posted, member_id=member_id, principal=sv_principal, bonus=sv_bonus)
    if lot is not None:
        await pts.record_grant(uow, posted, lot)
    pkg = MemberPackage(
        package_id=package_id,
        member_id=member_id,
        product_id=product_id,
        display_name=product.display_name,
        state=dp.ACTIVE,
        price_minor=product.price_minor,
        store_sold=store_id,
        purchase_time=posted.create_time,
        frozen_until=None,
        transferred_from=None,
        transferred_to=None,
        sale_transaction_id=posted.transaction_id,
        update_time=posted.create_time,
        items=[
            PackageItemRow(
                a.service,
                a.display_name,
                a.sessions,
                a.sessions,
                a.allocated_minor,
                a.session_value_minor,
                a.allocated_minor,
                # validity counts from the sale's commit-side clock
                dp.item_expiry(item, posted.create_time),
                unlimited=a.unlimited,
                max_uses_per_day=item.max_uses_per_day,
            )
            for a, item in zip(allocations, product.items, strict=True)
        ],
    )
    await repo(uow).add_package(pkg)
    await _record_sale_commission(
        uow, pkg, sold_by=sold_by, staff_position=staff_position, tenders=tenders, currency=cur
    )
    uow.emit(
        events_pb2.PackageSold(
            member=sv.member_name(member_id),
            package=package_name(member_id, package_id),
            product=f"packageProducts/{product_id}",
            store=f"stores/{store_id}",
            price_minor=product.price_minor,
            transaction=sv.transaction_name(posted),
            currency_code=cur,
            items=[
                events_pb2.PackageItemSessions(service=a.service, sessions_remaining=a.sessions)
                for a in allocations
            ],
        ),
        aggregate_type="wallet",
        aggregate_id=member_id,
    )
    if paid_with_sv:
        sv.emit_balance_changed(uow, posted, accts, ledger_pb2.TRANSACTION_KIND_PACKAGE_SALE)
    return SaleResult(pkg, posted, earned)


def validate_sold_by(sold_by: str, staff_position: str = "") -> None:
    com.validate_seller(sold_by, staff_position)


async def _record_sale_commission(
    uow: UoW,
    pkg: MemberPackage,
    *,
    sold_by: str,
    staff_position: str,
    tenders: list[tuple[str, int]],
    currency: str,
) -> None:
    """The seller's commission (`sold_by`), by the same rules as a checkout line's."""
    if not sold_by:
        return
    r = com.repo(uow)
    rules_ = [com.rule_from_row(x, n) for n, x in enumerate(await r.rules())]
    record = com.sale_record(
        rules_,
        sold_by=sold_by,
        staff_position=staff_position,
        product_id=pkg.product_id,
        price=pkg.price_minor,
        tenders=tenders,
        store_id=pkg.store_sold,
        customer_type="member" if await r.has_checkouts(pkg.member_id) else "new",
    )
    if record is not None:
        await r.add_records(
            [
                {
                    **record,
                    "record_id": new_id(),
                    "package_id": pkg.package_id,
                    "store_id": pkg.store_sold,
                    "currency_code": currency,
                }
            ]
        )


async def _claw_back_sale_commission(uow: UoW, pkg: MemberPackage, *, refunded_minor: int) -> None:
    """A card refunded pro rata takes back the same share of its seller's commission (a card is
    refunded at most once, so this is the only clawback)."""
    if not refunded_minor or not pkg.price_minor:
        return
    r = com.repo(uow)
    clawbacks = []
    for rec in await r.records_of_package(pkg.package_id):
        amount = rec.amount_minor * refunded_minor // pkg.price_minor
        base = rec.base_minor * refunded_minor // pkg.price_minor
        if amount or base:
            clawbacks.append(com.clawback_record(rec, amount=amount, base=base, package_id=pkg.package_id))
    await r.add_records(clawbacks)


# --- consumption ------------------------------------------------------------------------------
@dataclass
class PackageUse:
    package_id: str
    service: str
    sessions: int
    value_minor: int  # revenue recognised for these sessions
    store_sold: str
    unlimited: bool = False  # uses of an unlimited time card: not counted on the card


def _pending(draft: TransactionDraft, key: AccountKey) -> int:
    """Sessions of an item already taken (net) by earlier postings of the same draft."""
    return sum(p.amount for p in draft.postings if p.account == key)


async def _add_consumption(
    uow: UoW,
    draft: TransactionDraft,
    pkg: MemberPackage,
    state: str,
    service: str,
    sessions: int,
    store_used: str,
    currency: str,
    now: datetime,
) -> PackageUse:
    """Checks the card can give `sessions` of `service` now and adds the postings to `draft`."""
    item = pkg.item(service)
    dp.require_usable(state, item=(service, item.expire_time, now) if item else None)
    if item is None:
        raise FailedPrecondition(
            f"the card has no sessions for {service}",
            reason="NO_SESSIONS_LEFT",
            metadata={"service": service},
        )
    if item.unlimited:
        dp.require_item_usable(service, sessions, item.expire_time, sessions, now)  # expiry first
        await _require_daily_uses_left(uow, draft, pkg, item, sessions, store_used, now)
        return _add_unlimited_use(draft, pkg, item, sessions, store_used, currency, now)
    key = item_account(pkg.package_id, service)
    pending = _pending(draft, key)
    remaining = item.sessions_remaining - pending
    deferred = item.deferred_minor - item.session_value_minor * max(pending, 0)
    # sessions reserved by holds stay on the card (and in its deferred value) but are not usable
    dp.require_item_usable(service, remaining - item.sessions_held, item.expire_time, sessions, now)
    value = dp.consumption_value(remaining, deferred, item.session_value_minor, sessions)
    draft.move(sessions, debit=key, credit=SESSIONS_CONSUMED)
    draft.move(
        value, debit=deferred_account(pkg.store_sold, currency), credit=revenue_account(store_used, currency)
    )
    return PackageUse(pkg.package_id, service, sessions, value, pkg.store_sold)


def _time_due(draft: TransactionDraft, pkg: MemberPackage, item: PackageItemRow, now: datetime) -> int:
    """Revenue of an unlimited item due now (domain/packages.py), less what `draft` took already;
    records the amount on the draft."""
    key = f"{pkg.package_id}:{item.service}"
    taken = draft.time_recognised.get(key, 0)
    due = dp.time_recognition_due(
        item.allocated_minor, item.deferred_minor - taken, pkg.purchase_time, item.expire_time, now
    )
    draft.time_recognised[key] = taken + due
    return due


async def _require_daily_uses_left(
    uow: UoW,
    draft: TransactionDraft | None,
    pkg: MemberPackage,
    item: PackageItemRow,
    uses: int,
    store_id: str,
    on: datetime,
) -> None:
    """An unlimited item with `max_uses_per_day`: on the day of `on` in the zone of the store using
    it, its uses recorded that day, its open holds to be used that day (a booking's pending hold
    counts as much as a use) and those `draft` takes already leave room for `uses`
    (DAILY_USES_EXHAUSTED otherwise). The caller holds the card's row lock, so concurrent uses and
    holds of the card queue here and each sees the others' rows (never check-then-insert)."""
    if not item.max_uses_per_day:
        return
    start, end = dp.local_day_bounds(on, await uow.stores.resolve(store_id) or "")
    key = f"{pkg.package_id}:{item.service}"
    pending = draft.time_card_uses.get(key, 0) if draft is not None else 0
    used = await repo(uow).uses_on(pkg.package_id, item.service, start, end) + pending
    dp.require_daily_uses_left(item.service, item.max_uses_per_day, used, uses)
    if draft is not None:
        draft.time_card_uses[key] = pending + uses


async def move_hold_use_time(uow: UoW, hold, use_time: datetime):
    """Moves an authorised session hold (its row locked by the caller) to another day of use: the
    card is locked next, and an unlimited item's daily cap is checked on the new day as if the
    hold were authorised there (it is not counted on its old day any more, nor twice on the new
    one). Returns the updated hold row."""
    pkg = await _load(uow, hold.member_id, hold.package_id)
    item = pkg.item(hold.service)
    if item is not None and item.unlimited and item.max_uses_per_day:
        start, end = dp.local_day_bounds(use_time, await uow.stores.resolve(hold.store_id) or "")
        used = await repo(uow).uses_on(pkg.package_id, item.service, start, end)
        current = hold.use_time or hold.create_time
        if start <= current < end:
            used -= hold.sessions  # already counted on this day: itself
        dp.require_daily_uses_left(item.service, item.max_uses_per_day, used, hold.sessions)
    return await uow.holds.set_use_time(hold.hold_id, use_time)


def _add_unlimited_use(
    draft: TransactionDraft,
    pkg: MemberPackage,
    item: PackageItemRow,
    uses: int,
    store_used: str,
    currency: str,
    now: datetime,
) -> PackageUse:
    """A use of an unlimited time card: refused after its period (PACKAGE_ITEM_EXPIRED), never for
    a count; recognises the revenue due by time at the store used, plus the session memo."""
    dp.require_item_usable(item.service, uses, item.expire_time, uses, now)
    value = _time_due(draft, pkg, item, now)
    draft.move(uses, debit=SESSIONS_ISSUED, credit=SESSIONS_CONSUMED)
    draft.move(
        value, debit=deferred_account(pkg.store_sold, currency), credit=revenue_account(store_used, currency)
    )
    return PackageUse(pkg.package_id, item.service, uses, value, pkg.store_sold, unlimited=True)


def _catch_up_time_cards(
    draft: TransactionDraft, pkg: MemberPackage, currency: str, now: datetime
) -> dict[str, int]:
    """Before a refund: recognises (at the selling store) the revenue of the card's unlimited items
    due by time, so only the part of the period still to come is refunded. Returns the amount per
    service."""
    out = {}
    for item in pkg.items:
        if item.unlimited:
            out[item.service] = due = _time_due(draft, pkg, item, now)
            draft.move(
                due,
                debit=deferred_account(pkg.store_sold, currency),
                credit=revenue_account(pkg.store_sold, currency),
            )
    return out


async def _record_uses(
    uow: UoW, transaction_id: str, uses: list[PackageUse], store_id: str, *, sign: int, checkout: str = ""
) -> None:
    """Applies posted uses (sign -1) or restores (sign +1) to the cards and the consumption rows."""
    r = repo(uow)
    cur = (await uow.settings.get()).currency_code
    rows = []
    for use in uses:
        counted = 0 if use.unlimited else use.sessions
        await r.move_item(use.package_id, use.service, sessions=sign * counted, value=sign * use.value_minor)
        pkg = await _load(uow, None, use.package_id)
        if (
            sign < 0
            and pkg.sessions_remaining == 0
            and not pkg.has_unlimited
            and pkg.state in (dp.ACTIVE, dp.FROZEN)
        ):
            await r.update_package(pkg.package_id, state=dp.EXHAUSTED)
        if sign > 0 and pkg.state == dp.EXHAUSTED and pkg.transferred_to is None:
            await r.update_package(pkg.package_id, state=dp.ACTIVE)
        if sign > 0:
            # what the card holds again (members projects unused sessions for segments)
            restored = pkg.item(use.service)
            uow.emit(
                events_pb2.PackageSessionsRestored(
                    member=sv.member_name(pkg.member_id),
                    package=package_name(pkg.member_id, pkg.package_id),
                    service=use.service,
                    sessions=use.sessions,
                    sessions_remaining=restored.sessions_remaining if restored else 0,
                    transaction=f"members/{pkg.member_id}/transactions/{transaction_id}",
                    checkout=checkout,
                ),
                aggregate_type="wallet",
                aggregate_id=pkg.member_id,
            )
        rows.append(
            {
                "package_id": use.package_id,
                "member_id": pkg.member_id,
                "service": use.service,
                "sessions": -sign * use.sessions,
                "store_sold": use.store_sold,
                "store_used": store_id,
                "value_minor": -sign * use.value_minor,
                "transaction_id": transaction_id,
            }
        )
        if sign < 0:
            item = pkg.item(use.service)
            uow.emit(
                events_pb2.PackageSessionConsumed(
                    member=sv.member_name(pkg.member_id),
                    package=package_name(pkg.member_id, pkg.package_id),
                    service=use.service,
                    sessions=use.sessions,
                    sessions_remaining=item.sessions_remaining if item else 0,
                    store=f"stores/{store_id}",
                    recognized_minor=use.value_minor,
                    transaction=f"members/{pkg.member_id}/transactions/{transaction_id}",
                    checkout=checkout,
                    currency_code=cur,
                ),
                aggregate_type="wallet",
                aggregate_id=pkg.member_id,
            )
    await r.add_consumptions(rows)


async def consume(
    uow: UoW,
    caller: Principal,
    *,
    member_id: str,
    package_id: str,
    service: str,
    store_id: str,
    sessions: int,
    serving_staff: str = "",
) -> tuple[MemberPackage, PostedTransaction, PackageUse]:
    """核销 outside a checkout: revenue is recognised at the consuming store."""
    caller.require(auth.WALLET_WRITE)
    v = Violations()
    if not 1 <= sessions <= dp.MAX_SESSIONS:
        v.add("sessions", f"must be within 1..{dp.MAX_SESSIONS}")
    v.require("service", service)
    v.raise_if_any()
    caller.require_store(f"stores/{store_id}")
    await uow.stores.require(store_id)
    pkg = await _load(uow, member_id, package_id)
    now = datetime.now(UTC)
    state = await _current_state(uow, pkg, now)
    if pkg.item(service) is None:
        raise NotFound(f"the card has no item {service}", reason="PACKAGE_ITEM_NOT_FOUND")
    cur = (await uow.settings.get()).currency_code
    draft = TransactionDraft(
        "package_consume",
        member_id=member_id,
        store_id=store_id,
        description=serving_staff or service,
        reference=package_name(member_id, package_id),
    )
    use = await _add_consumption(uow, draft, pkg, state, service, sessions, store_id, cur, now)
    posted = await uow.ledger.post(draft)
    await _record_uses(uow, posted.transaction_id, [use], store_id, sign=-1)
    return await _load(uow, member_id, package_id), posted, use


async def consume_for_checkout(
    uow: UoW,
    draft: TransactionDraft,
    *,
    member_id: str,
    store_id: str,
    service: str,
    quantity: int,
    package_id: str | None,
) -> PackageUse:
    """Adds the postings of using `quantity` sessions of `service` to `draft` (does not post).

    Without `package_id`, picks the member's usable card with that service whose item expires
    soonest (never-expiring last, then the oldest card). Raises FailedPrecondition
    (NO_SESSIONS_LEFT, PACKAGE_FROZEN, PACKAGE_ITEM_EXPIRED, PACKAGE_NOT_ACTIVE) or NotFound.
    After posting, call `record_checkout_uses`.
    """
    if not 1 <= quantity <= dp.MAX_SESSIONS:
        raise InvalidArgument([("quantity", f"must be within 1..{dp.MAX_SESSIONS}")])
    cur = (await uow.settings.get()).currency_code
    now = datetime.now(UTC)
    if package_id:
        pkg = await _load(uow, member_id, package_id)
        state = await _current_state(uow, pkg, now)
        return await _add_consumption(uow, draft, pkg, state, service, quantity, store_id, cur, now)
    cards = await repo(uow).for_member(member_id, states=[dp.ACTIVE, dp.FROZEN], for_update=True)
    candidates = []
    for pkg in cards:
        item = pkg.item(service)
        if item is not None and (item.sessions_remaining > 0 or item.unlimited):
            candidates.append((item.expire_time is None, item.expire_time or now, pkg.purchase_time, pkg))
    candidates.sort(key=lambda c: c[:3])
    first_error: FailedPrecondition | None = None
    for *_, pkg in candidates:
        state = dp.effective_state(pkg.state, pkg.frozen_until, now)
        try:
            use = await _add_consumption(uow, draft, pkg, state, service, quantity, store_id, cur, now)
        except FailedPrecondition as e:
            first_error = first_error or e
            continue
        await _current_state(uow, pkg, now)
        return use
    if first_error is not None:
        raise first_error
    raise FailedPrecondition(
        f"the member has no package sessions for {service}",
        reason="NO_SESSIONS_LEFT",
        metadata={"service": service},
    )


async def record_checkout_uses(
    uow: UoW, transaction_id: str, uses: list[PackageUse], store_id: str, *, checkout: str = ""
) -> None:
    """After the checkout transaction is posted: decrements the cards, writes the consumption
    rows (store sold / store used) and emits `PackageSessionConsumed` per use."""
    await _record_uses(uow, transaction_id, uses, store_id, sign=-1, checkout=checkout)


async def restore_for_refund(
    uow: UoW, draft: TransactionDraft, *, member_id: str, uses: list[PackageUse]
) -> None:
    """Adds the exact mirror postings of `uses` to a refund `draft` (does not post). Revenue is
    taken back from `draft.store_id` (the store of the refunded checkout). After posting, call
    `record_refund_restores`."""
    if not draft.store_id:
        raise ValueError("restore_for_refund needs draft.store_id (the store that recognised the revenue)")
    cur = (await uow.settings.get()).currency_code
    for use in uses:
        pkg = await _load(uow, member_id, use.package_id)
        if pkg.state == dp.REFUNDED or pkg.transferred_to is not None:
            raise FailedPrecondition(
                "the package card was refunded or transferred since; its sessions cannot be restored",
                reason="PACKAGE_CLOSED",
                metadata={"package": package_name(member_id, use.package_id)},
            )
        gives_back_to = SESSIONS_ISSUED if use.unlimited else item_account(use.package_id, use.service)
        draft.move(use.sessions, debit=SESSIONS_CONSUMED, credit=gives_back_to)
        draft.move(
            use.value_minor,
            debit=revenue_account(draft.store_id, cur),
            credit=deferred_account(use.store_sold, cur),
        )


async def record_refund_restores(
    uow: UoW,
    transaction_id: str,
    uses: list[PackageUse],
    *,
    store_id: str | None = None,
    checkout: str = "",
) -> None:
    """After the refund transaction is posted: gives the sessions and their deferred value back to
    the cards and writes negative consumption rows (`PackageSessionsRestored` names `checkout`)."""
    if store_id is None:
        store_id = (await uow.ledger.get(transaction_id)).store_id or ""
    await _record_uses(uow, transaction_id, uses, store_id, sign=+1, checkout=checkout)


# --- freeze / extend --------------------------------------------------------------------------
async def freeze(
    uow: UoW, caller: Principal, *, member_id: str, package_id: str, frozen_until: datetime | None
) -> MemberPackage:
    caller.require(auth.WALLET_WRITE)
    now = datetime.now(UTC)
    if frozen_until is not None and frozen_until <= now:
        raise InvalidArgument([("frozen_until", "must be in the future")])
    pkg = await _load(uow, member_id, package_id)
    dp.require_usable(await _current_state(uow, pkg, now), action="be frozen")
    await repo(uow).update_package(package_id, state=dp.FROZEN, frozen_until=frozen_until)
    return await _load(uow, member_id, package_id, for_update=False)


async def unfreeze(uow: UoW, caller: Principal, *, member_id: str, package_id: str) -> MemberPackage:
    caller.require(auth.WALLET_WRITE)
    pkg = await _load(uow, member_id, package_id)
    if await _current_state(uow, pkg, datetime.now(UTC)) != dp.FROZEN:
        raise FailedPrecondition("the package card is not frozen", reason="PACKAGE_NOT_FROZEN")
    await repo(uow).update_package(package_id, state=dp.ACTIVE, frozen_until=None)
    return await _load(uow, member_id, package_id, for_update=False)


async def extend(
    uow: UoW, caller: Principal, *, member_id: str, package_id: str, days: int, service: str
) -> MemberPackage:
    caller.require(auth.WALLET_WRITE)
    if not 1 <= days <= dp.MAX_EXTEND_DAYS:
        raise InvalidArgument([("days", f"must be within 1..{dp.MAX_EXTEND_DAYS}")])
    pkg = await _load(uow, member_id, package_id)
    state = await _current_state(uow, pkg, datetime.now(UTC))
    if state not in (dp.ACTIVE, dp.FROZEN):
        raise FailedPrecondition(
            f"the package card is {state}", reason="PACKAGE_NOT_ACTIVE", metadata={"state": state}
        )
    if service and pkg.item(service) is None:
        raise NotFound(f"the card has no item {service}", reason="PACKAGE_ITEM_NOT_FOUND")
    for item in pkg.items:
        if (not service or item.service == service) and item.expire_time is not None:
            await repo(uow).update_item(
                package_id, item.service, expire_time=item.expire_time + timedelta(days=days)
            )
    await repo(uow).update_package(package_id)
    return await _load(uow, member_id, package_id, for_update=False)


# --- transfer ---------------------------------------------------------------------------------
async def transfer(
    uow: UoW, caller: Principal, *, member_id: str, package_id: str, to_member_id: str
) -> tuple[MemberPackage, MemberPackage, PostedTransaction]:
    """Moves every remaining session to a new card of `to_member_id`, with the same expiry and
    session values; the deferred revenue stays with the store that sold the card."""
    caller.require(auth.WALLET_WRITE)
    if to_member_id == member_id:
        raise InvalidArgument([("to_member", "must be another member than the card's owner")])
    pkg = await _load(uow, member_id, package_id)
    dp.require_usable(await _current_state(uow, pkg, datetime.now(UTC)), action="be transferred")
    await uow.members.require(to_member_id)
    _require_no_holds(pkg)
    if pkg.has_unlimited:
        # its value runs with the calendar from the sale: a new card's period would restart it
        raise FailedPrecondition(
            "an unlimited time card is personal; refund it instead", reason="TIME_CARD_NOT_TRANSFERABLE"
        )
    moving = [i for i in pkg.items if i.sessions_remaining > 0]
    if not moving:
        raise FailedPrecondition("the card has no sessions left", reason="NO_SESSIONS_LEFT")
    new_package_id = new_id()
    draft = TransactionDraft(
        "package_transfer",
        member_id=member_id,
        store_id=pkg.store_sold,
        description=f"to {package_name(to_member_id, new_package_id)}",
        reference=package_name(member_id, package_id),
    )
    for i in moving:
        draft.move(
            i.sessions_remaining,
            debit=item_account(package_id, i.service),
            credit=item_account(new_package_id, i.service),
        )
    posted = await uow.ledger.post(draft)
    r = repo(uow)
    for i in moving:
        await r.update_item(package_id, i.service, sessions_remaining=0, deferred_minor=0)
    await r.update_package(package_id, state=dp.EXHAUSTED, transferred_to=new_package_id, frozen_until=None)
    target = MemberPackage(
        package_id=new_package_id,
        member_id=to_member_id,
        product_id=pkg.product_id,
        display_name=pkg.display_name,
        state=dp.ACTIVE,
        price_minor=sum(i.deferred_minor for i in moving),
        store_sold=pkg.store_sold,
        purchase_time=posted.create_time,
        frozen_until=None,
        transferred_from=package_id,
        transferred_from_member=member_id,
        transferred_to=None,
        sale_transaction_id=posted.transaction_id,
        update_time=posted.create_time,
        items=[
            PackageItemRow(
                i.service,
                i.display_name,
                i.sessions_remaining,
                i.sessions_remaining,
                i.deferred_minor,
                i.session_value_minor,
                i.deferred_minor,
                i.expire_time,
            )
            for i in moving
        ],
    )
    await r.add_package(target)
    uow.emit(
        events_pb2.PackageTransferred(
            from_member=sv.member_name(member_id),
            from_package=package_name(member_id, package_id),
            to_member=sv.member_name(to_member_id),
            to_package=package_name(to_member_id, new_package_id),
            sessions=sum(i.sessions_remaining for i in moving),
            transaction=sv.transaction_name(posted),
            to_items=[
                events_pb2.PackageItemSessions(service=i.service, sessions_remaining=i.sessions_remaining)
                for i in moving
            ],
        ),
        aggregate_type="wallet",
        aggregate_id=member_id,
    )
    source = await _load(uow, member_id, package_id, for_update=False)
    return source, await _load(uow, to_member_id, new_package_id, for_update=False), posted


# --- refund -----------------------------------------------------------------------------------
@dataclass
class PackageRefundResult:
    package: MemberPackage
    transaction: PostedTransaction
    refund_minor: int
    sessions_refunded: int


async def refund(
    uow: UoW,
    caller: Principal,
    *,
    member_id: str,
    package_id: str,
    store_id: str,
    tender: str,
    reason: str = "",
) -> PackageRefundResult:
    """Pays back the value still deferred on the card (its unused sessions, pro rata to the price
    paid) with `tender` (an external tender, or `stored_value` to the member's principal)."""
    caller.require(auth.WALLET_WRITE)
    if tender not in (*sv.EXTERNAL_TENDERS, STORED_VALUE):
        raise InvalidArgument([("tender", "must be cash, bank card, WeChat Pay, Alipay or stored value")])
    caller.require_store(f"stores/{store_id}")
    await uow.stores.require(store_id)
    pkg = await _load(uow, member_id, package_id)
    state = await _current_state(uow, pkg, datetime.now(UTC))
    if state not in (dp.ACTIVE, dp.FROZEN):
        raise FailedPrecondition(
            f"the package card is {state}", reason="PACKAGE_NOT_ACTIVE", metadata={"state": state}
        )
    _require_no_holds(pkg)
    sessions = pkg.sessions_remaining
    cur = (await uow.settings.get()).currency_code
    draft = TransactionDraft(
        "package_refund",
        member_id=member_id,
        store_id=store_id,
        description=reason or f"refund of {package_name(member_id, package_id)}",
        reference=package_name(member_id, package_id),
    )
    # an unlimited time card refunds only the part of its period still to come
    value = pkg.deferred_minor - sum(_catch_up_time_cards(draft, pkg, cur, datetime.now(UTC)).values())
    if sessions == 0 and value == 0:
        raise FailedPrecondition("the card has no unused sessions", reason="NOTHING_TO_REFUND")
    accts = sv.MemberAccounts.of(member_id, cur)
    pay_to = accts.principal if tender == STORED_VALUE else sv.tender_account(store_id, tender, cur)
    draft.move(value, debit=deferred_account(pkg.store_sold, cur), credit=pay_to)
    for i in pkg.items:
        draft.move(i.sessions_remaining, debit=item_account(package_id, i.service), credit=SESSIONS_REFUNDED)
    posted = await uow.ledger.post(draft)
    if tender == STORED_VALUE:
        # the card's deferred revenue is the selling store's: that store now owes the value
        await sv_attribution.credit(
            uow, posted, member_id=member_id, store_id=pkg.store_sold, principal=value, bonus=0
        )
    r = repo(uow)
    for i in pkg.items:
        await r.update_item(package_id, i.service, sessions_remaining=0, deferred_minor=0)
    await r.update_package(package_id, state=dp.REFUNDED, frozen_until=None)
    await _claw_back_sale_commission(uow, pkg, refunded_minor=value)
    uow.emit(
        events_pb2.PackageRefunded(
            member=sv.member_name(member_id),
            package=package_name(member_id, package_id),
            store=f"stores/{store_id}",
            sessions=sessions,
            refund_minor=value,
            tender=ledger_pb2.TENDER_STORED_VALUE if tender == STORED_VALUE else sv.TENDER_ENUM[tender],
            transaction=sv.transaction_name(posted),
            currency_code=cur,
        ),
        aggregate_type="wallet",
        aggregate_id=member_id,
    )
    if tender == STORED_VALUE and value:
        sv.emit_balance_changed(uow, posted, accts, ledger_pb2.TRANSACTION_KIND_PACKAGE_REFUND)
    return PackageRefundResult(
        await _load(uow, member_id, package_id, for_update=False), posted, value, sessions
    )


# --- session holds ----------------------------------------------------------------------------
def held_account(package_id: str, service: str) -> AccountKey:
    return AccountKey(ledger.PACKAGE_ITEM_HELD, f"{package_id}:{service}", ledger.SESSIONS)


MAX_HOLD_TTL_MINUTES = 90 * 24 * 60


def _held_from(item: PackageItemRow, package_id: str) -> AccountKey:
    """Where a hold's sessions come from and go back to: the item's account, or for an unlimited
    time card (no counted sessions) the session memo account."""
    return SESSIONS_ISSUED if item.unlimited else item_account(package_id, item.service)


async def authorize_session_hold(
    uow: UoW,
    caller: Principal,
    *,
    member_id: str,
    package_id: str,
    service: str,
    sessions: int,
    store_id: str,
    reference: str,
    ttl_minutes: int,
    expire_time: datetime | None = None,
    use_time: datetime | None = None,
):
    """Reserves `sessions` of a card item (e.g. a booked treatment's): they stay the member's and
    on the card, but no consumption, transfer or refund can take them until the hold is captured,
    voided or expires. Refused as a consumption would be: PACKAGE_FROZEN, PACKAGE_NOT_ACTIVE,
    PACKAGE_ITEM_EXPIRED, NO_SESSIONS_LEFT (FAILED_PRECONDITION); PACKAGE_NOT_FOUND,
    PACKAGE_ITEM_NOT_FOUND (NOT_FOUND)."""
    caller.require(auth.WALLET_WRITE)
    v = Violations()
    if not 1 <= sessions <= dp.MAX_SESSIONS:
        v.add("hold.sessions", f"must be within 1..{dp.MAX_SESSIONS}")
    v.require("hold.service", service)
    v.require("hold.store", store_id)
    if not 0 <= ttl_minutes <= MAX_HOLD_TTL_MINUTES:
        v.add("hold.expire_time", "must be within 90 days")
    v.raise_if_any()
    caller.require_store(f"stores/{store_id}")
    await uow.stores.require(store_id, "hold.store")
    pkg = await _load(uow, member_id, package_id)  # card and items first, then the accounts
    now = datetime.now(UTC)
    item = pkg.item(service)
    state = await _current_state(uow, pkg, now)
    dp.require_usable(state, action="hold sessions", item=(service, item.expire_time, now) if item else None)
    if item is None:
        raise NotFound(f"the card has no item {service}", reason="PACKAGE_ITEM_NOT_FOUND")
    available = sessions if item.unlimited else item.sessions_available
    dp.require_item_usable(service, available, item.expire_time, sessions, now)
    if item.unlimited:  # checked when authorised; the capture of a hold is not refused by the cap
        await _require_daily_uses_left(uow, None, pkg, item, sessions, store_id, use_time or now)
    settings = await uow.settings.get()
    hold_id = new_id()
    draft = TransactionDraft(
        "hold", member_id=member_id, store_id=store_id, description=reference, reference=f"holds/{hold_id}"
    )
    draft.move(sessions, debit=_held_from(item, package_id), credit=held_account(package_id, service))
    posted = await uow.ledger.post(draft)
    await repo(uow).move_held(package_id, service, sessions)
    await repo(uow).update_package(package_id)
    hold = await uow.holds.add(
        hold_id=hold_id,
        member_id=member_id,
        store_id=store_id,
        amount_minor=0,
        principal_minor=0,
        bonus_minor=0,
        package_id=package_id,
        service=service,
        sessions=sessions,
        state="authorized",
        reference=reference,
        use_time=use_time,
        expire_time=expire_time
        or posted.create_time + timedelta(minutes=ttl_minutes or settings.hold_default_ttl_minutes),
        authorize_transaction_id=posted.transaction_id,
    )
    uow.emit(
        events_pb2.HoldAuthorized(
            hold=f"holds/{hold.hold_id}",
            member=sv.member_name(member_id),
            package=package_name(member_id, package_id),
            service=service,
            sessions=sessions,
            reference=reference,
            expire_time=_ts(hold.expire_time),
        ),
        aggregate_type="wallet",
        aggregate_id=member_id,
    )
    return hold, posted


async def capture_session_hold(uow: UoW, hold, *, sessions: int = 0, store_id: str = ""):
    """Consumes `sessions` (0: all) of an authorised session hold, locked by the caller, exactly
    like a consumption at `store_id` (the hold's store when empty): revenue recognised at that
    store, a consumption row, `PackageSessionConsumed`. The uncaptured rest goes back to the card.
    The reservation was made while the sessions were usable, so a later freeze or item expiry
    does not stop the capture (the hold's own expiry does)."""
    taken = sessions or hold.sessions
    if not 1 <= taken <= hold.sessions:
        raise InvalidArgument([("sessions", f"must be within 0..{hold.sessions} (the held sessions)")])
    store_used = store_id or hold.store_id
    if store_id:
        await uow.stores.require(store_id)
    pkg = await _load(uow, hold.member_id, hold.package_id)
    item = pkg.item(hold.service)
    assert item is not None and item.sessions_held >= hold.sessions, "a hold's sessions are on its item"
    cur = (await uow.settings.get()).currency_code
    held, own = held_account(pkg.package_id, hold.service), _held_from(item, pkg.package_id)
    draft = TransactionDraft(
        "capture",
        member_id=hold.member_id,
        store_id=store_used,
        description=hold.reference,
        reference=f"holds/{hold.hold_id}",
    )
    if item.unlimited:
        value = _time_due(draft, pkg, item, datetime.now(UTC))
    else:
        value = dp.consumption_value(
            item.sessions_remaining, item.deferred_minor, item.session_value_minor, taken
        )
    draft.move(taken, debit=held, credit=SESSIONS_CONSUMED)
    draft.move(value, debit=deferred_account(pkg.store_sold, cur), credit=revenue_account(store_used, cur))
    draft.move(hold.sessions - taken, debit=held, credit=own)
    posted = await uow.ledger.post(draft)
    # release the reservation before the consumption lowers sessions_remaining (CHECK held <= remaining)
    await repo(uow).move_held(pkg.package_id, hold.service, -hold.sessions)
    use = PackageUse(pkg.package_id, hold.service, taken, value, pkg.store_sold, unlimited=item.unlimited)
    await _record_uses(uow, posted.transaction_id, [use], store_used, sign=-1)
    uow.emit(
        events_pb2.HoldCaptured(
            hold=f"holds/{hold.hold_id}",
            member=sv.member_name(hold.member_id),
            captured_sessions=taken,
            transaction=sv.transaction_name(posted),
            reference=hold.reference,
        ),
        aggregate_type="wallet",
        aggregate_id=hold.member_id,
    )
    settled = await uow.holds.settle(hold.hold_id, "captured", posted.transaction_id, captured_sessions=taken)
    return settled, posted


async def void_session_hold(uow: UoW, hold, *, state: str = "voided"):
    """Gives an authorised session hold (locked by the caller) back to its card item."""
    pkg = await _load(uow, hold.member_id, hold.package_id)
    draft = TransactionDraft(
        "void",
        member_id=hold.member_id,
        store_id=hold.store_id,
        description=hold.reference,
        reference=f"holds/{hold.hold_id}",
    )
    item = pkg.item(hold.service)
    assert item is not None, "a hold's sessions are on its item"
    draft.move(
        hold.sessions,
        debit=held_account(pkg.package_id, hold.service),
        credit=_held_from(item, pkg.package_id),
    )
    posted = await uow.ledger.post(draft)
    await repo(uow).move_held(pkg.package_id, hold.service, -hold.sessions)
    await repo(uow).update_package(pkg.package_id)
    uow.emit(
        events_pb2.HoldVoided(
            hold=f"holds/{hold.hold_id}",
            member=sv.member_name(hold.member_id),
            expired=state == "expired",
            transaction=sv.transaction_name(posted),
            reference=hold.reference,
        ),
        aggregate_type="wallet",
        aggregate_id=hold.member_id,
    )
    return await uow.holds.settle(hold.hold_id, state, posted.transaction_id), posted


# --- expiry ------------------------------------------------------------------------------------
SESSIONS_EXPIRED = AccountKey(ledger.SESSIONS_EXPIRED, "", ledger.SESSIONS)


async def expire_package_items(uow: UoW, package_id: str, now: datetime) -> bool:
    """The expiry job's step for one card: every item past its `expire_time` with value left has
    its deferred revenue left recognised as revenue of the selling store (breakage: nobody was
    served for it) and its unused counted sessions taken off the card (to `sessions_expired`), in
    ONE balanced `package_expire` transaction, with `PackageExpired`. Under the card's row lock and
    re-checked there, so replicas running the job at once act once; an item leaves the job's
    selection when it has nothing left (idempotent); the card becomes EXHAUSTED when no item has
    anything left to use. Skipped while the card is frozen (a freeze
    may extend the items) or while an item has sessions held (a hold may still be captured after
    the item's expiry; the job returns to it when the hold is settled or expires)."""
    pkg = await repo(uow).get_package(package_id, for_update=True)
    if pkg is None:
        return False
    state = await _current_state(uow, pkg, now)
    if state not in (dp.ACTIVE, dp.EXHAUSTED):
        return False
    due = [
        i
        for i in pkg.items
        if i.expire_time is not None
        and i.expire_time <= now
        and i.sessions_held == 0
        and (i.deferred_minor > 0 or (not i.unlimited and i.sessions_remaining > 0))
    ]
    if not due:
        return False
    cur = (await uow.settings.get()).currency_code
    draft = TransactionDraft(
        "package_expire",
        member_id=pkg.member_id,
        store_id=pkg.store_sold,
        description="package items expired",
        reference=package_name(pkg.member_id, package_id),
    )
    sessions = recognised = 0
    for i in due:
        unused = 0 if i.unlimited else i.sessions_remaining
        draft.move(unused, debit=item_account(package_id, i.service), credit=SESSIONS_EXPIRED)
        draft.move(
            i.deferred_minor,
            debit=deferred_account(pkg.store_sold, cur),
            credit=revenue_account(pkg.store_sold, cur),
        )
        sessions += unused
        recognised += i.deferred_minor
    posted = await uow.ledger.post(draft)
    for i in due:
        await repo(uow).update_item(package_id, i.service, deferred_minor=0, sessions_remaining=0)
    spent = {i.service for i in due}
    usable = [
        i
        for i in pkg.items
        if i.service not in spent
        and (
            i.sessions_held > 0  # a hold may still be captured
            or (i.unlimited and (i.expire_time is None or i.expire_time > now))
            or (not i.unlimited and i.sessions_remaining > 0)
        )
    ]
    # Nothing left to use on the card: it is spent like a card whose sessions were all consumed.
    await repo(uow).update_package(package_id, **({} if usable else {"state": dp.EXHAUSTED}))
    uow.emit(
        events_pb2.PackageExpired(
            member=sv.member_name(pkg.member_id),
            package=package_name(pkg.member_id, package_id),
            items=[events_pb2.PackageItemSessions(service=i.service, sessions_remaining=0) for i in due],
            sessions=sessions,
            recognized_minor=recognised,
            store=f"stores/{pkg.store_sold}",
            transaction=sv.transaction_name(posted),
            currency_code=cur,
        ),
        aggregate_type="wallet",
        aggregate_id=pkg.member_id,
    )
    return True
