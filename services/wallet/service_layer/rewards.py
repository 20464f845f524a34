"""Points rewards (积分商城), daily check-in (签到) and the referral reward (推荐有礼).

- Redeeming a reward takes one unit of stock (a conditional UPDATE, so concurrent redemptions of
  the last unit queue on the row and only one wins), takes the points from the member's lots
  (soonest-expiring first) into `points_redeemed`, and for a voucher reward issues the voucher —
  all in one transaction.
- A check-in is one row per member per local day (the primary key refuses a second); the day is
  the Asia/Shanghai calendar day (the wallet has no store time zones: see CHECK_IN_TZ).
- The referral reward is granted at most once per referee (a row keyed by the referee).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from peony.wallet.v1 import events_pb2, points_pb2
from sqlalchemy.engine import Row

from kit import auth
from kit.auth import Principal
from kit.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound, Violations
from kit.proto import ts
from services.wallet.adapters.ledger_repository import PostedTransaction
from services.wallet.domain import ledger, rules
from services.wallet.domain import vouchers as dv
from services.wallet.domain.ledger import AccountKey, TransactionDraft
from services.wallet.service_layer import points as pts
from services.wallet.service_layer import vouchers as vs
from services.wallet.service_layer.unit_of_work import WalletUnitOfWork as UoW

# domain.md §1: a store's time zone defaults to Asia/Shanghai; the wallet keeps no projection of
# stores, so every check-in day is counted in the default zone.
CHECK_IN_TZ = ZoneInfo("Asia/Shanghai")
_REDEEMED = AccountKey(ledger.POINTS_REDEEMED, "", ledger.POINTS)

# domain.md §2: the referrer gets a ¥50 voucher, both get 200 bonus points.
REFERRAL_POINTS = 200
REFERRAL_TEMPLATE_ID = "referral-reward"
REFERRAL_VOUCHER_MINOR = 5000
REFERRAL_VOUCHER_DAYS = 90

_LOT_SOURCE = {
    name.removeprefix("LOT_SOURCE_").lower(): value for name, value in points_pb2.LotSource.items()
}


async def points_available(uow: UoW, member_id: str) -> int:
    now = datetime.now(UTC)
    return sum(
        lot.remaining
        for lot in uow.lots.as_lots(await uow.lots.for_member(member_id))
        if rules.usable(lot, now)
    )


def emit_points_earned(uow: UoW, posted: PostedTransaction, lot: dict) -> None:
    member_id = lot["member_id"]
    uow.emit(
        events_pb2.PointsEarned(
            member=f"members/{member_id}",
            points=lot["original"],
            source=_LOT_SOURCE.get(lot["source"], 0),  # type: ignore[arg-type]
            point_lot=f"members/{member_id}/pointLots/{lot['lot_id']}",
            transaction=f"members/{member_id}/transactions/{posted.transaction_id}",
            expire_time=ts(lot["expire_time"]),
        ),
        aggregate_type="wallet",
        aggregate_id=member_id,
    )


async def grant_and_record(
    uow: UoW, *, member_id: str, points: int, source: str, reason: str, store_id: str | None = None
) -> tuple[PostedTransaction, dict]:
    draft, lot = await pts.grant(
        uow, member_id=member_id, points=points, source=source, reason=reason, store_id=store_id
    )
    posted = await uow.ledger.post(draft)
    await pts.record_grant(uow, posted, lot)
    emit_points_earned(uow, posted, lot)
    return posted, lot


# --- catalog ----------------------------------------------------------------------------------
def _item_ok(kind: str, item: str) -> bool:
    prefix = {dv.PRODUCT: "products/", dv.SERVICE: "services/", dv.VOUCHER: "voucherTemplates/"}.get(kind)
    return bool(prefix) and item.startswith(prefix) and len(item) > len(prefix)


def validate_reward(
    v: Violations, *, display_name: str, points_cost: int, stock: int, kind: str, item: str
) -> None:
    if not display_name.strip():
        v.add("reward.display_name", "is required")
    if not 0 < points_cost <= ledger.MAX_AMOUNT:
        v.add("reward.points_cost", f"must be within 1..{ledger.MAX_AMOUNT}")
    if stock < dv.UNLIMITED or stock > ledger.MAX_AMOUNT:
        v.add("reward.stock", "must be -1 (unlimited) or a count of units")
    if kind not in dv.REWARD_KINDS:
        v.add("reward.kind", "must be product, service or voucher")
    elif not _item_ok(kind, item):
        v.add("reward.item", "must be products/{p}, services/{s} or voucherTemplates/{t} as the kind says")


async def create_reward(
    uow: UoW,
    caller: Principal,
    *,
    reward_id: str,
    display_name: str,
    points_cost: int,
    stock: int,
    kind: str,
    item: str,
) -> Row:
    caller.require(auth.WALLET_ADMIN)
    v = Violations()
    validate_reward(v, display_name=display_name, points_cost=points_cost, stock=stock, kind=kind, item=item)
    v.raise_if_any()
    if kind == dv.VOUCHER:
        await vs.require_template(uow, item.removeprefix("voucherTemplates/"))
    row = await vs.vouchers_of(uow).add_reward(
        reward_id=reward_id,
        display_name=display_name.strip(),
        points_cost=points_cost,
        stock=stock,
        kind=kind,
        item=item,
    )
    if row is None:
        raise AlreadyExists(f"rewards/{reward_id} already exists", reason="REWARD_EXISTS")
    return row


async def update_reward(uow: UoW, caller: Principal, *, reward_id: str, values: dict) -> Row:
    caller.require(auth.WALLET_ADMIN)
    repo = vs.vouchers_of(uow)
    current = await repo.get_reward(reward_id, for_update=True)
    if current is None:
        raise NotFound(f"rewards/{reward_id} not found", reason="REWARD_NOT_FOUND")
    merged = {
        k: values.get(k, getattr(current, k))
        for k in ("display_name", "points_cost", "stock", "kind", "item")
    }
    v = Violations()
    validate_reward(v, **merged)
    v.raise_if_any()
    if "item" in values and merged["kind"] == dv.VOUCHER:
        await vs.require_template(uow, merged["item"].removeprefix("voucherTemplates/"))
    row = await repo.update_reward(reward_id, values)
    assert row is not None
    return row


@dataclass
class Redemption:
    transaction: PostedTransaction
    reward: Row
    voucher: Row | None


async def redeem_reward(
    uow: UoW, caller: Principal, *, member_id: str, reward_id: str, store_id: str | None
) -> Redemption:
    caller.require(auth.WALLET_WRITE)
    caller.require_member(f"members/{member_id}")
    caller.require_store_scope(f"stores/{store_id}" if store_id else None)
    await uow.members.require(member_id)
    if store_id:
        await uow.stores.require(store_id)
    repo = vs.vouchers_of(uow)
    reward = await repo.get_reward(reward_id)
    if reward is None:
        raise NotFound(f"rewards/{reward_id} not found", reason="REWARD_NOT_FOUND")
    if not reward.active:
        raise FailedPrecondition(f"rewards/{reward_id} is withdrawn", reason="REWARD_INACTIVE")
    # Lock order: reward row, then the member's lots, then accounts.
    reward = await repo.take_stock(reward_id)
    if reward is None:
        raise FailedPrecondition(f"rewards/{reward_id} is out of stock", reason="OUT_OF_STOCK")
    draft = TransactionDraft(
        "points_redeem",
        member_id=member_id,
        store_id=store_id,
        description=f"reward {reward.display_name}",
        reference=f"rewards/{reward_id}",
    )
    movements = await pts.take(
        uow, member_id=member_id, points=reward.points_cost, sink=_REDEEMED, draft=draft
    )
    posted = await uow.ledger.post(draft)
    await uow.lots.move(posted.transaction_id, movements)
    voucher = None
    if reward.kind == dv.VOUCHER:
        template = await vs.require_template(
            uow, reward.item.removeprefix("voucherTemplates/"), for_issue=True
        )
        voucher = await vs.issue_from_template(
            uow, member_id=member_id, template=template, reason=f"reward {reward.reward_id}"
        )
    uow.emit(
        events_pb2.PointsRedeemed(
            member=f"members/{member_id}",
            points=reward.points_cost,
            transaction=f"members/{member_id}/transactions/{posted.transaction_id}",
            reward=f"rewards/{reward.reward_id}",
            points_available=await points_available(uow, member_id),
        ),
        aggregate_type="wallet",
        aggregate_id=member_id,
    )
    return Redemption(posted, reward, voucher)


# --- check-in ---------------------------------------------------------------------------------
@dataclass
class CheckInResult:
    points: int
    streak_days: int
    streak_bonus: int
    transaction: PostedTransaction


async def check_in(
    uow: UoW, caller: Principal, *, member_id: str, store_id: str | None, now: datetime | None = None
) -> CheckInResult:
    caller.require(auth.WALLET_WRITE)
    caller.require_member(f"members/{member_id}")
    caller.require_store_scope(f"stores/{store_id}" if store_id else None)
    await uow.members.require(member_id)
    if store_id:
        await uow.stores.require(store_id)
    settings = await uow.settings.get()
    if settings.check_in_points <= 0:
        raise FailedPrecondition("daily check-in is switched off", reason="CHECK_IN_DISABLED")
    today = (now or datetime.now(UTC)).astimezone(CHECK_IN_TZ).date()
    repo = vs.vouchers_of(uow)
    last = await repo.last_check_in(member_id, today)
    streak = dv.streak_after(last.local_date if last else None, last.streak_days if last else 0, today)
    total, bonus = dv.check_in_points(
        streak, settings.check_in_points, settings.check_in_streak_days, settings.check_in_streak_bonus
    )
    if not await repo.claim_check_in(
        member_id=member_id, local_date=today, streak_days=streak, points=total, store_id=store_id
    ):
        raise FailedPrecondition("already checked in today", reason="ALREADY_CHECKED_IN")
    reason = f"check-in day {streak}" + (" (streak bonus)" if bonus else "")
    posted, _ = await grant_and_record(
        uow, member_id=member_id, points=total, source="check_in", reason=reason, store_id=store_id
    )
    await repo.set_check_in_transaction(member_id, today, posted.transaction_id)
    return CheckInResult(total, streak, bonus, posted)


# --- referral ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class ReferralTerms:
    """What a referral reward grants: the tenant's terms when it was earned (members'
    `ReferralSettings`, carried by `ReferralRewardEarned`), or these defaults (domain.md §2)."""

    referrer_voucher_minor: int = REFERRAL_VOUCHER_MINOR
    voucher_valid_days: int = REFERRAL_VOUCHER_DAYS
    referrer_points: int = REFERRAL_POINTS
    referee_points: int = REFERRAL_POINTS

    def template_id(self) -> str:
        """One voucher template per (amount, validity): the defaults keep the original id."""
        if (self.referrer_voucher_minor, self.voucher_valid_days) == (
            REFERRAL_VOUCHER_MINOR,
            REFERRAL_VOUCHER_DAYS,
        ):
            return REFERRAL_TEMPLATE_ID
        return f"{REFERRAL_TEMPLATE_ID}-{self.referrer_voucher_minor}-{self.voucher_valid_days}d"


DEFAULT_REFERRAL_TERMS = ReferralTerms()


async def referral_template(uow: UoW, terms: ReferralTerms = DEFAULT_REFERRAL_TERMS) -> Row:
    """The tenant's referral voucher template for these terms, created when missing."""
    repo = vs.vouchers_of(uow)
    template_id = terms.template_id()
    template = await repo.get_template(template_id)
    if template is None:
        currency = (await uow.settings.get()).currency_code
        await repo.add_template(
            template_id=template_id,
            display_name=f"{terms.referrer_voucher_minor / 100:g} {currency} referral reward",
            kind=dv.AMOUNT_OFF,
            amount_off_minor=terms.referrer_voucher_minor,
            valid_days=terms.voucher_valid_days,
            currency_code=currency,
        )
        template = await repo.get_template(template_id)
    assert template is not None
    return template


async def grant_referral_reward(
    uow: UoW,
    *,
    referrer_id: str,
    referee_id: str,
    event_id: str,
    terms: ReferralTerms = DEFAULT_REFERRAL_TERMS,
) -> bool:
    """The terms' points to both and their voucher to the referrer, once per referee; False when
    this referee's reward was granted already. A zero amount grants nothing of that kind."""
    if referrer_id == referee_id:
        raise InvalidArgument([("referee", "a member cannot refer themselves")])
    repo = vs.vouchers_of(uow)
    if not await repo.claim_referral(referee_id=referee_id, referrer_id=referrer_id, event_id=event_id):
        return False
    for member_id, points in ((referrer_id, terms.referrer_points), (referee_id, terms.referee_points)):
        if points > 0:
            await grant_and_record(
                uow, member_id=member_id, points=points, source="referral", reason="referral reward"
            )
    if terms.referrer_voucher_minor > 0:
        template = await referral_template(uow, terms)
        voucher = await vs.issue_from_template(
            uow, member_id=referrer_id, template=template, reason="referral reward"
        )
        await repo.set_referral_voucher(referee_id, voucher.voucher_id)
    return True
