import datetime

from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.api import resource_pb2 as _resource_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from peony.options.v1 import limits_pb2 as _limits_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ReferralSettings(_message.Message):
    __slots__ = ("name", "threshold_minor", "referrer_voucher_minor", "voucher_valid_days", "referrer_points", "referee_points", "currency_code", "update_time")
    NAME_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_MINOR_FIELD_NUMBER: _ClassVar[int]
    REFERRER_VOUCHER_MINOR_FIELD_NUMBER: _ClassVar[int]
    VOUCHER_VALID_DAYS_FIELD_NUMBER: _ClassVar[int]
    REFERRER_POINTS_FIELD_NUMBER: _ClassVar[int]
    REFEREE_POINTS_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_CODE_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    threshold_minor: int
    referrer_voucher_minor: int
    voucher_valid_days: int
    referrer_points: int
    referee_points: int
    currency_code: str
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., threshold_minor: _Optional[int] = ..., referrer_voucher_minor: _Optional[int] = ..., voucher_valid_days: _Optional[int] = ..., referrer_points: _Optional[int] = ..., referee_points: _Optional[int] = ..., currency_code: _Optional[str] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ProgrammeSettings(_message.Message):
    __slots__ = ("name", "anniversary_points", "anniversary_voucher_template", "lapse_voucher_template", "update_time", "lapse_days")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ANNIVERSARY_POINTS_FIELD_NUMBER: _ClassVar[int]
    ANNIVERSARY_VOUCHER_TEMPLATE_FIELD_NUMBER: _ClassVar[int]
    LAPSE_VOUCHER_TEMPLATE_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    LAPSE_DAYS_FIELD_NUMBER: _ClassVar[int]
    name: str
    anniversary_points: int
    anniversary_voucher_template: str
    lapse_voucher_template: str
    update_time: _timestamp_pb2.Timestamp
    lapse_days: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, name: _Optional[str] = ..., anniversary_points: _Optional[int] = ..., anniversary_voucher_template: _Optional[str] = ..., lapse_voucher_template: _Optional[str] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., lapse_days: _Optional[_Iterable[int]] = ...) -> None: ...
