from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.api import resource_pb2 as _resource_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class StoredValueLiability(_message.Message):
    __slots__ = ("store", "principal_minor", "bonus_minor", "locked_bonus_minor")
    STORE_FIELD_NUMBER: _ClassVar[int]
    PRINCIPAL_MINOR_FIELD_NUMBER: _ClassVar[int]
    BONUS_MINOR_FIELD_NUMBER: _ClassVar[int]
    LOCKED_BONUS_MINOR_FIELD_NUMBER: _ClassVar[int]
    store: str
    principal_minor: int
    bonus_minor: int
    locked_bonus_minor: int
    def __init__(self, store: _Optional[str] = ..., principal_minor: _Optional[int] = ..., bonus_minor: _Optional[int] = ..., locked_bonus_minor: _Optional[int] = ...) -> None: ...

class PointsLiability(_message.Message):
    __slots__ = ("points_outstanding", "valued_minor", "points_pending")
    POINTS_OUTSTANDING_FIELD_NUMBER: _ClassVar[int]
    VALUED_MINOR_FIELD_NUMBER: _ClassVar[int]
    POINTS_PENDING_FIELD_NUMBER: _ClassVar[int]
    points_outstanding: int
    valued_minor: int
    points_pending: int
    def __init__(self, points_outstanding: _Optional[int] = ..., valued_minor: _Optional[int] = ..., points_pending: _Optional[int] = ...) -> None: ...

class PackageDeferredRevenue(_message.Message):
    __slots__ = ("store", "deferred_minor", "sessions_outstanding")
    STORE_FIELD_NUMBER: _ClassVar[int]
    DEFERRED_MINOR_FIELD_NUMBER: _ClassVar[int]
    SESSIONS_OUTSTANDING_FIELD_NUMBER: _ClassVar[int]
    store: str
    deferred_minor: int
    sessions_outstanding: int
    def __init__(self, store: _Optional[str] = ..., deferred_minor: _Optional[int] = ..., sessions_outstanding: _Optional[int] = ...) -> None: ...

class ClearingEntry(_message.Message):
    __slots__ = ("sold_store", "consumed_store", "amount_minor", "stored_value_minor", "package_minor")
    SOLD_STORE_FIELD_NUMBER: _ClassVar[int]
    CONSUMED_STORE_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_MINOR_FIELD_NUMBER: _ClassVar[int]
    STORED_VALUE_MINOR_FIELD_NUMBER: _ClassVar[int]
    PACKAGE_MINOR_FIELD_NUMBER: _ClassVar[int]
    sold_store: str
    consumed_store: str
    amount_minor: int
    stored_value_minor: int
    package_minor: int
    def __init__(self, sold_store: _Optional[str] = ..., consumed_store: _Optional[str] = ..., amount_minor: _Optional[int] = ..., stored_value_minor: _Optional[int] = ..., package_minor: _Optional[int] = ...) -> None: ...
