"""A validated ``SegmentFilter`` as one SQL statement over ``members``.

Every criterion is a WHERE clause the planner can serve from an index: tier, home store
(``ix_members_tier``, ``ix_members_home_store``), birthday (an IN list of month-day blind indexes,
``ix_members_birthday_md``), registration time (``ix_members_create_time``), tags (GIN), last visit
(``ix_members_segment_last_visit``, with the tier) and balances — columns of the member's row kept
by the engagement consumers (service_layer/activity.py), so no join —, unused package sessions
(``members.package_sessions_remaining``, or one service's ``member_service_sessions``), spend and
visits in a window (a grouped index-only scan of ``ix_member_spend_window``), visited stores
(``ix_member_spend_store``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Integer, Text, and_, cast, func, or_, select, true
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from kit.crypto import PiiCipher
from services.members.adapters import segment_tables as sg
from services.members.adapters import spend_tables as st
from services.members.adapters import tables as t
from services.members.adapters.repository import MemberCodec
from services.members.domain.member import Member

ACTIVE = "active"


@dataclass(frozen=True)
class Bounds:
    low: int | None = None
    high: int | None = None

    def admits(self, value: int) -> bool:
        return (self.low is None or value >= self.low) and (self.high is None or value <= self.high)

    def clause(self, expr) -> ColumnElement[bool]:
        parts = []
        if self.low is not None:
            parts.append(expr >= self.low)
        if self.high is not None:
            parts.append(expr <= self.high)
        return and_(true(), *parts)


@dataclass(frozen=True)
class Windowed:
    window_days: int
    bounds: Bounds


def _excludes_zero(bounds: Bounds) -> bool:
    return bounds.low is not None and bounds.low > 0


@dataclass(frozen=True)
class PackageSessionsBounds:
    service_id: str | None  # None: every service
    bounds: Bounds


@dataclass
class Criteria:
    """A segment filter after validation: ids without collection prefixes, birthdays as the set
    of "MM-DD" it selects, times resolved against the evaluation time."""

    as_of: datetime
    tier_ids: list[str] = field(default_factory=list)
    home_store_ids: list[str] = field(default_factory=list)
    visited_store_ids: list[str] = field(default_factory=list)
    birthday_month_days: set[str] | None = None  # None: not filtered; empty set: nobody
    registered_after: datetime | None = None
    registered_before: datetime | None = None
    no_visit_for_days: int = 0
    include_never_visited: bool = False
    visited_within_days: int = 0
    spend: Windowed | None = None
    visits: Windowed | None = None
    points: Bounds | None = None
    stored_value: Bounds | None = None
    tags_any: list[str] = field(default_factory=list)
    tags_all: list[str] = field(default_factory=list)
    consent_flags: list[str] = field(default_factory=list)
    package_sessions: PackageSessionsBounds | None = None


class SegmentQuery:
    def __init__(self, conn: AsyncConnection, tenant: str, cipher: PiiCipher):
        self.conn = conn
        self.tenant = tenant
        self.codec = MemberCodec(tenant, cipher)

    def _window_totals(self, window_days: int, as_of: datetime, candidates):
        """Per member, qualifying spend and visits in the window ending at ``as_of`` (members with
        no row in the window are absent: the caller outer-joins and reads them as 0). One grouped
        index-only scan of ``ix_member_spend_window``; a left join rather than ``NOT IN``, which
        PostgreSQL runs row by row once the set outgrows ``work_mem``."""
        s = st.member_spend.c
        return (
            select(
                s.member_id.label("member_id"),
                func.coalesce(func.sum(s.qualifying_spend_minor), 0).label("spend"),
                func.coalesce(func.sum(cast(s.visit, Integer) - cast(s.full_refund, Integer)), 0).label(
                    "visits"
                ),
            )
            .where(
                s.tenant_id == self.tenant,
                s.occurred_at > as_of - timedelta(days=window_days),
                s.occurred_at <= as_of,
                *([s.member_id.in_(candidates)] if candidates is not None else []),
            )
            .group_by(s.member_id)
            .subquery(f"window_{window_days}")
        )

    def _service_sessions(self, p: PackageSessionsBounds):
        """One service's unused sessions per member (``member_service_sessions``, one row per
        member and service, kept by the consumer): members without a card of it are absent."""
        s = sg.member_service_sessions.c
        query = select(s.member_id.label("member_id"), s.sessions_remaining.label("sessions")).where(
            s.tenant_id == self.tenant, s.service_id == p.service_id
        )
        if _excludes_zero(p.bounds):  # only the matches: a range scan of ix_member_service_sessions_range
            query = query.where(p.bounds.clause(s.sessions_remaining))
        return query.subquery("service_sessions")

    def _member_clauses(self, c: Criteria, members) -> list[ColumnElement[bool]]:
        """The criteria on the members table itself, over ``members`` (the table or an alias);
        the first two (tenant, active) are always there."""
        m = members.c
        s = st.member_spend.alias().c  # its own alias: never correlated with a window's member_spend
        out: list[ColumnElement[bool]] = [m.tenant_id == self.tenant, m.state == ACTIVE]
        if c.tier_ids:
            out.append(m.tier_id.in_(c.tier_ids))
        if c.home_store_ids:
            out.append(m.home_store_id.in_(c.home_store_ids))
        if c.visited_store_ids:
            out.append(
                m.member_id.in_(
                    select(s.member_id).where(
                        s.tenant_id == self.tenant, s.store_id.in_(c.visited_store_ids), s.kind == st.CHECKOUT
                    )
                )
            )
        if c.birthday_month_days is not None:
            out.append(
                m.birthday_md_bidx.in_(sorted(self.codec.birthday_index(md) for md in c.birthday_month_days))
            )
        if c.registered_after is not None:
            out.append(m.create_time >= c.registered_after)
        if c.registered_before is not None:
            out.append(m.create_time < c.registered_before)
        if c.tags_any:
            out.append(m.tags.overlap(cast(c.tags_any, ARRAY(Text))))
        if c.tags_all:
            out.append(m.tags.contains(cast(c.tags_all, ARRAY(Text))))
        if c.consent_flags:
            out.append(m.consent.contains({flag: True for flag in c.consent_flags}))
        # Spend or visits above 0 in a window need a checkout in it: members whose latest checkout
        # is older are out before any window row is read (exact: the spend consumer keeps
        # last_checkout_at with the rows; refunds are dated at their checkout).
        for windowed in (c.spend, c.visits):
            if windowed is not None and _excludes_zero(windowed.bounds):
                out.append(m.last_checkout_at > c.as_of - timedelta(days=windowed.window_days))
        return out

    def plan(self, c: Criteria):
        """(FROM clause, WHERE clauses) of the members the criteria select."""
        m = t.members.c
        source = t.members
        windows = {}
        # The window aggregates only the members the members-table criteria leave (a semi-join
        # the planner can drive from their indexes when they are selective, e.g. two stores).
        candidates = None
        if self._member_clauses(c, t.members)[2:]:
            pool = t.members.alias("candidates")
            candidates = select(pool.c.member_id).where(*self._member_clauses(c, pool))
        for windowed in (c.spend, c.visits):  # one grouped scan per distinct window
            if windowed is not None and windowed.window_days not in windows:
                totals = self._window_totals(windowed.window_days, c.as_of, candidates)
                windows[windowed.window_days] = totals
                source = source.outerjoin(totals, totals.c.member_id == m.member_id)
        out: list[ColumnElement[bool]] = self._member_clauses(c, t.members)
        if c.package_sessions is not None:
            p = c.package_sessions
            if p.service_id is None:  # every service: the total on the member's row
                out.append(p.bounds.clause(m.package_sessions_remaining))
            else:
                sessions = self._service_sessions(p)
                if _excludes_zero(p.bounds):  # bounded in the subquery already
                    source = source.join(sessions, sessions.c.member_id == m.member_id)
                else:  # members without a card of it (0) may match: keep them
                    source = source.outerjoin(sessions, sessions.c.member_id == m.member_id)
                    out.append(p.bounds.clause(func.coalesce(sessions.c.sessions, 0)))
        if c.no_visit_for_days:
            cutoff = c.as_of - timedelta(days=c.no_visit_for_days)
            lapsed = m.last_visit_at < cutoff
            if c.include_never_visited:
                lapsed = or_(lapsed, and_(m.last_visit_at.is_(None), m.create_time < cutoff))
            out.append(lapsed)
        if c.visited_within_days:
            out.append(m.last_visit_at >= c.as_of - timedelta(days=c.visited_within_days))
            out.append(m.last_visit_at <= c.as_of)
        for windowed, column in ((c.spend, "spend"), (c.visits, "visits")):
            if windowed is not None:
                totals = windows[windowed.window_days]
                out.append(windowed.bounds.clause(func.coalesce(totals.c[column], 0)))
        if c.points is not None:
            out.append(c.points.clause(m.points_available))
        if c.stored_value is not None:
            out.append(c.stored_value.clause(m.stored_value_minor))
        return source, out

    async def count(self, c: Criteria) -> int:
        source, clauses = self.plan(c)
        stmt = select(func.count()).select_from(source).where(*clauses)
        return int(await self.conn.scalar(stmt) or 0)

    async def page(self, c: Criteria, *, limit: int, after_member_id: str | None) -> list[Member]:
        m = t.members.c
        source, clauses = self.plan(c)
        if after_member_id:
            clauses.append(m.member_id > after_member_id)
        stmt = select(t.members).select_from(source).where(*clauses).order_by(m.member_id).limit(limit)
        return [self.codec.from_row(r) for r in (await self.conn.execute(stmt)).all()]


@dataclass(frozen=True)
class SavedSegment:
    segment_id: str
    display_name: str
    filter: bytes  # a serialized peony.members.v1.SegmentFilter
    create_time: datetime


class SegmentRepository:
    def __init__(self, db: AsyncSession | AsyncConnection, tenant: str):
        self.db = db
        self.tenant = tenant

    async def add(self, segment_id: str, display_name: str, filter_bytes: bytes) -> SavedSegment | str:
        """The saved segment, or the name of the unique key that refused it ("id" or "display_name")."""
        c = sg.segments.c
        stmt = (
            pg_insert(sg.segments)
            .values(
                tenant_id=self.tenant, segment_id=segment_id, display_name=display_name, filter=filter_bytes
            )
            .on_conflict_do_nothing()
            .returning(c.create_time)
        )
        created = (await self.db.execute(stmt)).scalar()
        if created is None:
            return "id" if await self.get(segment_id) is not None else "display_name"
        return SavedSegment(segment_id, display_name, filter_bytes, created)

    async def get(self, segment_id: str) -> SavedSegment | None:
        c = sg.segments.c
        row = (
            await self.db.execute(
                select(c.segment_id, c.display_name, c.filter, c.create_time).where(
                    c.tenant_id == self.tenant, c.segment_id == segment_id
                )
            )
        ).first()
        return (
            SavedSegment(row.segment_id, row.display_name, bytes(row.filter), row.create_time)
            if row
            else None
        )

    async def list(self, *, limit: int, after_segment_id: str | None) -> list[SavedSegment]:
        c = sg.segments.c
        clauses = [c.tenant_id == self.tenant]
        if after_segment_id:
            clauses.append(c.segment_id > after_segment_id)
        rows = await self.db.execute(
            select(c.segment_id, c.display_name, c.filter, c.create_time)
            .where(*clauses)
            .order_by(c.segment_id)
            .limit(limit)
        )
        return [SavedSegment(r.segment_id, r.display_name, bytes(r.filter), r.create_time) for r in rows]
