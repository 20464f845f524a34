import datetime

from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.api import resource_pb2 as _resource_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SpendOrder(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SPEND_ORDER_UNSPECIFIED: _ClassVar[SpendOrder]
    SPEND_ORDER_PROPORTIONAL: _ClassVar[SpendOrder]
    SPEND_ORDER_PRINCIPAL_FIRST: _ClassVar[SpendOrder]
    SPEND_ORDER_BONUS_FIRST: _ClassVar[SpendOrder]

class BonusRelease(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    BONUS_RELEASE_UNSPECIFIED: _ClassVar[BonusRelease]
    BONUS_RELEASE_IMMEDIATE: _ClassVar[BonusRelease]
    BONUS_RELEASE_MONTHLY: _ClassVar[BonusRelease]
SPEND_ORDER_UNSPECIFIED: SpendOrder
SPEND_ORDER_PROPORTIONAL: SpendOrder
SPEND_ORDER_PRINCIPAL_FIRST: SpendOrder
SPEND_ORDER_BONUS_FIRST: SpendOrder
BONUS_RELEASE_UNSPECIFIED: BonusRelease
BONUS_RELEASE_IMMEDIATE: BonusRelease
BONUS_RELEASE_MONTHLY: BonusRelease

class Wallet(_message.Message):
    __slots__ = ("name", "currency_code", "principal_minor", "bonus_minor", "held_minor", "locked_bonus_minor", "points_available", "points_pending", "points_expiring_30d", "pin_set", "pin_locked_until", "update_time")
    NAME_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_CODE_FIELD_NUMBER: _ClassVar[int]
    PRINCIPAL_MINOR_FIELD_NUMBER: _ClassVar[int]
    BONUS_MINOR_FIELD_NUMBER: _ClassVar[int]
    HELD_MINOR_FIELD_NUMBER: _ClassVar[int]
    LOCKED_BONUS_MINOR_FIELD_NUMBER: _ClassVar[int]
    POINTS_AVAILABLE_FIELD_NUMBER: _ClassVar[int]
    POINTS_PENDING_FIELD_NUMBER: _ClassVar[int]
    POINTS_EXPIRING_30D_FIELD_NUMBER: _ClassVar[int]
    PIN_SET_FIELD_NUMBER: _ClassVar[int]
    PIN_LOCKED_UNTIL_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    currency_code: str
    principal_minor: int
    bonus_minor: int
    held_minor: int
    locked_bonus_minor: int
    points_available: int
    points_pending: int
    points_expiring_30d: int
    pin_set: bool
    pin_locked_until: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., currency_code: _Optional[str] = ..., principal_minor: _Optional[int] = ..., bonus_minor: _Optional[int] = ..., held_minor: _Optional[int] = ..., locked_bonus_minor: _Optional[int] = ..., points_available: _Optional[int] = ..., points_pending: _Optional[int] = ..., points_expiring_30d: _Optional[int] = ..., pin_set: _Optional[bool] = ..., pin_locked_until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class WalletSettings(_message.Message):
    __slots__ = ("name", "spend_order", "currency_code", "pin_max_attempts", "pin_lockout_minutes", "hold_default_ttl_minutes", "update_time", "free_care_service", "max_manual_discount_bps", "membership_fee_minor", "membership_months", "membership_renewal_notice_days", "member_day_of_month", "member_day_points_multiplier_permille", "member_day_tier_ids")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SPEND_ORDER_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_CODE_FIELD_NUMBER: _ClassVar[int]
    PIN_MAX_ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    PIN_LOCKOUT_MINUTES_FIELD_NUMBER: _ClassVar[int]
    HOLD_DEFAULT_TTL_MINUTES_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    FREE_CARE_SERVICE_FIELD_NUMBER: _ClassVar[int]
    MAX_MANUAL_DISCOUNT_BPS_FIELD_NUMBER: _ClassVar[int]
    MEMBERSHIP_FEE_MINOR_FIELD_NUMBER: _ClassVar[int]
    MEMBERSHIP_MONTHS_FIELD_NUMBER: _ClassVar[int]
    MEMBERSHIP_RENEWAL_NOTICE_DAYS_FIELD_NUMBER: _ClassVar[int]
    MEMBER_DAY_OF_MONTH_FIELD_NUMBER: _ClassVar[int]
    MEMBER_DAY_POINTS_MULTIPLIER_PERMILLE_FIELD_NUMBER: _ClassVar[int]
    MEMBER_DAY_TIER_IDS_FIELD_NUMBER: _ClassVar[int]
    name: str
    spend_order: SpendOrder
    currency_code: str
    pin_max_attempts: int
    pin_lockout_minutes: int
    hold_default_ttl_minutes: int
    update_time: _timestamp_pb2.Timestamp
    free_care_service: str
    max_manual_discount_bps: int
    membership_fee_minor: int
    membership_months: int
    membership_renewal_notice_days: int
    member_day_of_month: int
    member_day_points_multiplier_permille: int
    member_day_tier_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, name: _Optional[str] = ..., spend_order: _Optional[_Union[SpendOrder, str]] = ..., currency_code: _Optional[str] = ..., pin_max_attempts: _Optional[int] = ..., pin_lockout_minutes: _Optional[int] = ..., hold_default_ttl_minutes: _Optional[int] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., free_care_service: _Optional[str] = ..., max_manual_discount_bps: _Optional[int] = ..., membership_fee_minor: _Optional[int] = ..., membership_months: _Optional[int] = ..., membership_renewal_notice_days: _Optional[int] = ..., member_day_of_month: _Optional[int] = ..., member_day_points_multiplier_permille: _Optional[int] = ..., member_day_tier_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class TopUpPlan(_message.Message):
    __slots__ = ("name", "display_name", "pay_minor", "bonus_minor", "bonus_release", "release_months", "active", "stores", "currency_code", "create_time", "update_time")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    PAY_MINOR_FIELD_NUMBER: _ClassVar[int]
    BONUS_MINOR_FIELD_NUMBER: _ClassVar[int]
    BONUS_RELEASE_FIELD_NUMBER: _ClassVar[int]
    RELEASE_MONTHS_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_FIELD_NUMBER: _ClassVar[int]
    STORES_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_CODE_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    display_name: str
    pay_minor: int
    bonus_minor: int
    bonus_release: BonusRelease
    release_months: int
    active: bool
    stores: _containers.RepeatedScalarFieldContainer[str]
    currency_code: str
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., display_name: _Optional[str] = ..., pay_minor: _Optional[int] = ..., bonus_minor: _Optional[int] = ..., bonus_release: _Optional[_Union[BonusRelease, str]] = ..., release_months: _Optional[int] = ..., active: _Optional[bool] = ..., stores: _Optional[_Iterable[str]] = ..., currency_code: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
