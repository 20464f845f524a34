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

class Tender(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TENDER_UNSPECIFIED: _ClassVar[Tender]
    TENDER_CASH: _ClassVar[Tender]
    TENDER_BANK_CARD: _ClassVar[Tender]
    TENDER_WECHAT_PAY: _ClassVar[Tender]
    TENDER_ALIPAY: _ClassVar[Tender]
    TENDER_STORED_VALUE: _ClassVar[Tender]
    TENDER_POINTS: _ClassVar[Tender]
    TENDER_PACKAGE: _ClassVar[Tender]
    TENDER_VOUCHER: _ClassVar[Tender]

class TransactionKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TRANSACTION_KIND_UNSPECIFIED: _ClassVar[TransactionKind]
    TRANSACTION_KIND_TOP_UP: _ClassVar[TransactionKind]
    TRANSACTION_KIND_BONUS_RELEASE: _ClassVar[TransactionKind]
    TRANSACTION_KIND_SPEND: _ClassVar[TransactionKind]
    TRANSACTION_KIND_REFUND: _ClassVar[TransactionKind]
    TRANSACTION_KIND_HOLD: _ClassVar[TransactionKind]
    TRANSACTION_KIND_CAPTURE: _ClassVar[TransactionKind]
    TRANSACTION_KIND_VOID: _ClassVar[TransactionKind]
    TRANSACTION_KIND_POINTS_EARN: _ClassVar[TransactionKind]
    TRANSACTION_KIND_POINTS_REDEEM: _ClassVar[TransactionKind]
    TRANSACTION_KIND_POINTS_EXPIRE: _ClassVar[TransactionKind]
    TRANSACTION_KIND_POINTS_ADJUST: _ClassVar[TransactionKind]
    TRANSACTION_KIND_PACKAGE_SALE: _ClassVar[TransactionKind]
    TRANSACTION_KIND_PACKAGE_CONSUME: _ClassVar[TransactionKind]
    TRANSACTION_KIND_PACKAGE_TRANSFER: _ClassVar[TransactionKind]
    TRANSACTION_KIND_PACKAGE_REFUND: _ClassVar[TransactionKind]
    TRANSACTION_KIND_CHECKOUT: _ClassVar[TransactionKind]
    TRANSACTION_KIND_REVERSAL: _ClassVar[TransactionKind]
    TRANSACTION_KIND_OPENING_BALANCE: _ClassVar[TransactionKind]
    TRANSACTION_KIND_PACKAGE_EXPIRE: _ClassVar[TransactionKind]

class HoldState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    HOLD_STATE_UNSPECIFIED: _ClassVar[HoldState]
    HOLD_STATE_AUTHORIZED: _ClassVar[HoldState]
    HOLD_STATE_CAPTURED: _ClassVar[HoldState]
    HOLD_STATE_VOIDED: _ClassVar[HoldState]
    HOLD_STATE_EXPIRED: _ClassVar[HoldState]
TENDER_UNSPECIFIED: Tender
TENDER_CASH: Tender
TENDER_BANK_CARD: Tender
TENDER_WECHAT_PAY: Tender
TENDER_ALIPAY: Tender
TENDER_STORED_VALUE: Tender
TENDER_POINTS: Tender
TENDER_PACKAGE: Tender
TENDER_VOUCHER: Tender
TRANSACTION_KIND_UNSPECIFIED: TransactionKind
TRANSACTION_KIND_TOP_UP: TransactionKind
TRANSACTION_KIND_BONUS_RELEASE: TransactionKind
TRANSACTION_KIND_SPEND: TransactionKind
TRANSACTION_KIND_REFUND: TransactionKind
TRANSACTION_KIND_HOLD: TransactionKind
TRANSACTION_KIND_CAPTURE: TransactionKind
TRANSACTION_KIND_VOID: TransactionKind
TRANSACTION_KIND_POINTS_EARN: TransactionKind
TRANSACTION_KIND_POINTS_REDEEM: TransactionKind
TRANSACTION_KIND_POINTS_EXPIRE: TransactionKind
TRANSACTION_KIND_POINTS_ADJUST: TransactionKind
TRANSACTION_KIND_PACKAGE_SALE: TransactionKind
TRANSACTION_KIND_PACKAGE_CONSUME: TransactionKind
TRANSACTION_KIND_PACKAGE_TRANSFER: TransactionKind
TRANSACTION_KIND_PACKAGE_REFUND: TransactionKind
TRANSACTION_KIND_CHECKOUT: TransactionKind
TRANSACTION_KIND_REVERSAL: TransactionKind
TRANSACTION_KIND_OPENING_BALANCE: TransactionKind
TRANSACTION_KIND_PACKAGE_EXPIRE: TransactionKind
HOLD_STATE_UNSPECIFIED: HoldState
HOLD_STATE_AUTHORIZED: HoldState
HOLD_STATE_CAPTURED: HoldState
HOLD_STATE_VOIDED: HoldState
HOLD_STATE_EXPIRED: HoldState

class Posting(_message.Message):
    __slots__ = ("account", "amount", "unit")
    ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    UNIT_FIELD_NUMBER: _ClassVar[int]
    account: str
    amount: int
    unit: str
    def __init__(self, account: _Optional[str] = ..., amount: _Optional[int] = ..., unit: _Optional[str] = ...) -> None: ...

class LedgerTransaction(_message.Message):
    __slots__ = ("name", "kind", "postings", "member", "store", "reverses", "reversed_by", "request_id", "description", "create_time", "reference")
    NAME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    POSTINGS_FIELD_NUMBER: _ClassVar[int]
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    STORE_FIELD_NUMBER: _ClassVar[int]
    REVERSES_FIELD_NUMBER: _ClassVar[int]
    REVERSED_BY_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    name: str
    kind: TransactionKind
    postings: _containers.RepeatedCompositeFieldContainer[Posting]
    member: str
    store: str
    reverses: str
    reversed_by: str
    request_id: str
    description: str
    create_time: _timestamp_pb2.Timestamp
    reference: str
    def __init__(self, name: _Optional[str] = ..., kind: _Optional[_Union[TransactionKind, str]] = ..., postings: _Optional[_Iterable[_Union[Posting, _Mapping]]] = ..., member: _Optional[str] = ..., store: _Optional[str] = ..., reverses: _Optional[str] = ..., reversed_by: _Optional[str] = ..., request_id: _Optional[str] = ..., description: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., reference: _Optional[str] = ...) -> None: ...

class Hold(_message.Message):
    __slots__ = ("name", "member", "amount_minor", "currency_code", "package", "service", "sessions", "state", "expire_time", "reference", "store", "principal_minor", "bonus_minor", "captured_minor", "captured_sessions", "authorize_transaction", "captured_transaction", "void_transaction", "create_time", "update_time", "use_time")
    NAME_FIELD_NUMBER: _ClassVar[int]
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_MINOR_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_CODE_FIELD_NUMBER: _ClassVar[int]
    PACKAGE_FIELD_NUMBER: _ClassVar[int]
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    SESSIONS_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    STORE_FIELD_NUMBER: _ClassVar[int]
    PRINCIPAL_MINOR_FIELD_NUMBER: _ClassVar[int]
    BONUS_MINOR_FIELD_NUMBER: _ClassVar[int]
    CAPTURED_MINOR_FIELD_NUMBER: _ClassVar[int]
    CAPTURED_SESSIONS_FIELD_NUMBER: _ClassVar[int]
    AUTHORIZE_TRANSACTION_FIELD_NUMBER: _ClassVar[int]
    CAPTURED_TRANSACTION_FIELD_NUMBER: _ClassVar[int]
    VOID_TRANSACTION_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    USE_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    member: str
    amount_minor: int
    currency_code: str
    package: str
    service: str
    sessions: int
    state: HoldState
    expire_time: _timestamp_pb2.Timestamp
    reference: str
    store: str
    principal_minor: int
    bonus_minor: int
    captured_minor: int
    captured_sessions: int
    authorize_transaction: str
    captured_transaction: str
    void_transaction: str
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    use_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., member: _Optional[str] = ..., amount_minor: _Optional[int] = ..., currency_code: _Optional[str] = ..., package: _Optional[str] = ..., service: _Optional[str] = ..., sessions: _Optional[int] = ..., state: _Optional[_Union[HoldState, str]] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., reference: _Optional[str] = ..., store: _Optional[str] = ..., principal_minor: _Optional[int] = ..., bonus_minor: _Optional[int] = ..., captured_minor: _Optional[int] = ..., captured_sessions: _Optional[int] = ..., authorize_transaction: _Optional[str] = ..., captured_transaction: _Optional[str] = ..., void_transaction: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., use_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
