"""Proto <-> domain for the voucher, rewards and check-in RPCs (grpc_vouchers.py)."""

from __future__ import annotations

from datetime import UTC, datetime

from peony.wallet.v1 import points_pb2, vouchers_pb2

from kit.errors import InvalidArgument
from kit.ids import is_resource_id, new_id
from kit.proto import ts
from services.wallet.domain import vouchers as dv
from services.wallet.entrypoints.mapping import enum_name, enum_value
from services.wallet.service_layer import vouchers as vs


def voucher_kind_of(value: int) -> str:
    return enum_name(vouchers_pb2.VoucherKind, value)


def voucher_state_of(value: int) -> str:
    """ "" for UNSPECIFIED or a number VoucherState does not define."""
    return enum_name(vouchers_pb2.VoucherState, value)


def reward_kind_of(value: int) -> str:
    return enum_name(points_pb2.RewardKind, value)


def template_to_proto(r) -> vouchers_pb2.VoucherTemplate:
    return vouchers_pb2.VoucherTemplate(
        name=f"voucherTemplates/{r.template_id}",
        display_name=r.display_name,
        kind=enum_value(vouchers_pb2.VoucherKind, r.kind),
        amount_off_minor=r.amount_off_minor,
        percent_off_bps=r.percent_off_bps,
        max_discount_minor=r.max_discount_minor,
        free_service=r.free_service,
        min_spend_minor=r.min_spend_minor,
        stores=[f"stores/{s}" for s in r.stores],
        valid_days=r.valid_days,
        valid_from=ts(r.valid_from),
        valid_until=ts(r.valid_until),
        currency_code=r.currency_code,
        active=r.active,
        create_time=ts(r.create_time),
    )


def voucher_to_proto(r, now: datetime | None = None) -> vouchers_pb2.Voucher:
    state = dv.effective_state(r.state, r.valid_until, now or datetime.now(UTC))
    return vouchers_pb2.Voucher(
        name=vs.voucher_name(r),
        template=f"voucherTemplates/{r.template_id}",
        code=r.code,
        state=enum_value(vouchers_pb2.VoucherState, state),
        valid_from=ts(r.valid_from),
        valid_until=ts(r.valid_until),
        redeemed_checkout=f"checkouts/{r.redeemed_checkout_id}" if r.state == dv.REDEEMED else "",
        display_name=r.display_name,
        kind=enum_value(vouchers_pb2.VoucherKind, r.kind),
        amount_off_minor=r.amount_off_minor,
        percent_off_bps=r.percent_off_bps,
        max_discount_minor=r.max_discount_minor,
        free_service=r.free_service,
        min_spend_minor=r.min_spend_minor,
        stores=[f"stores/{s}" for s in r.stores],
        reason=r.reason,
        create_time=ts(r.create_time),
        update_time=ts(r.update_time),
    )


def reward_to_proto(r) -> points_pb2.Reward:
    return points_pb2.Reward(
        name=f"rewards/{r.reward_id}",
        display_name=r.display_name,
        points_cost=r.points_cost,
        stock=r.stock,
        kind=enum_value(points_pb2.RewardKind, r.kind),
        item=r.item,
        active=r.active,
        create_time=ts(r.create_time),
        update_time=ts(r.update_time),
    )


def new_resource_id(value: str, field: str) -> str:
    if value and not is_resource_id(value):
        raise InvalidArgument([(field, "must match [a-z0-9][a-z0-9-]{0,62}")])
    return value or new_id()
