import datetime

from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.api import resource_pb2 as _resource_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from peony.booking.v1 import appointments_pb2 as _appointments_pb2
from peony.booking.v1 import availability_pb2 as _availability_pb2
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class WaitlistEntryState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    WAITLIST_ENTRY_STATE_UNSPECIFIED: _ClassVar[WaitlistEntryState]
    WAITLIST_ENTRY_STATE_WAITING: _ClassVar[WaitlistEntryState]
    WAITLIST_ENTRY_STATE_OFFERED: _ClassVar[WaitlistEntryState]
    WAITLIST_ENTRY_STATE_BOOKED: _ClassVar[WaitlistEntryState]
    WAITLIST_ENTRY_STATE_CANCELLED: _ClassVar[WaitlistEntryState]
    WAITLIST_ENTRY_STATE_EXPIRED: _ClassVar[WaitlistEntryState]
WAITLIST_ENTRY_STATE_UNSPECIFIED: WaitlistEntryState
WAITLIST_ENTRY_STATE_WAITING: WaitlistEntryState
WAITLIST_ENTRY_STATE_OFFERED: WaitlistEntryState
WAITLIST_ENTRY_STATE_BOOKED: WaitlistEntryState
WAITLIST_ENTRY_STATE_CANCELLED: WaitlistEntryState
WAITLIST_ENTRY_STATE_EXPIRED: WaitlistEntryState

class WaitlistOffer(_message.Message):
    __slots__ = ("slot", "offer_time", "expire_time")
    SLOT_FIELD_NUMBER: _ClassVar[int]
    OFFER_TIME_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    slot: _availability_pb2.Slot
    offer_time: _timestamp_pb2.Timestamp
    expire_time: _timestamp_pb2.Timestamp
    def __init__(self, slot: _Optional[_Union[_availability_pb2.Slot, _Mapping]] = ..., offer_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class WaitlistEntry(_message.Message):
    __slots__ = ("name", "member", "store", "service", "date", "staff", "earliest_start_time", "latest_start_time", "channel", "state", "offer", "offers_made", "appointment", "create_time", "update_time")
    NAME_FIELD_NUMBER: _ClassVar[int]
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    STORE_FIELD_NUMBER: _ClassVar[int]
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    DATE_FIELD_NUMBER: _ClassVar[int]
    STAFF_FIELD_NUMBER: _ClassVar[int]
    EARLIEST_START_TIME_FIELD_NUMBER: _ClassVar[int]
    LATEST_START_TIME_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    OFFER_FIELD_NUMBER: _ClassVar[int]
    OFFERS_MADE_FIELD_NUMBER: _ClassVar[int]
    APPOINTMENT_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    member: str
    store: str
    service: str
    date: str
    staff: str
    earliest_start_time: str
    latest_start_time: str
    channel: _appointments_pb2.BookingChannel
    state: WaitlistEntryState
    offer: WaitlistOffer
    offers_made: int
    appointment: str
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., member: _Optional[str] = ..., store: _Optional[str] = ..., service: _Optional[str] = ..., date: _Optional[str] = ..., staff: _Optional[str] = ..., earliest_start_time: _Optional[str] = ..., latest_start_time: _Optional[str] = ..., channel: _Optional[_Union[_appointments_pb2.BookingChannel, str]] = ..., state: _Optional[_Union[WaitlistEntryState, str]] = ..., offer: _Optional[_Union[WaitlistOffer, _Mapping]] = ..., offers_made: _Optional[int] = ..., appointment: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
