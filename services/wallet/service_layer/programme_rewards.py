"""A programme's or campaign's reward, granted exactly once per (programme, member, period).

The one grant path of every engagement reward (birthday, anniversary, campaign): a
``programme_grants`` row keyed (programme, member, period) is claimed first in the consumer's
transaction (``ON CONFLICT DO NOTHING``); a redelivery, a republished copy or a second replica
finds it and grants nothing. Then, in the same transaction:

- **points**: a points grant on the ledger (``PointsEarned``);
- **a voucher** of ``voucherTemplates/{id}`` (``VoucherIssued``); a template that is unknown,
  deactivated or has no validity left is a *refusal*: recorded on the grant row
  (``refused_reason``) and in ``ProgrammeRewardSettled``, final — the event is not retried and
  the other parts of the reward are still granted;
- **free sessions** of a service: a package card of N sessions at price 0, expiring after the
  given days, issued on the ledger like the monthly free care (``sessions_issued`` → the card's
  item account, ``PackageSold`` at price 0): balanced, no money moves.

``ProgrammeRewardSettled`` reports every grant that had more than points (members projects it into
a campaign's progress).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from peony.wallet.v1 import events_pb2
from sqlalchemy.dialects.postgresql import insert as pg_insert

from kit.ids import new_id, parse_name
from kit.logging import get_logger
from services.wallet.adapters.package_repository import MemberPackage, PackageItemRow
from services.wallet.adapters.programme_tables import programme_grants
from services.wallet.domain.ledger import TransactionDraft
from services.wallet.service_layer import rewards
from services.wallet.service_layer import stored_value as sv
from services.wallet.service_layer import vouchers as vs
from services.wallet.service_layer.packages import SESSIONS_ISSUED, item_account, package_name, repo
from services.wallet.service_layer.unit_of_work import WalletUnitOfWork as UoW

log = get_logger("peony.wallet.programme_rewards")

# The product name a programme's free-session card carries (`packageProducts/programme-reward`).
PROGRAMME_REWARD_PRODUCT = "programme-reward"
MAX_FREE_SESSIONS = 100
MAX_VALID_DAYS = 3660


class InvalidReward(ValueError):
    """A reward no producer should have sent (dead-lettered by the consumer)."""


@dataclass(frozen=True)
class Reward:
    points: int = 0
    voucher_template_id: str = ""
    free_service: str = ""  # services/{id}
    free_sessions: int = 0
    free_sessions_valid_days: int = 0

    @classmethod
    def of(cls, message, legacy_points: int = 0) -> Reward:
        """From a members ``ProgrammeReward`` (or ``legacy_points`` when it is unset)."""
        if message is None or message.ByteSize() == 0:
            return cls(points=legacy_points)
        template = ""
        if message.voucher_template:
            template = parse_name(message.voucher_template, "voucherTemplates") or ""
            if not template:
                raise InvalidReward(f"bad voucher template {message.voucher_template!r}")
        reward = cls(
            points=message.points,
            voucher_template_id=template,
            free_service=message.free_service,
            free_sessions=message.free_sessions,
            free_sessions_valid_days=message.free_sessions_valid_days,
        )
        reward.check()
        return reward

    def check(self) -> None:
        if self.points < 0:
            raise InvalidReward("negative points")
        if self.free_sessions or self.free_service:
            if not parse_name(self.free_service, "services"):
                raise InvalidReward(f"bad free service {self.free_service!r}")
            if not 1 <= self.free_sessions <= MAX_FREE_SESSIONS:
                raise InvalidReward(f"free sessions must be 1..{MAX_FREE_SESSIONS}")
            if not 1 <= self.free_sessions_valid_days <= MAX_VALID_DAYS:
                raise InvalidReward(f"free sessions' validity must be 1..{MAX_VALID_DAYS} days")

    @property
    def empty(self) -> bool:
        return self.points == 0 and not self.voucher_template_id and not self.free_sessions


@dataclass(frozen=True)
class Granted:
    points_transaction_id: str | None = None
    voucher_id: str | None = None
    package_id: str | None = None
    refused_reason: str | None = None


async def grant_programme_reward(
    uow: UoW,
    *,
    programme: str,
    period: str,
    member_id: str,
    reward: Reward,
    event_id: str,
    points_source: str,
    label: str,
    store_id: str = "",
) -> Granted | None:
    """Grant ``reward`` once per (programme, member, period); None when it was granted already
    (or is empty). The caller's unit of work commits."""
    member_id = str(uuid.UUID(member_id))
    if reward.empty:
        return None
    claimed = (
        await uow.session.execute(
            pg_insert(programme_grants)
            .values(
                tenant_id=uow.tenant,
                programme=programme,
                member_id=member_id,
                period=period,
                points=reward.points,
                event_id=event_id,
            )
            .on_conflict_do_nothing()
            .returning(programme_grants.c.member_id)
        )
    ).first()
    if claimed is None:
        log.info("wallet.programme_reward_already_granted", programme=programme, member_id=member_id)
        return None
    points_transaction = voucher_id = package_id = refused = None
    if reward.points:
        posted, _lot = await rewards.grant_and_record(
            uow, member_id=member_id, points=reward.points, source=points_source, reason=label
        )
        points_transaction = posted.transaction_id
    if reward.voucher_template_id:
        voucher_id, refused = await _issue_voucher(uow, member_id, reward.voucher_template_id, label)
    if reward.free_sessions:
        package_id = await _grant_free_sessions(uow, member_id, reward, label, store_id)
    g = programme_grants.c
    await uow.session.execute(
        programme_grants.update()
        .where(
            g.tenant_id == uow.tenant,
            g.programme == programme,
            g.member_id == member_id,
            g.period == period,
        )
        .values(
            transaction_id=points_transaction,
            voucher_id=voucher_id,
            package_id=package_id,
            refused_reason=refused,
        )
    )
    if reward.voucher_template_id or reward.free_sessions:
        uow.emit(
            events_pb2.ProgrammeRewardSettled(
                member=sv.member_name(member_id),
                programme=programme,
                period=period,
                voucher=f"members/{member_id}/vouchers/{voucher_id}" if voucher_id else "",
                package=package_name(member_id, package_id) if package_id else "",
                points=reward.points,
                refused_reason=refused or "",
            ),
            aggregate_type="wallet",
            aggregate_id=member_id,
        )
    if refused:
        log.warning(
            "wallet.programme_reward_refused",
            tenant=uow.tenant,
            programme=programme,
            period=period,
            member_id=member_id,
            reason=refused,
        )
    return Granted(points_transaction, voucher_id, package_id, refused)


async def _issue_voucher(
    uow: UoW, member_id: str, template_id: str, label: str
) -> tuple[str | None, str | None]:
    """The voucher's id, or the reason it is refused (checked before anything is written)."""
    template = await vs.vouchers_of(uow).get_template(template_id, for_issue=True)
    if template is None:
        return None, "VOUCHER_TEMPLATE_NOT_FOUND"
    if not template.active:
        return None, "VOUCHER_TEMPLATE_INACTIVE"
    now = datetime.now(UTC)
    if template.valid_until is not None and template.valid_until <= now:
        return None, "VOUCHER_TEMPLATE_EXPIRED"
    row = await vs.issue_from_template(uow, member_id=member_id, template=template, reason=label)
    return str(row.voucher_id), None


async def _grant_free_sessions(uow: UoW, member_id: str, reward: Reward, label: str, store_id: str) -> str:
    settings = await uow.settings.get()
    if not store_id:
        known = await uow.members.find(member_id)
        store_id = known.home_store_id if known is not None else ""
    package_id = new_id()
    service = reward.free_service
    posted = await uow.ledger.post(
        TransactionDraft(
            "package_sale",
            member_id=member_id,
            store_id=store_id or None,
            description=f"programme reward: {label}",
            reference=package_name(member_id, package_id),
        ).move(reward.free_sessions, debit=SESSIONS_ISSUED, credit=item_account(package_id, service))
    )
    expires = posted.create_time + timedelta(days=reward.free_sessions_valid_days)
    await repo(uow).add_package(
        MemberPackage(
            package_id=package_id,
            member_id=member_id,
            product_id=PROGRAMME_REWARD_PRODUCT,
            display_name=f"Free sessions: {label}"[:200],
            state="active",
            price_minor=0,
            store_sold=store_id,
            purchase_time=posted.create_time,
            frozen_until=None,
            transferred_from=None,
            transferred_to=None,
            sale_transaction_id=posted.transaction_id,
            update_time=posted.create_time,
            items=[
                PackageItemRow(
                    service, "Free sessions", reward.free_sessions, reward.free_sessions, 0, 0, 0, expires
                )
            ],
        )
    )
    uow.emit(
        events_pb2.PackageSold(
            member=sv.member_name(member_id),
            package=package_name(member_id, package_id),
            product=f"packageProducts/{PROGRAMME_REWARD_PRODUCT}",
            store=f"stores/{store_id}" if store_id else "",
            price_minor=0,
            transaction=sv.transaction_name(posted),
            currency_code=settings.currency_code,
        ),
        aggregate_type="wallet",
        aggregate_id=member_id,
    )
    return package_id
