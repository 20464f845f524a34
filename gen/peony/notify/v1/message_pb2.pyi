import datetime

from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.api import resource_pb2 as _resource_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Channel(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CHANNEL_UNSPECIFIED: _ClassVar[Channel]
    CHANNEL_SMS: _ClassVar[Channel]
    CHANNEL_EMAIL: _ClassVar[Channel]
    CHANNEL_WECHAT: _ClassVar[Channel]
    CHANNEL_APP_PUSH: _ClassVar[Channel]

class MessageState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MESSAGE_STATE_UNSPECIFIED: _ClassVar[MessageState]
    MESSAGE_STATE_QUEUED: _ClassVar[MessageState]
    MESSAGE_STATE_SENT: _ClassVar[MessageState]
    MESSAGE_STATE_DELIVERED: _ClassVar[MessageState]
    MESSAGE_STATE_FAILED: _ClassVar[MessageState]
CHANNEL_UNSPECIFIED: Channel
CHANNEL_SMS: Channel
CHANNEL_EMAIL: Channel
CHANNEL_WECHAT: Channel
CHANNEL_APP_PUSH: Channel
MESSAGE_STATE_UNSPECIFIED: MessageState
MESSAGE_STATE_QUEUED: MessageState
MESSAGE_STATE_SENT: MessageState
MESSAGE_STATE_DELIVERED: MessageState
MESSAGE_STATE_FAILED: MessageState

class Message(_message.Message):
    __slots__ = ("name", "recipient", "channel", "trigger", "trigger_event_id", "locale", "body", "state", "attempts", "last_error", "create_time", "send_time")
    NAME_FIELD_NUMBER: _ClassVar[int]
    RECIPIENT_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    TRIGGER_FIELD_NUMBER: _ClassVar[int]
    TRIGGER_EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    LOCALE_FIELD_NUMBER: _ClassVar[int]
    BODY_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    LAST_ERROR_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    SEND_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    recipient: str
    channel: Channel
    trigger: str
    trigger_event_id: str
    locale: str
    body: str
    state: MessageState
    attempts: int
    last_error: str
    create_time: _timestamp_pb2.Timestamp
    send_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., recipient: _Optional[str] = ..., channel: _Optional[_Union[Channel, str]] = ..., trigger: _Optional[str] = ..., trigger_event_id: _Optional[str] = ..., locale: _Optional[str] = ..., body: _Optional[str] = ..., state: _Optional[_Union[MessageState, str]] = ..., attempts: _Optional[int] = ..., last_error: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., send_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
