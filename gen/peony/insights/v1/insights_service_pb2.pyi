from google.api import annotations_pb2 as _annotations_pb2
from google.api import field_behavior_pb2 as _field_behavior_pb2
from peony.options.v1 import limits_pb2 as _limits_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Granularity(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    GRANULARITY_UNSPECIFIED: _ClassVar[Granularity]
    GRANULARITY_DAY: _ClassVar[Granularity]
    GRANULARITY_WEEK: _ClassVar[Granularity]
    GRANULARITY_MONTH: _ClassVar[Granularity]
    GRANULARITY_TOTAL: _ClassVar[Granularity]

class ColumnType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    COLUMN_TYPE_UNSPECIFIED: _ClassVar[ColumnType]
    COLUMN_TYPE_TEXT: _ClassVar[ColumnType]
    COLUMN_TYPE_COUNT: _ClassVar[ColumnType]
    COLUMN_TYPE_MONEY: _ClassVar[ColumnType]
    COLUMN_TYPE_RATIO: _ClassVar[ColumnType]

class ExportFormat(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EXPORT_FORMAT_UNSPECIFIED: _ClassVar[ExportFormat]
    EXPORT_FORMAT_CSV: _ClassVar[ExportFormat]
    EXPORT_FORMAT_XLSX: _ClassVar[ExportFormat]
GRANULARITY_UNSPECIFIED: Granularity
GRANULARITY_DAY: Granularity
GRANULARITY_WEEK: Granularity
GRANULARITY_MONTH: Granularity
GRANULARITY_TOTAL: Granularity
COLUMN_TYPE_UNSPECIFIED: ColumnType
COLUMN_TYPE_TEXT: ColumnType
COLUMN_TYPE_COUNT: ColumnType
COLUMN_TYPE_MONEY: ColumnType
COLUMN_TYPE_RATIO: ColumnType
EXPORT_FORMAT_UNSPECIFIED: ExportFormat
EXPORT_FORMAT_CSV: ExportFormat
EXPORT_FORMAT_XLSX: ExportFormat

class MetricColumn(_message.Message):
    __slots__ = ("name", "type", "title", "title_zh")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    TITLE_ZH_FIELD_NUMBER: _ClassVar[int]
    name: str
    type: ColumnType
    title: str
    title_zh: str
    def __init__(self, name: _Optional[str] = ..., type: _Optional[_Union[ColumnType, str]] = ..., title: _Optional[str] = ..., title_zh: _Optional[str] = ...) -> None: ...

class MetricDefinition(_message.Message):
    __slots__ = ("metric", "title", "title_zh", "description", "columns", "supports_tier", "supports_period")
    METRIC_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    TITLE_ZH_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    COLUMNS_FIELD_NUMBER: _ClassVar[int]
    SUPPORTS_TIER_FIELD_NUMBER: _ClassVar[int]
    SUPPORTS_PERIOD_FIELD_NUMBER: _ClassVar[int]
    metric: str
    title: str
    title_zh: str
    description: str
    columns: _containers.RepeatedCompositeFieldContainer[MetricColumn]
    supports_tier: bool
    supports_period: bool
    def __init__(self, metric: _Optional[str] = ..., title: _Optional[str] = ..., title_zh: _Optional[str] = ..., description: _Optional[str] = ..., columns: _Optional[_Iterable[_Union[MetricColumn, _Mapping]]] = ..., supports_tier: _Optional[bool] = ..., supports_period: _Optional[bool] = ...) -> None: ...

class ListMetricsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListMetricsResponse(_message.Message):
    __slots__ = ("metrics", "stores")
    METRICS_FIELD_NUMBER: _ClassVar[int]
    STORES_FIELD_NUMBER: _ClassVar[int]
    metrics: _containers.RepeatedCompositeFieldContainer[MetricDefinition]
    stores: _containers.RepeatedCompositeFieldContainer[StoreOption]
    def __init__(self, metrics: _Optional[_Iterable[_Union[MetricDefinition, _Mapping]]] = ..., stores: _Optional[_Iterable[_Union[StoreOption, _Mapping]]] = ...) -> None: ...

class StoreOption(_message.Message):
    __slots__ = ("store", "display_name", "time_zone")
    STORE_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    TIME_ZONE_FIELD_NUMBER: _ClassVar[int]
    store: str
    display_name: str
    time_zone: str
    def __init__(self, store: _Optional[str] = ..., display_name: _Optional[str] = ..., time_zone: _Optional[str] = ...) -> None: ...

class QueryMetricRequest(_message.Message):
    __slots__ = ("metric", "stores", "tier", "start_date", "end_date", "granularity", "page_size", "page_token")
    METRIC_FIELD_NUMBER: _ClassVar[int]
    STORES_FIELD_NUMBER: _ClassVar[int]
    TIER_FIELD_NUMBER: _ClassVar[int]
    START_DATE_FIELD_NUMBER: _ClassVar[int]
    END_DATE_FIELD_NUMBER: _ClassVar[int]
    GRANULARITY_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    metric: str
    stores: _containers.RepeatedScalarFieldContainer[str]
    tier: str
    start_date: str
    end_date: str
    granularity: Granularity
    page_size: int
    page_token: str
    def __init__(self, metric: _Optional[str] = ..., stores: _Optional[_Iterable[str]] = ..., tier: _Optional[str] = ..., start_date: _Optional[str] = ..., end_date: _Optional[str] = ..., granularity: _Optional[_Union[Granularity, str]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class MetricValue(_message.Message):
    __slots__ = ("text", "integer", "ratio")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    INTEGER_FIELD_NUMBER: _ClassVar[int]
    RATIO_FIELD_NUMBER: _ClassVar[int]
    text: str
    integer: int
    ratio: float
    def __init__(self, text: _Optional[str] = ..., integer: _Optional[int] = ..., ratio: _Optional[float] = ...) -> None: ...

class MetricRow(_message.Message):
    __slots__ = ("values",)
    VALUES_FIELD_NUMBER: _ClassVar[int]
    values: _containers.RepeatedCompositeFieldContainer[MetricValue]
    def __init__(self, values: _Optional[_Iterable[_Union[MetricValue, _Mapping]]] = ...) -> None: ...

class QueryMetricResponse(_message.Message):
    __slots__ = ("metric", "columns", "rows", "next_page_token", "currency_code")
    METRIC_FIELD_NUMBER: _ClassVar[int]
    COLUMNS_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_CODE_FIELD_NUMBER: _ClassVar[int]
    metric: str
    columns: _containers.RepeatedCompositeFieldContainer[MetricColumn]
    rows: _containers.RepeatedCompositeFieldContainer[MetricRow]
    next_page_token: str
    currency_code: str
    def __init__(self, metric: _Optional[str] = ..., columns: _Optional[_Iterable[_Union[MetricColumn, _Mapping]]] = ..., rows: _Optional[_Iterable[_Union[MetricRow, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., currency_code: _Optional[str] = ...) -> None: ...

class ExportMetricRequest(_message.Message):
    __slots__ = ("metric", "stores", "tier", "start_date", "end_date", "granularity", "format", "locale")
    METRIC_FIELD_NUMBER: _ClassVar[int]
    STORES_FIELD_NUMBER: _ClassVar[int]
    TIER_FIELD_NUMBER: _ClassVar[int]
    START_DATE_FIELD_NUMBER: _ClassVar[int]
    END_DATE_FIELD_NUMBER: _ClassVar[int]
    GRANULARITY_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    LOCALE_FIELD_NUMBER: _ClassVar[int]
    metric: str
    stores: _containers.RepeatedScalarFieldContainer[str]
    tier: str
    start_date: str
    end_date: str
    granularity: Granularity
    format: ExportFormat
    locale: str
    def __init__(self, metric: _Optional[str] = ..., stores: _Optional[_Iterable[str]] = ..., tier: _Optional[str] = ..., start_date: _Optional[str] = ..., end_date: _Optional[str] = ..., granularity: _Optional[_Union[Granularity, str]] = ..., format: _Optional[_Union[ExportFormat, str]] = ..., locale: _Optional[str] = ...) -> None: ...

class ExportMetricResponse(_message.Message):
    __slots__ = ("content", "content_type", "filename")
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    FILENAME_FIELD_NUMBER: _ClassVar[int]
    content: bytes
    content_type: str
    filename: str
    def __init__(self, content: _Optional[bytes] = ..., content_type: _Optional[str] = ..., filename: _Optional[str] = ...) -> None: ...
