"""Segments (客群): validate a ``SegmentFilter``, save it, count and list its members.

A filter is checked as a whole (every problem in one INVALID_ARGUMENT, paths under ``filter.``),
its references resolved (tiers of the tenant's ladder, stores of the tenant: NOT_FOUND otherwise)
before anything is written or counted.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from google.protobuf.timestamp_pb2 import Timestamp
from peony.members.v1 import events_pb2
from peony.members.v1 import segment_pb2 as sgpb
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from kit import auth
from kit.auth import Principal
from kit.crypto import PiiCipher
from kit.errors import AlreadyExists, InvalidArgument, NotFound, Violations
from kit.ids import parse_name
from services.members.adapters.repository import SettingsRepository, StoreRepository
from services.members.adapters.segment_query import (
    Bounds,
    Criteria,
    PackageSessionsBounds,
    SavedSegment,
    SegmentQuery,
    SegmentRepository,
    Windowed,
)
from services.members.domain.member import Member
from services.members.domain.segments import (
    MAX_BIRTHDAY_WINDOW_DAYS,
    birthday_days_in_months,
    birthday_days_in_window,
)
from services.members.service_layer.unit_of_work import MembersUnitOfWork

MAX_DAYS = 3660  # ten years: every day-count of a filter
MAX_PACKAGE_SESSIONS = 100_000
DEFAULT_TIME_ZONE = "Asia/Shanghai"
SEGMENT_WORK_MEM = "64MB"  # per evaluation (one query at a time per connection)
CONSENT_FLAGS = {
    sgpb.MARKETING_CHANNEL_SMS: "marketing_sms",
    sgpb.MARKETING_CHANNEL_WECHAT: "marketing_wechat",
    sgpb.MARKETING_CHANNEL_EMAIL: "marketing_email",
    sgpb.MARKETING_CHANNEL_APP_PUSH: "marketing_app_push",
}


def segment_name(segment_id: str) -> str:
    return f"segments/{segment_id}"


def _bounds(r: sgpb.Int64Range, path: str, v: Violations, *, require_one: bool = False) -> Bounds:
    low = r.min if r.HasField("min") else None
    high = r.max if r.HasField("max") else None
    if require_one and low is None and high is None:
        v.add(path, "needs min or max")
    if low is not None and high is not None and low > high:
        v.add(path, "min must not be greater than max")
    return Bounds(low, high)


def _windowed(w: sgpb.WindowedRange, path: str, v: Violations) -> Windowed:
    if not 1 <= w.window_days <= MAX_DAYS:
        v.add(f"{path}.window_days", f"must be between 1 and {MAX_DAYS}")
    return Windowed(w.window_days, _bounds(w.range, f"{path}.range", v, require_one=True))


def _package_sessions(p: sgpb.PackageSessionsRange, path: str, v: Violations) -> PackageSessionsBounds:
    """Which service (none: all) and the range of unused sessions. The service is not checked
    against a catalogue: services are booking's, and one no card holds selects nobody."""
    service_id = None
    if p.service:
        service_id = parse_name(p.service, "services")
        if service_id is None:
            v.add(f"{path}.service", "must be a resource name of the form services/{id}")
    bounds = _bounds(p.range, f"{path}.range", v, require_one=True)
    for value in (bounds.low, bounds.high):
        if value is not None and not 0 <= value <= MAX_PACKAGE_SESSIONS:
            v.add(f"{path}.range", f"bounds must be between 0 and {MAX_PACKAGE_SESSIONS}")
            break
    return PackageSessionsBounds(service_id, bounds)


def _days(value: int, path: str, v: Violations, limit: int = MAX_DAYS) -> int:
    if not 0 <= value <= limit:
        v.add(path, f"must be between 0 and {limit}")
    return value


def _time(ts: Timestamp, path: str, v: Violations) -> datetime | None:
    try:
        return ts.ToDatetime(tzinfo=UTC)
    except (ValueError, OverflowError):
        v.add(path, "is not a valid timestamp")
        return None


def _store_ids(names, path: str, v: Violations) -> list[str]:
    out = []
    for i, name in enumerate(names):
        store_id = parse_name(name, "stores")
        if store_id is None:
            v.add(f"{path}[{i}]", "must be a resource name of the form stores/{id}")
        else:
            out.append(store_id)
    return out


def criteria_from_filter(f: sgpb.SegmentFilter, as_of: datetime, prefix: str = "filter") -> Criteria:
    """Checks a filter's own values (no I/O): INVALID_ARGUMENT with every problem found."""
    v = Violations()
    c = Criteria(as_of=as_of)
    c.tier_ids = [x for x in f.tier_ids]
    for i, tier in enumerate(c.tier_ids):
        if not tier.strip():
            v.add(f"{prefix}.tier_ids[{i}]", "must not be empty")
    c.home_store_ids = _store_ids(f.home_stores, f"{prefix}.home_stores", v)
    c.visited_store_ids = _store_ids(f.visited_stores, f"{prefix}.visited_stores", v)
    zone = f.time_zone or DEFAULT_TIME_ZONE
    try:
        tz = ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        v.add(f"{prefix}.time_zone", "must be an IANA time zone such as Asia/Shanghai")
        tz = ZoneInfo(DEFAULT_TIME_ZONE)
    month_days: set[str] | None = None
    if f.birthday_months:
        bad = [m for m in f.birthday_months if not 1 <= m <= 12]
        if bad:
            v.add(f"{prefix}.birthday_months", "months are 1 to 12")
        month_days = birthday_days_in_months([m for m in f.birthday_months if 1 <= m <= 12])
    if _days(f.birthday_within_days, f"{prefix}.birthday_within_days", v, MAX_BIRTHDAY_WINDOW_DAYS):
        window = birthday_days_in_window(as_of.astimezone(tz).date(), f.birthday_within_days)
        month_days = window if month_days is None else month_days & window
    c.birthday_month_days = month_days
    if f.HasField("registered_after"):
        c.registered_after = _time(f.registered_after, f"{prefix}.registered_after", v)
    if f.HasField("registered_before"):
        c.registered_before = _time(f.registered_before, f"{prefix}.registered_before", v)
    if c.registered_after and c.registered_before and c.registered_after >= c.registered_before:
        v.add(f"{prefix}.registered_before", "must be after registered_after")
    c.no_visit_for_days = _days(f.no_visit_for_days, f"{prefix}.no_visit_for_days", v)
    c.visited_within_days = _days(f.visited_within_days, f"{prefix}.visited_within_days", v)
    c.include_never_visited = f.include_never_visited
    if f.include_never_visited and not f.no_visit_for_days:
        v.add(f"{prefix}.include_never_visited", "needs no_visit_for_days")
    if f.HasField("spend"):
        c.spend = _windowed(f.spend, f"{prefix}.spend", v)
    if f.HasField("visits"):
        c.visits = _windowed(f.visits, f"{prefix}.visits", v)
    if f.HasField("points_balance"):
        c.points = _bounds(f.points_balance, f"{prefix}.points_balance", v, require_one=True)
    if f.HasField("stored_value_balance"):
        c.stored_value = _bounds(
            f.stored_value_balance, f"{prefix}.stored_value_balance", v, require_one=True
        )
    if f.HasField("package_sessions_remaining"):
        c.package_sessions = _package_sessions(
            f.package_sessions_remaining, f"{prefix}.package_sessions_remaining", v
        )
    for path, tags in (("tags_any", f.tags_any), ("tags_all", f.tags_all)):
        for i, tag in enumerate(tags):
            if not tag.strip():
                v.add(f"{prefix}.{path}[{i}]", "must not be empty")
    c.tags_any, c.tags_all = list(f.tags_any), list(f.tags_all)
    for i, channel in enumerate(f.consented_channels):
        flag = CONSENT_FLAGS.get(channel)
        if flag is None:
            v.add(f"{prefix}.consented_channels[{i}]", "must be a marketing channel")
        else:
            c.consent_flags.append(flag)
    v.raise_if_any()
    return c


async def resolve_references(db, tenant: str, c: Criteria) -> None:
    """Every tier and store the filter names must exist in the tenant (NOT_FOUND otherwise)."""
    if c.tier_ids:
        ladder = await SettingsRepository(db, tenant).ladder()
        for tier in c.tier_ids:
            if ladder.get(tier) is None:
                raise NotFound(f"tier {tier!r} is not on the tenant's ladder", reason="TIER_NOT_FOUND")
    stores = StoreRepository(db, tenant)
    for store_id in dict.fromkeys(c.home_store_ids + c.visited_store_ids):
        if not await stores.exists(store_id):
            raise NotFound(f"stores/{store_id} not found", reason="STORE_NOT_FOUND")


async def create_segment(
    uow: MembersUnitOfWork, caller: Principal, segment_id: str, display_name: str, f: sgpb.SegmentFilter
) -> SavedSegment:
    caller.require(auth.MEMBERS_SEGMENTS_MANAGE)
    if not display_name.strip():
        raise InvalidArgument([("segment.display_name", "is required")])
    criteria = criteria_from_filter(f, datetime.now(UTC), prefix="segment.filter")
    await resolve_references(uow.session, caller.tenant, criteria)
    saved = await SegmentRepository(uow.session, caller.tenant).add(
        segment_id, display_name.strip(), f.SerializeToString(deterministic=True)
    )
    if isinstance(saved, str):
        what = "id" if saved == "id" else "display name"
        raise AlreadyExists(f"a segment with this {what} already exists", reason="SEGMENT_EXISTS")
    uow.emit(
        events_pb2.SegmentSaved(segment=segment_name(segment_id), display_name=saved.display_name, filter=f),
        aggregate_type="segment",
        aggregate_id=segment_id,
    )
    return saved


class SegmentReads:
    """Counting and listing run on autocommit connections: one statement each."""

    def __init__(self, engine: AsyncEngine, cipher: PiiCipher):
        self._engine = engine.execution_options(isolation_level="AUTOCOMMIT")
        self._evaluations = engine  # a transaction, for SET LOCAL
        self._cipher = cipher

    @asynccontextmanager
    async def _evaluation(self):
        """A read-only transaction with room for the segment's hash joins: a 1M-member tenant's
        member_activity does not fit the default 4 MB work_mem, and a hash join spilled to disk in
        batches was several times slower (bench_segments). Local to this transaction."""
        async with self._evaluations.connect() as conn:
            await conn.execute(text("SET TRANSACTION READ ONLY"))
            await conn.execute(text(f"SET LOCAL work_mem = '{SEGMENT_WORK_MEM}'"))
            try:
                yield conn
            finally:
                await conn.rollback()

    async def get(self, caller: Principal, segment_id: str) -> SavedSegment:
        caller.require(auth.MEMBERS_SEGMENTS_MANAGE)
        async with self._engine.connect() as conn:
            return await self._saved(conn, caller.tenant, segment_id)

    @staticmethod
    async def _saved(conn: AsyncConnection, tenant: str, segment_id: str) -> SavedSegment:
        saved = await SegmentRepository(conn, tenant).get(segment_id)
        if saved is None:
            raise NotFound(f"{segment_name(segment_id)} not found", reason="SEGMENT_NOT_FOUND")
        return saved

    async def list(self, caller: Principal, *, limit: int, after: str | None) -> list[SavedSegment]:
        caller.require(auth.MEMBERS_SEGMENTS_MANAGE)
        async with self._engine.connect() as conn:
            return await SegmentRepository(conn, caller.tenant).list(limit=limit, after_segment_id=after)

    async def _criteria(
        self, conn: AsyncConnection, tenant: str, segment_id: str | None, f: sgpb.SegmentFilter | None, as_of
    ) -> Criteria:
        if segment_id is not None:
            saved = await self._saved(conn, tenant, segment_id)
            stored = sgpb.SegmentFilter.FromString(saved.filter)
            criteria = criteria_from_filter(stored, as_of)
        else:
            criteria = criteria_from_filter(f, as_of)
        await resolve_references(conn, tenant, criteria)
        return criteria

    async def count(self, caller: Principal, segment_id: str | None, f, as_of: datetime) -> int:
        caller.require(auth.MEMBERS_SEGMENTS_MANAGE)
        async with self._evaluation() as conn:
            criteria = await self._criteria(conn, caller.tenant, segment_id, f, as_of)
            return await SegmentQuery(conn, caller.tenant, self._cipher).count(criteria)

    async def members(
        self, caller: Principal, segment_id: str | None, f, as_of: datetime, *, limit: int, after: str | None
    ) -> list[Member]:
        caller.require(auth.MEMBERS_SEGMENTS_MANAGE)
        async with self._evaluation() as conn:
            criteria = await self._criteria(conn, caller.tenant, segment_id, f, as_of)
            return await SegmentQuery(conn, caller.tenant, self._cipher).page(
                criteria, limit=limit, after_member_id=after
            )
