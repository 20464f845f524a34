import datetime

from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.api import resource_pb2 as _resource_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from peony.booking.v1 import appointments_pb2 as _appointments_pb2
from peony.options.v1 import limits_pb2 as _limits_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ComplaintCategory(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    COMPLAINT_CATEGORY_UNSPECIFIED: _ClassVar[ComplaintCategory]
    COMPLAINT_CATEGORY_SERVICE_QUALITY: _ClassVar[ComplaintCategory]
    COMPLAINT_CATEGORY_STAFF_CONDUCT: _ClassVar[ComplaintCategory]
    COMPLAINT_CATEGORY_HYGIENE: _ClassVar[ComplaintCategory]
    COMPLAINT_CATEGORY_WAITING: _ClassVar[ComplaintCategory]
    COMPLAINT_CATEGORY_BILLING: _ClassVar[ComplaintCategory]
    COMPLAINT_CATEGORY_ADVERSE_REACTION: _ClassVar[ComplaintCategory]
    COMPLAINT_CATEGORY_OTHER: _ClassVar[ComplaintCategory]

class ComplaintState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    COMPLAINT_STATE_UNSPECIFIED: _ClassVar[ComplaintState]
    COMPLAINT_STATE_OPEN: _ClassVar[ComplaintState]
    COMPLAINT_STATE_IN_PROGRESS: _ClassVar[ComplaintState]
    COMPLAINT_STATE_RESOLVED: _ClassVar[ComplaintState]
COMPLAINT_CATEGORY_UNSPECIFIED: ComplaintCategory
COMPLAINT_CATEGORY_SERVICE_QUALITY: ComplaintCategory
COMPLAINT_CATEGORY_STAFF_CONDUCT: ComplaintCategory
COMPLAINT_CATEGORY_HYGIENE: ComplaintCategory
COMPLAINT_CATEGORY_WAITING: ComplaintCategory
COMPLAINT_CATEGORY_BILLING: ComplaintCategory
COMPLAINT_CATEGORY_ADVERSE_REACTION: ComplaintCategory
COMPLAINT_CATEGORY_OTHER: ComplaintCategory
COMPLAINT_STATE_UNSPECIFIED: ComplaintState
COMPLAINT_STATE_OPEN: ComplaintState
COMPLAINT_STATE_IN_PROGRESS: ComplaintState
COMPLAINT_STATE_RESOLVED: ComplaintState

class Feedback(_message.Message):
    __slots__ = ("name", "rating", "comment", "member", "store", "staff", "services", "create_time")
    NAME_FIELD_NUMBER: _ClassVar[int]
    RATING_FIELD_NUMBER: _ClassVar[int]
    COMMENT_FIELD_NUMBER: _ClassVar[int]
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    STORE_FIELD_NUMBER: _ClassVar[int]
    STAFF_FIELD_NUMBER: _ClassVar[int]
    SERVICES_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    rating: int
    comment: str
    member: str
    store: str
    staff: _containers.RepeatedScalarFieldContainer[str]
    services: _containers.RepeatedScalarFieldContainer[str]
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., rating: _Optional[int] = ..., comment: _Optional[str] = ..., member: _Optional[str] = ..., store: _Optional[str] = ..., staff: _Optional[_Iterable[str]] = ..., services: _Optional[_Iterable[str]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ComplaintReply(_message.Message):
    __slots__ = ("message", "author", "create_time")
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    AUTHOR_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    message: str
    author: str
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, message: _Optional[str] = ..., author: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Complaint(_message.Message):
    __slots__ = ("name", "member", "store", "appointment", "staff", "category", "description", "channel", "state", "first_response_due_time", "first_response_time", "sla_breached", "replies", "resolution", "resolve_time", "opened_by", "create_time", "update_time")
    NAME_FIELD_NUMBER: _ClassVar[int]
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    STORE_FIELD_NUMBER: _ClassVar[int]
    APPOINTMENT_FIELD_NUMBER: _ClassVar[int]
    STAFF_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    FIRST_RESPONSE_DUE_TIME_FIELD_NUMBER: _ClassVar[int]
    FIRST_RESPONSE_TIME_FIELD_NUMBER: _ClassVar[int]
    SLA_BREACHED_FIELD_NUMBER: _ClassVar[int]
    REPLIES_FIELD_NUMBER: _ClassVar[int]
    RESOLUTION_FIELD_NUMBER: _ClassVar[int]
    RESOLVE_TIME_FIELD_NUMBER: _ClassVar[int]
    OPENED_BY_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    member: str
    store: str
    appointment: str
    staff: str
    category: ComplaintCategory
    description: str
    channel: _appointments_pb2.BookingChannel
    state: ComplaintState
    first_response_due_time: _timestamp_pb2.Timestamp
    first_response_time: _timestamp_pb2.Timestamp
    sla_breached: bool
    replies: _containers.RepeatedCompositeFieldContainer[ComplaintReply]
    resolution: str
    resolve_time: _timestamp_pb2.Timestamp
    opened_by: str
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., member: _Optional[str] = ..., store: _Optional[str] = ..., appointment: _Optional[str] = ..., staff: _Optional[str] = ..., category: _Optional[_Union[ComplaintCategory, str]] = ..., description: _Optional[str] = ..., channel: _Optional[_Union[_appointments_pb2.BookingChannel, str]] = ..., state: _Optional[_Union[ComplaintState, str]] = ..., first_response_due_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., first_response_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., sla_breached: _Optional[bool] = ..., replies: _Optional[_Iterable[_Union[ComplaintReply, _Mapping]]] = ..., resolution: _Optional[str] = ..., resolve_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., opened_by: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
