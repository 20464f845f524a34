"""Insights' pure parts: events -> fact rows, the period rules, buckets, the export formats."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime

import pytest
from peony.booking.v1 import events_pb2 as bev
from peony.wallet.v1 import events_pb2 as wev

from kit.errors import InvalidArgument
from kit.messaging.envelope import new_envelope
from services.insights.domain.catalogue import CATALOGUE, metric_of, parse_period
from services.insights.domain.facts import FACT_COLUMNS, LINE_COLUMNS, UnreadableEvent, facts_of
from services.insights.service_layer.export import to_csv, to_xlsx
from services.insights.service_layer.queries import average_minor, buckets, nearest_rank

WHEN = datetime(2026, 3, 1, 15, 30, 0, 123000, tzinfo=UTC)


def test_a_checkout_is_one_fact_and_a_row_per_line():
    event = wev.CheckoutCompleted(
        checkout="checkouts/c1",
        member="members/m1",
        store="stores/s1",
        total_minor=12_345,
        principal_funded_minor=10_000,
        points_earned=123,
        lines=[
            wev.CheckoutCompletedLine(item="services/a", category="facial", quantity=1, net_minor=10_000),
            wev.CheckoutCompletedLine(item="products/b", category="retail", quantity=2, net_minor=2_345),
        ],
    )
    envelope = new_envelope(event, tenant="t", aggregate_type="wallet", aggregate_id="m1", occurred_at=WHEN)
    row, lines = facts_of(envelope, seq=42)
    fact = dict(zip(FACT_COLUMNS, row, strict=True))
    assert fact["kind"] == "CheckoutCompleted" and fact["occurred_at"] == "2026-03-01 15:30:00.123"
    assert (fact["amount_minor"], fact["amount2_minor"], fact["points"], fact["quantity"]) == (
        12_345,
        10_000,
        123,
        2,
    )
    assert fact["seq"] == 42 and fact["event_id"] == envelope.event_id
    assert [dict(zip(LINE_COLUMNS, line, strict=True))["net_minor"] for line in lines] == [10_000, 2_345]


def test_an_unknown_event_type_is_still_a_fact_and_a_lying_envelope_is_refused():
    envelope = new_envelope(
        bev.WaitlistOffered(member="members/m"), tenant="t", aggregate_type="x", aggregate_id="1"
    )
    row, lines = facts_of(envelope)
    assert row[1] == "WaitlistOffered" and lines == []
    liar = new_envelope(wev.TopUpCompleted(), tenant="t", aggregate_type="x", aggregate_id="1")
    liar.event_type = "peony.wallet.v1.CheckoutCompleted"
    with pytest.raises(UnreadableEvent):
        facts_of(liar)


def test_periods_are_checked():
    today = date(2026, 6, 30)
    assert parse_period("", "", today).start == date(2026, 6, 1)
    with pytest.raises(InvalidArgument) as err:
        parse_period("2026-02-01", "2026-01-31", today)
    assert err.value.reason == "PERIOD_REVERSED"
    with pytest.raises(InvalidArgument):
        parse_period("2026-2-1", "", today)
    with pytest.raises(InvalidArgument) as err:
        parse_period("2020-01-01", "2026-01-01", today)
    assert err.value.reason == "PERIOD_TOO_LONG"
    with pytest.raises(InvalidArgument) as err:
        metric_of("revenue; DROP TABLE facts")
    assert err.value.reason == "UNKNOWN_METRIC"


def test_buckets_and_rounding():
    period = parse_period("2026-01-28", "2026-03-02", date(2026, 6, 30))
    assert buckets(period, "month") == [date(2026, 1, 1), date(2026, 2, 1), date(2026, 3, 1)]
    assert buckets(period, "week")[0] == date(2026, 1, 26)  # a Monday
    assert buckets(period, "total") == [date(2026, 1, 28)]
    assert average_minor(3, 2) == 2 and average_minor(0, 0) == 0
    assert nearest_rank([5, 1, 3, 2, 4], 0.5) == 3 and nearest_rank([1, 2, 3, 4], 0.9) == 4


def test_exports_csv_with_bom_and_xlsx():
    metric = CATALOGUE["revenue_by_category"]
    rows = [["面部护理", 12_345, 3]]
    content = to_csv(metric.columns, rows, "zh-CN")
    assert content.startswith(b"\xef\xbb\xbf")
    assert list(csv.reader(io.StringIO(content.decode("utf-8-sig")))) == [
        ["分类", "营业额", "数量"],
        ["面部护理", "12345", "3"],
    ]
    from openpyxl import load_workbook

    sheet = load_workbook(io.BytesIO(to_xlsx(metric.columns, rows, "en", metric.id))).active
    assert [c.value for c in sheet[1]] == ["Category", "Revenue", "Quantity"]
    assert [c.value for c in sheet[2]] == ["面部护理", 12_345, 3]


def test_every_metric_has_an_implementation():
    from services.insights.service_layer.queries import MetricQueries

    assert all(hasattr(MetricQueries, f"_m_{m}") for m in CATALOGUE)
