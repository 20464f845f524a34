import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from peony.wallet.v1 import ledger_pb2 as _ledger_pb2
from peony.wallet.v1 import points_pb2 as _points_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TopUpCompleted(_message.Message):
    __slots__ = ("member", "store", "transaction", "amount_minor", "bonus_released_minor", "bonus_locked_minor", "plan", "tender", "currency_code")
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    STORE_FIELD_NUMBER: _ClassVar[int]
    TRANSACTION_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_MINOR_FIELD_NUMBER: _ClassVar[int]
    BONUS_RELEASED_MINOR_FIELD_NUMBER: _ClassVar[int]
    BONUS_LOCKED_MINOR_FIELD_NUMBER: _ClassVar[int]
    PLAN_FIELD_NUMBER: _ClassVar[int]
    TENDER_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_CODE_FIELD_NUMBER: _ClassVar[int]
    member: str
    store: str
    transaction: str
    amount_minor: int
    bonus_released_minor: int
    bonus_locked_minor: int
    plan: str
    tender: _ledger_pb2.Tender
    currency_code: str
    def __init__(self, member: _Optional[str] = ..., store: _Optional[str] = ..., transaction: _Optional[str] = ..., amount_minor: _Optional[int] = ..., bonus_released_minor: _Optional[int] = ..., bonus_locked_minor: _Optional[int] = ..., plan: _Optional[str] = ..., tender: _Optional[_Union[_ledger_pb2.Tender, str]] = ..., currency_code: _Optional[str] = ...) -> None: ...

class BonusReleased(_message.Message):
    __slots__ = ("member", "transaction", "amount_minor", "remaining_locked_minor", "top_up_transaction", "currency_code")
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    TRANSACTION_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_MINOR_FIELD_NUMBER: _ClassVar[int]
    REMAINING_LOCKED_MINOR_FIELD_NUMBER: _ClassVar[int]
    TOP_UP_TRANSACTION_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_CODE_FIELD_NUMBER: _ClassVar[int]
    member: str
    transaction: str
    amount_minor: int
    remaining_locked_minor: int
    top_up_transaction: str
    currency_code: str
    def __init__(self, member: _Optional[str] = ..., transaction: _Optional[str] = ..., amount_minor: _Optional[int] = ..., remaining_locked_minor: _Optional[int] = ..., top_up_transaction: _Optional[str] = ..., currency_code: _Optional[str] = ...) -> None: ...

class StoredValueRefunded(_message.Message):
    __slots__ = ("member", "store", "transaction", "principal_refunded_minor", "bonus_voided_minor", "tender", "currency_code")
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    STORE_FIELD_NUMBER: _ClassVar[int]
    TRANSACTION_FIELD_NUMBER: _ClassVar[int]
    PRINCIPAL_REFUNDED_MINOR_FIELD_NUMBER: _ClassVar[int]
    BONUS_VOIDED_MINOR_FIELD_NUMBER: _ClassVar[int]
    TENDER_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_CODE_FIELD_NUMBER: _ClassVar[int]
    member: str
    store: str
    transaction: str
    principal_refunded_minor: int
    bonus_voided_minor: int
    tender: _ledger_pb2.Tender
    currency_code: str
    def __init__(self, member: _Optional[str] = ..., store: _Optional[str] = ..., transaction: _Optional[str] = ..., principal_refunded_minor: _Optional[int] = ..., bonus_voided_minor: _Optional[int] = ..., tender: _Optional[_Union[_ledger_pb2.Tender, str]] = ..., currency_code: _Optional[str] = ...) -> None: ...

class BalanceChanged(_message.Message):
    __slots__ = ("member", "principal_minor", "bonus_minor", "reason", "transaction", "delta_minor", "store", "currency_code")
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    PRINCIPAL_MINOR_FIELD_NUMBER: _ClassVar[int]
    BONUS_MINOR_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    TRANSACTION_FIELD_NUMBER: _ClassVar[int]
    DELTA_MINOR_FIELD_NUMBER: _ClassVar[int]
    STORE_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_CODE_FIELD_NUMBER: _ClassVar[int]
    member: str
    principal_minor: int
    bonus_minor: int
    reason: _ledger_pb2.TransactionKind
    transaction: str
    delta_minor: int
    store: str
    currency_code: str
    def __init__(self, member: _Optional[str] = ..., principal_minor: _Optional[int] = ..., bonus_minor: _Optional[int] = ..., reason: _Optional[_Union[_ledger_pb2.TransactionKind, str]] = ..., transaction: _Optional[str] = ..., delta_minor: _Optional[int] = ..., store: _Optional[str] = ..., currency_code: _Optional[str] = ...) -> None: ...

class PointsEarned(_message.Message):
    __slots__ = ("member", "points", "source", "point_lot", "transaction", "expire_time", "points_available", "checkout")
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    POINT_LOT_FIELD_NUMBER: _ClassVar[int]
    TRANSACTION_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    POINTS_AVAILABLE_FIELD_NUMBER: _ClassVar[int]
    CHECKOUT_FIELD_NUMBER: _ClassVar[int]
    member: str
    points: int
    source: _points_pb2.LotSource
    point_lot: str
    transaction: str
    expire_time: _timestamp_pb2.Timestamp
    points_available: int
    checkout: str
    def __init__(self, member: _Optional[str] = ..., points: _Optional[int] = ..., source: _Optional[_Union[_points_pb2.LotSource, str]] = ..., point_lot: _Optional[str] = ..., transaction: _Optional[str] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., points_available: _Optional[int] = ..., checkout: _Optional[str] = ...) -> None: ...

class PointsRedeemed(_message.Message):
    __slots__ = ("member", "points", "transaction", "checkout", "reward", "points_available")
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    TRANSACTION_FIELD_NUMBER: _ClassVar[int]
    CHECKOUT_FIELD_NUMBER: _ClassVar[int]
    REWARD_FIELD_NUMBER: _ClassVar[int]
    POINTS_AVAILABLE_FIELD_NUMBER: _ClassVar[int]
    member: str
    points: int
    transaction: str
    checkout: str
    reward: str
    points_available: int
    def __init__(self, member: _Optional[str] = ..., points: _Optional[int] = ..., transaction: _Optional[str] = ..., checkout: _Optional[str] = ..., reward: _Optional[str] = ..., points_available: _Optional[int] = ...) -> None: ...

class PointsExpiring(_message.Message):
    __slots__ = ("member", "points", "expire_time", "point_lot")
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    POINT_LOT_FIELD_NUMBER: _ClassVar[int]
    member: str
    points: int
    expire_time: _timestamp_pb2.Timestamp
    point_lot: str
    def __init__(self, member: _Optional[str] = ..., points: _Optional[int] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., point_lot: _Optional[str] = ...) -> None: ...

class PointsExpired(_message.Message):
    __slots__ = ("member", "points", "transaction", "point_lots", "points_available")
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    TRANSACTION_FIELD_NUMBER: _ClassVar[int]
    POINT_LOTS_FIELD_NUMBER: _ClassVar[int]
    POINTS_AVAILABLE_FIELD_NUMBER: _ClassVar[int]
    member: str
    points: int
    transaction: str
    point_lots: _containers.RepeatedScalarFieldContainer[str]
    points_available: int
    def __init__(self, member: _Optional[str] = ..., points: _Optional[int] = ..., transaction: _Optional[str] = ..., point_lots: _Optional[_Iterable[str]] = ..., points_available: _Optional[int] = ...) -> None: ...

class PackageSold(_message.Message):
    __slots__ = ("member", "package", "product", "store", "price_minor", "transaction", "currency_code", "items")
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    PACKAGE_FIELD_NUMBER: _ClassVar[int]
    PRODUCT_FIELD_NUMBER: _ClassVar[int]
    STORE_FIELD_NUMBER: _ClassVar[int]
    PRICE_MINOR_FIELD_NUMBER: _ClassVar[int]
    TRANSACTION_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_CODE_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    member: str
    package: str
    product: str
    store: str
    price_minor: int
    transaction: str
    currency_code: str
    items: _containers.RepeatedCompositeFieldContainer[PackageItemSessions]
    def __init__(self, member: _Optional[str] = ..., package: _Optional[str] = ..., product: _Optional[str] = ..., store: _Optional[str] = ..., price_minor: _Optional[int] = ..., transaction: _Optional[str] = ..., currency_code: _Optional[str] = ..., items: _Optional[_Iterable[_Union[PackageItemSessions, _Mapping]]] = ...) -> None: ...

class PackageItemSessions(_message.Message):
    __slots__ = ("service", "sessions_remaining")
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    SESSIONS_REMAINING_FIELD_NUMBER: _ClassVar[int]
    service: str
    sessions_remaining: int
    def __init__(self, service: _Optional[str] = ..., sessions_remaining: _Optional[int] = ...) -> None: ...

class PackageSessionConsumed(_message.Message):
    __slots__ = ("member", "package", "service", "sessions", "sessions_remaining", "store", "recognized_minor", "transaction", "checkout", "currency_code")
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    PACKAGE_FIELD_NUMBER: _ClassVar[int]
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    SESSIONS_FIELD_NUMBER: _ClassVar[int]
    SESSIONS_REMAINING_FIELD_NUMBER: _ClassVar[int]
    STORE_FIELD_NUMBER: _ClassVar[int]
    RECOGNIZED_MINOR_FIELD_NUMBER: _ClassVar[int]
    TRANSACTION_FIELD_NUMBER: _ClassVar[int]
    CHECKOUT_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_CODE_FIELD_NUMBER: _ClassVar[int]
    member: str
    package: str
    service: str
    sessions: int
    sessions_remaining: int
    store: str
    recognized_minor: int
    transaction: str
    checkout: str
    currency_code: str
    def __init__(self, member: _Optional[str] = ..., package: _Optional[str] = ..., service: _Optional[str] = ..., sessions: _Optional[int] = ..., sessions_remaining: _Optional[int] = ..., store: _Optional[str] = ..., recognized_minor: _Optional[int] = ..., transaction: _Optional[str] = ..., checkout: _Optional[str] = ..., currency_code: _Optional[str] = ...) -> None: ...

class PackageSessionsRestored(_message.Message):
    __slots__ = ("member", "package", "service", "sessions", "sessions_remaining", "transaction", "checkout")
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    PACKAGE_FIELD_NUMBER: _ClassVar[int]
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    SESSIONS_FIELD_NUMBER: _ClassVar[int]
    SESSIONS_REMAINING_FIELD_NUMBER: _ClassVar[int]
    TRANSACTION_FIELD_NUMBER: _ClassVar[int]
    CHECKOUT_FIELD_NUMBER: _ClassVar[int]
    member: str
    package: str
    service: str
    sessions: int
    sessions_remaining: int
    transaction: str
    checkout: str
    def __init__(self, member: _Optional[str] = ..., package: _Optional[str] = ..., service: _Optional[str] = ..., sessions: _Optional[int] = ..., sessions_remaining: _Optional[int] = ..., transaction: _Optional[str] = ..., checkout: _Optional[str] = ...) -> None: ...

class PackageTransferred(_message.Message):
    __slots__ = ("from_member", "from_package", "to_member", "to_package", "sessions", "transaction", "to_items")
    FROM_MEMBER_FIELD_NUMBER: _ClassVar[int]
    FROM_PACKAGE_FIELD_NUMBER: _ClassVar[int]
    TO_MEMBER_FIELD_NUMBER: _ClassVar[int]
    TO_PACKAGE_FIELD_NUMBER: _ClassVar[int]
    SESSIONS_FIELD_NUMBER: _ClassVar[int]
    TRANSACTION_FIELD_NUMBER: _ClassVar[int]
    TO_ITEMS_FIELD_NUMBER: _ClassVar[int]
    from_member: str
    from_package: str
    to_member: str
    to_package: str
    sessions: int
    transaction: str
    to_items: _containers.RepeatedCompositeFieldContainer[PackageItemSessions]
    def __init__(self, from_member: _Optional[str] = ..., from_package: _Optional[str] = ..., to_member: _Optional[str] = ..., to_package: _Optional[str] = ..., sessions: _Optional[int] = ..., transaction: _Optional[str] = ..., to_items: _Optional[_Iterable[_Union[PackageItemSessions, _Mapping]]] = ...) -> None: ...

class PackageRefunded(_message.Message):
    __slots__ = ("member", "package", "store", "sessions", "refund_minor", "tender", "transaction", "currency_code")
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    PACKAGE_FIELD_NUMBER: _ClassVar[int]
    STORE_FIELD_NUMBER: _ClassVar[int]
    SESSIONS_FIELD_NUMBER: _ClassVar[int]
    REFUND_MINOR_FIELD_NUMBER: _ClassVar[int]
    TENDER_FIELD_NUMBER: _ClassVar[int]
    TRANSACTION_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_CODE_FIELD_NUMBER: _ClassVar[int]
    member: str
    package: str
    store: str
    sessions: int
    refund_minor: int
    tender: _ledger_pb2.Tender
    transaction: str
    currency_code: str
    def __init__(self, member: _Optional[str] = ..., package: _Optional[str] = ..., store: _Optional[str] = ..., sessions: _Optional[int] = ..., refund_minor: _Optional[int] = ..., tender: _Optional[_Union[_ledger_pb2.Tender, str]] = ..., transaction: _Optional[str] = ..., currency_code: _Optional[str] = ...) -> None: ...

class PackageExpired(_message.Message):
    __slots__ = ("member", "package", "items", "sessions", "recognized_minor", "store", "transaction", "currency_code")
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    PACKAGE_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    SESSIONS_FIELD_NUMBER: _ClassVar[int]
    RECOGNIZED_MINOR_FIELD_NUMBER: _ClassVar[int]
    STORE_FIELD_NUMBER: _ClassVar[int]
    TRANSACTION_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_CODE_FIELD_NUMBER: _ClassVar[int]
    member: str
    package: str
    items: _containers.RepeatedCompositeFieldContainer[PackageItemSessions]
    sessions: int
    recognized_minor: int
    store: str
    transaction: str
    currency_code: str
    def __init__(self, member: _Optional[str] = ..., package: _Optional[str] = ..., items: _Optional[_Iterable[_Union[PackageItemSessions, _Mapping]]] = ..., sessions: _Optional[int] = ..., recognized_minor: _Optional[int] = ..., store: _Optional[str] = ..., transaction: _Optional[str] = ..., currency_code: _Optional[str] = ...) -> None: ...

class VoucherIssued(_message.Message):
    __slots__ = ("member", "voucher", "template", "valid_until", "reason")
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    VOUCHER_FIELD_NUMBER: _ClassVar[int]
    TEMPLATE_FIELD_NUMBER: _ClassVar[int]
    VALID_UNTIL_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    member: str
    voucher: str
    template: str
    valid_until: _timestamp_pb2.Timestamp
    reason: str
    def __init__(self, member: _Optional[str] = ..., voucher: _Optional[str] = ..., template: _Optional[str] = ..., valid_until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., reason: _Optional[str] = ...) -> None: ...

class VoucherRedeemed(_message.Message):
    __slots__ = ("member", "voucher", "template", "checkout", "discount_minor", "store", "currency_code")
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    VOUCHER_FIELD_NUMBER: _ClassVar[int]
    TEMPLATE_FIELD_NUMBER: _ClassVar[int]
    CHECKOUT_FIELD_NUMBER: _ClassVar[int]
    DISCOUNT_MINOR_FIELD_NUMBER: _ClassVar[int]
    STORE_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_CODE_FIELD_NUMBER: _ClassVar[int]
    member: str
    voucher: str
    template: str
    checkout: str
    discount_minor: int
    store: str
    currency_code: str
    def __init__(self, member: _Optional[str] = ..., voucher: _Optional[str] = ..., template: _Optional[str] = ..., checkout: _Optional[str] = ..., discount_minor: _Optional[int] = ..., store: _Optional[str] = ..., currency_code: _Optional[str] = ...) -> None: ...

class VoucherRestored(_message.Message):
    __slots__ = ("member", "voucher", "template", "checkout", "refund")
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    VOUCHER_FIELD_NUMBER: _ClassVar[int]
    TEMPLATE_FIELD_NUMBER: _ClassVar[int]
    CHECKOUT_FIELD_NUMBER: _ClassVar[int]
    REFUND_FIELD_NUMBER: _ClassVar[int]
    member: str
    voucher: str
    template: str
    checkout: str
    refund: str
    def __init__(self, member: _Optional[str] = ..., voucher: _Optional[str] = ..., template: _Optional[str] = ..., checkout: _Optional[str] = ..., refund: _Optional[str] = ...) -> None: ...

class HoldAuthorized(_message.Message):
    __slots__ = ("hold", "member", "amount_minor", "package", "service", "sessions", "reference", "expire_time")
    HOLD_FIELD_NUMBER: _ClassVar[int]
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_MINOR_FIELD_NUMBER: _ClassVar[int]
    PACKAGE_FIELD_NUMBER: _ClassVar[int]
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    SESSIONS_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    hold: str
    member: str
    amount_minor: int
    package: str
    service: str
    sessions: int
    reference: str
    expire_time: _timestamp_pb2.Timestamp
    def __init__(self, hold: _Optional[str] = ..., member: _Optional[str] = ..., amount_minor: _Optional[int] = ..., package: _Optional[str] = ..., service: _Optional[str] = ..., sessions: _Optional[int] = ..., reference: _Optional[str] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class HoldCaptured(_message.Message):
    __slots__ = ("hold", "member", "captured_minor", "captured_sessions", "transaction", "reference")
    HOLD_FIELD_NUMBER: _ClassVar[int]
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    CAPTURED_MINOR_FIELD_NUMBER: _ClassVar[int]
    CAPTURED_SESSIONS_FIELD_NUMBER: _ClassVar[int]
    TRANSACTION_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    hold: str
    member: str
    captured_minor: int
    captured_sessions: int
    transaction: str
    reference: str
    def __init__(self, hold: _Optional[str] = ..., member: _Optional[str] = ..., captured_minor: _Optional[int] = ..., captured_sessions: _Optional[int] = ..., transaction: _Optional[str] = ..., reference: _Optional[str] = ...) -> None: ...

class HoldExtended(_message.Message):
    __slots__ = ("hold", "member", "reference", "previous_expire_time", "expire_time")
    HOLD_FIELD_NUMBER: _ClassVar[int]
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    hold: str
    member: str
    reference: str
    previous_expire_time: _timestamp_pb2.Timestamp
    expire_time: _timestamp_pb2.Timestamp
    def __init__(self, hold: _Optional[str] = ..., member: _Optional[str] = ..., reference: _Optional[str] = ..., previous_expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class HoldVoided(_message.Message):
    __slots__ = ("hold", "member", "expired", "transaction", "reference")
    HOLD_FIELD_NUMBER: _ClassVar[int]
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    EXPIRED_FIELD_NUMBER: _ClassVar[int]
    TRANSACTION_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    hold: str
    member: str
    expired: bool
    transaction: str
    reference: str
    def __init__(self, hold: _Optional[str] = ..., member: _Optional[str] = ..., expired: _Optional[bool] = ..., transaction: _Optional[str] = ..., reference: _Optional[str] = ...) -> None: ...

class CheckoutCompletedLine(_message.Message):
    __slots__ = ("item", "category", "quantity", "net_minor", "serving_staff", "package_sessions_used")
    ITEM_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    NET_MINOR_FIELD_NUMBER: _ClassVar[int]
    SERVING_STAFF_FIELD_NUMBER: _ClassVar[int]
    PACKAGE_SESSIONS_USED_FIELD_NUMBER: _ClassVar[int]
    item: str
    category: str
    quantity: int
    net_minor: int
    serving_staff: str
    package_sessions_used: int
    def __init__(self, item: _Optional[str] = ..., category: _Optional[str] = ..., quantity: _Optional[int] = ..., net_minor: _Optional[int] = ..., serving_staff: _Optional[str] = ..., package_sessions_used: _Optional[int] = ...) -> None: ...

class CheckoutCompleted(_message.Message):
    __slots__ = ("checkout", "member", "store", "lines", "total_minor", "principal_funded_minor", "points_earned", "qualifying_spend_minor", "subtotal_minor", "bonus_funded_minor", "create_time", "currency_code")
    CHECKOUT_FIELD_NUMBER: _ClassVar[int]
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    STORE_FIELD_NUMBER: _ClassVar[int]
    LINES_FIELD_NUMBER: _ClassVar[int]
    TOTAL_MINOR_FIELD_NUMBER: _ClassVar[int]
    PRINCIPAL_FUNDED_MINOR_FIELD_NUMBER: _ClassVar[int]
    POINTS_EARNED_FIELD_NUMBER: _ClassVar[int]
    QUALIFYING_SPEND_MINOR_FIELD_NUMBER: _ClassVar[int]
    SUBTOTAL_MINOR_FIELD_NUMBER: _ClassVar[int]
    BONUS_FUNDED_MINOR_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_CODE_FIELD_NUMBER: _ClassVar[int]
    checkout: str
    member: str
    store: str
    lines: _containers.RepeatedCompositeFieldContainer[CheckoutCompletedLine]
    total_minor: int
    principal_funded_minor: int
    points_earned: int
    qualifying_spend_minor: int
    subtotal_minor: int
    bonus_funded_minor: int
    create_time: _timestamp_pb2.Timestamp
    currency_code: str
    def __init__(self, checkout: _Optional[str] = ..., member: _Optional[str] = ..., store: _Optional[str] = ..., lines: _Optional[_Iterable[_Union[CheckoutCompletedLine, _Mapping]]] = ..., total_minor: _Optional[int] = ..., principal_funded_minor: _Optional[int] = ..., points_earned: _Optional[int] = ..., qualifying_spend_minor: _Optional[int] = ..., subtotal_minor: _Optional[int] = ..., bonus_funded_minor: _Optional[int] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., currency_code: _Optional[str] = ...) -> None: ...

class CheckoutRefunded(_message.Message):
    __slots__ = ("checkout", "refund", "member", "principal_refunded_minor", "points_clawed_back", "amount_minor", "qualifying_spend_minor", "full", "store", "currency_code")
    CHECKOUT_FIELD_NUMBER: _ClassVar[int]
    REFUND_FIELD_NUMBER: _ClassVar[int]
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    PRINCIPAL_REFUNDED_MINOR_FIELD_NUMBER: _ClassVar[int]
    POINTS_CLAWED_BACK_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_MINOR_FIELD_NUMBER: _ClassVar[int]
    QUALIFYING_SPEND_MINOR_FIELD_NUMBER: _ClassVar[int]
    FULL_FIELD_NUMBER: _ClassVar[int]
    STORE_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_CODE_FIELD_NUMBER: _ClassVar[int]
    checkout: str
    refund: str
    member: str
    principal_refunded_minor: int
    points_clawed_back: int
    amount_minor: int
    qualifying_spend_minor: int
    full: bool
    store: str
    currency_code: str
    def __init__(self, checkout: _Optional[str] = ..., refund: _Optional[str] = ..., member: _Optional[str] = ..., principal_refunded_minor: _Optional[int] = ..., points_clawed_back: _Optional[int] = ..., amount_minor: _Optional[int] = ..., qualifying_spend_minor: _Optional[int] = ..., full: _Optional[bool] = ..., store: _Optional[str] = ..., currency_code: _Optional[str] = ...) -> None: ...

class TransactionReversed(_message.Message):
    __slots__ = ("transaction", "reversal", "kind", "member", "reason")
    TRANSACTION_FIELD_NUMBER: _ClassVar[int]
    REVERSAL_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    transaction: str
    reversal: str
    kind: _ledger_pb2.TransactionKind
    member: str
    reason: str
    def __init__(self, transaction: _Optional[str] = ..., reversal: _Optional[str] = ..., kind: _Optional[_Union[_ledger_pb2.TransactionKind, str]] = ..., member: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class MembershipRenewed(_message.Message):
    __slots__ = ("member", "checkout", "period_start", "paid_until", "renewal", "fee_minor", "currency_code")
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    CHECKOUT_FIELD_NUMBER: _ClassVar[int]
    PERIOD_START_FIELD_NUMBER: _ClassVar[int]
    PAID_UNTIL_FIELD_NUMBER: _ClassVar[int]
    RENEWAL_FIELD_NUMBER: _ClassVar[int]
    FEE_MINOR_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_CODE_FIELD_NUMBER: _ClassVar[int]
    member: str
    checkout: str
    period_start: _timestamp_pb2.Timestamp
    paid_until: _timestamp_pb2.Timestamp
    renewal: bool
    fee_minor: int
    currency_code: str
    def __init__(self, member: _Optional[str] = ..., checkout: _Optional[str] = ..., period_start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., paid_until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., renewal: _Optional[bool] = ..., fee_minor: _Optional[int] = ..., currency_code: _Optional[str] = ...) -> None: ...

class MembershipRenewalDue(_message.Message):
    __slots__ = ("member", "paid_until")
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    PAID_UNTIL_FIELD_NUMBER: _ClassVar[int]
    member: str
    paid_until: _timestamp_pb2.Timestamp
    def __init__(self, member: _Optional[str] = ..., paid_until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class MembershipExpired(_message.Message):
    __slots__ = ("member", "paid_until")
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    PAID_UNTIL_FIELD_NUMBER: _ClassVar[int]
    member: str
    paid_until: _timestamp_pb2.Timestamp
    def __init__(self, member: _Optional[str] = ..., paid_until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class BirthdayRewardGranted(_message.Message):
    __slots__ = ("member", "year", "points", "transaction")
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    YEAR_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    TRANSACTION_FIELD_NUMBER: _ClassVar[int]
    member: str
    year: int
    points: int
    transaction: str
    def __init__(self, member: _Optional[str] = ..., year: _Optional[int] = ..., points: _Optional[int] = ..., transaction: _Optional[str] = ...) -> None: ...

class ProgrammeRewardSettled(_message.Message):
    __slots__ = ("member", "programme", "period", "voucher", "package", "points", "refused_reason")
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    PROGRAMME_FIELD_NUMBER: _ClassVar[int]
    PERIOD_FIELD_NUMBER: _ClassVar[int]
    VOUCHER_FIELD_NUMBER: _ClassVar[int]
    PACKAGE_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    REFUSED_REASON_FIELD_NUMBER: _ClassVar[int]
    member: str
    programme: str
    period: str
    voucher: str
    package: str
    points: int
    refused_reason: str
    def __init__(self, member: _Optional[str] = ..., programme: _Optional[str] = ..., period: _Optional[str] = ..., voucher: _Optional[str] = ..., package: _Optional[str] = ..., points: _Optional[int] = ..., refused_reason: _Optional[str] = ...) -> None: ...
