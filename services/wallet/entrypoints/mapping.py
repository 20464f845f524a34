"""Proto <-> domain for the wallet's gRPC mixins: resource names parsed from requests, enums, and
wallet, ledger, hold, points and plan records turned into messages.

Enums map to the domain's lower-case strings by their proto names (`TENDER_BANK_CARD` <->
"bank_card") through protobuf's own `Name`/`Value`, so a value added to a .proto needs no table
here. Area-specific converters live beside this module (mapping_checkout.py, mapping_packages.py,
mapping_vouchers.py); none of them imports an entrypoint module.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from google.protobuf.internal.enum_type_wrapper import EnumTypeWrapper
from peony.wallet.v1 import ledger_pb2, points_pb2, stored_value_pb2

from kit.errors import InvalidArgument
from kit.ids import parse_name, parse_path
from kit.proto import ts
from services.wallet.service_layer import stored_value as sv
from services.wallet.service_layer.top_up_plans import TopUpPlan


# --- enums ------------------------------------------------------------------------------------
def _prefix(enum: EnumTypeWrapper) -> str:
    return enum.Name(0).removesuffix("UNSPECIFIED")  # every Peony enum's zero is X_UNSPECIFIED


def enum_value(enum: EnumTypeWrapper, name: str | None) -> int:
    """ "bank_card" -> TENDER_BANK_CARD; 0 (UNSPECIFIED) for an empty or unknown name."""
    if not name:
        return 0
    try:
        return enum.Value(_prefix(enum) + name.upper())
    except ValueError:
        return 0


def enum_name(enum: EnumTypeWrapper, value: int, *, unknown: str = "", unspecified: str | None = None) -> str:
    """TENDER_BANK_CARD -> "bank_card". UNSPECIFIED answers `unspecified` (default: `unknown`), a
    number the enum does not define answers `unknown`: requests carry open enums."""
    if value == 0:
        return unknown if unspecified is None else unspecified
    try:
        return enum.Name(value).removeprefix(_prefix(enum)).lower()
    except ValueError:
        return unknown


# Ledger kinds stored under another name than their proto kind. A refund of a checkout is stored
# apart from a stored-value refund ("refund") but, as ledger.proto says, it is a CHECKOUT
# transaction (its `reverses` names the checkout when it mirrors it exactly, and `reference`
# names the refund). "transfer" has no proto kind (UNSPECIFIED).
_KIND_ALIASES = {"checkout_refund": "checkout"}


def transaction_kind(kind: str) -> int:
    return enum_value(ledger_pb2.TransactionKind, _KIND_ALIASES.get(kind, kind))


def stored_kinds(values) -> list[str]:
    """Requested TransactionKinds -> the stored kinds they cover (unknown and UNSPECIFIED ignored)."""
    names = {enum_name(ledger_pb2.TransactionKind, v) for v in values} - {""}
    return sorted(names | {alias for alias, kind in _KIND_ALIASES.items() if kind in names})


# --- resource names ---------------------------------------------------------------------------
def member_id_of(name: str, field: str) -> str:
    member_id = parse_name(name, "members", uuid=True)
    if member_id is None:
        raise InvalidArgument([(field, "must be a resource name of the form members/{member}")])
    return member_id


def store_id_of(name: str, field: str = "store") -> str:
    store_id = parse_name(name, "stores") if name else None
    if not store_id:
        raise InvalidArgument([(field, "must be a resource name of the form stores/{store}")])
    return store_id


def optional_store_id_of(name: str, field: str = "store") -> str | None:
    return store_id_of(name, field) if name else None


def store_ids_of(names, field: str) -> list[str]:
    stores = [parse_name(s, "stores") for s in names]
    if any(s is None for s in stores):
        raise InvalidArgument([(field, "each must be stores/{store}")])
    return [s for s in stores if s]


def hold_id_of(name: str, field: str = "name") -> str:
    hold_id = parse_name(name, "holds", uuid=True)
    if hold_id is None:
        raise InvalidArgument([(field, "must be holds/{hold}")])
    return hold_id


def tender_of(value: int, field: str = "tender") -> str:
    """An external tender (money that comes from outside the wallet)."""
    tender = enum_name(ledger_pb2.Tender, value)
    if tender not in sv.EXTERNAL_TENDERS:
        raise InvalidArgument([(field, "must be cash, bank card, WeChat Pay or Alipay")])
    return tender


def transaction_id_of(name: str) -> tuple[str, str | None]:
    """`members/{m}/transactions/{id}` or `transactions/{id}` → (id, member id or None)."""
    nested = parse_path(name, "members/{uuid}/transactions/{uuid}")
    if nested is not None:
        return nested[1], nested[0]
    top = parse_path(name, "transactions/{uuid}")
    if top is not None:
        return top[0], None
    raise InvalidArgument([("name", "must be members/{member}/transactions/{id} or transactions/{id}")])


def time_of(request, field: str) -> datetime | None:
    return getattr(request, field).ToDatetime(UTC) if request.HasField(field) else None


def store_name(store_id: str | None) -> str:
    return f"stores/{store_id}" if store_id else ""


# --- messages ---------------------------------------------------------------------------------
def wallet_to_proto(s: sv.WalletSnapshot) -> stored_value_pb2.Wallet:
    return stored_value_pb2.Wallet(
        name=f"members/{s.member_id}/wallet",
        currency_code=s.currency,
        principal_minor=s.principal,
        bonus_minor=s.bonus,
        held_minor=s.held,
        locked_bonus_minor=s.locked_bonus,
        points_available=s.points_available,
        points_pending=s.points_pending,
        points_expiring_30d=s.points_expiring,
        pin_set=s.pin_set,
        pin_locked_until=ts(s.pin_locked_until),
    )


def transaction_to_proto(posted, tenant: str) -> ledger_pb2.LedgerTransaction:
    """As ledger.proto documents it: postings on `<kind>:<owner>`, the request and resource."""
    return ledger_pb2.LedgerTransaction(
        name=sv.transaction_name(posted),
        kind=transaction_kind(posted.kind),
        postings=[
            ledger_pb2.Posting(
                account=f"{p.account.kind.code}:{p.account.owner}", amount=p.amount, unit=p.account.unit
            )
            for p in posted.postings
        ],
        member=f"members/{posted.member_id}" if posted.member_id else "",
        store=store_name(posted.store_id),
        # full resource names, like `name` (a reversal belongs to its original's member)
        reverses=sv.transaction_name(replace(posted, transaction_id=posted.reverses))
        if posted.reverses
        else "",
        reversed_by=sv.transaction_name(replace(posted, transaction_id=posted.reversed_by))
        if posted.reversed_by
        else "",
        request_id=posted.request_id,
        description=posted.description,
        create_time=ts(posted.create_time),
        reference=posted.reference,
    )


def hold_to_proto(h, currency: str) -> ledger_pb2.Hold:
    return ledger_pb2.Hold(
        name=f"holds/{h.hold_id}",
        member=f"members/{h.member_id}",
        amount_minor=h.amount_minor,
        currency_code=currency,
        state=enum_value(ledger_pb2.HoldState, h.state),
        expire_time=ts(h.expire_time),
        reference=h.reference,
        store=f"stores/{h.store_id}",
        package=f"members/{h.member_id}/packages/{h.package_id}" if h.package_id else "",
        service=h.service or "",
        sessions=h.sessions,
        principal_minor=h.principal_minor,
        bonus_minor=h.bonus_minor,
        captured_minor=h.amount_minor if h.state == "captured" else 0,
        captured_sessions=h.captured_sessions,
        authorize_transaction=f"members/{h.member_id}/transactions/{h.authorize_transaction_id}",
        captured_transaction=f"members/{h.member_id}/transactions/{h.settle_transaction_id}"
        if h.state == "captured"
        else "",
        void_transaction=f"members/{h.member_id}/transactions/{h.settle_transaction_id}"
        if h.state in ("voided", "expired")
        else "",
        create_time=ts(h.create_time),
        update_time=ts(h.update_time),
        use_time=ts(h.use_time or h.create_time) if h.package_id else None,
    )


def lot_to_proto(member_id: str, lot) -> points_pb2.PointLot:
    get = lot.get if isinstance(lot, dict) else lambda k: getattr(lot, k)
    return points_pb2.PointLot(
        name=f"members/{member_id}/pointLots/{get('lot_id')}",
        source=enum_value(points_pb2.LotSource, get("source")),
        original=get("original"),
        remaining=get("remaining"),
        earned_time=ts(get("earned_time")),
        expire_time=ts(get("expire_time")),
        pending_until=ts(get("pending_until")),
        reason=get("reason"),
    )


def plan_to_proto(p: TopUpPlan, currency: str) -> stored_value_pb2.TopUpPlan:
    return stored_value_pb2.TopUpPlan(
        name=f"topUpPlans/{p.plan_id}",
        display_name=p.display_name,
        pay_minor=p.pay_minor,
        bonus_minor=p.bonus_minor,
        bonus_release=enum_value(stored_value_pb2.BonusRelease, p.bonus_release),
        release_months=p.release_months,
        active=p.active,
        stores=[f"stores/{s}" for s in p.stores],
        currency_code=currency,
        create_time=ts(p.create_time),
    )


def settings_to_proto(s) -> stored_value_pb2.WalletSettings:
    return stored_value_pb2.WalletSettings(
        name="walletSettings",
        spend_order=enum_value(stored_value_pb2.SpendOrder, s.spend_order),
        currency_code=s.currency_code,
        pin_max_attempts=s.pin_max_attempts,
        pin_lockout_minutes=s.pin_lockout_minutes,
        hold_default_ttl_minutes=s.hold_default_ttl_minutes,
        free_care_service=s.free_care_service,
        max_manual_discount_bps=s.max_manual_discount_bps,
        membership_fee_minor=s.membership_fee_minor,
        membership_months=s.membership_months,
        membership_renewal_notice_days=s.membership_renewal_notice_days,
        member_day_of_month=s.member_day_of_month,
        member_day_points_multiplier_permille=s.member_day_points_multiplier_permille,
        member_day_tier_ids=list(s.member_day_tier_ids),
    )


def points_policy_to_proto(s) -> points_pb2.PointsPolicy:
    return points_pb2.PointsPolicy(
        name="pointsPolicy",
        points_per_yuan=s.points_per_yuan,
        expiry_policy=enum_value(points_pb2.PointsExpiryPolicy, s.expiry_policy),
        expiry_months=s.expiry_months,
        expiry_days=s.expiry_days,
        pending_days=s.pending_days,
        redemption_rate_points_per_yuan=s.redemption_points_per_yuan,
        min_redeem_points=s.min_redeem_points,
        max_redeem_bps=s.max_redeem_bps,
        expiring_notice_days=s.expiring_notice_days,
        check_in_points=s.check_in_points,
        check_in_streak_days=s.check_in_streak_days,
        check_in_streak_bonus_points=s.check_in_streak_bonus,
    )
