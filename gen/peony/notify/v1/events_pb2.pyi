from peony.notify.v1 import message_pb2 as _message_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class MessageSent(_message.Message):
    __slots__ = ("message", "recipient", "channel", "trigger", "trigger_event_id", "provider", "billable_units")
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    RECIPIENT_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    TRIGGER_FIELD_NUMBER: _ClassVar[int]
    TRIGGER_EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    BILLABLE_UNITS_FIELD_NUMBER: _ClassVar[int]
    message: str
    recipient: str
    channel: _message_pb2.Channel
    trigger: str
    trigger_event_id: str
    provider: str
    billable_units: int
    def __init__(self, message: _Optional[str] = ..., recipient: _Optional[str] = ..., channel: _Optional[_Union[_message_pb2.Channel, str]] = ..., trigger: _Optional[str] = ..., trigger_event_id: _Optional[str] = ..., provider: _Optional[str] = ..., billable_units: _Optional[int] = ...) -> None: ...

class MessageDelivered(_message.Message):
    __slots__ = ("message", "recipient", "channel", "trigger", "provider")
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    RECIPIENT_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    TRIGGER_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    message: str
    recipient: str
    channel: _message_pb2.Channel
    trigger: str
    provider: str
    def __init__(self, message: _Optional[str] = ..., recipient: _Optional[str] = ..., channel: _Optional[_Union[_message_pb2.Channel, str]] = ..., trigger: _Optional[str] = ..., provider: _Optional[str] = ...) -> None: ...

class SpendCapReached(_message.Message):
    __slots__ = ("day", "cap_minor", "spent_minor", "currency_code")
    DAY_FIELD_NUMBER: _ClassVar[int]
    CAP_MINOR_FIELD_NUMBER: _ClassVar[int]
    SPENT_MINOR_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_CODE_FIELD_NUMBER: _ClassVar[int]
    day: str
    cap_minor: int
    spent_minor: int
    currency_code: str
    def __init__(self, day: _Optional[str] = ..., cap_minor: _Optional[int] = ..., spent_minor: _Optional[int] = ..., currency_code: _Optional[str] = ...) -> None: ...

class MessageFailed(_message.Message):
    __slots__ = ("message", "recipient", "channel", "trigger", "error")
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    RECIPIENT_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    TRIGGER_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    message: str
    recipient: str
    channel: _message_pb2.Channel
    trigger: str
    error: str
    def __init__(self, message: _Optional[str] = ..., recipient: _Optional[str] = ..., channel: _Optional[_Union[_message_pb2.Channel, str]] = ..., trigger: _Optional[str] = ..., error: _Optional[str] = ...) -> None: ...
