import datetime

from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.api import resource_pb2 as _resource_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SlotAssignment(_message.Message):
    __slots__ = ("service", "staff", "room", "equipment", "start_time", "end_time", "reserved_start_time", "reserved_end_time")
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    STAFF_FIELD_NUMBER: _ClassVar[int]
    ROOM_FIELD_NUMBER: _ClassVar[int]
    EQUIPMENT_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    RESERVED_START_TIME_FIELD_NUMBER: _ClassVar[int]
    RESERVED_END_TIME_FIELD_NUMBER: _ClassVar[int]
    service: str
    staff: str
    room: str
    equipment: str
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    reserved_start_time: _timestamp_pb2.Timestamp
    reserved_end_time: _timestamp_pb2.Timestamp
    def __init__(self, service: _Optional[str] = ..., staff: _Optional[str] = ..., room: _Optional[str] = ..., equipment: _Optional[str] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., reserved_start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., reserved_end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Slot(_message.Message):
    __slots__ = ("start_time", "end_time", "local_start", "local_end", "time_zone", "staff", "assignments", "list_price_minor", "currency_code")
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    LOCAL_START_FIELD_NUMBER: _ClassVar[int]
    LOCAL_END_FIELD_NUMBER: _ClassVar[int]
    TIME_ZONE_FIELD_NUMBER: _ClassVar[int]
    STAFF_FIELD_NUMBER: _ClassVar[int]
    ASSIGNMENTS_FIELD_NUMBER: _ClassVar[int]
    LIST_PRICE_MINOR_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_CODE_FIELD_NUMBER: _ClassVar[int]
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    local_start: str
    local_end: str
    time_zone: str
    staff: str
    assignments: _containers.RepeatedCompositeFieldContainer[SlotAssignment]
    list_price_minor: int
    currency_code: str
    def __init__(self, start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., local_start: _Optional[str] = ..., local_end: _Optional[str] = ..., time_zone: _Optional[str] = ..., staff: _Optional[str] = ..., assignments: _Optional[_Iterable[_Union[SlotAssignment, _Mapping]]] = ..., list_price_minor: _Optional[int] = ..., currency_code: _Optional[str] = ...) -> None: ...
