"""gRPC entrypoint of the insights service: the metric catalogue, queries and exports."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from peony.insights.v1 import insights_service_pb2 as pb
from peony.insights.v1 import insights_service_pb2_grpc as pb_grpc

from kit import auth
from kit.auth import Principal, current_principal
from kit.errors import InvalidArgument, PermissionDenied, Violations
from kit.ids import parse_name
from kit.pagination import PageTokens, page_size
from services.insights.domain.catalogue import (
    CATALOGUE,
    COUNT,
    MONEY,
    RATIO,
    TEXT,
    Metric,
    metric_of,
    parse_period,
)
from services.insights.service_layer import export
from services.insights.service_layer.queries import DEFAULT_ZONE, MetricQueries

_COLUMN_TYPES = {
    TEXT: pb.COLUMN_TYPE_TEXT,
    COUNT: pb.COLUMN_TYPE_COUNT,
    MONEY: pb.COLUMN_TYPE_MONEY,
    RATIO: pb.COLUMN_TYPE_RATIO,
}
_GRANULARITY = {
    pb.GRANULARITY_UNSPECIFIED: "total",
    pb.GRANULARITY_TOTAL: "total",
    pb.GRANULARITY_DAY: "day",
    pb.GRANULARITY_WEEK: "week",
    pb.GRANULARITY_MONTH: "month",
}
CURRENCY = "CNY"  # the domain default; the events carry no other for now


def _definition(m: Metric) -> pb.MetricDefinition:
    return pb.MetricDefinition(
        metric=m.id,
        title=m.title,
        title_zh=m.title_zh,
        description=m.description,
        columns=[
            pb.MetricColumn(name=c.name, type=_COLUMN_TYPES[c.type], title=c.title, title_zh=c.title_zh)
            for c in m.columns
        ],
        supports_tier=m.supports_tier,
        supports_period=m.supports_period,
    )


def _value(kind: str, v: object) -> pb.MetricValue:
    if kind == TEXT:
        return pb.MetricValue(text=str(v))
    if kind == RATIO:
        return pb.MetricValue(ratio=float(v))  # type: ignore[arg-type]
    return pb.MetricValue(integer=int(v))  # type: ignore[call-overload]


class InsightsServicer(pb_grpc.InsightsServiceServicer):
    def __init__(self, queries: MetricQueries, page_tokens: PageTokens) -> None:
        self._queries = queries
        self._tokens = page_tokens

    async def ListMetrics(self, request: pb.ListMetricsRequest, context) -> pb.ListMetricsResponse:
        caller = current_principal()
        caller.require(auth.INSIGHTS_READ)
        stores = [
            pb.StoreOption(store=store, display_name=name, time_zone=zone)
            for store, name, zone in await self._queries.store_options(caller.tenant)
            if caller.stores is None or store in caller.stores
        ]
        return pb.ListMetricsResponse(metrics=[_definition(m) for m in CATALOGUE.values()], stores=stores)

    async def _compute(self, request: pb.QueryMetricRequest | pb.ExportMetricRequest):
        """Authorization, validation, scope, then the metric's rows (all of them)."""
        caller = current_principal()
        caller.require(auth.INSIGHTS_READ)
        problems = Violations()
        for i, store in enumerate(request.stores):
            if parse_name(store, "stores") is None:
                problems.add(f"stores[{i}]", "must be a resource name stores/{id}")
        if request.granularity not in _GRANULARITY:
            problems.add("granularity", "unknown granularity")
        if len(request.tier) > 64:
            problems.add("tier", "must be at most 64 characters")
        problems.raise_if_any()
        metric = metric_of(request.metric)
        today = datetime.now(ZoneInfo(DEFAULT_ZONE)).date()
        period = parse_period(request.start_date, request.end_date, today)
        stores = self._stores_in_scope(caller, list(request.stores), metric)
        scope = await self._queries.scope(
            caller.tenant, stores, request.tier, period, _GRANULARITY[request.granularity]
        )
        return metric, scope, await self._queries.rows(metric, scope)

    @staticmethod
    def _stores_in_scope(caller: Principal, stores: list[str], metric: Metric) -> list[str] | None:
        if caller.stores is None:
            return stores or None
        if metric.tenant_wide:
            raise PermissionDenied(
                f"{metric.id} is a tenant-wide figure; store-bound callers may not read it",
                reason="TENANT_WIDE_METRIC",
            )
        for store in stores:
            caller.require_store(store)
        return stores or sorted(caller.stores)

    async def QueryMetric(self, request: pb.QueryMetricRequest, context) -> pb.QueryMetricResponse:
        caller = current_principal()
        caller.require(auth.INSIGHTS_READ)  # before anything about the request is looked at
        binding = "|".join(
            [
                caller.tenant,
                request.metric,
                ",".join(request.stores),
                request.tier,
                request.start_date,
                request.end_date,
                str(request.granularity),
            ]
        )
        # A tampered or foreign token is refused before anything is read.
        cursor = self._tokens.decode(request.page_token, binding=binding) or {}
        offset = cursor.get("after", 0)
        if not isinstance(offset, int) or offset < 0:
            raise InvalidArgument([("page_token", "is not a token issued for this query")])
        size = page_size(request.page_size)
        metric, _, rows = await self._compute(request)
        page = rows[offset : offset + size]
        next_token = ""
        if offset + size < len(rows):
            next_token = self._tokens.encode({"after": offset + size}, binding=binding)
        types = [c.type for c in metric.columns]
        return pb.QueryMetricResponse(
            metric=metric.id,
            columns=_definition(metric).columns,
            rows=[
                pb.MetricRow(values=[_value(t, v) for t, v in zip(types, row, strict=True)]) for row in page
            ],
            next_page_token=next_token,
            currency_code=CURRENCY,
        )

    async def ExportMetric(self, request: pb.ExportMetricRequest, context) -> pb.ExportMetricResponse:
        if request.locale not in ("", "en", "zh-CN"):
            raise InvalidArgument([("locale", "must be en or zh-CN")])
        metric, scope, rows = await self._compute(request)
        locale = request.locale or "en"
        stem = f"{metric.id}_{scope.period.start.isoformat()}_{scope.period.end.isoformat()}"
        if request.format == pb.EXPORT_FORMAT_XLSX:
            content = export.to_xlsx(metric.columns, rows, locale, metric.id)
            return pb.ExportMetricResponse(
                content=content, content_type=export.XLSX_TYPE, filename=f"{stem}.xlsx"
            )
        if request.format not in (pb.EXPORT_FORMAT_UNSPECIFIED, pb.EXPORT_FORMAT_CSV):
            raise InvalidArgument([("format", "unknown export format")])
        content = export.to_csv(metric.columns, rows, locale)
        return pb.ExportMetricResponse(content=content, content_type=export.CSV_TYPE, filename=f"{stem}.csv")
