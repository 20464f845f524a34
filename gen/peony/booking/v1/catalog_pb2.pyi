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

class ResourceRequirements(_message.Message):
    __slots__ = ("skill", "room_type", "equipment_kind")
    SKILL_FIELD_NUMBER: _ClassVar[int]
    ROOM_TYPE_FIELD_NUMBER: _ClassVar[int]
    EQUIPMENT_KIND_FIELD_NUMBER: _ClassVar[int]
    skill: str
    room_type: str
    equipment_kind: str
    def __init__(self, skill: _Optional[str] = ..., room_type: _Optional[str] = ..., equipment_kind: _Optional[str] = ...) -> None: ...

class Service(_message.Message):
    __slots__ = ("name", "display_name", "category", "description", "duration_minutes", "buffer_before_minutes", "buffer_after_minutes", "list_price_minor", "currency_code", "requirements", "online_bookable", "active", "display_order", "create_time", "update_time")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    DURATION_MINUTES_FIELD_NUMBER: _ClassVar[int]
    BUFFER_BEFORE_MINUTES_FIELD_NUMBER: _ClassVar[int]
    BUFFER_AFTER_MINUTES_FIELD_NUMBER: _ClassVar[int]
    LIST_PRICE_MINOR_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_CODE_FIELD_NUMBER: _ClassVar[int]
    REQUIREMENTS_FIELD_NUMBER: _ClassVar[int]
    ONLINE_BOOKABLE_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_ORDER_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    display_name: str
    category: str
    description: str
    duration_minutes: int
    buffer_before_minutes: int
    buffer_after_minutes: int
    list_price_minor: int
    currency_code: str
    requirements: ResourceRequirements
    online_bookable: bool
    active: bool
    display_order: int
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., display_name: _Optional[str] = ..., category: _Optional[str] = ..., description: _Optional[str] = ..., duration_minutes: _Optional[int] = ..., buffer_before_minutes: _Optional[int] = ..., buffer_after_minutes: _Optional[int] = ..., list_price_minor: _Optional[int] = ..., currency_code: _Optional[str] = ..., requirements: _Optional[_Union[ResourceRequirements, _Mapping]] = ..., online_bookable: _Optional[bool] = ..., active: _Optional[bool] = ..., display_order: _Optional[int] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ServiceOverride(_message.Message):
    __slots__ = ("name", "service", "offered", "duration_minutes", "buffer_before_minutes", "buffer_after_minutes", "list_price_minor", "requirements", "online_bookable", "create_time", "update_time")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    OFFERED_FIELD_NUMBER: _ClassVar[int]
    DURATION_MINUTES_FIELD_NUMBER: _ClassVar[int]
    BUFFER_BEFORE_MINUTES_FIELD_NUMBER: _ClassVar[int]
    BUFFER_AFTER_MINUTES_FIELD_NUMBER: _ClassVar[int]
    LIST_PRICE_MINOR_FIELD_NUMBER: _ClassVar[int]
    REQUIREMENTS_FIELD_NUMBER: _ClassVar[int]
    ONLINE_BOOKABLE_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    service: str
    offered: bool
    duration_minutes: int
    buffer_before_minutes: int
    buffer_after_minutes: int
    list_price_minor: int
    requirements: ResourceRequirements
    online_bookable: bool
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., service: _Optional[str] = ..., offered: _Optional[bool] = ..., duration_minutes: _Optional[int] = ..., buffer_before_minutes: _Optional[int] = ..., buffer_after_minutes: _Optional[int] = ..., list_price_minor: _Optional[int] = ..., requirements: _Optional[_Union[ResourceRequirements, _Mapping]] = ..., online_bookable: _Optional[bool] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class MenuItem(_message.Message):
    __slots__ = ("name", "service", "display_name", "category", "description", "duration_minutes", "buffer_before_minutes", "buffer_after_minutes", "list_price_minor", "currency_code", "requirements", "online_bookable", "display_order", "overridden_fields")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    DURATION_MINUTES_FIELD_NUMBER: _ClassVar[int]
    BUFFER_BEFORE_MINUTES_FIELD_NUMBER: _ClassVar[int]
    BUFFER_AFTER_MINUTES_FIELD_NUMBER: _ClassVar[int]
    LIST_PRICE_MINOR_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_CODE_FIELD_NUMBER: _ClassVar[int]
    REQUIREMENTS_FIELD_NUMBER: _ClassVar[int]
    ONLINE_BOOKABLE_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_ORDER_FIELD_NUMBER: _ClassVar[int]
    OVERRIDDEN_FIELDS_FIELD_NUMBER: _ClassVar[int]
    name: str
    service: str
    display_name: str
    category: str
    description: str
    duration_minutes: int
    buffer_before_minutes: int
    buffer_after_minutes: int
    list_price_minor: int
    currency_code: str
    requirements: ResourceRequirements
    online_bookable: bool
    display_order: int
    overridden_fields: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, name: _Optional[str] = ..., service: _Optional[str] = ..., display_name: _Optional[str] = ..., category: _Optional[str] = ..., description: _Optional[str] = ..., duration_minutes: _Optional[int] = ..., buffer_before_minutes: _Optional[int] = ..., buffer_after_minutes: _Optional[int] = ..., list_price_minor: _Optional[int] = ..., currency_code: _Optional[str] = ..., requirements: _Optional[_Union[ResourceRequirements, _Mapping]] = ..., online_bookable: _Optional[bool] = ..., display_order: _Optional[int] = ..., overridden_fields: _Optional[_Iterable[str]] = ...) -> None: ...
