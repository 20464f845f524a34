import datetime

from google.api import annotations_pb2 as _annotations_pb2
from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.api import resource_pb2 as _resource_pb2
from google.protobuf import field_mask_pb2 as _field_mask_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from peony.options.v1 import limits_pb2 as _limits_pb2
from peony.wallet.v1 import checkout_pb2 as _checkout_pb2
from peony.wallet.v1 import commission_pb2 as _commission_pb2
from peony.wallet.v1 import finance_pb2 as _finance_pb2
from peony.wallet.v1 import ledger_pb2 as _ledger_pb2
from peony.wallet.v1 import packages_pb2 as _packages_pb2
from peony.wallet.v1 import points_pb2 as _points_pb2
from peony.wallet.v1 import stored_value_pb2 as _stored_value_pb2
from peony.wallet.v1 import vouchers_pb2 as _vouchers_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class GetWalletRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetWalletResponse(_message.Message):
    __slots__ = ("wallet",)
    WALLET_FIELD_NUMBER: _ClassVar[int]
    wallet: _stored_value_pb2.Wallet
    def __init__(self, wallet: _Optional[_Union[_stored_value_pb2.Wallet, _Mapping]] = ...) -> None: ...

class ListTransactionsRequest(_message.Message):
    __slots__ = ("parent", "page_size", "page_token", "store", "start_time", "end_time", "kinds")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    STORE_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    KINDS_FIELD_NUMBER: _ClassVar[int]
    parent: str
    page_size: int
    page_token: str
    store: str
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    kinds: _containers.RepeatedScalarFieldContainer[_ledger_pb2.TransactionKind]
    def __init__(self, parent: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., store: _Optional[str] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., kinds: _Optional[_Iterable[_Union[_ledger_pb2.TransactionKind, str]]] = ...) -> None: ...

class ListTransactionsResponse(_message.Message):
    __slots__ = ("transactions", "next_page_token")
    TRANSACTIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    transactions: _containers.RepeatedCompositeFieldContainer[_ledger_pb2.LedgerTransaction]
    next_page_token: str
    def __init__(self, transactions: _Optional[_Iterable[_Union[_ledger_pb2.LedgerTransaction, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetTransactionRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetTransactionResponse(_message.Message):
    __slots__ = ("transaction",)
    TRANSACTION_FIELD_NUMBER: _ClassVar[int]
    transaction: _ledger_pb2.LedgerTransaction
    def __init__(self, transaction: _Optional[_Union[_ledger_pb2.LedgerTransaction, _Mapping]] = ...) -> None: ...

class ReverseTransactionRequest(_message.Message):
    __slots__ = ("name", "reason", "request_id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    reason: str
    request_id: str
    def __init__(self, name: _Optional[str] = ..., reason: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class ReverseTransactionResponse(_message.Message):
    __slots__ = ("reversal", "reversed", "wallet")
    REVERSAL_FIELD_NUMBER: _ClassVar[int]
    REVERSED_FIELD_NUMBER: _ClassVar[int]
    WALLET_FIELD_NUMBER: _ClassVar[int]
    reversal: _ledger_pb2.LedgerTransaction
    reversed: _ledger_pb2.LedgerTransaction
    wallet: _stored_value_pb2.Wallet
    def __init__(self, reversal: _Optional[_Union[_ledger_pb2.LedgerTransaction, _Mapping]] = ..., reversed: _Optional[_Union[_ledger_pb2.LedgerTransaction, _Mapping]] = ..., wallet: _Optional[_Union[_stored_value_pb2.Wallet, _Mapping]] = ...) -> None: ...

class GetWalletSettingsRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetWalletSettingsResponse(_message.Message):
    __slots__ = ("wallet_settings",)
    WALLET_SETTINGS_FIELD_NUMBER: _ClassVar[int]
    wallet_settings: _stored_value_pb2.WalletSettings
    def __init__(self, wallet_settings: _Optional[_Union[_stored_value_pb2.WalletSettings, _Mapping]] = ...) -> None: ...

class UpdateWalletSettingsRequest(_message.Message):
    __slots__ = ("wallet_settings", "update_mask", "request_id")
    WALLET_SETTINGS_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    wallet_settings: _stored_value_pb2.WalletSettings
    update_mask: _field_mask_pb2.FieldMask
    request_id: str
    def __init__(self, wallet_settings: _Optional[_Union[_stored_value_pb2.WalletSettings, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class UpdateWalletSettingsResponse(_message.Message):
    __slots__ = ("wallet_settings",)
    WALLET_SETTINGS_FIELD_NUMBER: _ClassVar[int]
    wallet_settings: _stored_value_pb2.WalletSettings
    def __init__(self, wallet_settings: _Optional[_Union[_stored_value_pb2.WalletSettings, _Mapping]] = ...) -> None: ...

class SetPaymentPinRequest(_message.Message):
    __slots__ = ("member", "pin", "old_pin", "request_id")
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    PIN_FIELD_NUMBER: _ClassVar[int]
    OLD_PIN_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    member: str
    pin: str
    old_pin: str
    request_id: str
    def __init__(self, member: _Optional[str] = ..., pin: _Optional[str] = ..., old_pin: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class SetPaymentPinResponse(_message.Message):
    __slots__ = ("wallet",)
    WALLET_FIELD_NUMBER: _ClassVar[int]
    wallet: _stored_value_pb2.Wallet
    def __init__(self, wallet: _Optional[_Union[_stored_value_pb2.Wallet, _Mapping]] = ...) -> None: ...

class CreateTopUpPlanRequest(_message.Message):
    __slots__ = ("top_up_plan", "top_up_plan_id", "request_id")
    TOP_UP_PLAN_FIELD_NUMBER: _ClassVar[int]
    TOP_UP_PLAN_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    top_up_plan: _stored_value_pb2.TopUpPlan
    top_up_plan_id: str
    request_id: str
    def __init__(self, top_up_plan: _Optional[_Union[_stored_value_pb2.TopUpPlan, _Mapping]] = ..., top_up_plan_id: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class CreateTopUpPlanResponse(_message.Message):
    __slots__ = ("top_up_plan",)
    TOP_UP_PLAN_FIELD_NUMBER: _ClassVar[int]
    top_up_plan: _stored_value_pb2.TopUpPlan
    def __init__(self, top_up_plan: _Optional[_Union[_stored_value_pb2.TopUpPlan, _Mapping]] = ...) -> None: ...

class ListTopUpPlansRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "store", "show_inactive")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    STORE_FIELD_NUMBER: _ClassVar[int]
    SHOW_INACTIVE_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    store: str
    show_inactive: bool
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., store: _Optional[str] = ..., show_inactive: _Optional[bool] = ...) -> None: ...

class ListTopUpPlansResponse(_message.Message):
    __slots__ = ("top_up_plans", "next_page_token")
    TOP_UP_PLANS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    top_up_plans: _containers.RepeatedCompositeFieldContainer[_stored_value_pb2.TopUpPlan]
    next_page_token: str
    def __init__(self, top_up_plans: _Optional[_Iterable[_Union[_stored_value_pb2.TopUpPlan, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class UpdateTopUpPlanRequest(_message.Message):
    __slots__ = ("top_up_plan", "update_mask", "request_id")
    TOP_UP_PLAN_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    top_up_plan: _stored_value_pb2.TopUpPlan
    update_mask: _field_mask_pb2.FieldMask
    request_id: str
    def __init__(self, top_up_plan: _Optional[_Union[_stored_value_pb2.TopUpPlan, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class UpdateTopUpPlanResponse(_message.Message):
    __slots__ = ("top_up_plan",)
    TOP_UP_PLAN_FIELD_NUMBER: _ClassVar[int]
    top_up_plan: _stored_value_pb2.TopUpPlan
    def __init__(self, top_up_plan: _Optional[_Union[_stored_value_pb2.TopUpPlan, _Mapping]] = ...) -> None: ...

class TopUpRequest(_message.Message):
    __slots__ = ("member", "amount_minor", "currency_code", "tender", "plan", "store", "request_id", "sold_by", "staff_position", "card_number")
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_MINOR_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_CODE_FIELD_NUMBER: _ClassVar[int]
    TENDER_FIELD_NUMBER: _ClassVar[int]
    PLAN_FIELD_NUMBER: _ClassVar[int]
    STORE_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    SOLD_BY_FIELD_NUMBER: _ClassVar[int]
    STAFF_POSITION_FIELD_NUMBER: _ClassVar[int]
    CARD_NUMBER_FIELD_NUMBER: _ClassVar[int]
    member: str
    amount_minor: int
    currency_code: str
    tender: _ledger_pb2.Tender
    plan: str
    store: str
    request_id: str
    sold_by: str
    staff_position: str
    card_number: str
    def __init__(self, member: _Optional[str] = ..., amount_minor: _Optional[int] = ..., currency_code: _Optional[str] = ..., tender: _Optional[_Union[_ledger_pb2.Tender, str]] = ..., plan: _Optional[str] = ..., store: _Optional[str] = ..., request_id: _Optional[str] = ..., sold_by: _Optional[str] = ..., staff_position: _Optional[str] = ..., card_number: _Optional[str] = ...) -> None: ...

class TopUpResponse(_message.Message):
    __slots__ = ("transaction", "wallet")
    TRANSACTION_FIELD_NUMBER: _ClassVar[int]
    WALLET_FIELD_NUMBER: _ClassVar[int]
    transaction: _ledger_pb2.LedgerTransaction
    wallet: _stored_value_pb2.Wallet
    def __init__(self, transaction: _Optional[_Union[_ledger_pb2.LedgerTransaction, _Mapping]] = ..., wallet: _Optional[_Union[_stored_value_pb2.Wallet, _Mapping]] = ...) -> None: ...

class RefundStoredValueRequest(_message.Message):
    __slots__ = ("member", "store", "tender", "reason", "request_id")
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    STORE_FIELD_NUMBER: _ClassVar[int]
    TENDER_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    member: str
    store: str
    tender: _ledger_pb2.Tender
    reason: str
    request_id: str
    def __init__(self, member: _Optional[str] = ..., store: _Optional[str] = ..., tender: _Optional[_Union[_ledger_pb2.Tender, str]] = ..., reason: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class RefundStoredValueResponse(_message.Message):
    __slots__ = ("transaction", "wallet", "principal_refunded_minor", "bonus_voided_minor")
    TRANSACTION_FIELD_NUMBER: _ClassVar[int]
    WALLET_FIELD_NUMBER: _ClassVar[int]
    PRINCIPAL_REFUNDED_MINOR_FIELD_NUMBER: _ClassVar[int]
    BONUS_VOIDED_MINOR_FIELD_NUMBER: _ClassVar[int]
    transaction: _ledger_pb2.LedgerTransaction
    wallet: _stored_value_pb2.Wallet
    principal_refunded_minor: int
    bonus_voided_minor: int
    def __init__(self, transaction: _Optional[_Union[_ledger_pb2.LedgerTransaction, _Mapping]] = ..., wallet: _Optional[_Union[_stored_value_pb2.Wallet, _Mapping]] = ..., principal_refunded_minor: _Optional[int] = ..., bonus_voided_minor: _Optional[int] = ...) -> None: ...

class GetPointsPolicyRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetPointsPolicyResponse(_message.Message):
    __slots__ = ("points_policy",)
    POINTS_POLICY_FIELD_NUMBER: _ClassVar[int]
    points_policy: _points_pb2.PointsPolicy
    def __init__(self, points_policy: _Optional[_Union[_points_pb2.PointsPolicy, _Mapping]] = ...) -> None: ...

class UpdatePointsPolicyRequest(_message.Message):
    __slots__ = ("points_policy", "update_mask", "request_id")
    POINTS_POLICY_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    points_policy: _points_pb2.PointsPolicy
    update_mask: _field_mask_pb2.FieldMask
    request_id: str
    def __init__(self, points_policy: _Optional[_Union[_points_pb2.PointsPolicy, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class UpdatePointsPolicyResponse(_message.Message):
    __slots__ = ("points_policy",)
    POINTS_POLICY_FIELD_NUMBER: _ClassVar[int]
    points_policy: _points_pb2.PointsPolicy
    def __init__(self, points_policy: _Optional[_Union[_points_pb2.PointsPolicy, _Mapping]] = ...) -> None: ...

class ListPointLotsRequest(_message.Message):
    __slots__ = ("parent", "page_size", "page_token", "show_empty")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    SHOW_EMPTY_FIELD_NUMBER: _ClassVar[int]
    parent: str
    page_size: int
    page_token: str
    show_empty: bool
    def __init__(self, parent: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., show_empty: _Optional[bool] = ...) -> None: ...

class ListPointLotsResponse(_message.Message):
    __slots__ = ("point_lots", "next_page_token")
    POINT_LOTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    point_lots: _containers.RepeatedCompositeFieldContainer[_points_pb2.PointLot]
    next_page_token: str
    def __init__(self, point_lots: _Optional[_Iterable[_Union[_points_pb2.PointLot, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class AdjustPointsRequest(_message.Message):
    __slots__ = ("member", "delta", "reason", "request_id")
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    DELTA_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    member: str
    delta: int
    reason: str
    request_id: str
    def __init__(self, member: _Optional[str] = ..., delta: _Optional[int] = ..., reason: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class AdjustPointsResponse(_message.Message):
    __slots__ = ("transaction", "wallet", "point_lot")
    TRANSACTION_FIELD_NUMBER: _ClassVar[int]
    WALLET_FIELD_NUMBER: _ClassVar[int]
    POINT_LOT_FIELD_NUMBER: _ClassVar[int]
    transaction: _ledger_pb2.LedgerTransaction
    wallet: _stored_value_pb2.Wallet
    point_lot: _points_pb2.PointLot
    def __init__(self, transaction: _Optional[_Union[_ledger_pb2.LedgerTransaction, _Mapping]] = ..., wallet: _Optional[_Union[_stored_value_pb2.Wallet, _Mapping]] = ..., point_lot: _Optional[_Union[_points_pb2.PointLot, _Mapping]] = ...) -> None: ...

class GrantPointsRequest(_message.Message):
    __slots__ = ("member", "points", "source", "reason", "request_id")
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    member: str
    points: int
    source: _points_pb2.LotSource
    reason: str
    request_id: str
    def __init__(self, member: _Optional[str] = ..., points: _Optional[int] = ..., source: _Optional[_Union[_points_pb2.LotSource, str]] = ..., reason: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class GrantPointsResponse(_message.Message):
    __slots__ = ("transaction", "point_lot", "wallet")
    TRANSACTION_FIELD_NUMBER: _ClassVar[int]
    POINT_LOT_FIELD_NUMBER: _ClassVar[int]
    WALLET_FIELD_NUMBER: _ClassVar[int]
    transaction: _ledger_pb2.LedgerTransaction
    point_lot: _points_pb2.PointLot
    wallet: _stored_value_pb2.Wallet
    def __init__(self, transaction: _Optional[_Union[_ledger_pb2.LedgerTransaction, _Mapping]] = ..., point_lot: _Optional[_Union[_points_pb2.PointLot, _Mapping]] = ..., wallet: _Optional[_Union[_stored_value_pb2.Wallet, _Mapping]] = ...) -> None: ...

class CheckInRequest(_message.Message):
    __slots__ = ("member", "store", "request_id")
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    STORE_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    member: str
    store: str
    request_id: str
    def __init__(self, member: _Optional[str] = ..., store: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class CheckInResponse(_message.Message):
    __slots__ = ("points", "streak_days", "streak_bonus_points", "transaction", "wallet")
    POINTS_FIELD_NUMBER: _ClassVar[int]
    STREAK_DAYS_FIELD_NUMBER: _ClassVar[int]
    STREAK_BONUS_POINTS_FIELD_NUMBER: _ClassVar[int]
    TRANSACTION_FIELD_NUMBER: _ClassVar[int]
    WALLET_FIELD_NUMBER: _ClassVar[int]
    points: int
    streak_days: int
    streak_bonus_points: int
    transaction: _ledger_pb2.LedgerTransaction
    wallet: _stored_value_pb2.Wallet
    def __init__(self, points: _Optional[int] = ..., streak_days: _Optional[int] = ..., streak_bonus_points: _Optional[int] = ..., transaction: _Optional[_Union[_ledger_pb2.LedgerTransaction, _Mapping]] = ..., wallet: _Optional[_Union[_stored_value_pb2.Wallet, _Mapping]] = ...) -> None: ...

class CreateRewardRequest(_message.Message):
    __slots__ = ("reward", "reward_id", "request_id")
    REWARD_FIELD_NUMBER: _ClassVar[int]
    REWARD_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    reward: _points_pb2.Reward
    reward_id: str
    request_id: str
    def __init__(self, reward: _Optional[_Union[_points_pb2.Reward, _Mapping]] = ..., reward_id: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class CreateRewardResponse(_message.Message):
    __slots__ = ("reward",)
    REWARD_FIELD_NUMBER: _ClassVar[int]
    reward: _points_pb2.Reward
    def __init__(self, reward: _Optional[_Union[_points_pb2.Reward, _Mapping]] = ...) -> None: ...

class ListRewardsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "show_inactive")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    SHOW_INACTIVE_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    show_inactive: bool
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., show_inactive: _Optional[bool] = ...) -> None: ...

class ListRewardsResponse(_message.Message):
    __slots__ = ("rewards", "next_page_token")
    REWARDS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    rewards: _containers.RepeatedCompositeFieldContainer[_points_pb2.Reward]
    next_page_token: str
    def __init__(self, rewards: _Optional[_Iterable[_Union[_points_pb2.Reward, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class UpdateRewardRequest(_message.Message):
    __slots__ = ("reward", "update_mask", "request_id")
    REWARD_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    reward: _points_pb2.Reward
    update_mask: _field_mask_pb2.FieldMask
    request_id: str
    def __init__(self, reward: _Optional[_Union[_points_pb2.Reward, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class UpdateRewardResponse(_message.Message):
    __slots__ = ("reward",)
    REWARD_FIELD_NUMBER: _ClassVar[int]
    reward: _points_pb2.Reward
    def __init__(self, reward: _Optional[_Union[_points_pb2.Reward, _Mapping]] = ...) -> None: ...

class RedeemRewardRequest(_message.Message):
    __slots__ = ("member", "reward", "store", "request_id")
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    REWARD_FIELD_NUMBER: _ClassVar[int]
    STORE_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    member: str
    reward: str
    store: str
    request_id: str
    def __init__(self, member: _Optional[str] = ..., reward: _Optional[str] = ..., store: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class RedeemRewardResponse(_message.Message):
    __slots__ = ("transaction", "wallet", "voucher", "reward")
    TRANSACTION_FIELD_NUMBER: _ClassVar[int]
    WALLET_FIELD_NUMBER: _ClassVar[int]
    VOUCHER_FIELD_NUMBER: _ClassVar[int]
    REWARD_FIELD_NUMBER: _ClassVar[int]
    transaction: _ledger_pb2.LedgerTransaction
    wallet: _stored_value_pb2.Wallet
    voucher: _vouchers_pb2.Voucher
    reward: _points_pb2.Reward
    def __init__(self, transaction: _Optional[_Union[_ledger_pb2.LedgerTransaction, _Mapping]] = ..., wallet: _Optional[_Union[_stored_value_pb2.Wallet, _Mapping]] = ..., voucher: _Optional[_Union[_vouchers_pb2.Voucher, _Mapping]] = ..., reward: _Optional[_Union[_points_pb2.Reward, _Mapping]] = ...) -> None: ...

class CreatePackageProductRequest(_message.Message):
    __slots__ = ("package_product", "package_product_id", "request_id")
    PACKAGE_PRODUCT_FIELD_NUMBER: _ClassVar[int]
    PACKAGE_PRODUCT_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    package_product: _packages_pb2.PackageProduct
    package_product_id: str
    request_id: str
    def __init__(self, package_product: _Optional[_Union[_packages_pb2.PackageProduct, _Mapping]] = ..., package_product_id: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class CreatePackageProductResponse(_message.Message):
    __slots__ = ("package_product",)
    PACKAGE_PRODUCT_FIELD_NUMBER: _ClassVar[int]
    package_product: _packages_pb2.PackageProduct
    def __init__(self, package_product: _Optional[_Union[_packages_pb2.PackageProduct, _Mapping]] = ...) -> None: ...

class ListPackageProductsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "show_inactive")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    SHOW_INACTIVE_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    show_inactive: bool
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., show_inactive: _Optional[bool] = ...) -> None: ...

class ListPackageProductsResponse(_message.Message):
    __slots__ = ("package_products", "next_page_token")
    PACKAGE_PRODUCTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    package_products: _containers.RepeatedCompositeFieldContainer[_packages_pb2.PackageProduct]
    next_page_token: str
    def __init__(self, package_products: _Optional[_Iterable[_Union[_packages_pb2.PackageProduct, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class UpdatePackageProductRequest(_message.Message):
    __slots__ = ("package_product", "update_mask", "request_id")
    PACKAGE_PRODUCT_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    package_product: _packages_pb2.PackageProduct
    update_mask: _field_mask_pb2.FieldMask
    request_id: str
    def __init__(self, package_product: _Optional[_Union[_packages_pb2.PackageProduct, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class UpdatePackageProductResponse(_message.Message):
    __slots__ = ("package_product",)
    PACKAGE_PRODUCT_FIELD_NUMBER: _ClassVar[int]
    package_product: _packages_pb2.PackageProduct
    def __init__(self, package_product: _Optional[_Union[_packages_pb2.PackageProduct, _Mapping]] = ...) -> None: ...

class SellPackageRequest(_message.Message):
    __slots__ = ("member", "product", "store", "tenders", "payment_pin", "sold_by", "request_id", "staff_position")
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    PRODUCT_FIELD_NUMBER: _ClassVar[int]
    STORE_FIELD_NUMBER: _ClassVar[int]
    TENDERS_FIELD_NUMBER: _ClassVar[int]
    PAYMENT_PIN_FIELD_NUMBER: _ClassVar[int]
    SOLD_BY_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    STAFF_POSITION_FIELD_NUMBER: _ClassVar[int]
    member: str
    product: str
    store: str
    tenders: _containers.RepeatedCompositeFieldContainer[_checkout_pb2.TenderAmount]
    payment_pin: str
    sold_by: str
    request_id: str
    staff_position: str
    def __init__(self, member: _Optional[str] = ..., product: _Optional[str] = ..., store: _Optional[str] = ..., tenders: _Optional[_Iterable[_Union[_checkout_pb2.TenderAmount, _Mapping]]] = ..., payment_pin: _Optional[str] = ..., sold_by: _Optional[str] = ..., request_id: _Optional[str] = ..., staff_position: _Optional[str] = ...) -> None: ...

class SellPackageResponse(_message.Message):
    __slots__ = ("member_package", "transaction", "wallet")
    MEMBER_PACKAGE_FIELD_NUMBER: _ClassVar[int]
    TRANSACTION_FIELD_NUMBER: _ClassVar[int]
    WALLET_FIELD_NUMBER: _ClassVar[int]
    member_package: _packages_pb2.MemberPackage
    transaction: _ledger_pb2.LedgerTransaction
    wallet: _stored_value_pb2.Wallet
    def __init__(self, member_package: _Optional[_Union[_packages_pb2.MemberPackage, _Mapping]] = ..., transaction: _Optional[_Union[_ledger_pb2.LedgerTransaction, _Mapping]] = ..., wallet: _Optional[_Union[_stored_value_pb2.Wallet, _Mapping]] = ...) -> None: ...

class ListMemberPackagesRequest(_message.Message):
    __slots__ = ("parent", "page_size", "page_token", "states")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    STATES_FIELD_NUMBER: _ClassVar[int]
    parent: str
    page_size: int
    page_token: str
    states: _containers.RepeatedScalarFieldContainer[_packages_pb2.PackageState]
    def __init__(self, parent: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., states: _Optional[_Iterable[_Union[_packages_pb2.PackageState, str]]] = ...) -> None: ...

class ListMemberPackagesResponse(_message.Message):
    __slots__ = ("member_packages", "next_page_token")
    MEMBER_PACKAGES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    member_packages: _containers.RepeatedCompositeFieldContainer[_packages_pb2.MemberPackage]
    next_page_token: str
    def __init__(self, member_packages: _Optional[_Iterable[_Union[_packages_pb2.MemberPackage, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ConsumePackageSessionRequest(_message.Message):
    __slots__ = ("package", "service", "store", "sessions", "serving_staff", "request_id")
    PACKAGE_FIELD_NUMBER: _ClassVar[int]
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    STORE_FIELD_NUMBER: _ClassVar[int]
    SESSIONS_FIELD_NUMBER: _ClassVar[int]
    SERVING_STAFF_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    package: str
    service: str
    store: str
    sessions: int
    serving_staff: str
    request_id: str
    def __init__(self, package: _Optional[str] = ..., service: _Optional[str] = ..., store: _Optional[str] = ..., sessions: _Optional[int] = ..., serving_staff: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class ConsumePackageSessionResponse(_message.Message):
    __slots__ = ("member_package", "transaction")
    MEMBER_PACKAGE_FIELD_NUMBER: _ClassVar[int]
    TRANSACTION_FIELD_NUMBER: _ClassVar[int]
    member_package: _packages_pb2.MemberPackage
    transaction: _ledger_pb2.LedgerTransaction
    def __init__(self, member_package: _Optional[_Union[_packages_pb2.MemberPackage, _Mapping]] = ..., transaction: _Optional[_Union[_ledger_pb2.LedgerTransaction, _Mapping]] = ...) -> None: ...

class FreezePackageRequest(_message.Message):
    __slots__ = ("package", "reason", "frozen_until", "request_id")
    PACKAGE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    FROZEN_UNTIL_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    package: str
    reason: str
    frozen_until: _timestamp_pb2.Timestamp
    request_id: str
    def __init__(self, package: _Optional[str] = ..., reason: _Optional[str] = ..., frozen_until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class FreezePackageResponse(_message.Message):
    __slots__ = ("member_package",)
    MEMBER_PACKAGE_FIELD_NUMBER: _ClassVar[int]
    member_package: _packages_pb2.MemberPackage
    def __init__(self, member_package: _Optional[_Union[_packages_pb2.MemberPackage, _Mapping]] = ...) -> None: ...

class UnfreezePackageRequest(_message.Message):
    __slots__ = ("package", "request_id")
    PACKAGE_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    package: str
    request_id: str
    def __init__(self, package: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class UnfreezePackageResponse(_message.Message):
    __slots__ = ("member_package",)
    MEMBER_PACKAGE_FIELD_NUMBER: _ClassVar[int]
    member_package: _packages_pb2.MemberPackage
    def __init__(self, member_package: _Optional[_Union[_packages_pb2.MemberPackage, _Mapping]] = ...) -> None: ...

class ExtendPackageRequest(_message.Message):
    __slots__ = ("package", "days", "service", "reason", "request_id")
    PACKAGE_FIELD_NUMBER: _ClassVar[int]
    DAYS_FIELD_NUMBER: _ClassVar[int]
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    package: str
    days: int
    service: str
    reason: str
    request_id: str
    def __init__(self, package: _Optional[str] = ..., days: _Optional[int] = ..., service: _Optional[str] = ..., reason: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class ExtendPackageResponse(_message.Message):
    __slots__ = ("member_package",)
    MEMBER_PACKAGE_FIELD_NUMBER: _ClassVar[int]
    member_package: _packages_pb2.MemberPackage
    def __init__(self, member_package: _Optional[_Union[_packages_pb2.MemberPackage, _Mapping]] = ...) -> None: ...

class TransferPackageRequest(_message.Message):
    __slots__ = ("package", "to_member", "request_id")
    PACKAGE_FIELD_NUMBER: _ClassVar[int]
    TO_MEMBER_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    package: str
    to_member: str
    request_id: str
    def __init__(self, package: _Optional[str] = ..., to_member: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class TransferPackageResponse(_message.Message):
    __slots__ = ("source_package", "target_package", "transaction")
    SOURCE_PACKAGE_FIELD_NUMBER: _ClassVar[int]
    TARGET_PACKAGE_FIELD_NUMBER: _ClassVar[int]
    TRANSACTION_FIELD_NUMBER: _ClassVar[int]
    source_package: _packages_pb2.MemberPackage
    target_package: _packages_pb2.MemberPackage
    transaction: _ledger_pb2.LedgerTransaction
    def __init__(self, source_package: _Optional[_Union[_packages_pb2.MemberPackage, _Mapping]] = ..., target_package: _Optional[_Union[_packages_pb2.MemberPackage, _Mapping]] = ..., transaction: _Optional[_Union[_ledger_pb2.LedgerTransaction, _Mapping]] = ...) -> None: ...

class RefundPackageRequest(_message.Message):
    __slots__ = ("package", "store", "tender", "reason", "request_id")
    PACKAGE_FIELD_NUMBER: _ClassVar[int]
    STORE_FIELD_NUMBER: _ClassVar[int]
    TENDER_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    package: str
    store: str
    tender: _ledger_pb2.Tender
    reason: str
    request_id: str
    def __init__(self, package: _Optional[str] = ..., store: _Optional[str] = ..., tender: _Optional[_Union[_ledger_pb2.Tender, str]] = ..., reason: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class RefundPackageResponse(_message.Message):
    __slots__ = ("member_package", "transaction", "refund_minor", "sessions_refunded", "wallet")
    MEMBER_PACKAGE_FIELD_NUMBER: _ClassVar[int]
    TRANSACTION_FIELD_NUMBER: _ClassVar[int]
    REFUND_MINOR_FIELD_NUMBER: _ClassVar[int]
    SESSIONS_REFUNDED_FIELD_NUMBER: _ClassVar[int]
    WALLET_FIELD_NUMBER: _ClassVar[int]
    member_package: _packages_pb2.MemberPackage
    transaction: _ledger_pb2.LedgerTransaction
    refund_minor: int
    sessions_refunded: int
    wallet: _stored_value_pb2.Wallet
    def __init__(self, member_package: _Optional[_Union[_packages_pb2.MemberPackage, _Mapping]] = ..., transaction: _Optional[_Union[_ledger_pb2.LedgerTransaction, _Mapping]] = ..., refund_minor: _Optional[int] = ..., sessions_refunded: _Optional[int] = ..., wallet: _Optional[_Union[_stored_value_pb2.Wallet, _Mapping]] = ...) -> None: ...

class CreateVoucherTemplateRequest(_message.Message):
    __slots__ = ("voucher_template", "voucher_template_id", "request_id")
    VOUCHER_TEMPLATE_FIELD_NUMBER: _ClassVar[int]
    VOUCHER_TEMPLATE_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    voucher_template: _vouchers_pb2.VoucherTemplate
    voucher_template_id: str
    request_id: str
    def __init__(self, voucher_template: _Optional[_Union[_vouchers_pb2.VoucherTemplate, _Mapping]] = ..., voucher_template_id: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class CreateVoucherTemplateResponse(_message.Message):
    __slots__ = ("voucher_template",)
    VOUCHER_TEMPLATE_FIELD_NUMBER: _ClassVar[int]
    voucher_template: _vouchers_pb2.VoucherTemplate
    def __init__(self, voucher_template: _Optional[_Union[_vouchers_pb2.VoucherTemplate, _Mapping]] = ...) -> None: ...

class ListVoucherTemplatesRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class GetVoucherTemplateRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetVoucherTemplateResponse(_message.Message):
    __slots__ = ("voucher_template",)
    VOUCHER_TEMPLATE_FIELD_NUMBER: _ClassVar[int]
    voucher_template: _vouchers_pb2.VoucherTemplate
    def __init__(self, voucher_template: _Optional[_Union[_vouchers_pb2.VoucherTemplate, _Mapping]] = ...) -> None: ...

class DeactivateVoucherTemplateRequest(_message.Message):
    __slots__ = ("name", "request_id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    request_id: str
    def __init__(self, name: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class DeactivateVoucherTemplateResponse(_message.Message):
    __slots__ = ("voucher_template",)
    VOUCHER_TEMPLATE_FIELD_NUMBER: _ClassVar[int]
    voucher_template: _vouchers_pb2.VoucherTemplate
    def __init__(self, voucher_template: _Optional[_Union[_vouchers_pb2.VoucherTemplate, _Mapping]] = ...) -> None: ...

class ListVoucherTemplatesResponse(_message.Message):
    __slots__ = ("voucher_templates", "next_page_token")
    VOUCHER_TEMPLATES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    voucher_templates: _containers.RepeatedCompositeFieldContainer[_vouchers_pb2.VoucherTemplate]
    next_page_token: str
    def __init__(self, voucher_templates: _Optional[_Iterable[_Union[_vouchers_pb2.VoucherTemplate, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class IssueVoucherRequest(_message.Message):
    __slots__ = ("member", "template", "reason", "request_id")
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    TEMPLATE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    member: str
    template: str
    reason: str
    request_id: str
    def __init__(self, member: _Optional[str] = ..., template: _Optional[str] = ..., reason: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class IssueVoucherResponse(_message.Message):
    __slots__ = ("voucher",)
    VOUCHER_FIELD_NUMBER: _ClassVar[int]
    voucher: _vouchers_pb2.Voucher
    def __init__(self, voucher: _Optional[_Union[_vouchers_pb2.Voucher, _Mapping]] = ...) -> None: ...

class VoidVoucherRequest(_message.Message):
    __slots__ = ("name", "reason", "request_id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    reason: str
    request_id: str
    def __init__(self, name: _Optional[str] = ..., reason: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class VoidVoucherResponse(_message.Message):
    __slots__ = ("voucher",)
    VOUCHER_FIELD_NUMBER: _ClassVar[int]
    voucher: _vouchers_pb2.Voucher
    def __init__(self, voucher: _Optional[_Union[_vouchers_pb2.Voucher, _Mapping]] = ...) -> None: ...

class CartFilter(_message.Message):
    __slots__ = ("store", "subtotal_minor")
    STORE_FIELD_NUMBER: _ClassVar[int]
    SUBTOTAL_MINOR_FIELD_NUMBER: _ClassVar[int]
    store: str
    subtotal_minor: int
    def __init__(self, store: _Optional[str] = ..., subtotal_minor: _Optional[int] = ...) -> None: ...

class ListVouchersRequest(_message.Message):
    __slots__ = ("parent", "page_size", "page_token", "states", "valid_for_cart")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    STATES_FIELD_NUMBER: _ClassVar[int]
    VALID_FOR_CART_FIELD_NUMBER: _ClassVar[int]
    parent: str
    page_size: int
    page_token: str
    states: _containers.RepeatedScalarFieldContainer[_vouchers_pb2.VoucherState]
    valid_for_cart: CartFilter
    def __init__(self, parent: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., states: _Optional[_Iterable[_Union[_vouchers_pb2.VoucherState, str]]] = ..., valid_for_cart: _Optional[_Union[CartFilter, _Mapping]] = ...) -> None: ...

class ListVouchersResponse(_message.Message):
    __slots__ = ("vouchers", "next_page_token")
    VOUCHERS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    vouchers: _containers.RepeatedCompositeFieldContainer[_vouchers_pb2.Voucher]
    next_page_token: str
    def __init__(self, vouchers: _Optional[_Iterable[_Union[_vouchers_pb2.Voucher, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class AuthorizeHoldRequest(_message.Message):
    __slots__ = ("hold", "payment_pin", "request_id")
    HOLD_FIELD_NUMBER: _ClassVar[int]
    PAYMENT_PIN_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    hold: _ledger_pb2.Hold
    payment_pin: str
    request_id: str
    def __init__(self, hold: _Optional[_Union[_ledger_pb2.Hold, _Mapping]] = ..., payment_pin: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class AuthorizeHoldResponse(_message.Message):
    __slots__ = ("hold", "wallet")
    HOLD_FIELD_NUMBER: _ClassVar[int]
    WALLET_FIELD_NUMBER: _ClassVar[int]
    hold: _ledger_pb2.Hold
    wallet: _stored_value_pb2.Wallet
    def __init__(self, hold: _Optional[_Union[_ledger_pb2.Hold, _Mapping]] = ..., wallet: _Optional[_Union[_stored_value_pb2.Wallet, _Mapping]] = ...) -> None: ...

class CaptureHoldRequest(_message.Message):
    __slots__ = ("name", "amount_minor", "sessions", "store", "request_id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_MINOR_FIELD_NUMBER: _ClassVar[int]
    SESSIONS_FIELD_NUMBER: _ClassVar[int]
    STORE_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    amount_minor: int
    sessions: int
    store: str
    request_id: str
    def __init__(self, name: _Optional[str] = ..., amount_minor: _Optional[int] = ..., sessions: _Optional[int] = ..., store: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class CaptureHoldResponse(_message.Message):
    __slots__ = ("hold", "transaction", "wallet")
    HOLD_FIELD_NUMBER: _ClassVar[int]
    TRANSACTION_FIELD_NUMBER: _ClassVar[int]
    WALLET_FIELD_NUMBER: _ClassVar[int]
    hold: _ledger_pb2.Hold
    transaction: _ledger_pb2.LedgerTransaction
    wallet: _stored_value_pb2.Wallet
    def __init__(self, hold: _Optional[_Union[_ledger_pb2.Hold, _Mapping]] = ..., transaction: _Optional[_Union[_ledger_pb2.LedgerTransaction, _Mapping]] = ..., wallet: _Optional[_Union[_stored_value_pb2.Wallet, _Mapping]] = ...) -> None: ...

class VoidHoldRequest(_message.Message):
    __slots__ = ("name", "reason", "request_id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    reason: str
    request_id: str
    def __init__(self, name: _Optional[str] = ..., reason: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class VoidHoldResponse(_message.Message):
    __slots__ = ("hold", "wallet")
    HOLD_FIELD_NUMBER: _ClassVar[int]
    WALLET_FIELD_NUMBER: _ClassVar[int]
    hold: _ledger_pb2.Hold
    wallet: _stored_value_pb2.Wallet
    def __init__(self, hold: _Optional[_Union[_ledger_pb2.Hold, _Mapping]] = ..., wallet: _Optional[_Union[_stored_value_pb2.Wallet, _Mapping]] = ...) -> None: ...

class ExtendHoldRequest(_message.Message):
    __slots__ = ("name", "expire_time", "request_id", "use_time")
    NAME_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    USE_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    expire_time: _timestamp_pb2.Timestamp
    request_id: str
    use_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., request_id: _Optional[str] = ..., use_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ExtendHoldResponse(_message.Message):
    __slots__ = ("hold",)
    HOLD_FIELD_NUMBER: _ClassVar[int]
    hold: _ledger_pb2.Hold
    def __init__(self, hold: _Optional[_Union[_ledger_pb2.Hold, _Mapping]] = ...) -> None: ...

class GetHoldRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetHoldResponse(_message.Message):
    __slots__ = ("hold",)
    HOLD_FIELD_NUMBER: _ClassVar[int]
    hold: _ledger_pb2.Hold
    def __init__(self, hold: _Optional[_Union[_ledger_pb2.Hold, _Mapping]] = ...) -> None: ...

class CheckoutRequest(_message.Message):
    __slots__ = ("member", "store", "lines", "vouchers", "points_to_redeem", "stored_value_minor", "tenders", "payment_pin", "request_id", "validate_only", "card_number", "discount_approval")
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    STORE_FIELD_NUMBER: _ClassVar[int]
    LINES_FIELD_NUMBER: _ClassVar[int]
    VOUCHERS_FIELD_NUMBER: _ClassVar[int]
    POINTS_TO_REDEEM_FIELD_NUMBER: _ClassVar[int]
    STORED_VALUE_MINOR_FIELD_NUMBER: _ClassVar[int]
    TENDERS_FIELD_NUMBER: _ClassVar[int]
    PAYMENT_PIN_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    VALIDATE_ONLY_FIELD_NUMBER: _ClassVar[int]
    CARD_NUMBER_FIELD_NUMBER: _ClassVar[int]
    DISCOUNT_APPROVAL_FIELD_NUMBER: _ClassVar[int]
    member: str
    store: str
    lines: _containers.RepeatedCompositeFieldContainer[_checkout_pb2.CheckoutLine]
    vouchers: _containers.RepeatedScalarFieldContainer[str]
    points_to_redeem: int
    stored_value_minor: int
    tenders: _containers.RepeatedCompositeFieldContainer[_checkout_pb2.TenderAmount]
    payment_pin: str
    request_id: str
    validate_only: bool
    card_number: str
    discount_approval: str
    def __init__(self, member: _Optional[str] = ..., store: _Optional[str] = ..., lines: _Optional[_Iterable[_Union[_checkout_pb2.CheckoutLine, _Mapping]]] = ..., vouchers: _Optional[_Iterable[str]] = ..., points_to_redeem: _Optional[int] = ..., stored_value_minor: _Optional[int] = ..., tenders: _Optional[_Iterable[_Union[_checkout_pb2.TenderAmount, _Mapping]]] = ..., payment_pin: _Optional[str] = ..., request_id: _Optional[str] = ..., validate_only: _Optional[bool] = ..., card_number: _Optional[str] = ..., discount_approval: _Optional[str] = ...) -> None: ...

class ApproveCheckoutDiscountRequest(_message.Message):
    __slots__ = ("store", "member", "discount_bps", "reason", "valid_minutes", "request_id")
    STORE_FIELD_NUMBER: _ClassVar[int]
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    DISCOUNT_BPS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    VALID_MINUTES_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    store: str
    member: str
    discount_bps: int
    reason: str
    valid_minutes: int
    request_id: str
    def __init__(self, store: _Optional[str] = ..., member: _Optional[str] = ..., discount_bps: _Optional[int] = ..., reason: _Optional[str] = ..., valid_minutes: _Optional[int] = ..., request_id: _Optional[str] = ...) -> None: ...

class ApproveCheckoutDiscountResponse(_message.Message):
    __slots__ = ("discount_approval",)
    DISCOUNT_APPROVAL_FIELD_NUMBER: _ClassVar[int]
    discount_approval: _checkout_pb2.DiscountApproval
    def __init__(self, discount_approval: _Optional[_Union[_checkout_pb2.DiscountApproval, _Mapping]] = ...) -> None: ...

class CheckoutResponse(_message.Message):
    __slots__ = ("checkout", "wallet")
    CHECKOUT_FIELD_NUMBER: _ClassVar[int]
    WALLET_FIELD_NUMBER: _ClassVar[int]
    checkout: _checkout_pb2.Checkout
    wallet: _stored_value_pb2.Wallet
    def __init__(self, checkout: _Optional[_Union[_checkout_pb2.Checkout, _Mapping]] = ..., wallet: _Optional[_Union[_stored_value_pb2.Wallet, _Mapping]] = ...) -> None: ...

class GetCheckoutRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetCheckoutResponse(_message.Message):
    __slots__ = ("checkout",)
    CHECKOUT_FIELD_NUMBER: _ClassVar[int]
    checkout: _checkout_pb2.Checkout
    def __init__(self, checkout: _Optional[_Union[_checkout_pb2.Checkout, _Mapping]] = ...) -> None: ...

class ListCheckoutsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "member", "store", "start_time", "end_time")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    STORE_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    member: str
    store: str
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., member: _Optional[str] = ..., store: _Optional[str] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListCheckoutsResponse(_message.Message):
    __slots__ = ("checkouts", "next_page_token")
    CHECKOUTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    checkouts: _containers.RepeatedCompositeFieldContainer[_checkout_pb2.Checkout]
    next_page_token: str
    def __init__(self, checkouts: _Optional[_Iterable[_Union[_checkout_pb2.Checkout, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class RefundCheckoutRequest(_message.Message):
    __slots__ = ("checkout", "lines", "full", "reason", "request_id")
    CHECKOUT_FIELD_NUMBER: _ClassVar[int]
    LINES_FIELD_NUMBER: _ClassVar[int]
    FULL_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    checkout: str
    lines: _containers.RepeatedCompositeFieldContainer[_checkout_pb2.RefundLine]
    full: bool
    reason: str
    request_id: str
    def __init__(self, checkout: _Optional[str] = ..., lines: _Optional[_Iterable[_Union[_checkout_pb2.RefundLine, _Mapping]]] = ..., full: _Optional[bool] = ..., reason: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class RefundCheckoutResponse(_message.Message):
    __slots__ = ("refund", "wallet")
    REFUND_FIELD_NUMBER: _ClassVar[int]
    WALLET_FIELD_NUMBER: _ClassVar[int]
    refund: _checkout_pb2.Refund
    wallet: _stored_value_pb2.Wallet
    def __init__(self, refund: _Optional[_Union[_checkout_pb2.Refund, _Mapping]] = ..., wallet: _Optional[_Union[_stored_value_pb2.Wallet, _Mapping]] = ...) -> None: ...

class CreateCommissionRuleRequest(_message.Message):
    __slots__ = ("commission_rule", "commission_rule_id", "request_id")
    COMMISSION_RULE_FIELD_NUMBER: _ClassVar[int]
    COMMISSION_RULE_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    commission_rule: _commission_pb2.CommissionRule
    commission_rule_id: str
    request_id: str
    def __init__(self, commission_rule: _Optional[_Union[_commission_pb2.CommissionRule, _Mapping]] = ..., commission_rule_id: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class CreateCommissionRuleResponse(_message.Message):
    __slots__ = ("commission_rule",)
    COMMISSION_RULE_FIELD_NUMBER: _ClassVar[int]
    commission_rule: _commission_pb2.CommissionRule
    def __init__(self, commission_rule: _Optional[_Union[_commission_pb2.CommissionRule, _Mapping]] = ...) -> None: ...

class ListCommissionRulesRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "store")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    STORE_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    store: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., store: _Optional[str] = ...) -> None: ...

class ListCommissionRulesResponse(_message.Message):
    __slots__ = ("commission_rules", "next_page_token")
    COMMISSION_RULES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    commission_rules: _containers.RepeatedCompositeFieldContainer[_commission_pb2.CommissionRule]
    next_page_token: str
    def __init__(self, commission_rules: _Optional[_Iterable[_Union[_commission_pb2.CommissionRule, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ListCommissionRecordsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "staff", "store", "start_time", "end_time", "checkout")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    STAFF_FIELD_NUMBER: _ClassVar[int]
    STORE_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    CHECKOUT_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    staff: str
    store: str
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    checkout: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., staff: _Optional[str] = ..., store: _Optional[str] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., checkout: _Optional[str] = ...) -> None: ...

class ListCommissionRecordsResponse(_message.Message):
    __slots__ = ("commission_records", "next_page_token")
    COMMISSION_RECORDS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    commission_records: _containers.RepeatedCompositeFieldContainer[_commission_pb2.CommissionRecord]
    next_page_token: str
    def __init__(self, commission_records: _Optional[_Iterable[_Union[_commission_pb2.CommissionRecord, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetCommissionReportRequest(_message.Message):
    __slots__ = ("staff", "store", "start_time", "end_time", "group_by", "source")
    STAFF_FIELD_NUMBER: _ClassVar[int]
    STORE_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    GROUP_BY_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    staff: str
    store: str
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    group_by: _containers.RepeatedScalarFieldContainer[_commission_pb2.CommissionReportDimension]
    source: _commission_pb2.CommissionSource
    def __init__(self, staff: _Optional[str] = ..., store: _Optional[str] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., group_by: _Optional[_Iterable[_Union[_commission_pb2.CommissionReportDimension, str]]] = ..., source: _Optional[_Union[_commission_pb2.CommissionSource, str]] = ...) -> None: ...

class CommissionReportRow(_message.Message):
    __slots__ = ("staff", "sales_minor", "commission_minor", "record_count", "item", "store", "staff_position", "tender", "source")
    STAFF_FIELD_NUMBER: _ClassVar[int]
    SALES_MINOR_FIELD_NUMBER: _ClassVar[int]
    COMMISSION_MINOR_FIELD_NUMBER: _ClassVar[int]
    RECORD_COUNT_FIELD_NUMBER: _ClassVar[int]
    ITEM_FIELD_NUMBER: _ClassVar[int]
    STORE_FIELD_NUMBER: _ClassVar[int]
    STAFF_POSITION_FIELD_NUMBER: _ClassVar[int]
    TENDER_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    staff: str
    sales_minor: int
    commission_minor: int
    record_count: int
    item: str
    store: str
    staff_position: str
    tender: _ledger_pb2.Tender
    source: _commission_pb2.CommissionSource
    def __init__(self, staff: _Optional[str] = ..., sales_minor: _Optional[int] = ..., commission_minor: _Optional[int] = ..., record_count: _Optional[int] = ..., item: _Optional[str] = ..., store: _Optional[str] = ..., staff_position: _Optional[str] = ..., tender: _Optional[_Union[_ledger_pb2.Tender, str]] = ..., source: _Optional[_Union[_commission_pb2.CommissionSource, str]] = ...) -> None: ...

class GetCommissionReportResponse(_message.Message):
    __slots__ = ("rows", "total_commission_minor", "currency_code")
    ROWS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_COMMISSION_MINOR_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_CODE_FIELD_NUMBER: _ClassVar[int]
    rows: _containers.RepeatedCompositeFieldContainer[CommissionReportRow]
    total_commission_minor: int
    currency_code: str
    def __init__(self, rows: _Optional[_Iterable[_Union[CommissionReportRow, _Mapping]]] = ..., total_commission_minor: _Optional[int] = ..., currency_code: _Optional[str] = ...) -> None: ...

class GetStoredValueLiabilityRequest(_message.Message):
    __slots__ = ("as_of",)
    AS_OF_FIELD_NUMBER: _ClassVar[int]
    as_of: _timestamp_pb2.Timestamp
    def __init__(self, as_of: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetStoredValueLiabilityResponse(_message.Message):
    __slots__ = ("rows", "total_principal_minor", "total_bonus_minor", "as_of", "currency_code")
    ROWS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_PRINCIPAL_MINOR_FIELD_NUMBER: _ClassVar[int]
    TOTAL_BONUS_MINOR_FIELD_NUMBER: _ClassVar[int]
    AS_OF_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_CODE_FIELD_NUMBER: _ClassVar[int]
    rows: _containers.RepeatedCompositeFieldContainer[_finance_pb2.StoredValueLiability]
    total_principal_minor: int
    total_bonus_minor: int
    as_of: _timestamp_pb2.Timestamp
    currency_code: str
    def __init__(self, rows: _Optional[_Iterable[_Union[_finance_pb2.StoredValueLiability, _Mapping]]] = ..., total_principal_minor: _Optional[int] = ..., total_bonus_minor: _Optional[int] = ..., as_of: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., currency_code: _Optional[str] = ...) -> None: ...

class GetPointsLiabilityRequest(_message.Message):
    __slots__ = ("as_of",)
    AS_OF_FIELD_NUMBER: _ClassVar[int]
    as_of: _timestamp_pb2.Timestamp
    def __init__(self, as_of: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetPointsLiabilityResponse(_message.Message):
    __slots__ = ("points_liability", "as_of", "currency_code")
    POINTS_LIABILITY_FIELD_NUMBER: _ClassVar[int]
    AS_OF_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_CODE_FIELD_NUMBER: _ClassVar[int]
    points_liability: _finance_pb2.PointsLiability
    as_of: _timestamp_pb2.Timestamp
    currency_code: str
    def __init__(self, points_liability: _Optional[_Union[_finance_pb2.PointsLiability, _Mapping]] = ..., as_of: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., currency_code: _Optional[str] = ...) -> None: ...

class GetPackageDeferredRevenueRequest(_message.Message):
    __slots__ = ("as_of",)
    AS_OF_FIELD_NUMBER: _ClassVar[int]
    as_of: _timestamp_pb2.Timestamp
    def __init__(self, as_of: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetPackageDeferredRevenueResponse(_message.Message):
    __slots__ = ("rows", "total_deferred_minor", "as_of", "currency_code")
    ROWS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_DEFERRED_MINOR_FIELD_NUMBER: _ClassVar[int]
    AS_OF_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_CODE_FIELD_NUMBER: _ClassVar[int]
    rows: _containers.RepeatedCompositeFieldContainer[_finance_pb2.PackageDeferredRevenue]
    total_deferred_minor: int
    as_of: _timestamp_pb2.Timestamp
    currency_code: str
    def __init__(self, rows: _Optional[_Iterable[_Union[_finance_pb2.PackageDeferredRevenue, _Mapping]]] = ..., total_deferred_minor: _Optional[int] = ..., as_of: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., currency_code: _Optional[str] = ...) -> None: ...

class GetInterStoreClearingRequest(_message.Message):
    __slots__ = ("start_time", "end_time")
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    def __init__(self, start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetInterStoreClearingResponse(_message.Message):
    __slots__ = ("entries", "currency_code")
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_CODE_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[_finance_pb2.ClearingEntry]
    currency_code: str
    def __init__(self, entries: _Optional[_Iterable[_Union[_finance_pb2.ClearingEntry, _Mapping]]] = ..., currency_code: _Optional[str] = ...) -> None: ...

class Membership(_message.Message):
    __slots__ = ("name", "paid_until", "active", "periods_paid", "renewals")
    NAME_FIELD_NUMBER: _ClassVar[int]
    PAID_UNTIL_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_FIELD_NUMBER: _ClassVar[int]
    PERIODS_PAID_FIELD_NUMBER: _ClassVar[int]
    RENEWALS_FIELD_NUMBER: _ClassVar[int]
    name: str
    paid_until: _timestamp_pb2.Timestamp
    active: bool
    periods_paid: int
    renewals: int
    def __init__(self, name: _Optional[str] = ..., paid_until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., active: _Optional[bool] = ..., periods_paid: _Optional[int] = ..., renewals: _Optional[int] = ...) -> None: ...

class GetMembershipRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetMembershipResponse(_message.Message):
    __slots__ = ("membership",)
    MEMBERSHIP_FIELD_NUMBER: _ClassVar[int]
    membership: Membership
    def __init__(self, membership: _Optional[_Union[Membership, _Mapping]] = ...) -> None: ...

class GetMembershipRenewalRateRequest(_message.Message):
    __slots__ = ("start_time", "end_time")
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    def __init__(self, start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetMembershipRenewalRateResponse(_message.Message):
    __slots__ = ("due", "renewed", "renewal_rate_bps")
    DUE_FIELD_NUMBER: _ClassVar[int]
    RENEWED_FIELD_NUMBER: _ClassVar[int]
    RENEWAL_RATE_BPS_FIELD_NUMBER: _ClassVar[int]
    due: int
    renewed: int
    renewal_rate_bps: int
    def __init__(self, due: _Optional[int] = ..., renewed: _Optional[int] = ..., renewal_rate_bps: _Optional[int] = ...) -> None: ...

class ImportOpeningItem(_message.Message):
    __slots__ = ("service", "display_name", "sessions", "expire_time")
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    SESSIONS_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    service: str
    display_name: str
    sessions: int
    expire_time: _timestamp_pb2.Timestamp
    def __init__(self, service: _Optional[str] = ..., display_name: _Optional[str] = ..., sessions: _Optional[int] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ImportOpening(_message.Message):
    __slots__ = ("row", "member", "store", "principal_minor", "bonus_minor", "points", "points_expire_time", "items")
    ROW_FIELD_NUMBER: _ClassVar[int]
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    STORE_FIELD_NUMBER: _ClassVar[int]
    PRINCIPAL_MINOR_FIELD_NUMBER: _ClassVar[int]
    BONUS_MINOR_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    POINTS_EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    row: int
    member: str
    store: str
    principal_minor: int
    bonus_minor: int
    points: int
    points_expire_time: _timestamp_pb2.Timestamp
    items: _containers.RepeatedCompositeFieldContainer[ImportOpeningItem]
    def __init__(self, row: _Optional[int] = ..., member: _Optional[str] = ..., store: _Optional[str] = ..., principal_minor: _Optional[int] = ..., bonus_minor: _Optional[int] = ..., points: _Optional[int] = ..., points_expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., items: _Optional[_Iterable[_Union[ImportOpeningItem, _Mapping]]] = ...) -> None: ...

class ImportVoucher(_message.Message):
    __slots__ = ("row", "member", "code", "display_name", "amount_off_minor", "min_spend_minor", "valid_until")
    ROW_FIELD_NUMBER: _ClassVar[int]
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_OFF_MINOR_FIELD_NUMBER: _ClassVar[int]
    MIN_SPEND_MINOR_FIELD_NUMBER: _ClassVar[int]
    VALID_UNTIL_FIELD_NUMBER: _ClassVar[int]
    row: int
    member: str
    code: str
    display_name: str
    amount_off_minor: int
    min_spend_minor: int
    valid_until: _timestamp_pb2.Timestamp
    def __init__(self, row: _Optional[int] = ..., member: _Optional[str] = ..., code: _Optional[str] = ..., display_name: _Optional[str] = ..., amount_off_minor: _Optional[int] = ..., min_spend_minor: _Optional[int] = ..., valid_until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ApplyImportBatchRequest(_message.Message):
    __slots__ = ("import_id", "openings", "vouchers", "dry_run", "reconcile")
    IMPORT_ID_FIELD_NUMBER: _ClassVar[int]
    OPENINGS_FIELD_NUMBER: _ClassVar[int]
    VOUCHERS_FIELD_NUMBER: _ClassVar[int]
    DRY_RUN_FIELD_NUMBER: _ClassVar[int]
    RECONCILE_FIELD_NUMBER: _ClassVar[int]
    import_id: str
    openings: _containers.RepeatedCompositeFieldContainer[ImportOpening]
    vouchers: _containers.RepeatedCompositeFieldContainer[ImportVoucher]
    dry_run: bool
    reconcile: bool
    def __init__(self, import_id: _Optional[str] = ..., openings: _Optional[_Iterable[_Union[ImportOpening, _Mapping]]] = ..., vouchers: _Optional[_Iterable[_Union[ImportVoucher, _Mapping]]] = ..., dry_run: _Optional[bool] = ..., reconcile: _Optional[bool] = ...) -> None: ...

class ApplyImportBatchResponse(_message.Message):
    __slots__ = ("openings_written", "rejected_voucher_rows", "principal_minor", "bonus_minor", "points", "sessions", "opening_money_debit", "opening_points_debit", "opening_sessions_debit", "opening_transactions", "unbalanced_transactions", "vouchers_issued", "vouchers_amount_minor")
    OPENINGS_WRITTEN_FIELD_NUMBER: _ClassVar[int]
    REJECTED_VOUCHER_ROWS_FIELD_NUMBER: _ClassVar[int]
    PRINCIPAL_MINOR_FIELD_NUMBER: _ClassVar[int]
    BONUS_MINOR_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    SESSIONS_FIELD_NUMBER: _ClassVar[int]
    OPENING_MONEY_DEBIT_FIELD_NUMBER: _ClassVar[int]
    OPENING_POINTS_DEBIT_FIELD_NUMBER: _ClassVar[int]
    OPENING_SESSIONS_DEBIT_FIELD_NUMBER: _ClassVar[int]
    OPENING_TRANSACTIONS_FIELD_NUMBER: _ClassVar[int]
    UNBALANCED_TRANSACTIONS_FIELD_NUMBER: _ClassVar[int]
    VOUCHERS_ISSUED_FIELD_NUMBER: _ClassVar[int]
    VOUCHERS_AMOUNT_MINOR_FIELD_NUMBER: _ClassVar[int]
    openings_written: int
    rejected_voucher_rows: _containers.RepeatedScalarFieldContainer[int]
    principal_minor: int
    bonus_minor: int
    points: int
    sessions: int
    opening_money_debit: int
    opening_points_debit: int
    opening_sessions_debit: int
    opening_transactions: int
    unbalanced_transactions: int
    vouchers_issued: int
    vouchers_amount_minor: int
    def __init__(self, openings_written: _Optional[int] = ..., rejected_voucher_rows: _Optional[_Iterable[int]] = ..., principal_minor: _Optional[int] = ..., bonus_minor: _Optional[int] = ..., points: _Optional[int] = ..., sessions: _Optional[int] = ..., opening_money_debit: _Optional[int] = ..., opening_points_debit: _Optional[int] = ..., opening_sessions_debit: _Optional[int] = ..., opening_transactions: _Optional[int] = ..., unbalanced_transactions: _Optional[int] = ..., vouchers_issued: _Optional[int] = ..., vouchers_amount_minor: _Optional[int] = ...) -> None: ...
