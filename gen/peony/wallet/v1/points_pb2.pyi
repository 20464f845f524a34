import datetime

from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.api import resource_pb2 as _resource_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class PointsExpiryPolicy(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    POINTS_EXPIRY_POLICY_UNSPECIFIED: _ClassVar[PointsExpiryPolicy]
    POINTS_EXPIRY_POLICY_END_OF_MONTH_AFTER_MONTHS: _ClassVar[PointsExpiryPolicy]
    POINTS_EXPIRY_POLICY_DAYS: _ClassVar[PointsExpiryPolicy]
    POINTS_EXPIRY_POLICY_YEAR_END: _ClassVar[PointsExpiryPolicy]
    POINTS_EXPIRY_POLICY_NEVER: _ClassVar[PointsExpiryPolicy]

class LotSource(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LOT_SOURCE_UNSPECIFIED: _ClassVar[LotSource]
    LOT_SOURCE_PURCHASE: _ClassVar[LotSource]
    LOT_SOURCE_REFERRAL: _ClassVar[LotSource]
    LOT_SOURCE_ACTIVITY: _ClassVar[LotSource]
    LOT_SOURCE_CHECK_IN: _ClassVar[LotSource]
    LOT_SOURCE_BIRTHDAY: _ClassVar[LotSource]
    LOT_SOURCE_ADJUSTMENT: _ClassVar[LotSource]
    LOT_SOURCE_REFUND_RESTORE: _ClassVar[LotSource]
    LOT_SOURCE_IMPORT: _ClassVar[LotSource]

class RewardKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REWARD_KIND_UNSPECIFIED: _ClassVar[RewardKind]
    REWARD_KIND_PRODUCT: _ClassVar[RewardKind]
    REWARD_KIND_SERVICE: _ClassVar[RewardKind]
    REWARD_KIND_VOUCHER: _ClassVar[RewardKind]
POINTS_EXPIRY_POLICY_UNSPECIFIED: PointsExpiryPolicy
POINTS_EXPIRY_POLICY_END_OF_MONTH_AFTER_MONTHS: PointsExpiryPolicy
POINTS_EXPIRY_POLICY_DAYS: PointsExpiryPolicy
POINTS_EXPIRY_POLICY_YEAR_END: PointsExpiryPolicy
POINTS_EXPIRY_POLICY_NEVER: PointsExpiryPolicy
LOT_SOURCE_UNSPECIFIED: LotSource
LOT_SOURCE_PURCHASE: LotSource
LOT_SOURCE_REFERRAL: LotSource
LOT_SOURCE_ACTIVITY: LotSource
LOT_SOURCE_CHECK_IN: LotSource
LOT_SOURCE_BIRTHDAY: LotSource
LOT_SOURCE_ADJUSTMENT: LotSource
LOT_SOURCE_REFUND_RESTORE: LotSource
LOT_SOURCE_IMPORT: LotSource
REWARD_KIND_UNSPECIFIED: RewardKind
REWARD_KIND_PRODUCT: RewardKind
REWARD_KIND_SERVICE: RewardKind
REWARD_KIND_VOUCHER: RewardKind

class PointLot(_message.Message):
    __slots__ = ("name", "source", "original", "remaining", "earned_time", "expire_time", "pending_until", "reason", "transaction", "expiring_notified")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    ORIGINAL_FIELD_NUMBER: _ClassVar[int]
    REMAINING_FIELD_NUMBER: _ClassVar[int]
    EARNED_TIME_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    PENDING_UNTIL_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    TRANSACTION_FIELD_NUMBER: _ClassVar[int]
    EXPIRING_NOTIFIED_FIELD_NUMBER: _ClassVar[int]
    name: str
    source: LotSource
    original: int
    remaining: int
    earned_time: _timestamp_pb2.Timestamp
    expire_time: _timestamp_pb2.Timestamp
    pending_until: _timestamp_pb2.Timestamp
    reason: str
    transaction: str
    expiring_notified: bool
    def __init__(self, name: _Optional[str] = ..., source: _Optional[_Union[LotSource, str]] = ..., original: _Optional[int] = ..., remaining: _Optional[int] = ..., earned_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., pending_until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., reason: _Optional[str] = ..., transaction: _Optional[str] = ..., expiring_notified: _Optional[bool] = ...) -> None: ...

class PointsPolicy(_message.Message):
    __slots__ = ("name", "points_per_yuan", "expiry_policy", "expiry_months", "expiry_days", "pending_days", "redemption_rate_points_per_yuan", "min_redeem_points", "max_redeem_bps", "expiring_notice_days", "check_in_points", "check_in_streak_days", "check_in_streak_bonus_points", "update_time")
    NAME_FIELD_NUMBER: _ClassVar[int]
    POINTS_PER_YUAN_FIELD_NUMBER: _ClassVar[int]
    EXPIRY_POLICY_FIELD_NUMBER: _ClassVar[int]
    EXPIRY_MONTHS_FIELD_NUMBER: _ClassVar[int]
    EXPIRY_DAYS_FIELD_NUMBER: _ClassVar[int]
    PENDING_DAYS_FIELD_NUMBER: _ClassVar[int]
    REDEMPTION_RATE_POINTS_PER_YUAN_FIELD_NUMBER: _ClassVar[int]
    MIN_REDEEM_POINTS_FIELD_NUMBER: _ClassVar[int]
    MAX_REDEEM_BPS_FIELD_NUMBER: _ClassVar[int]
    EXPIRING_NOTICE_DAYS_FIELD_NUMBER: _ClassVar[int]
    CHECK_IN_POINTS_FIELD_NUMBER: _ClassVar[int]
    CHECK_IN_STREAK_DAYS_FIELD_NUMBER: _ClassVar[int]
    CHECK_IN_STREAK_BONUS_POINTS_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    points_per_yuan: int
    expiry_policy: PointsExpiryPolicy
    expiry_months: int
    expiry_days: int
    pending_days: int
    redemption_rate_points_per_yuan: int
    min_redeem_points: int
    max_redeem_bps: int
    expiring_notice_days: int
    check_in_points: int
    check_in_streak_days: int
    check_in_streak_bonus_points: int
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., points_per_yuan: _Optional[int] = ..., expiry_policy: _Optional[_Union[PointsExpiryPolicy, str]] = ..., expiry_months: _Optional[int] = ..., expiry_days: _Optional[int] = ..., pending_days: _Optional[int] = ..., redemption_rate_points_per_yuan: _Optional[int] = ..., min_redeem_points: _Optional[int] = ..., max_redeem_bps: _Optional[int] = ..., expiring_notice_days: _Optional[int] = ..., check_in_points: _Optional[int] = ..., check_in_streak_days: _Optional[int] = ..., check_in_streak_bonus_points: _Optional[int] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Reward(_message.Message):
    __slots__ = ("name", "display_name", "points_cost", "stock", "kind", "item", "active", "create_time", "update_time")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    POINTS_COST_FIELD_NUMBER: _ClassVar[int]
    STOCK_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    ITEM_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    display_name: str
    points_cost: int
    stock: int
    kind: RewardKind
    item: str
    active: bool
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., display_name: _Optional[str] = ..., points_cost: _Optional[int] = ..., stock: _Optional[int] = ..., kind: _Optional[_Union[RewardKind, str]] = ..., item: _Optional[str] = ..., active: _Optional[bool] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
