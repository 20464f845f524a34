"""Enum <-> string of the wallet's gRPC edge, through protobuf's Name/Value: every domain value
has its proto value and back, and requests' unknown numbers never raise."""

from __future__ import annotations

import pytest
from peony.wallet.v1 import (
    checkout_pb2,
    commission_pb2,
    ledger_pb2,
    packages_pb2,
    points_pb2,
    stored_value_pb2,
    vouchers_pb2,
)

from kit.errors import InvalidArgument
from services.wallet.adapters import legacy_import
from services.wallet.domain import packages as dp
from services.wallet.domain import rules
from services.wallet.domain import vouchers as dv
from services.wallet.entrypoints import mapping as m
from services.wallet.entrypoints import mapping_checkout as mc
from services.wallet.entrypoints import mapping_packages as mp
from services.wallet.service_layer import commission as com
from services.wallet.service_layer import points as pts
from services.wallet.service_layer import stored_value as sv

DOMAIN_VALUES = [
    (stored_value_pb2.SpendOrder, rules.SPEND_ORDERS),
    (stored_value_pb2.BonusRelease, ("immediate", "monthly")),
    (points_pb2.PointsExpiryPolicy, rules.EXPIRY_POLICIES),
    (points_pb2.LotSource, (*pts.GRANT_SOURCES, legacy_import.IMPORT_SOURCE)),  # import: `peony import` only
    (ledger_pb2.HoldState, ("authorized", "captured", "voided", "expired")),
    (ledger_pb2.Tender, (*sv.EXTERNAL_TENDERS, "stored_value", "points", "package", "voucher")),
    (packages_pb2.PackageState, (dp.ACTIVE, dp.FROZEN, dp.REFUNDED, dp.EXHAUSTED)),
    (vouchers_pb2.VoucherKind, (dv.AMOUNT_OFF, dv.PERCENT_OFF, dv.FREE_SERVICE)),
    (vouchers_pb2.VoucherState, (dv.ISSUED, dv.REDEEMED, dv.VOIDED, dv.EXPIRED)),
    (points_pb2.RewardKind, (dv.PRODUCT, dv.SERVICE, dv.VOUCHER)),
    (checkout_pb2.CheckoutState, ("completed", "partially_refunded", "refunded", "reversed")),
    (commission_pb2.CommissionBasis, com.BASES),
    (commission_pb2.CustomerType, tuple(c for c in com.CUSTOMER_TYPES if c)),
]


@pytest.mark.parametrize(
    ("enum", "values"), DOMAIN_VALUES, ids=lambda x: getattr(x, "DESCRIPTOR", None) and x.DESCRIPTOR.name
)
def test_every_domain_value_has_its_proto_value_and_back(enum, values):
    for value in values:
        number = m.enum_value(enum, value)
        assert number != 0, value
        assert m.enum_name(enum, number) == value
    # and every proto value but UNSPECIFIED names a domain value
    assert {m.enum_name(enum, n) for n in enum.values() if n} == set(values)


def test_unknown_and_unspecified():
    assert m.enum_value(ledger_pb2.HoldState, "nonsense") == 0
    assert m.enum_value(ledger_pb2.HoldState, "") == 0
    assert m.enum_name(ledger_pb2.HoldState, 99) == ""
    assert m.enum_name(stored_value_pb2.SpendOrder, 99, unknown="invalid") == "invalid"
    assert m.enum_name(stored_value_pb2.SpendOrder, 0, unknown="invalid") == "invalid"
    assert mc.customer_type_of(0) == "" and mc.customer_type_of(99) == "invalid"
    assert mc.rule_tender_of(0) == "" and mc.rule_tender_of(ledger_pb2.TENDER_POINTS) == "points"
    assert mc.basis_of(0) == "invalid"
    assert mp.package_state_of(0) == "" and mp.package_state_of(99) == ""


def test_transaction_kinds():
    assert m.transaction_kind("top_up") == ledger_pb2.TRANSACTION_KIND_TOP_UP
    # a checkout refund is a CHECKOUT transaction (ledger.proto); a transfer has no kind
    assert m.transaction_kind("checkout_refund") == ledger_pb2.TRANSACTION_KIND_CHECKOUT
    assert m.transaction_kind("transfer") == ledger_pb2.TRANSACTION_KIND_UNSPECIFIED
    assert m.stored_kinds(
        [ledger_pb2.TRANSACTION_KIND_CHECKOUT, ledger_pb2.TRANSACTION_KIND_SPEND, 0, 99]
    ) == [
        "checkout",
        "checkout_refund",
        "spend",
    ]


def test_only_external_tenders_pay_a_top_up():
    assert m.tender_of(ledger_pb2.TENDER_WECHAT_PAY) == "wechat_pay"
    for bad in (0, ledger_pb2.TENDER_STORED_VALUE, ledger_pb2.TENDER_POINTS, 99):
        with pytest.raises(InvalidArgument):
            m.tender_of(bad)
    assert mp.package_tender_of(ledger_pb2.TENDER_STORED_VALUE, "tender") == "stored_value"
