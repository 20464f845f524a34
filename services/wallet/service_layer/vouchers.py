"""Vouchers (代金券 / 折扣券 / 体验券): templates, issue, void, listing, and their use by checkout.

A voucher copies its template's terms at issue, so later template changes never touch vouchers
already held. Redemption locks the vouchers (in id order, before any account) so one voucher can
never be used by two checkouts; a full refund puts them back (`restore_for_refund`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime

from peony.wallet.v1 import events_pb2
from sqlalchemy.engine import Row

from kit import auth
from kit.auth import Principal
from kit.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound, Violations
from kit.ids import new_id
from kit.proto import ts
from services.wallet.adapters.voucher_repository import VoucherRepository, view_of
from services.wallet.domain import vouchers as dv
from services.wallet.service_layer.unit_of_work import WalletUnitOfWork as UoW

__all__ = [
    "VoucherUse",
    "create_template",
    "deactivate_template",
    "issue_from_template",
    "issue_voucher",
    "list_vouchers",
    "redeem_for_checkout",
    "restore_for_refund",
    "void_voucher",
    "vouchers_of",
]


def vouchers_of(uow: UoW) -> VoucherRepository:
    """The unit of work's voucher repository (bound lazily to its session)."""
    repo = getattr(uow, "vouchers", None)
    if repo is None:
        repo = VoucherRepository(uow.session, uow.tenant)
        uow.vouchers = repo  # type: ignore[attr-defined]
    return repo


def voucher_name(row: Row) -> str:
    return f"members/{row.member_id}/vouchers/{row.voucher_id}"


# --- templates --------------------------------------------------------------------------------
async def create_template(
    uow: UoW,
    caller: Principal,
    *,
    template_id: str,
    terms: dv.VoucherTerms,
    valid_days: int,
    valid_from: datetime | None,
    valid_until: datetime | None,
    currency: str,
) -> Row:
    caller.require(auth.WALLET_ADMIN)
    v = Violations()
    terms.validate(v, "voucher_template")
    dv.validate_validity(v, "voucher_template", valid_days, valid_from, valid_until)
    v.raise_if_any()
    await uow.stores.require_all(terms.stores, "voucher_template.stores")
    settings = await uow.settings.get()
    if currency and currency != settings.currency_code:
        raise InvalidArgument(
            [("voucher_template.currency_code", f"this tenant's wallet is in {settings.currency_code}")],
            reason="CURRENCY_MISMATCH",
        )
    row = await vouchers_of(uow).add_template(
        template_id=template_id,
        **asdict(terms),
        valid_days=valid_days,
        valid_from=valid_from,
        valid_until=valid_until,
        currency_code=settings.currency_code,
    )
    if row is None:
        raise AlreadyExists(
            f"voucherTemplates/{template_id} already exists", reason="VOUCHER_TEMPLATE_EXISTS"
        )
    return row


async def deactivate_template(uow: UoW, caller: Principal, template_id: str) -> Row:
    """No voucher is issued from the template any more (issue, programme and campaign grants are
    refused with VOUCHER_TEMPLATE_INACTIVE); vouchers already issued keep their copied terms and
    stay redeemable until they expire. Deactivating an inactive template is a no-op."""
    caller.require(auth.WALLET_ADMIN)  # as creating one
    row = await vouchers_of(uow).deactivate_template(template_id)
    if row is None:
        raise NotFound(f"voucherTemplates/{template_id} not found", reason="VOUCHER_TEMPLATE_NOT_FOUND")
    return row


# --- issue / void -----------------------------------------------------------------------------
async def issue_from_template(uow: UoW, *, member_id: str, template: Row, reason: str) -> Row:
    """Issue one voucher from `template` (no permission check: callers have done theirs) and emit
    VoucherIssued."""
    if not template.active:
        raise FailedPrecondition(
            f"voucherTemplates/{template.template_id} is not active", reason="VOUCHER_TEMPLATE_INACTIVE"
        )
    now = datetime.now(UTC)
    valid_from, valid_until = dv.validity_at_issue(
        now, template.valid_days, template.valid_from, template.valid_until
    )
    if valid_until is not None and valid_until <= valid_from:
        raise FailedPrecondition(
            f"voucherTemplates/{template.template_id} has no validity left", reason="VOUCHER_TEMPLATE_EXPIRED"
        )
    row = await vouchers_of(uow).add_voucher(
        voucher_id=new_id(),
        member_id=member_id,
        template_id=template.template_id,
        state=dv.ISSUED,
        display_name=template.display_name,
        kind=template.kind,
        amount_off_minor=template.amount_off_minor,
        percent_off_bps=template.percent_off_bps,
        max_discount_minor=template.max_discount_minor,
        free_service=template.free_service,
        min_spend_minor=template.min_spend_minor,
        stores=list(template.stores),
        valid_from=valid_from,
        valid_until=valid_until,
        reason=reason,
    )
    uow.emit(
        events_pb2.VoucherIssued(
            member=f"members/{member_id}",
            voucher=voucher_name(row),
            template=f"voucherTemplates/{template.template_id}",
            valid_until=ts(valid_until),
            reason=reason,
        ),
        aggregate_type="wallet",
        aggregate_id=member_id,
    )
    return row


async def require_template(uow: UoW, template_id: str, *, for_issue: bool = False) -> Row:
    template = await vouchers_of(uow).get_template(template_id, for_issue=for_issue)
    if template is None:
        raise NotFound(f"voucherTemplates/{template_id} not found", reason="VOUCHER_TEMPLATE_NOT_FOUND")
    return template


async def issue_voucher(uow: UoW, caller: Principal, *, member_id: str, template_id: str, reason: str) -> Row:
    caller.require(auth.WALLET_WRITE)
    await uow.members.require(member_id)
    template = await require_template(uow, template_id, for_issue=True)
    return await issue_from_template(uow, member_id=member_id, template=template, reason=reason.strip())


async def void_voucher(uow: UoW, caller: Principal, *, member_id: str, voucher_id: str) -> Row:
    caller.require(auth.WALLET_WRITE)
    row = await vouchers_of(uow).get(voucher_id, for_update=True)
    if row is None or row.member_id != member_id:
        raise NotFound(f"members/{member_id}/vouchers/{voucher_id} not found", reason="VOUCHER_NOT_FOUND")
    if row.state == dv.REDEEMED:
        raise FailedPrecondition("a redeemed voucher cannot be voided", reason="VOUCHER_USED")
    if row.state == dv.VOIDED:
        return row  # already what was asked
    if row.state == dv.EXPIRED:
        raise FailedPrecondition("an expired voucher cannot be voided", reason="VOUCHER_EXPIRED")
    return await vouchers_of(uow).set_state(voucher_id, dv.VOIDED)


async def list_vouchers(
    uow: UoW,
    member_id: str,
    *,
    limit: int,
    before: tuple[datetime, str] | None,
    states: set[str],
    cart: tuple[str, int] | None,
) -> tuple[list[Row], tuple[datetime, str] | None]:
    """A page of the member's vouchers (newest first), filtered by effective state and cart;
    returns the rows and the cursor of the next page (None at the end)."""
    now = datetime.now(UTC)
    rows = await vouchers_of(uow).for_member(member_id, limit=limit, before=before)
    cursor = (rows[-1].create_time, rows[-1].voucher_id) if len(rows) == limit else None
    shown = []
    for r in rows:
        if states and dv.effective_state(r.state, r.valid_until, now) not in states:
            continue
        if cart and not dv.usable_on_cart(view_of(r), store_id=cart[0], subtotal=cart[1], now=now):
            continue
        shown.append(r)
    return shown, cursor


# --- checkout ---------------------------------------------------------------------------------
@dataclass
class VoucherUse:
    voucher_id: str
    discount_minor: int
    line_index: int | None  # free-service vouchers cover one line


async def redeem_for_checkout(
    uow: UoW,
    *,
    member_id: str,
    voucher_ids: list[str],
    store_id: str,
    lines: list[tuple[str, int]],
    amount_due_minor: int,
    checkout_id: str,
) -> list[VoucherUse]:
    """Use the member's vouchers on a checkout, in the order given.

    Locks the vouchers (by id), checks each (owner, state, validity now, store, minimum spend on
    `amount_due_minor`), computes the discounts (their sum never exceeds the amount due; a free
    service voucher takes the net of one matching line) and marks them redeemed by `checkout_id`,
    emitting VoucherRedeemed. Raises NOT_FOUND (VOUCHER_NOT_FOUND) or FAILED_PRECONDITION
    (VOUCHER_EXPIRED, VOUCHER_USED, VOUCHER_NOT_AT_STORE, MINIMUM_SPEND_NOT_MET,
    VOUCHER_NOT_APPLICABLE); nothing is changed then (the caller's transaction rolls back).
    """
    if not voucher_ids:
        return []
    if len(set(voucher_ids)) != len(voucher_ids):
        raise InvalidArgument([("vouchers", "each voucher can be given once")])
    if amount_due_minor < 0:
        raise InvalidArgument([("amount_due_minor", "must not be negative")])
    repo = vouchers_of(uow)
    locked = await repo.lock_many(voucher_ids)
    now = datetime.now(UTC)
    views = []
    for vid in voucher_ids:
        row = locked.get(vid)
        if row is None or row.member_id != member_id:
            raise NotFound(f"voucher {vid} not found", reason="VOUCHER_NOT_FOUND", metadata={"voucher": vid})
        view = view_of(row)
        dv.check_usable(view, store_id=store_id, amount_due=amount_due_minor, now=now)
        views.append(view)
    uses = [
        VoucherUse(vid, discount, line)
        for vid, discount, line in dv.compute_discounts(views, lines, amount_due_minor)
    ]
    currency = (await uow.settings.get()).currency_code
    for use in uses:
        row = await repo.set_state(use.voucher_id, dv.REDEEMED, checkout_id=checkout_id)
        uow.emit(
            events_pb2.VoucherRedeemed(
                member=f"members/{member_id}",
                voucher=voucher_name(row),
                template=f"voucherTemplates/{row.template_id}",
                checkout=f"checkouts/{checkout_id}",
                discount_minor=use.discount_minor,
                store=f"stores/{store_id}",
                currency_code=currency,
            ),
            aggregate_type="wallet",
            aggregate_id=member_id,
        )
    return uses


async def restore_for_refund(uow: UoW, *, checkout_id: str, refund_id: str = "") -> list[str]:
    """A full refund of `checkout_id`: its vouchers become issued again when still valid (the
    others expired); returns the ids of the vouchers given back. Each one given back emits
    `VoucherRestored` (attribution un-counts the redemption)."""
    repo = vouchers_of(uow)
    now = datetime.now(UTC)
    restored = []
    for row in await repo.redeemed_by(checkout_id):
        if row.state != dv.REDEEMED:
            continue
        if row.valid_until is None or row.valid_until > now:
            await repo.set_state(row.voucher_id, dv.ISSUED, checkout_id=None)
            restored.append(row.voucher_id)
            uow.emit(
                events_pb2.VoucherRestored(
                    member=f"members/{row.member_id}",
                    voucher=voucher_name(row),
                    template=f"voucherTemplates/{row.template_id}",
                    checkout=f"checkouts/{checkout_id}",
                    refund=f"checkouts/{checkout_id}/refunds/{refund_id}" if refund_id else "",
                ),
                aggregate_type="wallet",
                aggregate_id=str(row.member_id),
            )
        else:
            await repo.set_state(row.voucher_id, dv.EXPIRED, checkout_id=checkout_id)
    return restored
