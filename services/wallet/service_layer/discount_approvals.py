"""Manual discounts beyond the tier rate at checkout, only with a store manager's approval
(院长审批; seeds: "如需要降低折扣,需要经过…院长审批").

`approve` (the `ApproveCheckoutDiscount` RPC) is the approval: permission `wallet.adjust` (store
managers and HQ, not the front desk), scoped to the store; the rate must be above the member's
tier rate and within the tenant's ceiling (`WalletSettings.max_manual_discount_bps`). It writes a
single-use `discount_approvals` row with the approver and reason (the audit) and logs it.

`use` runs inside the checkout's transaction: it locks the approval row, re-checks it (unused,
unexpired, same store, same member when it names one, still within the ceiling) and marks it used
by the checkout, so two checkouts racing for one approval cannot both get the discount.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Row

from kit import auth
from kit.auth import Principal
from kit.errors import FailedPrecondition, NotFound, Violations
from kit.ids import new_id
from kit.logging import get_logger
from services.wallet.adapters import checkout_tables as ct
from services.wallet.service_layer.unit_of_work import WalletUnitOfWork as UoW

log = get_logger("peony.wallet.discount_approvals")

DEFAULT_VALID_MINUTES = 30
MAX_VALID_MINUTES = 24 * 60
MAX_REASON = 200


@dataclass(frozen=True)
class ApprovalRequest:
    store_id: str
    member_id: str | None
    discount_bps: int
    reason: str
    valid_minutes: int


def validate(req: ApprovalRequest) -> None:
    v = Violations()
    v.require("store", req.store_id)
    if not 1 <= req.discount_bps <= 10_000:
        v.add("discount_bps", "must be within 1..10000")
    if not req.reason.strip():
        v.add("reason", "an approval needs a reason (it is audited)")
    elif len(req.reason) > MAX_REASON:
        v.add("reason", f"at most {MAX_REASON} characters")
    if not 0 <= req.valid_minutes <= MAX_VALID_MINUTES:
        v.add("valid_minutes", f"must be within 1..{MAX_VALID_MINUTES} (0: {DEFAULT_VALID_MINUTES})")
    v.raise_if_any()


def authorize(caller: Principal, req: ApprovalRequest) -> None:
    """Before any read: only who may approve (store manager, HQ), only for their stores."""
    caller.require(auth.WALLET_ADJUST)
    validate(req)
    caller.require_store(f"stores/{req.store_id}")


async def approve(uow: UoW, caller: Principal, req: ApprovalRequest) -> Row:
    authorize(caller, req)
    settings = await uow.settings.get()
    await uow.stores.require(req.store_id)
    if req.discount_bps > settings.max_manual_discount_bps:
        raise FailedPrecondition(
            f"the tenant allows manual discounts up to {settings.max_manual_discount_bps} bps",
            reason="DISCOUNT_ABOVE_CEILING",
            metadata={"max_manual_discount_bps": str(settings.max_manual_discount_bps)},
        )
    if req.member_id:
        view = await uow.members.require(req.member_id)
        if req.discount_bps <= view.discount_bps:
            raise FailedPrecondition(
                "the member's tier already gives this discount; no approval needed",
                reason="DISCOUNT_NOT_ABOVE_TIER",
                metadata={"tier_discount_bps": str(view.discount_bps)},
            )
    now = datetime.now(UTC)
    row = (
        await uow.session.execute(
            insert(ct.discount_approvals)
            .values(
                tenant_id=uow.tenant,
                approval_id=new_id(),
                store_id=req.store_id,
                member_id=req.member_id,
                discount_bps=req.discount_bps,
                reason=req.reason.strip(),
                approver=caller.subject,
                create_time=now,
                expire_time=now + timedelta(minutes=req.valid_minutes or DEFAULT_VALID_MINUTES),
            )
            .returning(ct.discount_approvals)
        )
    ).one()
    log.info(
        "wallet.discount_approved",
        tenant=uow.tenant,
        approval_id=row.approval_id,
        store_id=req.store_id,
        member_id=req.member_id,
        discount_bps=req.discount_bps,
        approver=caller.subject,
    )
    return row


async def use(
    uow: UoW,
    approval_id: str,
    *,
    store_id: str,
    member_id: str | None,
    checkout_id: str | None,
) -> int:
    """The approved rate for this checkout, the approval marked used by it (``checkout_id``
    None: a preview, which checks without using). Raises the refusals of the contract."""
    c = ct.discount_approvals.c
    stmt = select(ct.discount_approvals).where(c.tenant_id == uow.tenant, c.approval_id == approval_id)
    if checkout_id is not None:
        stmt = stmt.with_for_update()  # a preview reads (it may run read-only)
    row = (await uow.session.execute(stmt)).first()
    if row is None:
        raise NotFound(f"discountApprovals/{approval_id} not found", reason="DISCOUNT_APPROVAL_NOT_FOUND")
    if row.checkout_id is not None:
        raise FailedPrecondition("the discount approval was used already", reason="DISCOUNT_APPROVAL_USED")
    if row.expire_time <= datetime.now(UTC):
        raise FailedPrecondition("the discount approval has expired", reason="DISCOUNT_APPROVAL_EXPIRED")
    if row.store_id != store_id:
        raise FailedPrecondition(
            "the discount approval is for another store", reason="DISCOUNT_APPROVAL_OTHER_STORE"
        )
    if row.member_id is not None and row.member_id != member_id:
        raise FailedPrecondition(
            "the discount approval is for another member", reason="DISCOUNT_APPROVAL_OTHER_MEMBER"
        )
    ceiling = (await uow.settings.get()).max_manual_discount_bps
    if row.discount_bps > ceiling:  # the ceiling was lowered since the approval
        raise FailedPrecondition(
            f"the tenant allows manual discounts up to {ceiling} bps", reason="DISCOUNT_ABOVE_CEILING"
        )
    if checkout_id is not None:
        await uow.session.execute(
            update(ct.discount_approvals)
            .where(c.tenant_id == uow.tenant, c.approval_id == approval_id)
            .values(checkout_id=checkout_id, use_time=datetime.now(UTC))
        )
    return int(row.discount_bps)
