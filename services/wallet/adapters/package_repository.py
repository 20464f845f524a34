"""Package products, member cards, their items and consumption records; scoped to one tenant.

Lock order (see ledger_repository.py): a card and its items are locked (`for_update=True`)
before the ledger locks accounts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from services.wallet.adapters import package_tables as pt
from services.wallet.adapters import tables as t
from services.wallet.domain.packages import ProductItem

Db = AsyncSession | AsyncConnection


@dataclass
class PackageProduct:
    product_id: str
    display_name: str
    price_minor: int
    items: list[ProductItem]
    active: bool = True
    create_time: datetime | None = None
    update_time: datetime | None = None


@dataclass
class PackageItemRow:
    service: str
    display_name: str
    sessions_total: int
    sessions_remaining: int
    allocated_minor: int
    session_value_minor: int
    deferred_minor: int
    expire_time: datetime | None
    sessions_held: int = 0  # of sessions_remaining, reserved by authorised holds
    unlimited: bool = False  # an unlimited time card's item: sessions not counted
    max_uses_per_day: int = 0  # its cap of uses per day in the store's zone (0 = none)

    @property
    def sessions_available(self) -> int:
        return self.sessions_remaining - self.sessions_held


@dataclass
class MemberPackage:
    package_id: str
    member_id: str
    product_id: str
    display_name: str
    state: str
    price_minor: int
    store_sold: str
    purchase_time: datetime
    frozen_until: datetime | None
    transferred_from: str | None
    transferred_to: str | None
    sale_transaction_id: str
    update_time: datetime | None
    transferred_from_member: str | None = None
    items: list[PackageItemRow] = field(default_factory=list)

    def item(self, service: str) -> PackageItemRow | None:
        return next((i for i in self.items if i.service == service), None)

    @property
    def deferred_minor(self) -> int:
        return sum(i.deferred_minor for i in self.items)

    @property
    def sessions_remaining(self) -> int:
        return sum(i.sessions_remaining for i in self.items)

    @property
    def sessions_held(self) -> int:
        return sum(i.sessions_held for i in self.items)

    @property
    def has_unlimited(self) -> bool:
        return any(i.unlimited for i in self.items)


def _product(r: Row) -> PackageProduct:
    return PackageProduct(
        r.product_id,
        r.display_name,
        r.price_minor,
        [ProductItem.from_json(d) for d in r.items],
        r.active,
        r.create_time,
        r.update_time,
    )


class PackageRepository:
    def __init__(self, db: Db, tenant: str):
        self.db, self.tenant = db, tenant

    # --- products -----------------------------------------------------------------------------
    async def add_product(self, p: PackageProduct) -> bool:
        row = (
            await self.db.execute(
                pg_insert(pt.package_products)
                .values(
                    tenant_id=self.tenant,
                    product_id=p.product_id,
                    display_name=p.display_name,
                    price_minor=p.price_minor,
                    items=[i.to_json() for i in p.items],
                    active=p.active,
                )
                .on_conflict_do_nothing()
                .returning(pt.package_products.c.create_time, pt.package_products.c.update_time)
            )
        ).first()
        if row is None:
            return False
        p.create_time, p.update_time = row.create_time, row.update_time
        return True

    async def get_product(self, product_id: str, *, for_update: bool = False) -> PackageProduct | None:
        stmt = select(pt.package_products).where(
            pt.package_products.c.tenant_id == self.tenant, pt.package_products.c.product_id == product_id
        )
        if for_update:
            stmt = stmt.with_for_update()
        row = (await self.db.execute(stmt)).first()
        return _product(row) if row else None

    async def save_product(self, p: PackageProduct) -> PackageProduct:
        row = (
            await self.db.execute(
                update(pt.package_products)
                .where(
                    pt.package_products.c.tenant_id == self.tenant,
                    pt.package_products.c.product_id == p.product_id,
                )
                .values(
                    display_name=p.display_name,
                    price_minor=p.price_minor,
                    items=[i.to_json() for i in p.items],
                    active=p.active,
                    update_time=func.now(),
                )
                .returning(pt.package_products)
            )
        ).one()
        return _product(row)

    async def list_products(
        self, *, limit: int, after: str | None, show_inactive: bool
    ) -> list[PackageProduct]:
        c = pt.package_products.c
        clauses = [c.tenant_id == self.tenant]
        if after:
            clauses.append(c.product_id > after)
        if not show_inactive:
            clauses.append(c.active.is_(True))
        rows = (
            await self.db.execute(
                select(pt.package_products).where(*clauses).order_by(c.product_id).limit(limit)
            )
        ).all()
        return [_product(r) for r in rows]

    # --- cards --------------------------------------------------------------------------------
    async def add_package(self, pkg: MemberPackage) -> None:
        await self.db.execute(
            insert(pt.member_packages).values(
                tenant_id=self.tenant,
                package_id=pkg.package_id,
                member_id=pkg.member_id,
                product_id=pkg.product_id,
                display_name=pkg.display_name,
                state=pkg.state,
                price_minor=pkg.price_minor,
                store_sold=pkg.store_sold,
                purchase_time=pkg.purchase_time,
                frozen_until=pkg.frozen_until,
                transferred_from=pkg.transferred_from,
                transferred_to=pkg.transferred_to,
                transferred_from_member=pkg.transferred_from_member,
                sale_transaction_id=pkg.sale_transaction_id,
            )
        )
        await self.db.execute(
            insert(pt.member_package_items),
            [
                {
                    "tenant_id": self.tenant,
                    "package_id": pkg.package_id,
                    "service": i.service,
                    "display_name": i.display_name,
                    "sessions_total": i.sessions_total,
                    "sessions_remaining": i.sessions_remaining,
                    "allocated_minor": i.allocated_minor,
                    "session_value_minor": i.session_value_minor,
                    "deferred_minor": i.deferred_minor,
                    "expire_time": i.expire_time,
                    "unlimited": i.unlimited,
                    "max_uses_per_day": i.max_uses_per_day,
                }
                for i in pkg.items
            ],
        )

    async def _items(self, package_ids: list[str], *, for_update: bool) -> dict[str, list[PackageItemRow]]:
        if not package_ids:
            return {}
        c = pt.member_package_items.c
        stmt = (
            select(pt.member_package_items)
            .where(c.tenant_id == self.tenant, c.package_id.in_(package_ids))
            .order_by(c.package_id, c.service)
        )
        if for_update:
            stmt = stmt.with_for_update()
        out: dict[str, list[PackageItemRow]] = {pid: [] for pid in package_ids}
        for r in (await self.db.execute(stmt)).all():
            out[r.package_id].append(
                PackageItemRow(
                    r.service,
                    r.display_name,
                    r.sessions_total,
                    r.sessions_remaining,
                    r.allocated_minor,
                    r.session_value_minor,
                    r.deferred_minor,
                    r.expire_time,
                    r.sessions_held,
                    r.unlimited,
                    r.max_uses_per_day,
                )
            )
        return out

    @staticmethod
    def _package(r: Row, items: list[PackageItemRow]) -> MemberPackage:
        return MemberPackage(
            package_id=r.package_id,
            member_id=r.member_id,
            product_id=r.product_id,
            display_name=r.display_name,
            state=r.state,
            price_minor=r.price_minor,
            store_sold=r.store_sold,
            purchase_time=r.purchase_time,
            frozen_until=r.frozen_until,
            transferred_from=r.transferred_from,
            transferred_to=r.transferred_to,
            sale_transaction_id=r.sale_transaction_id,
            update_time=r.update_time,
            transferred_from_member=r.transferred_from_member,
            items=items,
        )

    async def get_package(self, package_id: str, *, for_update: bool = False) -> MemberPackage | None:
        c = pt.member_packages.c
        stmt = select(pt.member_packages).where(c.tenant_id == self.tenant, c.package_id == package_id)
        if for_update:
            stmt = stmt.with_for_update()
        row = (await self.db.execute(stmt)).first()
        if row is None:
            return None
        items = await self._items([package_id], for_update=for_update)
        return self._package(row, items[package_id])

    async def for_member(
        self,
        member_id: str,
        *,
        limit: int | None = None,
        after: str | None = None,
        states: list[str] | None = None,
        for_update: bool = False,
    ) -> list[MemberPackage]:
        c = pt.member_packages.c
        clauses = [c.tenant_id == self.tenant, c.member_id == member_id]
        if after:
            clauses.append(c.package_id > after)
        if states:
            clauses.append(c.state.in_(states))
        stmt = select(pt.member_packages).where(*clauses).order_by(c.package_id)
        if limit is not None:
            stmt = stmt.limit(limit)
        if for_update:
            stmt = stmt.with_for_update()
        rows = (await self.db.execute(stmt)).all()
        items = await self._items([r.package_id for r in rows], for_update=for_update)
        return [self._package(r, items[r.package_id]) for r in rows]

    async def update_package(self, package_id: str, **values) -> None:
        c = pt.member_packages.c
        await self.db.execute(
            update(pt.member_packages)
            .where(c.tenant_id == self.tenant, c.package_id == package_id)
            .values(update_time=func.now(), **values)
        )

    async def update_item(self, package_id: str, service: str, **values) -> None:
        c = pt.member_package_items.c
        await self.db.execute(
            update(pt.member_package_items)
            .where(c.tenant_id == self.tenant, c.package_id == package_id, c.service == service)
            .values(**values)
        )

    async def move_item(self, package_id: str, service: str, *, sessions: int, value: int) -> None:
        """Adds `sessions` and `value` (negative to take) to the item's remaining sessions and deferred."""
        c = pt.member_package_items.c
        await self.update_item(
            package_id,
            service,
            sessions_remaining=c.sessions_remaining + sessions,
            deferred_minor=c.deferred_minor + value,
        )

    async def move_held(self, package_id: str, service: str, sessions: int) -> None:
        """Adds `sessions` (negative to release) to the item's sessions reserved by holds."""
        c = pt.member_package_items.c
        await self.update_item(package_id, service, sessions_held=c.sessions_held + sessions)

    async def add_consumptions(self, rows: list[dict]) -> None:
        if rows:
            await self.db.execute(
                insert(pt.package_consumptions), [{"tenant_id": self.tenant, **r} for r in rows]
            )

    async def uses_on(self, package_id: str, service: str, start: datetime, end: datetime) -> int:
        """A card item's uses in [start, end): the net uses recorded then (restores count negative)
        plus the sessions of its open (authorised, not yet captured) holds to be used then."""
        c, h = pt.package_consumptions.c, t.holds.c
        used = (
            select(func.coalesce(func.sum(c.sessions), 0))
            .where(
                c.tenant_id == self.tenant,
                c.package_id == package_id,
                c.service == service,
                c.create_time >= start,
                c.create_time < end,
            )
            .scalar_subquery()
        )
        use_time = func.coalesce(h.use_time, h.create_time)
        held = (
            select(func.coalesce(func.sum(h.sessions), 0))
            .where(
                h.tenant_id == self.tenant,
                h.package_id == package_id,
                h.service == service,
                h.state == "authorized",
                use_time >= start,
                use_time < end,
            )
            .scalar_subquery()
        )
        return int((await self.db.execute(select(used + held))).scalar_one())

    async def consumptions_of(self, package_id: str) -> list[Row]:
        c = pt.package_consumptions.c
        return list(
            (
                await self.db.execute(
                    select(pt.package_consumptions)
                    .where(c.tenant_id == self.tenant, c.package_id == package_id)
                    .order_by(c.consumption_id)
                )
            ).all()
        )
