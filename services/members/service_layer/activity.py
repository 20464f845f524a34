"""The ``member_activity`` projection: the facts segments filter on that the wallet owns.

Fed by the ``members-engagement-facts`` consumer (its own durable, so the tier/referral consumer's
subjects stay as they are). Every write is one upsert that only moves forward:

- last visit: the latest ``CheckoutCompleted`` time, or booking's ``AppointmentCompleted`` (the
  ``members-booking-visits`` consumer), whichever is later (a later refund does not un-visit);
- stored value: principal + bonus after the latest ``BalanceChanged`` (by event time);
- points: ``points_available`` after the latest ``PointsEarned`` / ``PointsRedeemed`` /
  ``PointsExpired`` (by event time).

An event older than the value already kept changes nothing, so redelivery and reordering are
harmless (the consumer's inbox dedupes copies as well).

Each resulting value is also copied onto the member's row (``members.last_visit_at``,
``points_available``, ``stored_value_minor``) in the same transaction, so segment criteria on them
are predicates on ``members`` alone. Lock order, always: the ``members`` row first (``FOR NO KEY
UPDATE``, the lock an UPDATE takes), then ``member_activity``.

Writes are set-based, a single event being a run of one (the consumer's batch handlers hand over
runs of consecutive events of one type), with the result of one event at a time in stream order:
a run of balances is collapsed to each member's newest event (by event time; of equal times the
later in the stream, as the upsert's ``<=`` lets a later equal one win), the members' rows are
locked in member-id order, then ONE statement upserts every member's ``member_activity`` row (in
member-id order, only moving forward) and copies the kept values onto the ``members`` rows: two
round trips per run, statements built once. A run of visits also reads the kept last visits under
their row locks first: each visit's previous visit (for the lapse programme) is the running latest
of the run.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import TextClause, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from services.members.adapters import tables as t

# A balance event of one member, as the batch path takes it: (member id, value, event time).
BalanceFact = tuple[str, int, datetime]

# The members' row locks of a run, in member-id order (a fixed order: no deadlock between runs).
_LOCK_MEMBERS = text(
    "SELECT member_id FROM members WHERE tenant_id = :tenant"
    " AND member_id = ANY(CAST(:member_ids AS uuid[])) ORDER BY member_id FOR NO KEY UPDATE"
)


def _balance_upsert(column: str, as_of_column: str) -> TextClause:
    """The run's upsert of ``column`` (kept only when its event is not older than the kept one) and
    the copy of the kept values onto ``members``, one statement; built once per column pair."""
    newer = f"(a.{as_of_column} IS NULL OR a.{as_of_column} <= excluded.{as_of_column})"
    return text(
        f"""
        WITH kept AS (
            INSERT INTO member_activity AS a (tenant_id, member_id, {column}, {as_of_column})
            SELECT :tenant, i.member_id, i.value, i.at
              FROM unnest(CAST(:member_ids AS uuid[]), CAST(:values AS bigint[]),
                          CAST(:times AS timestamptz[])) AS i(member_id, value, at)
             ORDER BY i.member_id
            ON CONFLICT ON CONSTRAINT pk_member_activity DO UPDATE SET
                {column} = CASE WHEN {newer} THEN excluded.{column} ELSE a.{column} END,
                {as_of_column} = CASE WHEN {newer} THEN excluded.{as_of_column} ELSE a.{as_of_column} END
            RETURNING a.member_id, a.{column} AS value
        )
        UPDATE members AS m SET {column} = kept.value FROM kept
         WHERE m.tenant_id = :tenant AND m.member_id = kept.member_id
        """  # noqa: S608 - the column names are this module's constants, never input
    )


# A run's visits: each member's kept last visit under its member_activity lock (member-id order),
# then the latest visits upserted (only ever later) and copied onto the members rows.
_LOCK_LAST_VISITS = text(
    "SELECT member_id, last_visit_at FROM member_activity WHERE tenant_id = :tenant"
    " AND member_id = ANY(CAST(:member_ids AS uuid[])) ORDER BY member_id FOR UPDATE"
)
_UPSERT_LAST_VISITS = text(
    """
    WITH kept AS (
        INSERT INTO member_activity AS a (tenant_id, member_id, last_visit_at)
        SELECT :tenant, i.member_id, i.at
          FROM unnest(CAST(:member_ids AS uuid[]), CAST(:times AS timestamptz[])) AS i(member_id, at)
         ORDER BY i.member_id
        ON CONFLICT ON CONSTRAINT pk_member_activity DO UPDATE
           SET last_visit_at = greatest(a.last_visit_at, excluded.last_visit_at)
        RETURNING a.member_id, a.last_visit_at
    )
    UPDATE members AS m SET last_visit_at = kept.last_visit_at FROM kept
     WHERE m.tenant_id = :tenant AND m.member_id = kept.member_id
    """
)

_UPSERT_STORED_VALUES = _balance_upsert("stored_value_minor", "stored_value_as_of")
_UPSERT_POINTS = _balance_upsert("points_available", "points_as_of")


def newest_per_member(facts: Iterable[BalanceFact]) -> list[BalanceFact]:
    """Each member's newest fact of a run given in stream order (of equal times the later one,
    as the upsert's ``<=`` would keep it), sorted by member id (the lock order). Ids are normalised
    (``str(UUID)``): two spellings of one member are one row, ordered as PostgreSQL orders uuids."""
    newest: dict[str, BalanceFact] = {}
    for member_id, value, at in facts:
        member_id = str(uuid.UUID(member_id))
        kept = newest.get(member_id)
        if kept is None or kept[2] <= at:
            newest[member_id] = (member_id, value, at)
    return [newest[member_id] for member_id in sorted(newest)]


class MemberActivity:
    def __init__(self, session: AsyncSession, tenant: str):
        self.session = session
        self.tenant = tenant

    async def lock_member(self, member_id: str) -> None:
        """The member's row lock, taken before any ``member_activity`` lock (fixed order)."""
        m = t.members.c
        await self.session.execute(
            select(m.member_id)
            .where(m.tenant_id == self.tenant, m.member_id == member_id)
            .with_for_update(key_share=True)
        )

    async def visited(self, member_id: str, at: datetime) -> datetime | None:
        """Records a visit; returns the last visit before it (None: none), read under the row's
        lock so two visits of one member are serialised."""
        return (await self.visited_many([(member_id, at)]))[0]

    async def stored_value(self, member_id: str, minor: int, at: datetime) -> None:
        await self.stored_values([(member_id, minor, at)])

    async def points(self, member_id: str, points: int, at: datetime) -> None:
        await self.points_many([(member_id, points, at)])

    async def _balances(self, upsert: TextClause, facts: Iterable[BalanceFact]) -> None:
        newest = newest_per_member(facts)
        if not newest:
            return
        member_ids = [member_id for member_id, _, _ in newest]
        await self.session.execute(_LOCK_MEMBERS, {"tenant": self.tenant, "member_ids": member_ids})
        await self.session.execute(
            upsert,
            {
                "tenant": self.tenant,
                "member_ids": member_ids,
                "values": [value for _, value, _ in newest],
                "times": [at for _, _, at in newest],
            },
        )

    async def stored_values(self, facts: Iterable[BalanceFact]) -> None:
        """:meth:`stored_value` for a run of events (stream order), set-based."""
        await self._balances(_UPSERT_STORED_VALUES, facts)

    async def points_many(self, facts: Iterable[BalanceFact]) -> None:
        """:meth:`points` for a run of events (stream order), set-based."""
        await self._balances(_UPSERT_POINTS, facts)

    async def visited_many(self, visits: Sequence[tuple[str, datetime]]) -> list[datetime | None]:
        """:meth:`visited` for a run of visits (member id, time; stream order), set-based; returns
        for each visit the last visit before it, as one visit at a time would have read it."""
        if not visits:
            return []
        normalised = [(str(uuid.UUID(member_id)), at) for member_id, at in visits]
        member_ids = sorted({member_id for member_id, _ in normalised})
        params = {"tenant": self.tenant, "member_ids": member_ids}
        await self.session.execute(_LOCK_MEMBERS, params)
        kept: dict[str, datetime | None] = {
            str(member_id): at for member_id, at in await self.session.execute(_LOCK_LAST_VISITS, params)
        }
        previous: list[datetime | None] = []
        for member_id, at in normalised:  # the running greatest, event by event
            last = kept.get(member_id)
            previous.append(last)
            kept[member_id] = at if last is None or at > last else last
        await self.session.execute(
            _UPSERT_LAST_VISITS, {**params, "times": [kept[member_id] for member_id in member_ids]}
        )
        return previous
