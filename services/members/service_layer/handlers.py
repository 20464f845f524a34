"""Members commands: each takes a unit of work and the caller, applies the rules, emits events.

Handlers never commit; the unit of work (run through `kit.idempotency`) commits the change, the
idempotency key and the outbox rows together, or nothing at all.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from google.protobuf.message import Message
from peony.members.v1 import events_pb2, member_pb2, tier_pb2

from kit import auth
from kit.auth import Principal
from kit.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound, Violations
from kit.ids import new_id
from services.members.adapters.referral_repository import ReferralSettingsRepository
from services.members.adapters.repository import CardRepository
from services.members.domain import cards as card_rules
from services.members.domain.cards import Card, generate_card_number, valid_card_number
from services.members.domain.member import (
    CHANNELS,
    Member,
    MemberTier,
    apply_update,
    generate_referral_code,
    validate_profile,
)
from services.members.domain.referral import ReferralTerms
from services.members.domain.stores import Store
from services.members.domain.tiers import Tier, TierBenefits, TierLadder
from services.members.service_layer.unit_of_work import MembersUnitOfWork as UoW

_CHANNEL_ENUM = {name: i for i, name in enumerate(CHANNELS)}


def benefits_message(b: TierBenefits) -> tier_pb2.TierBenefits:
    message = tier_pb2.TierBenefits(
        discount_bps=b.discount_bps,
        points_multiplier_permille=b.points_multiplier_permille,
        free_care_per_month=b.free_care_per_month,
        booking_window_days=b.booking_window_days,
        birthday_voucher_template=(
            f"voucherTemplates/{b.birthday_voucher_template_id}" if b.birthday_voucher_template_id else ""
        ),
    )
    if b.birthday_points is not None:
        message.birthday_points = b.birthday_points
    return message


def tier_message(t: Tier) -> tier_pb2.Tier:
    return tier_pb2.Tier(
        tier_id=t.tier_id,
        display_name=t.display_name,
        rank=t.rank,
        qualifying_spend_minor=t.qualifying_spend_minor,
        qualifying_visits=t.qualifying_visits,
        qualifying_points=t.qualifying_points,
        benefits=benefits_message(t.benefits),
    )


def store_name(store_id: str) -> str:
    return f"stores/{store_id}"


def member_name(member_id: str) -> str:
    return f"members/{member_id}"


def card_name(member_id: str, card_id: str) -> str:
    return f"members/{member_id}/cards/{card_id}"


# --- stores ----------------------------------------------------------------------------------
async def create_store(uow: UoW, caller: Principal, store: Store) -> Store:
    caller.require(auth.STORES_MANAGE)
    store.validate()
    if not await uow.stores.add(store):
        raise AlreadyExists(f"{store_name(store.store_id)} already exists", reason="STORE_EXISTS")
    uow.emit(
        events_pb2.StoreCreated(
            store=store_name(store.store_id), display_name=store.display_name, time_zone=store.time_zone
        ),
        aggregate_type="store",
        aggregate_id=store.store_id,
    )
    return store


STORE_MUTABLE = ("display_name", "address", "time_zone", "opening_hours")


async def update_store(uow: UoW, caller: Principal, store_id: str, patch: Store, paths: list[str]) -> Store:
    caller.require(auth.STORES_MANAGE)
    bad = [p for p in paths if p not in STORE_MUTABLE]
    if bad:
        raise InvalidArgument([("update_mask", f"{p!r} is not a field you can update") for p in bad])
    current = await uow.stores.get(store_id, for_update=True)
    if current is None:
        raise NotFound(f"{store_name(store_id)} not found", reason="STORE_NOT_FOUND")
    for path in paths:
        setattr(current, path, getattr(patch, path))
    current.validate()
    await uow.stores.save(current)
    uow.emit(
        events_pb2.StoreUpdated(
            store=store_name(store_id),
            display_name=current.display_name,
            time_zone=current.time_zone,
            updated_fields=paths,
        ),
        aggregate_type="store",
        aggregate_id=store_id,
    )
    return current


# --- members ---------------------------------------------------------------------------------
async def _require_store(uow: UoW, store_id: str, field: str) -> None:
    if not store_id:
        raise InvalidArgument([(field, "is required")])
    if not await uow.stores.exists(store_id):
        raise NotFound(
            f"{store_name(store_id)} not found", reason="STORE_NOT_FOUND", metadata={"field": field}
        )


async def _load_member(uow: UoW, member_id: str, *, for_update: bool = True) -> Member:
    member = await uow.members.get(member_id, for_update=for_update)
    if member is None:
        raise NotFound(f"{member_name(member_id)} not found", reason="MEMBER_NOT_FOUND")
    return member


async def register_member(uow: UoW, caller: Principal, member: Member, referral_code: str) -> Member:
    caller.require(auth.MEMBERS_WRITE)
    v = Violations()
    validate_profile(member, v)
    if member.registration_channel not in CHANNELS:
        v.add("member.registration_channel", "unknown channel")
    v.require("member.home_store", member.home_store_id)
    v.raise_if_any()
    caller.require_store(store_name(member.home_store_id))
    await _require_store(uow, member.home_store_id, "member.home_store")

    if referral_code:
        referrer = await uow.members.find_by_referral_code(referral_code.strip().upper())
        if referrer is None:
            raise NotFound("no member has that referral code", reason="REFERRAL_CODE_NOT_FOUND")
        member.referrer_id = referrer.member_id
        if member.registration_channel == "unspecified":
            member.registration_channel = "referral"

    ladder = await uow.settings.ladder()
    member.member_id = new_id()
    member.member_number = await uow.members.next_member_number()
    member.referral_code = generate_referral_code()
    member.tier = MemberTier(tier_id=ladder.entry_tier.tier_id)
    member.state = "active"
    member.consent = replace(member.consent, update_time=datetime.now(UTC))
    if not await uow.members.add(member):
        # The phone's blind index is unique per tenant: a known phone cannot register (or be referred) again.
        raise AlreadyExists(
            "a member with this phone is already registered", reason="PHONE_ALREADY_REGISTERED"
        )
    uow.emit(
        events_pb2.MemberRegistered(
            member=member_name(member.member_id),
            member_number=member.member_number,
            home_store=store_name(member.home_store_id),
            registration_channel=_CHANNEL_ENUM[member.registration_channel],  # type: ignore[arg-type]
            referrer=member_name(member.referrer_id) if member.referrer_id else "",
            tier_id=member.tier.tier_id,
            tier_benefits=benefits_message(ladder.entry_tier.benefits),
            consent=member_pb2.Consent(
                marketing_sms=member.consent.marketing_sms,
                marketing_wechat=member.consent.marketing_wechat,
                marketing_email=member.consent.marketing_email,
            ),
        ),
        aggregate_type="member",
        aggregate_id=member.member_id,
    )
    return member


async def update_member(
    uow: UoW, caller: Principal, member_id: str, patch: Member, paths: list[str], home_store_id: str | None
) -> Member:
    caller.require(auth.MEMBERS_WRITE)
    if not paths:
        raise InvalidArgument([("update_mask", "name at least one field to update")])
    if any(p.split(".")[0] in Member.PII_FIELDS for p in paths):
        caller.require(auth.MEMBERS_PII_READ)  # who cannot see personal data cannot overwrite it either
    if any(p.split(".")[0] == "care_profile" for p in paths):
        caller.require(auth.MEMBERS_CARE_READ)  # nor care data
    if "home_store" in paths:
        await _require_store(uow, home_store_id or "", "member.home_store")
        caller.require_store(store_name(home_store_id or ""))
    member = await _load_member(uow, member_id)
    if member.state == "erased":
        # Irreversible: an erased record takes no personal data again (register anew instead).
        raise FailedPrecondition("the member is erased", reason="MEMBER_ERASED")
    changed = apply_update(member, patch, paths, home_store_id=home_store_id)
    if "consent" in changed:
        member.consent.update_time = datetime.now(UTC)
    v = Violations()
    validate_profile(member, v)
    v.raise_if_any()
    await uow.members.save(member)
    uow.emit(
        events_pb2.MemberUpdated(member=member_name(member_id), updated_fields=changed),
        aggregate_type="member",
        aggregate_id=member_id,
    )
    return member


MAX_ERASE_REASON = 500
ERASED_BY_REQUEST = "member erased"


async def erase_member(uow: UoW, caller: Principal, member_id: str, reason: str) -> tuple[Member, datetime]:
    """Right to erasure: irreversible. The member's data key is destroyed and its plaintext
    profile blanked (`MemberRepository.erase`), its cards closed, the erasure audited with the
    caller and `reason`, and `MemberErased` tells the other services to drop their copies."""
    caller.require(auth.MEMBERS_ERASE)
    reason = reason.strip()
    v = Violations()
    v.require("reason", reason, "an erasure needs a reason (it is audited)")
    if len(reason) > MAX_ERASE_REASON:
        v.add("reason", f"must be at most {MAX_ERASE_REASON} characters")
    v.raise_if_any()
    member = await _load_member(uow, member_id)
    if member.state == "erased":
        raise FailedPrecondition("the member is already erased", reason="MEMBER_ALREADY_ERASED")
    erase_time, closed_cards = await uow.members.erase(member_id, actor=caller.subject, reason=reason)
    for card_id, card_number in closed_cards:
        uow.emit(
            events_pb2.CardClosed(
                member=member_name(member_id),
                card=card_name(member_id, card_id),
                card_number=card_number,
                reason=ERASED_BY_REQUEST,
            ),
            aggregate_type="member",
            aggregate_id=member_id,
        )
    uow.emit(
        events_pb2.MemberErased(member=member_name(member_id)),
        aggregate_type="member",
        aggregate_id=member_id,
    )
    return await _load_member(uow, member_id), erase_time


# --- cards -----------------------------------------------------------------------------------
async def issue_card(uow: UoW, caller: Principal, member_id: str, card_number: str) -> Card:
    caller.require(auth.MEMBERS_CARDS_MANAGE)
    if card_number and not valid_card_number(card_number):
        raise InvalidArgument([("card_number", "must be 4-32 letters, digits or '-'")])
    member = await _load_member(uow, member_id)
    if member.state != "active":
        raise FailedPrecondition("the member is not active", reason="MEMBER_NOT_ACTIVE")
    card = Card(card_id=new_id(), member_id=member_id, card_number=card_number or generate_card_number())
    if not await uow.cards.claim_number(card.card_number, card.card_id, "card"):
        raise AlreadyExists("that card number is already in use", reason="CARD_NUMBER_TAKEN")
    await uow.cards.add(card)
    uow.emit(
        events_pb2.CardIssued(
            member=member_name(member_id),
            card=card_name(member_id, card.card_id),
            card_number=card.card_number,
        ),
        aggregate_type="member",
        aggregate_id=member_id,
    )
    return card


async def _load_card(uow: UoW, member_id: str, card_id: str) -> Card:
    # Lock order: the member row first, then its cards, on every card mutation.
    await _load_member(uow, member_id)
    card = await uow.cards.get(card_id, member_id=member_id, for_update=True)
    if card is None:
        raise NotFound(f"{card_name(member_id, card_id)} not found", reason="CARD_NOT_FOUND")
    return card


async def _transition_card(
    uow: UoW, caller: Principal, member_id: str, card_id: str, change: Callable[[Card], Message]
) -> Card:
    """Load (locked) -> apply one state change -> save -> emit the event `change` returns."""
    caller.require(auth.MEMBERS_CARDS_MANAGE)
    card = await _load_card(uow, member_id, card_id)
    event = change(card)
    await uow.cards.save_state(card)
    uow.emit(event, aggregate_type="member", aggregate_id=member_id)
    return card


async def report_card_lost(uow: UoW, caller: Principal, member_id: str, card_id: str) -> Card:
    def lost(card: Card) -> Message:
        card.report_lost()
        return events_pb2.CardReportedLost(
            member=member_name(member_id), card=card_name(member_id, card_id), card_number=card.card_number
        )

    return await _transition_card(uow, caller, member_id, card_id, lost)


async def freeze_card(uow: UoW, caller: Principal, member_id: str, card_id: str, reason: str) -> Card:
    def frozen(card: Card) -> Message:
        card.freeze()
        return events_pb2.CardFrozen(
            member=member_name(member_id),
            card=card_name(member_id, card_id),
            card_number=card.card_number,
            reason=reason,
        )

    return await _transition_card(uow, caller, member_id, card_id, frozen)


async def unfreeze_card(uow: UoW, caller: Principal, member_id: str, card_id: str) -> Card:
    def unfrozen(card: Card) -> Message:
        card.unfreeze()
        return events_pb2.CardUnfrozen(
            member=member_name(member_id), card=card_name(member_id, card_id), card_number=card.card_number
        )

    return await _transition_card(uow, caller, member_id, card_id, unfrozen)


async def close_card(uow: UoW, caller: Principal, member_id: str, card_id: str, reason: str) -> Card:
    def closed(card: Card) -> Message:
        card.close()
        return events_pb2.CardClosed(
            member=member_name(member_id),
            card=card_name(member_id, card_id),
            card_number=card.card_number,
            reason=reason,
        )

    return await _transition_card(uow, caller, member_id, card_id, closed)


async def replace_card(
    uow: UoW, caller: Principal, member_id: str, card_id: str, new_number: str
) -> tuple[Card, Card]:
    caller.require(auth.MEMBERS_CARDS_MANAGE)
    if new_number and not valid_card_number(new_number):
        raise InvalidArgument([("new_card_number", "must be 4-32 letters, digits or '-'")])
    old = await _load_card(uow, member_id, card_id)
    new = Card(card_id=new_id(), member_id=member_id, card_number=new_number or generate_card_number())
    old.replace_with(new)
    if not await uow.cards.claim_number(new.card_number, new.card_id, "card"):
        raise AlreadyExists("that card number is already in use", reason="CARD_NUMBER_TAKEN")
    await uow.cards.save_state(old)  # the old card leaves the live set before the new one enters it
    await uow.cards.add(new)
    uow.emit(
        events_pb2.CardReplaced(
            member=member_name(member_id),
            old_card=card_name(member_id, old.card_id),
            old_card_number=old.card_number,
            new_card=card_name(member_id, new.card_id),
            new_card_number=new.card_number,
        ),
        aggregate_type="member",
        aggregate_id=member_id,
    )
    return old, new


async def add_legacy_card_number(
    uow: UoW, caller: Principal, member_id: str, card_id: str, number: str
) -> Card:
    caller.require(auth.MEMBERS_CARDS_MANAGE)
    if not valid_card_number(number):
        raise InvalidArgument([("legacy_number", "must be 4-32 letters, digits or '-'")])
    card = await _load_card(uow, member_id, card_id)
    card.add_legacy_number(number)
    if not await uow.cards.claim_number(number, card_id, "legacy"):
        raise AlreadyExists("that number already finds a card of this tenant", reason="CARD_NUMBER_TAKEN")
    card.legacy_numbers.sort()
    return card


@dataclass
class ResolvedCard:
    card: Card
    via_replacement: bool
    via_legacy_alias: bool


_INACTIVE_CARD_REASON = {
    card_rules.LOST: "CARD_LOST",
    card_rules.FROZEN: "CARD_FROZEN",
    card_rules.CLOSED: "CARD_CLOSED",
}


async def resolve_card_number(cards: CardRepository, number: str) -> ResolvedCard:
    """The active card a number finds today: a replaced card's number leads to its replacement;
    a number whose card (after that) is not active is FAILED_PRECONDITION `CARD_LOST` /
    `CARD_FROZEN` / `CARD_CLOSED`."""
    found = await cards.resolve_number(number)
    if found is None:
        raise NotFound("no card has that number", reason="CARD_NOT_FOUND")
    card_id, kind = found
    card = await cards.get(card_id)
    assert card is not None  # card_numbers rows are written with their card
    hops = 0
    while card.state == card_rules.REPLACED and card.replaced_by and hops < 32:
        nxt = await cards.get(card.replaced_by)
        if nxt is None:
            break
        card, hops = nxt, hops + 1
    if card.state != card_rules.ACTIVE:
        # Only an active card identifies its member at the till (card.proto): a lost, frozen or
        # closed card answers with its state only, never with the member it belongs to.
        raise FailedPrecondition(
            f"the card is {card.state}",
            reason=_INACTIVE_CARD_REASON.get(card.state, "CARD_INACTIVE"),
            metadata={"state": card.state},
        )
    return ResolvedCard(card=card, via_replacement=hops > 0, via_legacy_alias=kind == "legacy")


# --- tiers -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class TierChangeRecord:
    change_id: str
    from_tier_id: str
    to_tier_id: str
    reason: str
    actor: str
    staff_override: bool
    change_time: datetime
    reason_code: int  # tier_pb2.TierChangeReason


LADDER_MUTABLE = (
    "tiers",
    "currency_code",
    "qualification_window_days",
    "downgrade_policy",
    "downgrade_grace_days",
)


async def update_tier_ladder(uow: UoW, caller: Principal, patch: TierLadder, paths: list[str]) -> TierLadder:
    caller.require(auth.TIERS_MANAGE)
    bad = [p for p in paths if p not in LADDER_MUTABLE]
    if bad or not paths:
        raise InvalidArgument(
            [("update_mask", f"{p!r} is not a field you can update") for p in bad]
            or [("update_mask", "name at least one field to update")]
        )
    current = await uow.settings.ladder(for_update=True)
    updated = replace(current, **{p: getattr(patch, p) for p in paths}).bumped()
    updated.validate()
    await uow.settings.save_ladder(updated)
    # Members are re-evaluated against the new ladder by a durable job, in bounded batches
    # (service_layer/tier_reevaluation.py): a large tenant's members do not fit in one request.
    await uow.tier_jobs.schedule(updated.version)
    uow.emit(
        events_pb2.TierLadderUpdated(
            tier_ladder="tierLadder",
            version=updated.version,
            updated_fields=paths,
            tiers=[tier_message(t) for t in updated.tiers],
        ),
        aggregate_type="tier_ladder",
        aggregate_id=uow.tenant,
    )
    return updated


async def set_member_tier(
    uow: UoW, caller: Principal, member_id: str, tier_id: str, reason: str
) -> tuple[Member, TierChangeRecord]:
    caller.require(auth.MEMBERS_TIER_OVERRIDE)
    v = Violations()
    v.require("tier_id", tier_id)
    v.require("reason", reason.strip(), "a staff tier change needs a reason (it is audited)")
    v.raise_if_any()
    ladder = await uow.settings.ladder()
    if ladder.get(tier_id) is None:
        raise InvalidArgument([("tier_id", f"{tier_id!r} is not a tier of this tenant's ladder")])
    member = await _load_member(uow, member_id)
    assert member.tier is not None
    from_tier = member.tier.tier_id
    member.tier = MemberTier(tier_id=tier_id, staff_override=True, override_reason=reason.strip())
    change_id = new_id()
    change_time = await uow.tier_changes.add(
        change_id=change_id,
        member_id=member_id,
        from_tier_id=from_tier,
        to_tier_id=tier_id,
        reason=reason.strip(),
        actor=caller.subject,
        staff_override=True,
        reason_code=tier_pb2.TIER_CHANGE_REASON_MANUAL,
    )
    member.tier.since = change_time
    await uow.members.save(member)
    uow.emit(
        events_pb2.TierChanged(
            member=member_name(member_id),
            from_tier_id=from_tier,
            to_tier_id=tier_id,
            reason=reason.strip(),
            reason_code=tier_pb2.TIER_CHANGE_REASON_MANUAL,
            staff_override=True,
            benefits=benefits_message(ladder.get(tier_id).benefits),  # type: ignore[union-attr]
        ),
        aggregate_type="member",
        aggregate_id=member_id,
    )
    return member, TierChangeRecord(
        change_id,
        from_tier,
        tier_id,
        reason.strip(),
        caller.subject,
        True,
        change_time,
        tier_pb2.TIER_CHANGE_REASON_MANUAL,
    )


async def update_referral_settings(
    uow: UoW, caller: Principal, patch: ReferralTerms, paths: list[str]
) -> tuple[ReferralTerms, datetime]:
    """The tenant's referral terms (permission `tiers.manage`: the loyalty programme's rules).
    Rewards earned from now on carry the new terms in `ReferralRewardEarned`."""
    caller.require(auth.TIERS_MANAGE)
    repo = ReferralSettingsRepository(uow.session, uow.tenant)
    current, _ = await repo.get(for_update=True)
    updated = replace(current, **{p: getattr(patch, p) for p in paths})
    updated.validate()
    return updated, await repo.save(updated)
