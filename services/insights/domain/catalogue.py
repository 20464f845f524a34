"""The metric catalogue (what HQ can ask for) and the query filters, validated (pure, no I/O)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from kit.errors import InvalidArgument, Violations

TEXT, COUNT, MONEY, RATIO = "text", "count", "money", "ratio"
MAX_PERIOD_DAYS = 3 * 366 + 1
DEFAULT_PERIOD_DAYS = 30
GRANULARITIES = ("total", "day", "week", "month")


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    title: str
    title_zh: str


@dataclass(frozen=True)
class Metric:
    id: str
    title: str
    title_zh: str
    description: str
    columns: tuple[Column, ...]
    supports_tier: bool = False
    supports_period: bool = True
    # Point-in-time figures for the whole tenant (liabilities): not for store-bound callers.
    tenant_wide: bool = False


def _c(name: str, type_: str, title: str, title_zh: str) -> Column:
    return Column(name, type_, title, title_zh)


PERIOD = _c("period", TEXT, "Period", "期间")

CATALOGUE: dict[str, Metric] = {
    m.id: m
    for m in (
        Metric(
            "new_members",
            "New members",
            "新增会员",
            "Members registered in the period (by home store), and growth over the members before it.",
            (
                PERIOD,
                _c("new_members", COUNT, "New members", "新增会员"),
                _c("members_before", COUNT, "Members before the period", "期初会员"),
                _c("growth_rate", RATIO, "Growth rate", "增长率"),
            ),
            supports_tier=True,
        ),
        Metric(
            "member_revenue",
            "Member vs non-member revenue",
            "会员与非会员营业额",
            "Checkout totals (gross, before refunds) of members and walk-ins, their average ticket and "
            "the members' share.",
            (
                PERIOD,
                _c("member_revenue_minor", MONEY, "Member revenue", "会员营业额"),
                _c("non_member_revenue_minor", MONEY, "Non-member revenue", "非会员营业额"),
                _c("member_checkouts", COUNT, "Member tickets", "会员单数"),
                _c("non_member_checkouts", COUNT, "Non-member tickets", "非会员单数"),
                _c("member_average_ticket_minor", MONEY, "Member average ticket", "会员客单价"),
                _c("non_member_average_ticket_minor", MONEY, "Non-member average ticket", "非会员客单价"),
                _c("member_share", RATIO, "Member share of revenue", "会员营业额占比"),
            ),
            supports_tier=True,
        ),
        Metric(
            "top_ups",
            "Top-ups and bonus",
            "储值充值与赠送",
            "Stored-value top-ups: count, principal received and bonus granted (released and locked).",
            (
                PERIOD,
                _c("top_ups", COUNT, "Top-ups", "充值笔数"),
                _c("top_up_minor", MONEY, "Principal topped up", "充值本金"),
                _c("bonus_minor", MONEY, "Bonus granted", "赠送金额"),
            ),
            supports_tier=True,
        ),
        Metric(
            "points",
            "Points issued, redeemed, expired",
            "积分发放、兑换与过期",
            "Points earned, redeemed and expired (stores: members of those home stores), and the "
            "redemption rate (redeemed / issued).",
            (
                PERIOD,
                _c("points_issued", COUNT, "Points issued", "发放积分"),
                _c("points_redeemed", COUNT, "Points redeemed", "兑换积分"),
                _c("points_expired", COUNT, "Points expired", "过期积分"),
                _c("redemption_rate", RATIO, "Redemption rate", "兑换率"),
            ),
            supports_tier=True,
        ),
        Metric(
            "liability",
            "Stored-value and points liability",
            "储值与积分负债",
            "What the tenant owes its members now: stored value (principal and released bonus) and "
            "points outstanding; equals the wallet's finance views.",
            (
                _c("stored_value_minor", MONEY, "Stored value owed", "储值余额"),
                _c("points_outstanding", COUNT, "Points outstanding", "积分余额"),
            ),
            supports_period=False,
            tenant_wide=True,
        ),
        Metric(
            "bookings",
            "Bookings and no-shows",
            "预约与爽约",
            "Appointments by their start day: booked, completed, no-shows, cancellations (late among "
            "them) and the no-show rate (no-shows / (completed + no-shows)).",
            (
                PERIOD,
                _c("booked", COUNT, "Booked", "预约数"),
                _c("completed", COUNT, "Completed", "完成"),
                _c("no_shows", COUNT, "No-shows", "爽约"),
                _c("cancelled", COUNT, "Cancelled", "取消"),
                _c("late_cancels", COUNT, "Late cancellations", "迟取消"),
                _c("no_show_rate", RATIO, "No-show rate", "爽约率"),
            ),
        ),
        Metric(
            "utilisation",
            "Staff and room utilisation",
            "员工与房间利用率",
            "Per store and resource kind: minutes booked (appointments not cancelled: booked, "
            "checked in, completed and no-shows all held the time) / minutes available from "
            "booking's schedules (staff: weekly hours - breaks + extra shifts - time off; rooms: "
            "capacity x the store's staffed time), by each service's local start day.",
            (
                PERIOD,
                _c("store", TEXT, "Store", "门店"),
                _c("resource_kind", TEXT, "Resource kind", "资源类型"),
                _c("booked_minutes", COUNT, "Booked minutes", "已约分钟"),
                _c("available_minutes", COUNT, "Available minutes", "可约分钟"),
                _c("utilisation", RATIO, "Utilisation", "利用率"),
            ),
        ),
        Metric(
            "resource_utilisation",
            "Utilisation by staff member and room",
            "员工/房间利用率明细",
            "As utilisation, per staff member and room.",
            (
                PERIOD,
                _c("store", TEXT, "Store", "门店"),
                _c("resource", TEXT, "Staff member or room", "员工/房间"),
                _c("resource_kind", TEXT, "Resource kind", "资源类型"),
                _c("booked_minutes", COUNT, "Booked minutes", "已约分钟"),
                _c("available_minutes", COUNT, "Available minutes", "可约分钟"),
                _c("utilisation", RATIO, "Utilisation", "利用率"),
            ),
        ),
        Metric(
            "retention",
            "Retention cohorts",
            "会员留存 (按首次消费月)",
            "Members by the month of their first checkout (cohort), and the share of each cohort "
            "with a checkout 1..6 months later (retention at 3 and 6 months: month_3, month_6).",
            (
                _c("cohort", TEXT, "First-visit month", "首次消费月"),
                _c("members", COUNT, "Members", "会员数"),
                *(_c(f"month_{k}", RATIO, f"Month {k}", f"第{k}月") for k in range(1, 7)),
            ),
            supports_tier=True,
        ),
        Metric(
            "revenue_by_category",
            "Revenue by category",
            "分类营业额",
            "Checkout line revenue (net) and quantity by item category.",
            (
                _c("category", TEXT, "Category", "分类"),
                _c("revenue_minor", MONEY, "Revenue", "营业额"),
                _c("quantity", COUNT, "Quantity", "数量"),
            ),
        ),
        Metric(
            "revenue_by_staff",
            "Revenue by staff",
            "员工业绩",
            "Checkout line revenue (net) and quantity by serving staff.",
            (
                _c("staff", TEXT, "Staff", "员工"),
                _c("revenue_minor", MONEY, "Revenue", "营业额"),
                _c("quantity", COUNT, "Quantity", "数量"),
            ),
        ),
        Metric(
            "revenue_by_service",
            "Revenue by service",
            "项目营业额",
            "Checkout line revenue (net) and quantity by item (service or product).",
            (
                _c("item", TEXT, "Item", "项目"),
                _c("revenue_minor", MONEY, "Revenue", "营业额"),
                _c("quantity", COUNT, "Quantity", "数量"),
            ),
        ),
        Metric(
            "visits",
            "Visit frequency and repurchase",
            "到店频次与复购",
            "Members with a checkout in the period, their checkouts, visits per member, and the share "
            "who bought twice or more (repurchase rate).",
            (
                PERIOD,
                _c("visiting_members", COUNT, "Visiting members", "到店会员"),
                _c("visits", COUNT, "Visits", "到店次数"),
                _c("visits_per_member", RATIO, "Visits per member", "人均到店"),
                _c("repeat_members", COUNT, "Members buying twice or more", "复购会员"),
                _c("repurchase_rate", RATIO, "Repurchase rate", "复购率"),
            ),
            supports_tier=True,
        ),
        Metric(
            "lapsed_members",
            "Active and lapsed members",
            "活跃与流失会员",
            "As of the period's last day: members whose last checkout was within 90 days (active) or "
            "earlier (lapsed), by home store.",
            (
                _c("active_members", COUNT, "Active (visit within 90 days)", "活跃会员"),
                _c("lapsed_members", COUNT, "Lapsed (90 days or more)", "流失会员"),
            ),
            supports_tier=True,
        ),
        Metric(
            "packages",
            "Package sales and sessions consumed",
            "套餐销售与消耗",
            "Packages sold and their price, sessions consumed and the deferred revenue they recognised.",
            (
                PERIOD,
                _c("packages_sold", COUNT, "Packages sold", "售出套餐"),
                _c("package_sales_minor", MONEY, "Package sales", "套餐销售额"),
                _c("sessions_consumed", COUNT, "Sessions consumed", "消耗次数"),
                _c("recognised_minor", MONEY, "Revenue recognised", "确认收入"),
            ),
        ),
        Metric(
            "vouchers",
            "Vouchers by template",
            "优惠券 (按模板)",
            "Vouchers issued (stores: to members of those home stores) and redeemed (at those stores), "
            "and the discount granted, by template.",
            (
                _c("template", TEXT, "Template", "模板"),
                _c("issued", COUNT, "Issued", "发放"),
                _c("redeemed", COUNT, "Redeemed", "核销"),
                _c("discount_minor", MONEY, "Discount", "优惠金额"),
            ),
        ),
        Metric(
            "complaints",
            "Complaint response times",
            "投诉响应时效",
            "Complaints by the day they were opened: opened, answered, first-response time p50 / p90 "
            "(seconds, nearest rank) and SLA breaches.",
            (
                PERIOD,
                _c("opened", COUNT, "Opened", "新增投诉"),
                _c("answered", COUNT, "Answered", "已响应"),
                _c("first_response_p50_s", COUNT, "First response p50 (s)", "首次响应P50(秒)"),
                _c("first_response_p90_s", COUNT, "First response p90 (s)", "首次响应P90(秒)"),
                _c("sla_breaches", COUNT, "SLA breaches", "超时"),
            ),
        ),
        Metric(
            "tier_distribution",
            "Tier distribution",
            "会员等级分布",
            "Members by their tier as of each bucket's end (the whole period: as of its last day).",
            (PERIOD, _c("tier", TEXT, "Tier", "等级"), _c("members", COUNT, "Members", "会员数")),
        ),
        Metric(
            "referrals",
            "Referral conversions",
            "推荐转化",
            "Members registered with a referrer, and those whose spend qualified the referral.",
            (
                PERIOD,
                _c("referred", COUNT, "Referred members", "被推荐会员"),
                _c("converted", COUNT, "Converted", "转化"),
                _c("conversion_rate", RATIO, "Conversion rate", "转化率"),
            ),
        ),
        Metric(
            "satisfaction",
            "Satisfaction scores",
            "满意度分布",
            "Feedback by rating (1-5).",
            (_c("rating", TEXT, "Rating", "评分"), _c("feedback", COUNT, "Feedback", "评价数")),
        ),
    )
}


@dataclass(frozen=True)
class Period:
    start: date
    end: date  # inclusive


def parse_period(start_date: str, end_date: str, today: date) -> Period:
    """``YYYY-MM-DD`` bounds (inclusive); defaults: the 30 days up to today."""
    v = Violations()
    start = end = None
    for name, raw in (("start_date", start_date), ("end_date", end_date)):
        if not raw:
            continue
        try:
            value = date.fromisoformat(raw)
            if len(raw) != 10:
                raise ValueError(raw)
        except ValueError:
            v.add(name, "must be a date YYYY-MM-DD")
            continue
        if name == "start_date":
            start = value
        else:
            end = value
    v.raise_if_any()
    end = end or today
    start = start or end - timedelta(days=DEFAULT_PERIOD_DAYS - 1)
    if end < start:
        raise InvalidArgument([("end_date", "must not be before start_date")], reason="PERIOD_REVERSED")
    if (end - start).days + 1 > MAX_PERIOD_DAYS:
        raise InvalidArgument([("end_date", "the period may span at most 3 years")], reason="PERIOD_TOO_LONG")
    return Period(start, end)


def metric_of(metric_id: str) -> Metric:
    metric = CATALOGUE.get(metric_id)
    if metric is None:
        raise InvalidArgument(
            [("metric", "is not in the catalogue (see ListMetrics)")], reason="UNKNOWN_METRIC"
        )
    return metric
