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

class MarketingChannel(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MARKETING_CHANNEL_UNSPECIFIED: _ClassVar[MarketingChannel]
    MARKETING_CHANNEL_SMS: _ClassVar[MarketingChannel]
    MARKETING_CHANNEL_WECHAT: _ClassVar[MarketingChannel]
    MARKETING_CHANNEL_EMAIL: _ClassVar[MarketingChannel]
    MARKETING_CHANNEL_APP_PUSH: _ClassVar[MarketingChannel]
MARKETING_CHANNEL_UNSPECIFIED: MarketingChannel
MARKETING_CHANNEL_SMS: MarketingChannel
MARKETING_CHANNEL_WECHAT: MarketingChannel
MARKETING_CHANNEL_EMAIL: MarketingChannel
MARKETING_CHANNEL_APP_PUSH: MarketingChannel

class Int64Range(_message.Message):
    __slots__ = ("min", "max")
    MIN_FIELD_NUMBER: _ClassVar[int]
    MAX_FIELD_NUMBER: _ClassVar[int]
    min: int
    max: int
    def __init__(self, min: _Optional[int] = ..., max: _Optional[int] = ...) -> None: ...

class WindowedRange(_message.Message):
    __slots__ = ("window_days", "range")
    WINDOW_DAYS_FIELD_NUMBER: _ClassVar[int]
    RANGE_FIELD_NUMBER: _ClassVar[int]
    window_days: int
    range: Int64Range
    def __init__(self, window_days: _Optional[int] = ..., range: _Optional[_Union[Int64Range, _Mapping]] = ...) -> None: ...

class SegmentFilter(_message.Message):
    __slots__ = ("tier_ids", "home_stores", "visited_stores", "birthday_months", "birthday_within_days", "registered_after", "registered_before", "no_visit_for_days", "visited_within_days", "include_never_visited", "spend", "visits", "points_balance", "stored_value_balance", "tags_any", "tags_all", "consented_channels", "time_zone", "package_sessions_remaining")
    TIER_IDS_FIELD_NUMBER: _ClassVar[int]
    HOME_STORES_FIELD_NUMBER: _ClassVar[int]
    VISITED_STORES_FIELD_NUMBER: _ClassVar[int]
    BIRTHDAY_MONTHS_FIELD_NUMBER: _ClassVar[int]
    BIRTHDAY_WITHIN_DAYS_FIELD_NUMBER: _ClassVar[int]
    REGISTERED_AFTER_FIELD_NUMBER: _ClassVar[int]
    REGISTERED_BEFORE_FIELD_NUMBER: _ClassVar[int]
    NO_VISIT_FOR_DAYS_FIELD_NUMBER: _ClassVar[int]
    VISITED_WITHIN_DAYS_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_NEVER_VISITED_FIELD_NUMBER: _ClassVar[int]
    SPEND_FIELD_NUMBER: _ClassVar[int]
    VISITS_FIELD_NUMBER: _ClassVar[int]
    POINTS_BALANCE_FIELD_NUMBER: _ClassVar[int]
    STORED_VALUE_BALANCE_FIELD_NUMBER: _ClassVar[int]
    TAGS_ANY_FIELD_NUMBER: _ClassVar[int]
    TAGS_ALL_FIELD_NUMBER: _ClassVar[int]
    CONSENTED_CHANNELS_FIELD_NUMBER: _ClassVar[int]
    TIME_ZONE_FIELD_NUMBER: _ClassVar[int]
    PACKAGE_SESSIONS_REMAINING_FIELD_NUMBER: _ClassVar[int]
    tier_ids: _containers.RepeatedScalarFieldContainer[str]
    home_stores: _containers.RepeatedScalarFieldContainer[str]
    visited_stores: _containers.RepeatedScalarFieldContainer[str]
    birthday_months: _containers.RepeatedScalarFieldContainer[int]
    birthday_within_days: int
    registered_after: _timestamp_pb2.Timestamp
    registered_before: _timestamp_pb2.Timestamp
    no_visit_for_days: int
    visited_within_days: int
    include_never_visited: bool
    spend: WindowedRange
    visits: WindowedRange
    points_balance: Int64Range
    stored_value_balance: Int64Range
    tags_any: _containers.RepeatedScalarFieldContainer[str]
    tags_all: _containers.RepeatedScalarFieldContainer[str]
    consented_channels: _containers.RepeatedScalarFieldContainer[MarketingChannel]
    time_zone: str
    package_sessions_remaining: PackageSessionsRange
    def __init__(self, tier_ids: _Optional[_Iterable[str]] = ..., home_stores: _Optional[_Iterable[str]] = ..., visited_stores: _Optional[_Iterable[str]] = ..., birthday_months: _Optional[_Iterable[int]] = ..., birthday_within_days: _Optional[int] = ..., registered_after: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., registered_before: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., no_visit_for_days: _Optional[int] = ..., visited_within_days: _Optional[int] = ..., include_never_visited: _Optional[bool] = ..., spend: _Optional[_Union[WindowedRange, _Mapping]] = ..., visits: _Optional[_Union[WindowedRange, _Mapping]] = ..., points_balance: _Optional[_Union[Int64Range, _Mapping]] = ..., stored_value_balance: _Optional[_Union[Int64Range, _Mapping]] = ..., tags_any: _Optional[_Iterable[str]] = ..., tags_all: _Optional[_Iterable[str]] = ..., consented_channels: _Optional[_Iterable[_Union[MarketingChannel, str]]] = ..., time_zone: _Optional[str] = ..., package_sessions_remaining: _Optional[_Union[PackageSessionsRange, _Mapping]] = ...) -> None: ...

class PackageSessionsRange(_message.Message):
    __slots__ = ("service", "range")
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    RANGE_FIELD_NUMBER: _ClassVar[int]
    service: str
    range: Int64Range
    def __init__(self, service: _Optional[str] = ..., range: _Optional[_Union[Int64Range, _Mapping]] = ...) -> None: ...

class Segment(_message.Message):
    __slots__ = ("name", "display_name", "filter", "create_time")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    display_name: str
    filter: SegmentFilter
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., display_name: _Optional[str] = ..., filter: _Optional[_Union[SegmentFilter, _Mapping]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
