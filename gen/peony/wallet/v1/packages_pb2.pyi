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

class PackageState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PACKAGE_STATE_UNSPECIFIED: _ClassVar[PackageState]
    PACKAGE_STATE_ACTIVE: _ClassVar[PackageState]
    PACKAGE_STATE_FROZEN: _ClassVar[PackageState]
    PACKAGE_STATE_REFUNDED: _ClassVar[PackageState]
    PACKAGE_STATE_EXHAUSTED: _ClassVar[PackageState]
PACKAGE_STATE_UNSPECIFIED: PackageState
PACKAGE_STATE_ACTIVE: PackageState
PACKAGE_STATE_FROZEN: PackageState
PACKAGE_STATE_REFUNDED: PackageState
PACKAGE_STATE_EXHAUSTED: PackageState

class PackageItem(_message.Message):
    __slots__ = ("service", "display_name", "sessions", "list_price_minor", "validity_days", "validity_months", "unlimited", "max_uses_per_day")
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    SESSIONS_FIELD_NUMBER: _ClassVar[int]
    LIST_PRICE_MINOR_FIELD_NUMBER: _ClassVar[int]
    VALIDITY_DAYS_FIELD_NUMBER: _ClassVar[int]
    VALIDITY_MONTHS_FIELD_NUMBER: _ClassVar[int]
    UNLIMITED_FIELD_NUMBER: _ClassVar[int]
    MAX_USES_PER_DAY_FIELD_NUMBER: _ClassVar[int]
    service: str
    display_name: str
    sessions: int
    list_price_minor: int
    validity_days: int
    validity_months: int
    unlimited: bool
    max_uses_per_day: int
    def __init__(self, service: _Optional[str] = ..., display_name: _Optional[str] = ..., sessions: _Optional[int] = ..., list_price_minor: _Optional[int] = ..., validity_days: _Optional[int] = ..., validity_months: _Optional[int] = ..., unlimited: _Optional[bool] = ..., max_uses_per_day: _Optional[int] = ...) -> None: ...

class PackageProduct(_message.Message):
    __slots__ = ("name", "display_name", "price_minor", "items", "active", "currency_code", "create_time", "update_time")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    PRICE_MINOR_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_CODE_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    display_name: str
    price_minor: int
    items: _containers.RepeatedCompositeFieldContainer[PackageItem]
    active: bool
    currency_code: str
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., display_name: _Optional[str] = ..., price_minor: _Optional[int] = ..., items: _Optional[_Iterable[_Union[PackageItem, _Mapping]]] = ..., active: _Optional[bool] = ..., currency_code: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class PackageItemBalance(_message.Message):
    __slots__ = ("service", "display_name", "sessions_total", "sessions_remaining", "sessions_held", "expire_time", "session_value_minor", "unlimited", "max_uses_per_day")
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    SESSIONS_TOTAL_FIELD_NUMBER: _ClassVar[int]
    SESSIONS_REMAINING_FIELD_NUMBER: _ClassVar[int]
    SESSIONS_HELD_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    SESSION_VALUE_MINOR_FIELD_NUMBER: _ClassVar[int]
    UNLIMITED_FIELD_NUMBER: _ClassVar[int]
    MAX_USES_PER_DAY_FIELD_NUMBER: _ClassVar[int]
    service: str
    display_name: str
    sessions_total: int
    sessions_remaining: int
    sessions_held: int
    expire_time: _timestamp_pb2.Timestamp
    session_value_minor: int
    unlimited: bool
    max_uses_per_day: int
    def __init__(self, service: _Optional[str] = ..., display_name: _Optional[str] = ..., sessions_total: _Optional[int] = ..., sessions_remaining: _Optional[int] = ..., sessions_held: _Optional[int] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., session_value_minor: _Optional[int] = ..., unlimited: _Optional[bool] = ..., max_uses_per_day: _Optional[int] = ...) -> None: ...

class MemberPackage(_message.Message):
    __slots__ = ("name", "product", "display_name", "state", "items", "price_minor", "currency_code", "store_sold", "purchase_time", "frozen_until", "deferred_minor", "transferred_from", "sale_transaction", "update_time")
    NAME_FIELD_NUMBER: _ClassVar[int]
    PRODUCT_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    PRICE_MINOR_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_CODE_FIELD_NUMBER: _ClassVar[int]
    STORE_SOLD_FIELD_NUMBER: _ClassVar[int]
    PURCHASE_TIME_FIELD_NUMBER: _ClassVar[int]
    FROZEN_UNTIL_FIELD_NUMBER: _ClassVar[int]
    DEFERRED_MINOR_FIELD_NUMBER: _ClassVar[int]
    TRANSFERRED_FROM_FIELD_NUMBER: _ClassVar[int]
    SALE_TRANSACTION_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    product: str
    display_name: str
    state: PackageState
    items: _containers.RepeatedCompositeFieldContainer[PackageItemBalance]
    price_minor: int
    currency_code: str
    store_sold: str
    purchase_time: _timestamp_pb2.Timestamp
    frozen_until: _timestamp_pb2.Timestamp
    deferred_minor: int
    transferred_from: str
    sale_transaction: str
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., product: _Optional[str] = ..., display_name: _Optional[str] = ..., state: _Optional[_Union[PackageState, str]] = ..., items: _Optional[_Iterable[_Union[PackageItemBalance, _Mapping]]] = ..., price_minor: _Optional[int] = ..., currency_code: _Optional[str] = ..., store_sold: _Optional[str] = ..., purchase_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., frozen_until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., deferred_minor: _Optional[int] = ..., transferred_from: _Optional[str] = ..., sale_transaction: _Optional[str] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
