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

class CardState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CARD_STATE_UNSPECIFIED: _ClassVar[CardState]
    CARD_STATE_ACTIVE: _ClassVar[CardState]
    CARD_STATE_FROZEN: _ClassVar[CardState]
    CARD_STATE_LOST: _ClassVar[CardState]
    CARD_STATE_REPLACED: _ClassVar[CardState]
    CARD_STATE_CLOSED: _ClassVar[CardState]
CARD_STATE_UNSPECIFIED: CardState
CARD_STATE_ACTIVE: CardState
CARD_STATE_FROZEN: CardState
CARD_STATE_LOST: CardState
CARD_STATE_REPLACED: CardState
CARD_STATE_CLOSED: CardState

class MemberCard(_message.Message):
    __slots__ = ("name", "card_number", "state", "replaced_by", "replaces", "legacy_numbers", "create_time", "update_time")
    NAME_FIELD_NUMBER: _ClassVar[int]
    CARD_NUMBER_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    REPLACED_BY_FIELD_NUMBER: _ClassVar[int]
    REPLACES_FIELD_NUMBER: _ClassVar[int]
    LEGACY_NUMBERS_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    card_number: str
    state: CardState
    replaced_by: str
    replaces: str
    legacy_numbers: _containers.RepeatedScalarFieldContainer[str]
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., card_number: _Optional[str] = ..., state: _Optional[_Union[CardState, str]] = ..., replaced_by: _Optional[str] = ..., replaces: _Optional[str] = ..., legacy_numbers: _Optional[_Iterable[str]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
