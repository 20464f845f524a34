"""A service's projection of the members service's stores, with read-through on a miss.

Booking (`store_zones`) and the wallet (`store_directory`) each keep one table of this shape —
``(tenant_id, store_id, time_zone, update_time)``, made by :func:`store_table` — fed by members'
``StoreCreated`` / ``StoreUpdated`` events and read by every request that names a store:

- :meth:`StoreProjection.apply` (the event consumer; :meth:`StoreProjection.apply_many` for a
  batch, one executemany) upserts a store; among writes of one store the later ``update_time``
  (the event's occurred-at) wins, so a redelivered StoreCreated does not take back a StoreUpdated;
- :meth:`StoreProjection.require` answers a request: a malformed id is INVALID_ARGUMENT, a store
  the projection has not seen is looked up in the members service (:mod:`kit.members_client`) and,
  when members knows it, inserted — only when the row is still absent, stamped with the store's
  own ``update_time``, so it never overwrites what the consumer wrote and an older event delivered
  later is skipped. Members' NOT_FOUND is NOT_FOUND ``STORE_NOT_FOUND``; nothing is written.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Column, DateTime, MetaData, PrimaryKeyConstraint, Table, Text, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from kit.errors import InvalidArgument, NotFound
from kit.ids import is_resource_id
from kit.members_client import MembersClient

__all__ = ["StoreProjection", "store_table"]

Db = AsyncSession | AsyncConnection


_UPSERTS: dict[Table, Any] = {}


def store_table(name: str, metadata: MetaData) -> Table:
    return Table(
        name,
        metadata,
        Column("tenant_id", Text, nullable=False),
        Column("store_id", Text, nullable=False),
        Column("time_zone", Text, nullable=False),
        Column("update_time", DateTime(timezone=True), nullable=False, server_default=func.now()),
        PrimaryKeyConstraint("tenant_id", "store_id", name=f"pk_{name}"),
    )


class StoreProjection:
    def __init__(self, db: Db, tenant: str, table: Table, source: MembersClient | None = None):
        if not tenant:
            raise ValueError("a store projection needs a tenant")
        self.db, self.tenant, self.table, self.source = db, tenant, table, source

    def _upsert(self) -> Any:
        stmt = _UPSERTS.get(self.table)
        if stmt is None:  # built once per table: constructing it costs more than running it
            t = self.table
            insert = pg_insert(t)
            stmt = _UPSERTS[t] = insert.on_conflict_do_update(
                index_elements=[t.c.tenant_id, t.c.store_id],
                set_={"time_zone": insert.excluded.time_zone, "update_time": insert.excluded.update_time},
                where=t.c.update_time <= insert.excluded.update_time,
            )
        return stmt

    async def apply(self, store_id: str, time_zone: str, update_time: datetime) -> bool:
        """Record a store; False when a later write of the store is applied already."""
        stmt = self._upsert().values(
            tenant_id=self.tenant, store_id=store_id, time_zone=time_zone, update_time=update_time
        )
        return (await self.db.execute(stmt.returning(self.table.c.store_id))).first() is not None

    async def apply_many(self, stores: Sequence[tuple[str, str, datetime]]) -> None:
        """:meth:`apply` for each ``(store_id, time_zone, update_time)`` (stream order) in one
        statement, with the same outcome: per store the latest ``update_time`` wins, and of equal
        ones the later in the list (the upsert cannot touch one row twice: merged here first)."""
        latest: dict[str, tuple[str, datetime]] = {}
        for store_id, time_zone, update_time in stores:
            seen = latest.get(store_id)
            if seen is None or seen[1] <= update_time:
                latest[store_id] = (time_zone, update_time)
        rows = [
            {"tenant_id": self.tenant, "store_id": store_id, "time_zone": zone, "update_time": at}
            for store_id, (zone, at) in latest.items()
        ]
        if rows:
            await self.db.execute(self._upsert(), rows)

    async def zone(self, store_id: str) -> str | None:
        """The store's IANA zone as projected; None when the projection has not seen the store."""
        t = self.table
        return await self.db.scalar(
            select(t.c.time_zone).where(t.c.tenant_id == self.tenant, t.c.store_id == store_id)
        )

    async def resolve(self, store_id: str) -> str | None:
        """Like :meth:`zone`, reading through to the members service on a miss (and filling the
        projection); None when neither knows the store."""
        zone = await self.zone(store_id)
        if zone is not None or self.source is None or not is_resource_id(store_id):
            return zone
        facts = await self.source.get_store(self.tenant, store_id)
        if facts is None:
            return None
        t = self.table
        await self.db.execute(
            pg_insert(t)
            .values(
                tenant_id=self.tenant,
                store_id=store_id,
                time_zone=facts.time_zone,
                update_time=facts.update_time,
            )
            .on_conflict_do_nothing(index_elements=[t.c.tenant_id, t.c.store_id])
        )
        return await self.zone(store_id)

    async def require(self, store_id: str, field: str = "store") -> str:
        """The store's zone; INVALID_ARGUMENT when ``store_id`` is not a store id at all, NOT_FOUND
        ``STORE_NOT_FOUND`` when no such store exists (after a read-through)."""
        if not is_resource_id(store_id):
            raise InvalidArgument([(field, "must be a resource name of the form stores/{store}")])
        zone = await self.resolve(store_id)
        if zone is None:
            raise NotFound(
                f"stores/{store_id} not found", reason="STORE_NOT_FOUND", metadata={"field": field}
            )
        return zone

    async def require_all(self, store_ids: list[str], field: str) -> None:
        """:meth:`require` for each store of a list (e.g. where a plan or voucher may be used)."""
        for store_id in dict.fromkeys(store_ids):
            await self.require(store_id, field)
