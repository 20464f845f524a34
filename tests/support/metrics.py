"""Reading the process's OpenTelemetry metrics in tests (what a service's code records globally)."""

from __future__ import annotations

from typing import Any

from opentelemetry import metrics
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

_reader: InMemoryMetricReader | None = None


def global_metric_reader() -> InMemoryMetricReader:
    """An in-memory reader on the global meter provider, installed on first use (once per process)."""
    global _reader
    if _reader is None:
        assert not isinstance(metrics.get_meter_provider(), MeterProvider), (
            "another SDK meter provider was installed first"
        )
        _reader = InMemoryMetricReader()
        metrics.set_meter_provider(MeterProvider(metric_readers=[_reader]))
    return _reader


def metric_points(reader: InMemoryMetricReader, name: str, **attributes: Any) -> list:
    """The data points of metric ``name`` whose attributes include ``attributes``."""
    data = reader.get_metrics_data()
    if data is None:
        return []
    return [
        point
        for rm in data.resource_metrics
        for sm in rm.scope_metrics
        for metric in sm.metrics
        if metric.name == name
        for point in metric.data.data_points
        if all(point.attributes.get(k) == v for k, v in attributes.items())
    ]
