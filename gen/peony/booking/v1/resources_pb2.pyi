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

class ScheduleExceptionKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SCHEDULE_EXCEPTION_KIND_UNSPECIFIED: _ClassVar[ScheduleExceptionKind]
    SCHEDULE_EXCEPTION_KIND_LEAVE: _ClassVar[ScheduleExceptionKind]
    SCHEDULE_EXCEPTION_KIND_SICK_LEAVE: _ClassVar[ScheduleExceptionKind]
    SCHEDULE_EXCEPTION_KIND_TRAINING: _ClassVar[ScheduleExceptionKind]
    SCHEDULE_EXCEPTION_KIND_BLOCKED: _ClassVar[ScheduleExceptionKind]
    SCHEDULE_EXCEPTION_KIND_EXTRA_SHIFT: _ClassVar[ScheduleExceptionKind]
SCHEDULE_EXCEPTION_KIND_UNSPECIFIED: ScheduleExceptionKind
SCHEDULE_EXCEPTION_KIND_LEAVE: ScheduleExceptionKind
SCHEDULE_EXCEPTION_KIND_SICK_LEAVE: ScheduleExceptionKind
SCHEDULE_EXCEPTION_KIND_TRAINING: ScheduleExceptionKind
SCHEDULE_EXCEPTION_KIND_BLOCKED: ScheduleExceptionKind
SCHEDULE_EXCEPTION_KIND_EXTRA_SHIFT: ScheduleExceptionKind

class WeeklyInterval(_message.Message):
    __slots__ = ("day_of_week", "start_time", "end_time")
    DAY_OF_WEEK_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    day_of_week: int
    start_time: str
    end_time: str
    def __init__(self, day_of_week: _Optional[int] = ..., start_time: _Optional[str] = ..., end_time: _Optional[str] = ...) -> None: ...

class Staff(_message.Message):
    __slots__ = ("name", "display_name", "position", "level", "skills", "weekly_hours", "breaks", "online_bookable", "active", "principal", "create_time", "update_time")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    POSITION_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    SKILLS_FIELD_NUMBER: _ClassVar[int]
    WEEKLY_HOURS_FIELD_NUMBER: _ClassVar[int]
    BREAKS_FIELD_NUMBER: _ClassVar[int]
    ONLINE_BOOKABLE_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_FIELD_NUMBER: _ClassVar[int]
    PRINCIPAL_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    display_name: str
    position: str
    level: int
    skills: _containers.RepeatedScalarFieldContainer[str]
    weekly_hours: _containers.RepeatedCompositeFieldContainer[WeeklyInterval]
    breaks: _containers.RepeatedCompositeFieldContainer[WeeklyInterval]
    online_bookable: bool
    active: bool
    principal: str
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., display_name: _Optional[str] = ..., position: _Optional[str] = ..., level: _Optional[int] = ..., skills: _Optional[_Iterable[str]] = ..., weekly_hours: _Optional[_Iterable[_Union[WeeklyInterval, _Mapping]]] = ..., breaks: _Optional[_Iterable[_Union[WeeklyInterval, _Mapping]]] = ..., online_bookable: _Optional[bool] = ..., active: _Optional[bool] = ..., principal: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ScheduleException(_message.Message):
    __slots__ = ("name", "kind", "start_date", "end_date", "start_time", "end_time", "reason", "actor", "create_time")
    NAME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    START_DATE_FIELD_NUMBER: _ClassVar[int]
    END_DATE_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    kind: ScheduleExceptionKind
    start_date: str
    end_date: str
    start_time: str
    end_time: str
    reason: str
    actor: str
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., kind: _Optional[_Union[ScheduleExceptionKind, str]] = ..., start_date: _Optional[str] = ..., end_date: _Optional[str] = ..., start_time: _Optional[str] = ..., end_time: _Optional[str] = ..., reason: _Optional[str] = ..., actor: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Room(_message.Message):
    __slots__ = ("name", "display_name", "room_type", "capacity", "active", "create_time", "update_time")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    ROOM_TYPE_FIELD_NUMBER: _ClassVar[int]
    CAPACITY_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    display_name: str
    room_type: str
    capacity: int
    active: bool
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., display_name: _Optional[str] = ..., room_type: _Optional[str] = ..., capacity: _Optional[int] = ..., active: _Optional[bool] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Equipment(_message.Message):
    __slots__ = ("name", "display_name", "kind", "active", "create_time", "update_time")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    display_name: str
    kind: str
    active: bool
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., display_name: _Optional[str] = ..., kind: _Optional[str] = ..., active: _Optional[bool] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
