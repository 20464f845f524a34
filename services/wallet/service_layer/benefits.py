"""The tier benefit "free care each month" (每月N次免费护理, domain.md §2 tier table).

At the start of each month — in the member's home store's time zone — every member whose tier
grants N > 0 free care sessions a month (`TierBenefits.free_care_per_month`, from the wallet's
`tier_ladders` projection; the domain.md default ladder when the tenant never changed its own)
receives a package card of N sessions of the tenant's `free_care_service`, free (price 0, so no
money moves and no revenue is deferred), expiring at the end of that month. The card goes through
the wallet's package path: its sessions are issued on the ledger (`sessions_issued` → the card's
item account, one `TRANSACTION_KIND_PACKAGE_SALE` transaction at price 0) and it is consumed,
held and reported like any card.

Exactly once per member and month: a `free_care_grants` row keyed (tenant, member, month) is
inserted first in the grant's transaction (`ON CONFLICT DO NOTHING`); a second attempt — another
replica, a retry after a crash — finds it and does nothing. A member who joins or moves up
mid-month is granted at the next pass of the job in that month (for the tier they hold then);
a member who moves tiers after the month's grant keeps it until the next month.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from peony.wallet.v1 import events_pb2
from sqlalchemy.dialects.postgresql import insert as pg_insert

from kit.ids import new_id
from kit.logging import get_logger
from services.wallet.adapters import package_tables as pt
from services.wallet.adapters.package_repository import MemberPackage, PackageItemRow
from services.wallet.domain.ledger import TransactionDraft
from services.wallet.service_layer import stored_value as sv
from services.wallet.service_layer.packages import SESSIONS_ISSUED, item_account, package_name, repo
from services.wallet.service_layer.unit_of_work import WalletUnitOfWork as UoW

log = get_logger("peony.wallet.benefits")

# The product name a free-care card carries (`packageProducts/tier-free-care`): no product row.
FREE_CARE_PRODUCT = "tier-free-care"

# domain.md §2: the default ladder's free care per month, for tenants whose ladder the wallet has
# never been sent (members publishes TierLadderUpdated only when a tenant changes its ladder).
DEFAULT_FREE_CARE = {"regular": 0, "silver": 1, "gold": 2, "platinum": 3, "diamond": 4}


@dataclass(frozen=True)
class DueGrant:
    member_id: str
    home_store_id: str
    tier_id: str
    sessions: int
    month: date  # first day, home store's calendar
    time_zone: str


def month_end(month: date, zone: str) -> datetime:
    """The end of ``month`` (the first instant of the next) in ``zone``, as UTC."""
    following = date(month.year + (month.month == 12), month.month % 12 + 1, 1)
    return datetime.combine(following, time(0, 0), tzinfo=ZoneInfo(zone)).astimezone(UTC)


async def grant_free_care(uow: UoW, due: DueGrant) -> bool:
    """One member's free care of one month; False when it was granted already (or the tenant
    turned the benefit off meanwhile)."""
    settings = await uow.settings.get()
    service = settings.free_care_service
    if not service or due.sessions <= 0:
        return False
    package_id = new_id()
    claimed = await uow.session.execute(
        pg_insert(pt.free_care_grants)
        .values(
            tenant_id=uow.tenant,
            member_id=due.member_id,
            month=due.month,
            package_id=package_id,
            tier_id=due.tier_id,
            sessions=due.sessions,
        )
        .on_conflict_do_nothing(constraint="pk_free_care_grants")
        .returning(pt.free_care_grants.c.member_id)
    )
    if claimed.first() is None:
        return False
    label = f"free care {due.month:%Y-%m} ({due.tier_id})"
    draft = TransactionDraft(
        "package_sale",
        member_id=due.member_id,
        store_id=due.home_store_id,
        description=f"tier benefit: {label}",
        reference=package_name(due.member_id, package_id),
    ).move(due.sessions, debit=SESSIONS_ISSUED, credit=item_account(package_id, service))
    posted = await uow.ledger.post(draft)
    expires = month_end(due.month, due.time_zone)
    await repo(uow).add_package(
        MemberPackage(
            package_id=package_id,
            member_id=due.member_id,
            product_id=FREE_CARE_PRODUCT,
            display_name=f"Free care {due.month:%Y-%m} 每月免费护理",
            state="active",
            price_minor=0,
            store_sold=due.home_store_id,
            purchase_time=posted.create_time,
            frozen_until=None,
            transferred_from=None,
            transferred_to=None,
            sale_transaction_id=posted.transaction_id,
            update_time=posted.create_time,
            items=[PackageItemRow(service, "Free care", due.sessions, due.sessions, 0, 0, 0, expires)],
        )
    )
    uow.emit(
        events_pb2.PackageSold(
            member=sv.member_name(due.member_id),
            package=package_name(due.member_id, package_id),
            product=f"packageProducts/{FREE_CARE_PRODUCT}",
            store=f"stores/{due.home_store_id}",
            price_minor=0,
            transaction=sv.transaction_name(posted),
            currency_code=settings.currency_code,
            items=[events_pb2.PackageItemSessions(service=service, sessions_remaining=due.sessions)],
        ),
        aggregate_type="wallet",
        aggregate_id=due.member_id,
    )
    log.info(
        "wallet.free_care_granted",
        tenant=uow.tenant,
        member_id=due.member_id,
        month=str(due.month),
        sessions=due.sessions,
    )
    return True
