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

class VoucherKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    VOUCHER_KIND_UNSPECIFIED: _ClassVar[VoucherKind]
    VOUCHER_KIND_AMOUNT_OFF: _ClassVar[VoucherKind]
    VOUCHER_KIND_PERCENT_OFF: _ClassVar[VoucherKind]
    VOUCHER_KIND_FREE_SERVICE: _ClassVar[VoucherKind]

class VoucherState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    VOUCHER_STATE_UNSPECIFIED: _ClassVar[VoucherState]
    VOUCHER_STATE_ISSUED: _ClassVar[VoucherState]
    VOUCHER_STATE_REDEEMED: _ClassVar[VoucherState]
    VOUCHER_STATE_VOIDED: _ClassVar[VoucherState]
    VOUCHER_STATE_EXPIRED: _ClassVar[VoucherState]
VOUCHER_KIND_UNSPECIFIED: VoucherKind
VOUCHER_KIND_AMOUNT_OFF: VoucherKind
VOUCHER_KIND_PERCENT_OFF: VoucherKind
VOUCHER_KIND_FREE_SERVICE: VoucherKind
VOUCHER_STATE_UNSPECIFIED: VoucherState
VOUCHER_STATE_ISSUED: VoucherState
VOUCHER_STATE_REDEEMED: VoucherState
VOUCHER_STATE_VOIDED: VoucherState
VOUCHER_STATE_EXPIRED: VoucherState

class VoucherTemplate(_message.Message):
    __slots__ = ("name", "display_name", "kind", "amount_off_minor", "percent_off_bps", "max_discount_minor", "free_service", "min_spend_minor", "stores", "valid_days", "valid_from", "valid_until", "currency_code", "active", "create_time")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_OFF_MINOR_FIELD_NUMBER: _ClassVar[int]
    PERCENT_OFF_BPS_FIELD_NUMBER: _ClassVar[int]
    MAX_DISCOUNT_MINOR_FIELD_NUMBER: _ClassVar[int]
    FREE_SERVICE_FIELD_NUMBER: _ClassVar[int]
    MIN_SPEND_MINOR_FIELD_NUMBER: _ClassVar[int]
    STORES_FIELD_NUMBER: _ClassVar[int]
    VALID_DAYS_FIELD_NUMBER: _ClassVar[int]
    VALID_FROM_FIELD_NUMBER: _ClassVar[int]
    VALID_UNTIL_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_CODE_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    display_name: str
    kind: VoucherKind
    amount_off_minor: int
    percent_off_bps: int
    max_discount_minor: int
    free_service: str
    min_spend_minor: int
    stores: _containers.RepeatedScalarFieldContainer[str]
    valid_days: int
    valid_from: _timestamp_pb2.Timestamp
    valid_until: _timestamp_pb2.Timestamp
    currency_code: str
    active: bool
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., display_name: _Optional[str] = ..., kind: _Optional[_Union[VoucherKind, str]] = ..., amount_off_minor: _Optional[int] = ..., percent_off_bps: _Optional[int] = ..., max_discount_minor: _Optional[int] = ..., free_service: _Optional[str] = ..., min_spend_minor: _Optional[int] = ..., stores: _Optional[_Iterable[str]] = ..., valid_days: _Optional[int] = ..., valid_from: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., valid_until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., currency_code: _Optional[str] = ..., active: _Optional[bool] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Voucher(_message.Message):
    __slots__ = ("name", "template", "code", "state", "valid_from", "valid_until", "redeemed_checkout", "display_name", "kind", "amount_off_minor", "percent_off_bps", "max_discount_minor", "free_service", "min_spend_minor", "stores", "reason", "create_time", "update_time")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TEMPLATE_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    VALID_FROM_FIELD_NUMBER: _ClassVar[int]
    VALID_UNTIL_FIELD_NUMBER: _ClassVar[int]
    REDEEMED_CHECKOUT_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_OFF_MINOR_FIELD_NUMBER: _ClassVar[int]
    PERCENT_OFF_BPS_FIELD_NUMBER: _ClassVar[int]
    MAX_DISCOUNT_MINOR_FIELD_NUMBER: _ClassVar[int]
    FREE_SERVICE_FIELD_NUMBER: _ClassVar[int]
    MIN_SPEND_MINOR_FIELD_NUMBER: _ClassVar[int]
    STORES_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    template: str
    code: str
    state: VoucherState
    valid_from: _timestamp_pb2.Timestamp
    valid_until: _timestamp_pb2.Timestamp
    redeemed_checkout: str
    display_name: str
    kind: VoucherKind
    amount_off_minor: int
    percent_off_bps: int
    max_discount_minor: int
    free_service: str
    min_spend_minor: int
    stores: _containers.RepeatedScalarFieldContainer[str]
    reason: str
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., template: _Optional[str] = ..., code: _Optional[str] = ..., state: _Optional[_Union[VoucherState, str]] = ..., valid_from: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., valid_until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., redeemed_checkout: _Optional[str] = ..., display_name: _Optional[str] = ..., kind: _Optional[_Union[VoucherKind, str]] = ..., amount_off_minor: _Optional[int] = ..., percent_off_bps: _Optional[int] = ..., max_discount_minor: _Optional[int] = ..., free_service: _Optional[str] = ..., min_spend_minor: _Optional[int] = ..., stores: _Optional[_Iterable[str]] = ..., reason: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
