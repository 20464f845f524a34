import datetime

from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.api import resource_pb2 as _resource_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.rpc import status_pb2 as _status_pb2
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ImportKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    IMPORT_KIND_UNSPECIFIED: _ClassVar[ImportKind]
    IMPORT_KIND_STORES: _ClassVar[ImportKind]
    IMPORT_KIND_MEMBERS: _ClassVar[ImportKind]
    IMPORT_KIND_VOUCHERS: _ClassVar[ImportKind]

class ImportState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    IMPORT_STATE_UNSPECIFIED: _ClassVar[ImportState]
    IMPORT_STATE_PENDING: _ClassVar[ImportState]
    IMPORT_STATE_RUNNING: _ClassVar[ImportState]
    IMPORT_STATE_SUCCEEDED: _ClassVar[ImportState]
    IMPORT_STATE_FAILED: _ClassVar[ImportState]
    IMPORT_STATE_CANCELLED: _ClassVar[ImportState]
IMPORT_KIND_UNSPECIFIED: ImportKind
IMPORT_KIND_STORES: ImportKind
IMPORT_KIND_MEMBERS: ImportKind
IMPORT_KIND_VOUCHERS: ImportKind
IMPORT_STATE_UNSPECIFIED: ImportState
IMPORT_STATE_PENDING: ImportState
IMPORT_STATE_RUNNING: ImportState
IMPORT_STATE_SUCCEEDED: ImportState
IMPORT_STATE_FAILED: ImportState
IMPORT_STATE_CANCELLED: ImportState

class ImportUpload(_message.Message):
    __slots__ = ("name", "file_name", "size_bytes", "received_bytes", "expire_time")
    NAME_FIELD_NUMBER: _ClassVar[int]
    FILE_NAME_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    RECEIVED_BYTES_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    file_name: str
    size_bytes: int
    received_bytes: int
    expire_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., file_name: _Optional[str] = ..., size_bytes: _Optional[int] = ..., received_bytes: _Optional[int] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ImportTotals(_message.Message):
    __slots__ = ("principal_minor", "bonus_minor", "points", "sessions")
    PRINCIPAL_MINOR_FIELD_NUMBER: _ClassVar[int]
    BONUS_MINOR_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    SESSIONS_FIELD_NUMBER: _ClassVar[int]
    principal_minor: int
    bonus_minor: int
    points: int
    sessions: int
    def __init__(self, principal_minor: _Optional[int] = ..., bonus_minor: _Optional[int] = ..., points: _Optional[int] = ..., sessions: _Optional[int] = ...) -> None: ...

class ImportMetadata(_message.Message):
    __slots__ = ("kind", "state", "dry_run", "upload", "rows_total", "rows_read", "rows_imported", "rows_rejected", "create_time", "update_time", "cancel_time")
    KIND_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    DRY_RUN_FIELD_NUMBER: _ClassVar[int]
    UPLOAD_FIELD_NUMBER: _ClassVar[int]
    ROWS_TOTAL_FIELD_NUMBER: _ClassVar[int]
    ROWS_READ_FIELD_NUMBER: _ClassVar[int]
    ROWS_IMPORTED_FIELD_NUMBER: _ClassVar[int]
    ROWS_REJECTED_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    CANCEL_TIME_FIELD_NUMBER: _ClassVar[int]
    kind: ImportKind
    state: ImportState
    dry_run: bool
    upload: str
    rows_total: int
    rows_read: int
    rows_imported: int
    rows_rejected: int
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    cancel_time: _timestamp_pb2.Timestamp
    def __init__(self, kind: _Optional[_Union[ImportKind, str]] = ..., state: _Optional[_Union[ImportState, str]] = ..., dry_run: _Optional[bool] = ..., upload: _Optional[str] = ..., rows_total: _Optional[int] = ..., rows_read: _Optional[int] = ..., rows_imported: _Optional[int] = ..., rows_rejected: _Optional[int] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., cancel_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ImportSummary(_message.Message):
    __slots__ = ("import_id", "rows_read", "rows_imported", "rows_already_imported", "rows_rejected", "file_totals", "accepted_totals", "ledger_totals", "opening_transactions", "unbalanced_transactions", "reconciled", "vouchers_issued", "vouchers_amount_minor")
    IMPORT_ID_FIELD_NUMBER: _ClassVar[int]
    ROWS_READ_FIELD_NUMBER: _ClassVar[int]
    ROWS_IMPORTED_FIELD_NUMBER: _ClassVar[int]
    ROWS_ALREADY_IMPORTED_FIELD_NUMBER: _ClassVar[int]
    ROWS_REJECTED_FIELD_NUMBER: _ClassVar[int]
    FILE_TOTALS_FIELD_NUMBER: _ClassVar[int]
    ACCEPTED_TOTALS_FIELD_NUMBER: _ClassVar[int]
    LEDGER_TOTALS_FIELD_NUMBER: _ClassVar[int]
    OPENING_TRANSACTIONS_FIELD_NUMBER: _ClassVar[int]
    UNBALANCED_TRANSACTIONS_FIELD_NUMBER: _ClassVar[int]
    RECONCILED_FIELD_NUMBER: _ClassVar[int]
    VOUCHERS_ISSUED_FIELD_NUMBER: _ClassVar[int]
    VOUCHERS_AMOUNT_MINOR_FIELD_NUMBER: _ClassVar[int]
    import_id: str
    rows_read: int
    rows_imported: int
    rows_already_imported: int
    rows_rejected: int
    file_totals: ImportTotals
    accepted_totals: ImportTotals
    ledger_totals: ImportTotals
    opening_transactions: int
    unbalanced_transactions: int
    reconciled: bool
    vouchers_issued: int
    vouchers_amount_minor: int
    def __init__(self, import_id: _Optional[str] = ..., rows_read: _Optional[int] = ..., rows_imported: _Optional[int] = ..., rows_already_imported: _Optional[int] = ..., rows_rejected: _Optional[int] = ..., file_totals: _Optional[_Union[ImportTotals, _Mapping]] = ..., accepted_totals: _Optional[_Union[ImportTotals, _Mapping]] = ..., ledger_totals: _Optional[_Union[ImportTotals, _Mapping]] = ..., opening_transactions: _Optional[int] = ..., unbalanced_transactions: _Optional[int] = ..., reconciled: _Optional[bool] = ..., vouchers_issued: _Optional[int] = ..., vouchers_amount_minor: _Optional[int] = ...) -> None: ...

class ImportOperation(_message.Message):
    __slots__ = ("name", "metadata", "done", "error", "response")
    NAME_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    DONE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_FIELD_NUMBER: _ClassVar[int]
    name: str
    metadata: ImportMetadata
    done: bool
    error: _status_pb2.Status
    response: ImportSummary
    def __init__(self, name: _Optional[str] = ..., metadata: _Optional[_Union[ImportMetadata, _Mapping]] = ..., done: _Optional[bool] = ..., error: _Optional[_Union[_status_pb2.Status, _Mapping]] = ..., response: _Optional[_Union[ImportSummary, _Mapping]] = ...) -> None: ...
