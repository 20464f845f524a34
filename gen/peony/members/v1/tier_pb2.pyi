import datetime

from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.api import resource_pb2 as _resource_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from peony.options.v1 import limits_pb2 as _limits_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class DowngradePolicy(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DOWNGRADE_POLICY_UNSPECIFIED: _ClassVar[DowngradePolicy]
    DOWNGRADE_POLICY_NEVER: _ClassVar[DowngradePolicy]
    DOWNGRADE_POLICY_AUTOMATIC: _ClassVar[DowngradePolicy]

class TierChangeReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TIER_CHANGE_REASON_UNSPECIFIED: _ClassVar[TierChangeReason]
    TIER_CHANGE_REASON_UPGRADE_SPEND: _ClassVar[TierChangeReason]
    TIER_CHANGE_REASON_UPGRADE_POINTS: _ClassVar[TierChangeReason]
    TIER_CHANGE_REASON_UPGRADE_VISITS: _ClassVar[TierChangeReason]
    TIER_CHANGE_REASON_ANNIVERSARY_DOWNGRADE: _ClassVar[TierChangeReason]
    TIER_CHANGE_REASON_LADDER_CHANGE: _ClassVar[TierChangeReason]
    TIER_CHANGE_REASON_MANUAL: _ClassVar[TierChangeReason]
    TIER_CHANGE_REASON_IMPORT: _ClassVar[TierChangeReason]
DOWNGRADE_POLICY_UNSPECIFIED: DowngradePolicy
DOWNGRADE_POLICY_NEVER: DowngradePolicy
DOWNGRADE_POLICY_AUTOMATIC: DowngradePolicy
TIER_CHANGE_REASON_UNSPECIFIED: TierChangeReason
TIER_CHANGE_REASON_UPGRADE_SPEND: TierChangeReason
TIER_CHANGE_REASON_UPGRADE_POINTS: TierChangeReason
TIER_CHANGE_REASON_UPGRADE_VISITS: TierChangeReason
TIER_CHANGE_REASON_ANNIVERSARY_DOWNGRADE: TierChangeReason
TIER_CHANGE_REASON_LADDER_CHANGE: TierChangeReason
TIER_CHANGE_REASON_MANUAL: TierChangeReason
TIER_CHANGE_REASON_IMPORT: TierChangeReason

class TierBenefits(_message.Message):
    __slots__ = ("discount_bps", "points_multiplier_permille", "free_care_per_month", "booking_window_days", "birthday_points", "birthday_voucher_template")
    DISCOUNT_BPS_FIELD_NUMBER: _ClassVar[int]
    POINTS_MULTIPLIER_PERMILLE_FIELD_NUMBER: _ClassVar[int]
    FREE_CARE_PER_MONTH_FIELD_NUMBER: _ClassVar[int]
    BOOKING_WINDOW_DAYS_FIELD_NUMBER: _ClassVar[int]
    BIRTHDAY_POINTS_FIELD_NUMBER: _ClassVar[int]
    BIRTHDAY_VOUCHER_TEMPLATE_FIELD_NUMBER: _ClassVar[int]
    discount_bps: int
    points_multiplier_permille: int
    free_care_per_month: int
    booking_window_days: int
    birthday_points: int
    birthday_voucher_template: str
    def __init__(self, discount_bps: _Optional[int] = ..., points_multiplier_permille: _Optional[int] = ..., free_care_per_month: _Optional[int] = ..., booking_window_days: _Optional[int] = ..., birthday_points: _Optional[int] = ..., birthday_voucher_template: _Optional[str] = ...) -> None: ...

class Tier(_message.Message):
    __slots__ = ("tier_id", "display_name", "rank", "qualifying_spend_minor", "qualifying_visits", "qualifying_points", "benefits")
    TIER_ID_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    RANK_FIELD_NUMBER: _ClassVar[int]
    QUALIFYING_SPEND_MINOR_FIELD_NUMBER: _ClassVar[int]
    QUALIFYING_VISITS_FIELD_NUMBER: _ClassVar[int]
    QUALIFYING_POINTS_FIELD_NUMBER: _ClassVar[int]
    BENEFITS_FIELD_NUMBER: _ClassVar[int]
    tier_id: str
    display_name: str
    rank: int
    qualifying_spend_minor: int
    qualifying_visits: int
    qualifying_points: int
    benefits: TierBenefits
    def __init__(self, tier_id: _Optional[str] = ..., display_name: _Optional[str] = ..., rank: _Optional[int] = ..., qualifying_spend_minor: _Optional[int] = ..., qualifying_visits: _Optional[int] = ..., qualifying_points: _Optional[int] = ..., benefits: _Optional[_Union[TierBenefits, _Mapping]] = ...) -> None: ...

class TierLadder(_message.Message):
    __slots__ = ("name", "tiers", "currency_code", "qualification_window_days", "downgrade_policy", "downgrade_grace_days", "update_time")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TIERS_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_CODE_FIELD_NUMBER: _ClassVar[int]
    QUALIFICATION_WINDOW_DAYS_FIELD_NUMBER: _ClassVar[int]
    DOWNGRADE_POLICY_FIELD_NUMBER: _ClassVar[int]
    DOWNGRADE_GRACE_DAYS_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    tiers: _containers.RepeatedCompositeFieldContainer[Tier]
    currency_code: str
    qualification_window_days: int
    downgrade_policy: DowngradePolicy
    downgrade_grace_days: int
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., tiers: _Optional[_Iterable[_Union[Tier, _Mapping]]] = ..., currency_code: _Optional[str] = ..., qualification_window_days: _Optional[int] = ..., downgrade_policy: _Optional[_Union[DowngradePolicy, str]] = ..., downgrade_grace_days: _Optional[int] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class TierChange(_message.Message):
    __slots__ = ("name", "from_tier_id", "to_tier_id", "reason", "actor", "staff_override", "change_time", "reason_code")
    NAME_FIELD_NUMBER: _ClassVar[int]
    FROM_TIER_ID_FIELD_NUMBER: _ClassVar[int]
    TO_TIER_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    STAFF_OVERRIDE_FIELD_NUMBER: _ClassVar[int]
    CHANGE_TIME_FIELD_NUMBER: _ClassVar[int]
    REASON_CODE_FIELD_NUMBER: _ClassVar[int]
    name: str
    from_tier_id: str
    to_tier_id: str
    reason: str
    actor: str
    staff_override: bool
    change_time: _timestamp_pb2.Timestamp
    reason_code: TierChangeReason
    def __init__(self, name: _Optional[str] = ..., from_tier_id: _Optional[str] = ..., to_tier_id: _Optional[str] = ..., reason: _Optional[str] = ..., actor: _Optional[str] = ..., staff_override: _Optional[bool] = ..., change_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., reason_code: _Optional[_Union[TierChangeReason, str]] = ...) -> None: ...
