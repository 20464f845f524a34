import datetime

from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.api import resource_pb2 as _resource_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from peony.wallet.v1 import ledger_pb2 as _ledger_pb2
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CommissionBasis(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    COMMISSION_BASIS_UNSPECIFIED: _ClassVar[CommissionBasis]
    COMMISSION_BASIS_PERCENT: _ClassVar[CommissionBasis]
    COMMISSION_BASIS_FIXED: _ClassVar[CommissionBasis]

class CustomerType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CUSTOMER_TYPE_UNSPECIFIED: _ClassVar[CustomerType]
    CUSTOMER_TYPE_NEW: _ClassVar[CustomerType]
    CUSTOMER_TYPE_MEMBER: _ClassVar[CustomerType]

class CommissionSource(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    COMMISSION_SOURCE_UNSPECIFIED: _ClassVar[CommissionSource]
    COMMISSION_SOURCE_CHECKOUT: _ClassVar[CommissionSource]
    COMMISSION_SOURCE_PACKAGE_SALE: _ClassVar[CommissionSource]
    COMMISSION_SOURCE_TOP_UP: _ClassVar[CommissionSource]

class CommissionReportDimension(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    COMMISSION_REPORT_DIMENSION_UNSPECIFIED: _ClassVar[CommissionReportDimension]
    COMMISSION_REPORT_DIMENSION_STAFF: _ClassVar[CommissionReportDimension]
    COMMISSION_REPORT_DIMENSION_ITEM: _ClassVar[CommissionReportDimension]
    COMMISSION_REPORT_DIMENSION_STORE: _ClassVar[CommissionReportDimension]
    COMMISSION_REPORT_DIMENSION_STAFF_POSITION: _ClassVar[CommissionReportDimension]
    COMMISSION_REPORT_DIMENSION_TENDER: _ClassVar[CommissionReportDimension]
    COMMISSION_REPORT_DIMENSION_SOURCE: _ClassVar[CommissionReportDimension]
COMMISSION_BASIS_UNSPECIFIED: CommissionBasis
COMMISSION_BASIS_PERCENT: CommissionBasis
COMMISSION_BASIS_FIXED: CommissionBasis
CUSTOMER_TYPE_UNSPECIFIED: CustomerType
CUSTOMER_TYPE_NEW: CustomerType
CUSTOMER_TYPE_MEMBER: CustomerType
COMMISSION_SOURCE_UNSPECIFIED: CommissionSource
COMMISSION_SOURCE_CHECKOUT: CommissionSource
COMMISSION_SOURCE_PACKAGE_SALE: CommissionSource
COMMISSION_SOURCE_TOP_UP: CommissionSource
COMMISSION_REPORT_DIMENSION_UNSPECIFIED: CommissionReportDimension
COMMISSION_REPORT_DIMENSION_STAFF: CommissionReportDimension
COMMISSION_REPORT_DIMENSION_ITEM: CommissionReportDimension
COMMISSION_REPORT_DIMENSION_STORE: CommissionReportDimension
COMMISSION_REPORT_DIMENSION_STAFF_POSITION: CommissionReportDimension
COMMISSION_REPORT_DIMENSION_TENDER: CommissionReportDimension
COMMISSION_REPORT_DIMENSION_SOURCE: CommissionReportDimension

class CommissionRule(_message.Message):
    __slots__ = ("name", "display_name", "item", "category", "store", "staff_position", "customer_type", "tender", "basis", "percent_bps", "fixed_minor", "priority", "active", "create_time")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    ITEM_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    STORE_FIELD_NUMBER: _ClassVar[int]
    STAFF_POSITION_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_TYPE_FIELD_NUMBER: _ClassVar[int]
    TENDER_FIELD_NUMBER: _ClassVar[int]
    BASIS_FIELD_NUMBER: _ClassVar[int]
    PERCENT_BPS_FIELD_NUMBER: _ClassVar[int]
    FIXED_MINOR_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    display_name: str
    item: str
    category: str
    store: str
    staff_position: str
    customer_type: CustomerType
    tender: _ledger_pb2.Tender
    basis: CommissionBasis
    percent_bps: int
    fixed_minor: int
    priority: int
    active: bool
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., display_name: _Optional[str] = ..., item: _Optional[str] = ..., category: _Optional[str] = ..., store: _Optional[str] = ..., staff_position: _Optional[str] = ..., customer_type: _Optional[_Union[CustomerType, str]] = ..., tender: _Optional[_Union[_ledger_pb2.Tender, str]] = ..., basis: _Optional[_Union[CommissionBasis, str]] = ..., percent_bps: _Optional[int] = ..., fixed_minor: _Optional[int] = ..., priority: _Optional[int] = ..., active: _Optional[bool] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CommissionRecord(_message.Message):
    __slots__ = ("name", "checkout", "line_index", "staff", "amount_minor", "rule", "create_time", "store", "item", "base_minor", "refund", "currency_code", "package", "transaction", "staff_position", "tender", "category", "source", "clawback_transaction")
    NAME_FIELD_NUMBER: _ClassVar[int]
    CHECKOUT_FIELD_NUMBER: _ClassVar[int]
    LINE_INDEX_FIELD_NUMBER: _ClassVar[int]
    STAFF_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_MINOR_FIELD_NUMBER: _ClassVar[int]
    RULE_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    STORE_FIELD_NUMBER: _ClassVar[int]
    ITEM_FIELD_NUMBER: _ClassVar[int]
    BASE_MINOR_FIELD_NUMBER: _ClassVar[int]
    REFUND_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_CODE_FIELD_NUMBER: _ClassVar[int]
    PACKAGE_FIELD_NUMBER: _ClassVar[int]
    TRANSACTION_FIELD_NUMBER: _ClassVar[int]
    STAFF_POSITION_FIELD_NUMBER: _ClassVar[int]
    TENDER_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    CLAWBACK_TRANSACTION_FIELD_NUMBER: _ClassVar[int]
    name: str
    checkout: str
    line_index: int
    staff: str
    amount_minor: int
    rule: str
    create_time: _timestamp_pb2.Timestamp
    store: str
    item: str
    base_minor: int
    refund: str
    currency_code: str
    package: str
    transaction: str
    staff_position: str
    tender: _ledger_pb2.Tender
    category: str
    source: CommissionSource
    clawback_transaction: str
    def __init__(self, name: _Optional[str] = ..., checkout: _Optional[str] = ..., line_index: _Optional[int] = ..., staff: _Optional[str] = ..., amount_minor: _Optional[int] = ..., rule: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., store: _Optional[str] = ..., item: _Optional[str] = ..., base_minor: _Optional[int] = ..., refund: _Optional[str] = ..., currency_code: _Optional[str] = ..., package: _Optional[str] = ..., transaction: _Optional[str] = ..., staff_position: _Optional[str] = ..., tender: _Optional[_Union[_ledger_pb2.Tender, str]] = ..., category: _Optional[str] = ..., source: _Optional[_Union[CommissionSource, str]] = ..., clawback_transaction: _Optional[str] = ...) -> None: ...
