import datetime

from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.api import resource_pb2 as _resource_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from peony.options.v1 import limits_pb2 as _limits_pb2
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
    MESSAGE_STATE_DEFERRED: _ClassVar[MessageState]
    MESSAGE_STATE_SUPPRESSED: _ClassVar[MessageState]

class Purpose(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PURPOSE_UNSPECIFIED: _ClassVar[Purpose]
    PURPOSE_TRANSACTIONAL: _ClassVar[Purpose]
    PURPOSE_MARKETING: _ClassVar[Purpose]
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
MESSAGE_STATE_DEFERRED: MessageState
MESSAGE_STATE_SUPPRESSED: MessageState
PURPOSE_UNSPECIFIED: Purpose
PURPOSE_TRANSACTIONAL: Purpose
PURPOSE_MARKETING: Purpose

class Message(_message.Message):
    __slots__ = ("name", "recipient", "channel", "trigger", "trigger_event_id", "locale", "body", "state", "attempts", "last_error", "create_time", "send_time", "purpose", "decision", "due_time", "provider", "address_masked", "deliver_time", "billable_units", "cost_minor")
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
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    DECISION_FIELD_NUMBER: _ClassVar[int]
    DUE_TIME_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_MASKED_FIELD_NUMBER: _ClassVar[int]
    DELIVER_TIME_FIELD_NUMBER: _ClassVar[int]
    BILLABLE_UNITS_FIELD_NUMBER: _ClassVar[int]
    COST_MINOR_FIELD_NUMBER: _ClassVar[int]
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
    purpose: Purpose
    decision: str
    due_time: _timestamp_pb2.Timestamp
    provider: str
    address_masked: str
    deliver_time: _timestamp_pb2.Timestamp
    billable_units: int
    cost_minor: int
    def __init__(self, name: _Optional[str] = ..., recipient: _Optional[str] = ..., channel: _Optional[_Union[Channel, str]] = ..., trigger: _Optional[str] = ..., trigger_event_id: _Optional[str] = ..., locale: _Optional[str] = ..., body: _Optional[str] = ..., state: _Optional[_Union[MessageState, str]] = ..., attempts: _Optional[int] = ..., last_error: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., send_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., purpose: _Optional[_Union[Purpose, str]] = ..., decision: _Optional[str] = ..., due_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., provider: _Optional[str] = ..., address_masked: _Optional[str] = ..., deliver_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., billable_units: _Optional[int] = ..., cost_minor: _Optional[int] = ...) -> None: ...

class Template(_message.Message):
    __slots__ = ("name", "body", "subject", "template_code", "built_in", "create_time", "update_time")
    NAME_FIELD_NUMBER: _ClassVar[int]
    BODY_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    TEMPLATE_CODE_FIELD_NUMBER: _ClassVar[int]
    BUILT_IN_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    body: str
    subject: str
    template_code: str
    built_in: bool
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., body: _Optional[str] = ..., subject: _Optional[str] = ..., template_code: _Optional[str] = ..., built_in: _Optional[bool] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
