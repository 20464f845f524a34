import datetime

from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.api import resource_pb2 as _resource_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from peony.options.v1 import limits_pb2 as _limits_pb2
from peony.wallet.v1 import commission_pb2 as _commission_pb2
from peony.wallet.v1 import ledger_pb2 as _ledger_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CheckoutState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CHECKOUT_STATE_UNSPECIFIED: _ClassVar[CheckoutState]
    CHECKOUT_STATE_COMPLETED: _ClassVar[CheckoutState]
    CHECKOUT_STATE_PARTIALLY_REFUNDED: _ClassVar[CheckoutState]
    CHECKOUT_STATE_REFUNDED: _ClassVar[CheckoutState]
    CHECKOUT_STATE_REVERSED: _ClassVar[CheckoutState]
CHECKOUT_STATE_UNSPECIFIED: CheckoutState
CHECKOUT_STATE_COMPLETED: CheckoutState
CHECKOUT_STATE_PARTIALLY_REFUNDED: CheckoutState
CHECKOUT_STATE_REFUNDED: CheckoutState
CHECKOUT_STATE_REVERSED: CheckoutState

class TenderAmount(_message.Message):
    __slots__ = ("tender", "amount_minor")
    TENDER_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_MINOR_FIELD_NUMBER: _ClassVar[int]
    tender: _ledger_pb2.Tender
    amount_minor: int
    def __init__(self, tender: _Optional[_Union[_ledger_pb2.Tender, str]] = ..., amount_minor: _Optional[int] = ...) -> None: ...

class CheckoutLine(_message.Message):
    __slots__ = ("item", "category", "quantity", "list_price_minor", "serving_staff", "staff_position", "use_package", "display_name")
    ITEM_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    LIST_PRICE_MINOR_FIELD_NUMBER: _ClassVar[int]
    SERVING_STAFF_FIELD_NUMBER: _ClassVar[int]
    STAFF_POSITION_FIELD_NUMBER: _ClassVar[int]
    USE_PACKAGE_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    item: str
    category: str
    quantity: int
    list_price_minor: int
    serving_staff: str
    staff_position: str
    use_package: str
    display_name: str
    def __init__(self, item: _Optional[str] = ..., category: _Optional[str] = ..., quantity: _Optional[int] = ..., list_price_minor: _Optional[int] = ..., serving_staff: _Optional[str] = ..., staff_position: _Optional[str] = ..., use_package: _Optional[str] = ..., display_name: _Optional[str] = ...) -> None: ...

class CheckoutLineResult(_message.Message):
    __slots__ = ("line_index", "discount_minor", "net_minor", "package_sessions_used", "commission_records", "gross_minor", "tier_discount_minor", "voucher_discount_minor", "points_deduction_minor", "package_covered_minor", "package", "principal_funded_minor", "bonus_funded_minor", "points_earned", "refunded_quantity", "commission_base_minor")
    LINE_INDEX_FIELD_NUMBER: _ClassVar[int]
    DISCOUNT_MINOR_FIELD_NUMBER: _ClassVar[int]
    NET_MINOR_FIELD_NUMBER: _ClassVar[int]
    PACKAGE_SESSIONS_USED_FIELD_NUMBER: _ClassVar[int]
    COMMISSION_RECORDS_FIELD_NUMBER: _ClassVar[int]
    GROSS_MINOR_FIELD_NUMBER: _ClassVar[int]
    TIER_DISCOUNT_MINOR_FIELD_NUMBER: _ClassVar[int]
    VOUCHER_DISCOUNT_MINOR_FIELD_NUMBER: _ClassVar[int]
    POINTS_DEDUCTION_MINOR_FIELD_NUMBER: _ClassVar[int]
    PACKAGE_COVERED_MINOR_FIELD_NUMBER: _ClassVar[int]
    PACKAGE_FIELD_NUMBER: _ClassVar[int]
    PRINCIPAL_FUNDED_MINOR_FIELD_NUMBER: _ClassVar[int]
    BONUS_FUNDED_MINOR_FIELD_NUMBER: _ClassVar[int]
    POINTS_EARNED_FIELD_NUMBER: _ClassVar[int]
    REFUNDED_QUANTITY_FIELD_NUMBER: _ClassVar[int]
    COMMISSION_BASE_MINOR_FIELD_NUMBER: _ClassVar[int]
    line_index: int
    discount_minor: int
    net_minor: int
    package_sessions_used: int
    commission_records: _containers.RepeatedCompositeFieldContainer[_commission_pb2.CommissionRecord]
    gross_minor: int
    tier_discount_minor: int
    voucher_discount_minor: int
    points_deduction_minor: int
    package_covered_minor: int
    package: str
    principal_funded_minor: int
    bonus_funded_minor: int
    points_earned: int
    refunded_quantity: int
    commission_base_minor: int
    def __init__(self, line_index: _Optional[int] = ..., discount_minor: _Optional[int] = ..., net_minor: _Optional[int] = ..., package_sessions_used: _Optional[int] = ..., commission_records: _Optional[_Iterable[_Union[_commission_pb2.CommissionRecord, _Mapping]]] = ..., gross_minor: _Optional[int] = ..., tier_discount_minor: _Optional[int] = ..., voucher_discount_minor: _Optional[int] = ..., points_deduction_minor: _Optional[int] = ..., package_covered_minor: _Optional[int] = ..., package: _Optional[str] = ..., principal_funded_minor: _Optional[int] = ..., bonus_funded_minor: _Optional[int] = ..., points_earned: _Optional[int] = ..., refunded_quantity: _Optional[int] = ..., commission_base_minor: _Optional[int] = ...) -> None: ...

class Checkout(_message.Message):
    __slots__ = ("name", "member", "store", "lines", "vouchers", "points_to_redeem", "stored_value_minor", "tenders", "currency_code", "subtotal_minor", "tier_discount_minor", "voucher_discount_minor", "points_deduction_minor", "package_covered_minor", "total_due_minor", "principal_funded_minor", "bonus_funded_minor", "points_earned", "line_results", "state", "refunded_minor", "create_time", "qualifying_spend_minor", "transaction", "customer_type", "tier_id", "tier_discount_bps", "refunds", "update_time", "discount_approval")
    NAME_FIELD_NUMBER: _ClassVar[int]
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    STORE_FIELD_NUMBER: _ClassVar[int]
    LINES_FIELD_NUMBER: _ClassVar[int]
    VOUCHERS_FIELD_NUMBER: _ClassVar[int]
    POINTS_TO_REDEEM_FIELD_NUMBER: _ClassVar[int]
    STORED_VALUE_MINOR_FIELD_NUMBER: _ClassVar[int]
    TENDERS_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_CODE_FIELD_NUMBER: _ClassVar[int]
    SUBTOTAL_MINOR_FIELD_NUMBER: _ClassVar[int]
    TIER_DISCOUNT_MINOR_FIELD_NUMBER: _ClassVar[int]
    VOUCHER_DISCOUNT_MINOR_FIELD_NUMBER: _ClassVar[int]
    POINTS_DEDUCTION_MINOR_FIELD_NUMBER: _ClassVar[int]
    PACKAGE_COVERED_MINOR_FIELD_NUMBER: _ClassVar[int]
    TOTAL_DUE_MINOR_FIELD_NUMBER: _ClassVar[int]
    PRINCIPAL_FUNDED_MINOR_FIELD_NUMBER: _ClassVar[int]
    BONUS_FUNDED_MINOR_FIELD_NUMBER: _ClassVar[int]
    POINTS_EARNED_FIELD_NUMBER: _ClassVar[int]
    LINE_RESULTS_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    REFUNDED_MINOR_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    QUALIFYING_SPEND_MINOR_FIELD_NUMBER: _ClassVar[int]
    TRANSACTION_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_TYPE_FIELD_NUMBER: _ClassVar[int]
    TIER_ID_FIELD_NUMBER: _ClassVar[int]
    TIER_DISCOUNT_BPS_FIELD_NUMBER: _ClassVar[int]
    REFUNDS_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    DISCOUNT_APPROVAL_FIELD_NUMBER: _ClassVar[int]
    name: str
    member: str
    store: str
    lines: _containers.RepeatedCompositeFieldContainer[CheckoutLine]
    vouchers: _containers.RepeatedScalarFieldContainer[str]
    points_to_redeem: int
    stored_value_minor: int
    tenders: _containers.RepeatedCompositeFieldContainer[TenderAmount]
    currency_code: str
    subtotal_minor: int
    tier_discount_minor: int
    voucher_discount_minor: int
    points_deduction_minor: int
    package_covered_minor: int
    total_due_minor: int
    principal_funded_minor: int
    bonus_funded_minor: int
    points_earned: int
    line_results: _containers.RepeatedCompositeFieldContainer[CheckoutLineResult]
    state: CheckoutState
    refunded_minor: int
    create_time: _timestamp_pb2.Timestamp
    qualifying_spend_minor: int
    transaction: str
    customer_type: _commission_pb2.CustomerType
    tier_id: str
    tier_discount_bps: int
    refunds: _containers.RepeatedScalarFieldContainer[str]
    update_time: _timestamp_pb2.Timestamp
    discount_approval: str
    def __init__(self, name: _Optional[str] = ..., member: _Optional[str] = ..., store: _Optional[str] = ..., lines: _Optional[_Iterable[_Union[CheckoutLine, _Mapping]]] = ..., vouchers: _Optional[_Iterable[str]] = ..., points_to_redeem: _Optional[int] = ..., stored_value_minor: _Optional[int] = ..., tenders: _Optional[_Iterable[_Union[TenderAmount, _Mapping]]] = ..., currency_code: _Optional[str] = ..., subtotal_minor: _Optional[int] = ..., tier_discount_minor: _Optional[int] = ..., voucher_discount_minor: _Optional[int] = ..., points_deduction_minor: _Optional[int] = ..., package_covered_minor: _Optional[int] = ..., total_due_minor: _Optional[int] = ..., principal_funded_minor: _Optional[int] = ..., bonus_funded_minor: _Optional[int] = ..., points_earned: _Optional[int] = ..., line_results: _Optional[_Iterable[_Union[CheckoutLineResult, _Mapping]]] = ..., state: _Optional[_Union[CheckoutState, str]] = ..., refunded_minor: _Optional[int] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., qualifying_spend_minor: _Optional[int] = ..., transaction: _Optional[str] = ..., customer_type: _Optional[_Union[_commission_pb2.CustomerType, str]] = ..., tier_id: _Optional[str] = ..., tier_discount_bps: _Optional[int] = ..., refunds: _Optional[_Iterable[str]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., discount_approval: _Optional[str] = ...) -> None: ...

class DiscountApproval(_message.Message):
    __slots__ = ("name", "store", "member", "discount_bps", "reason", "approver", "create_time", "expire_time", "checkout")
    NAME_FIELD_NUMBER: _ClassVar[int]
    STORE_FIELD_NUMBER: _ClassVar[int]
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    DISCOUNT_BPS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    APPROVER_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    CHECKOUT_FIELD_NUMBER: _ClassVar[int]
    name: str
    store: str
    member: str
    discount_bps: int
    reason: str
    approver: str
    create_time: _timestamp_pb2.Timestamp
    expire_time: _timestamp_pb2.Timestamp
    checkout: str
    def __init__(self, name: _Optional[str] = ..., store: _Optional[str] = ..., member: _Optional[str] = ..., discount_bps: _Optional[int] = ..., reason: _Optional[str] = ..., approver: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., checkout: _Optional[str] = ...) -> None: ...

class RefundLine(_message.Message):
    __slots__ = ("line_index", "quantity")
    LINE_INDEX_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    line_index: int
    quantity: int
    def __init__(self, line_index: _Optional[int] = ..., quantity: _Optional[int] = ...) -> None: ...

class Refund(_message.Message):
    __slots__ = ("name", "lines", "full", "amount_minor", "points_restored", "sessions_restored", "create_time", "points_clawed_back", "principal_refunded_minor", "bonus_refunded_minor", "tenders", "vouchers_restored", "transaction", "reason", "currency_code")
    NAME_FIELD_NUMBER: _ClassVar[int]
    LINES_FIELD_NUMBER: _ClassVar[int]
    FULL_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_MINOR_FIELD_NUMBER: _ClassVar[int]
    POINTS_RESTORED_FIELD_NUMBER: _ClassVar[int]
    SESSIONS_RESTORED_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    POINTS_CLAWED_BACK_FIELD_NUMBER: _ClassVar[int]
    PRINCIPAL_REFUNDED_MINOR_FIELD_NUMBER: _ClassVar[int]
    BONUS_REFUNDED_MINOR_FIELD_NUMBER: _ClassVar[int]
    TENDERS_FIELD_NUMBER: _ClassVar[int]
    VOUCHERS_RESTORED_FIELD_NUMBER: _ClassVar[int]
    TRANSACTION_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_CODE_FIELD_NUMBER: _ClassVar[int]
    name: str
    lines: _containers.RepeatedCompositeFieldContainer[RefundLine]
    full: bool
    amount_minor: int
    points_restored: int
    sessions_restored: int
    create_time: _timestamp_pb2.Timestamp
    points_clawed_back: int
    principal_refunded_minor: int
    bonus_refunded_minor: int
    tenders: _containers.RepeatedCompositeFieldContainer[TenderAmount]
    vouchers_restored: _containers.RepeatedScalarFieldContainer[str]
    transaction: str
    reason: str
    currency_code: str
    def __init__(self, name: _Optional[str] = ..., lines: _Optional[_Iterable[_Union[RefundLine, _Mapping]]] = ..., full: _Optional[bool] = ..., amount_minor: _Optional[int] = ..., points_restored: _Optional[int] = ..., sessions_restored: _Optional[int] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., points_clawed_back: _Optional[int] = ..., principal_refunded_minor: _Optional[int] = ..., bonus_refunded_minor: _Optional[int] = ..., tenders: _Optional[_Iterable[_Union[TenderAmount, _Mapping]]] = ..., vouchers_restored: _Optional[_Iterable[str]] = ..., transaction: _Optional[str] = ..., reason: _Optional[str] = ..., currency_code: _Optional[str] = ...) -> None: ...
