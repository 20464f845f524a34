"""Protobuf <-> domain translation for the members API. No rules live here, only shapes."""

from __future__ import annotations

from datetime import datetime

from peony.members.v1 import card_pb2, member_pb2, members_service_pb2, referral_pb2, store_pb2, tier_pb2

from kit.errors import InvalidArgument
from kit.ids import parse_name, parse_path
from kit.proto import ts
from services.members.adapters.repository import reason_code_value
from services.members.domain import values
from services.members.domain.cards import Card
from services.members.domain.member import CHANNELS, GENDERS, CareProfile, Consent, Member
from services.members.domain.referral import ReferralTerms
from services.members.domain.stores import DEFAULT_TIME_ZONE, OpeningHours, Store
from services.members.domain.tiers import DOWNGRADE_AUTOMATIC, DOWNGRADE_NEVER, Tier, TierBenefits, TierLadder
from services.members.service_layer.handlers import (
    benefits_message,
    card_name,
    member_name,
    store_name,
    tier_message,
)
from services.members.service_layer.queries import Contact

_CARD_STATE = {
    "active": card_pb2.CARD_STATE_ACTIVE,
    "frozen": card_pb2.CARD_STATE_FROZEN,
    "lost": card_pb2.CARD_STATE_LOST,
    "replaced": card_pb2.CARD_STATE_REPLACED,
    "closed": card_pb2.CARD_STATE_CLOSED,
}
_MEMBER_STATE = {"active": member_pb2.MEMBER_STATE_ACTIVE, "erased": member_pb2.MEMBER_STATE_ERASED}
_DOWNGRADE = {
    DOWNGRADE_NEVER: tier_pb2.DOWNGRADE_POLICY_NEVER,
    DOWNGRADE_AUTOMATIC: tier_pb2.DOWNGRADE_POLICY_AUTOMATIC,
}
_DOWNGRADE_BACK = {v: k for k, v in _DOWNGRADE.items()}


# Collections whose ids members stores as PostgreSQL uuid (stores are tenant-chosen text ids).
UUID_COLLECTIONS = frozenset({"members"})


def require_id(name: str, collection: str, field: str) -> str:
    """`members/abc` -> `abc`, or INVALID_ARGUMENT naming the field. Member ids are UUIDs."""
    resource_id = parse_name(name, collection, uuid=collection in UUID_COLLECTIONS)
    if resource_id is None:
        raise InvalidArgument([(field, f"must be a resource name of the form {collection}/{{id}}")])
    return resource_id


def optional_store_id(name: str, field: str) -> str:
    return require_id(name, "stores", field) if name else ""


def card_ids(name: str, field: str = "name") -> tuple[str, str]:
    ids = parse_path(name, "members/{uuid}/cards/{uuid}")
    if ids is None:
        raise InvalidArgument([(field, "must be a resource name of the form members/{member}/cards/{card}")])
    return ids[0], ids[1]


# --- stores ----------------------------------------------------------------------------------
def store_from_proto(p: store_pb2.Store, store_id: str) -> Store:
    return Store(
        store_id=store_id,
        display_name=p.display_name,
        address=p.address,
        time_zone=p.time_zone or DEFAULT_TIME_ZONE,
        opening_hours=[OpeningHours(h.day_of_week, h.open_time, h.close_time) for h in p.opening_hours],
    )


def store_to_proto(s: Store) -> store_pb2.Store:
    return store_pb2.Store(
        name=store_name(s.store_id),
        display_name=s.display_name,
        address=s.address,
        time_zone=s.time_zone,
        opening_hours=[
            store_pb2.OpeningHours(day_of_week=h.day_of_week, open_time=h.open_time, close_time=h.close_time)
            for h in s.opening_hours
        ],
        create_time=ts(s.create_time),
        update_time=ts(s.update_time),
    )


# --- members ---------------------------------------------------------------------------------
def member_from_proto(p: member_pb2.Member) -> Member:
    """The caller-settable fields of a Member message; output-only fields are ignored (AIP-203)."""
    cp = p.care_profile
    return Member(
        member_id="",
        display_name=p.display_name.strip(),
        phone=p.phone.strip(),
        home_store_id=parse_name(p.home_store, "stores") or "",
        gender=GENDERS[p.gender] if 0 <= p.gender < len(GENDERS) else "invalid",
        email=p.email.strip(),
        address=p.address,
        birthday=p.birthday.strip(),
        id_number=p.id_number.strip(),
        photo_uri=p.photo_uri,
        registration_channel=CHANNELS[p.registration_channel]
        if 0 <= p.registration_channel < len(CHANNELS)
        else "invalid",
        agreement_version=p.agreement_version,
        consent=Consent(**{flag: getattr(p.consent, flag) for flag in Consent.FLAGS}),
        tags=[t.strip() for t in p.tags],
        custom_attributes=dict(p.custom_attributes),
        care_profile=CareProfile(
            skin_type=cp.skin_type,
            allergies=list(cp.allergies),
            past_treatments=list(cp.past_treatments),
            favourite_staff=cp.favourite_staff,
            massage_style=cp.massage_style,
            notes=cp.notes,
        ),
        wechat_openid=p.wechat_openid.strip(),
        push_tokens=[t.strip() for t in p.push_tokens],
        locale=p.locale.strip(),
    )


def member_to_proto(
    m: Member, ladder: TierLadder, *, reveal_pii: bool, reveal_care: bool
) -> member_pb2.Member:
    """``reveal_care``: the care profile is left unset for callers without ``members.care.read``."""
    phone, birthday, id_number, email = m.phone, m.birthday, m.id_number, m.email
    openid, push_tokens = m.wechat_openid, m.push_tokens
    if not reveal_pii:
        phone = values.mask_phone(phone) if phone else ""
        birthday = values.mask_birthday(birthday) if birthday else ""
        id_number = values.mask_id_number(id_number) if id_number else ""
        email = values.mask_email(email) if email else ""
        openid = values.mask_secret(openid) if openid else ""
        push_tokens = [values.mask_secret(t) for t in push_tokens]
    tier_msg = None
    if m.tier is not None:
        tier = ladder.get(m.tier.tier_id)
        tier_msg = member_pb2.MemberTier(
            tier_id=m.tier.tier_id,
            display_name=tier.display_name if tier else m.tier.tier_id,
            benefits=benefits_to_proto(tier.benefits) if tier else None,
            since=ts(m.tier.since),
            staff_override=m.tier.staff_override,
            override_reason=m.tier.override_reason,
        )
    cp = m.care_profile
    return member_pb2.Member(
        name=member_name(m.member_id),
        member_number=m.member_number,
        display_name=m.display_name,
        gender=GENDERS.index(m.gender),  # type: ignore[arg-type]
        phone=phone,
        email=email,
        address=m.address,
        birthday=birthday,
        id_number=id_number,
        photo_uri=m.photo_uri,
        home_store=store_name(m.home_store_id),
        registration_channel=CHANNELS.index(m.registration_channel),  # type: ignore[arg-type]
        agreement_version=m.agreement_version,
        consent=consent_to_proto(m.consent),
        tags=m.tags,
        custom_attributes=m.custom_attributes,
        care_profile=member_pb2.CareProfile(
            skin_type=cp.skin_type,
            allergies=cp.allergies,
            past_treatments=cp.past_treatments,
            favourite_staff=cp.favourite_staff,
            massage_style=cp.massage_style,
            notes=cp.notes,
        )
        if reveal_care
        else None,
        referral_code=m.referral_code,
        referrer=member_name(m.referrer_id) if m.referrer_id else "",
        tier=tier_msg,
        pii_masked=not reveal_pii,
        state=_MEMBER_STATE.get(m.state, member_pb2.MEMBER_STATE_UNSPECIFIED),
        create_time=ts(m.create_time),
        update_time=ts(m.update_time),
        wechat_openid=openid,
        push_tokens=push_tokens,
        locale=m.locale,
    )


def consent_to_proto(c: Consent) -> member_pb2.Consent:
    return member_pb2.Consent(
        **{flag: getattr(c, flag) for flag in Consent.FLAGS}, update_time=ts(c.update_time)
    )


def contact_to_proto(c: Contact) -> members_service_pb2.ResolveContactResponse:
    """Unmasked: only for ResolveContact, whose callers are checked and audited."""
    m = c.member
    erased = m.state != "active"
    return members_service_pb2.ResolveContactResponse(
        member=member_name(m.member_id),
        state=_MEMBER_STATE.get(m.state, member_pb2.MEMBER_STATE_UNSPECIFIED),
        display_name=m.display_name,
        phone="" if erased else m.phone,
        email="" if erased else m.email,
        wechat_openid="" if erased else m.wechat_openid,
        push_tokens=[] if erased else m.push_tokens,
        locale=m.locale or values.DEFAULT_LOCALE,
        home_store=store_name(m.home_store_id),
        time_zone=c.time_zone,
        consent=consent_to_proto(m.consent),
    )


# --- cards -----------------------------------------------------------------------------------
def card_to_proto(c: Card) -> card_pb2.MemberCard:
    return card_pb2.MemberCard(
        name=card_name(c.member_id, c.card_id),
        card_number=c.card_number,
        state=_CARD_STATE.get(c.state, card_pb2.CARD_STATE_UNSPECIFIED),
        replaced_by=card_name(c.member_id, c.replaced_by) if c.replaced_by else "",
        replaces=card_name(c.member_id, c.replaces) if c.replaces else "",
        legacy_numbers=c.legacy_numbers,
        create_time=ts(c.create_time),
        update_time=ts(c.update_time),
    )


# --- tiers -----------------------------------------------------------------------------------
def benefits_to_proto(b: TierBenefits) -> tier_pb2.TierBenefits:
    return benefits_message(b)


def ladder_to_proto(ladder: TierLadder, update_time: datetime | None) -> tier_pb2.TierLadder:
    return tier_pb2.TierLadder(
        name="tierLadder",
        tiers=[tier_message(t) for t in ladder.tiers],
        currency_code=ladder.currency_code,
        qualification_window_days=ladder.qualification_window_days,
        downgrade_policy=_DOWNGRADE[ladder.downgrade_policy],
        downgrade_grace_days=ladder.downgrade_grace_days,
        update_time=ts(update_time),
    )


def _template_id(name: str) -> str:
    """The id of ``voucherTemplates/{id}``; a malformed name keeps a value the ladder's
    validation refuses (never silently dropped)."""
    if not name:
        return ""
    return name.removeprefix("voucherTemplates/") if name.startswith("voucherTemplates/") else "/" + name


def ladder_from_proto(p: tier_pb2.TierLadder) -> TierLadder:
    return TierLadder(
        tiers=tuple(
            Tier(
                tier_id=t.tier_id,
                display_name=t.display_name,
                rank=t.rank,
                qualifying_spend_minor=t.qualifying_spend_minor,
                qualifying_visits=t.qualifying_visits,
                qualifying_points=t.qualifying_points,
                benefits=TierBenefits(
                    discount_bps=t.benefits.discount_bps,
                    points_multiplier_permille=t.benefits.points_multiplier_permille or 1000,
                    free_care_per_month=t.benefits.free_care_per_month,
                    booking_window_days=t.benefits.booking_window_days or 7,
                    birthday_points=(
                        t.benefits.birthday_points if t.benefits.HasField("birthday_points") else None
                    ),
                    birthday_voucher_template_id=_template_id(t.benefits.birthday_voucher_template),
                ),
            )
            for t in p.tiers
        ),
        currency_code=p.currency_code or "CNY",
        qualification_window_days=p.qualification_window_days or 365,
        downgrade_policy=_DOWNGRADE_BACK.get(p.downgrade_policy, "invalid"),  # type: ignore[call-overload]
        downgrade_grace_days=p.downgrade_grace_days,
    )


def tier_change_to_proto(member_id: str, change) -> tier_pb2.TierChange:
    """From a handler's TierChangeRecord or a tier_changes row (same attribute names)."""
    return tier_pb2.TierChange(
        name=f"members/{member_id}/tierChanges/{change.change_id}",
        from_tier_id=change.from_tier_id,
        to_tier_id=change.to_tier_id,
        reason=change.reason,
        actor=change.actor,
        staff_override=change.staff_override,
        change_time=ts(change.change_time),
        reason_code=change.reason_code
        if isinstance(change.reason_code, int)
        else reason_code_value(change.reason_code),
    )


def referral_settings_to_proto(
    terms: ReferralTerms, update_time: datetime | None, currency_code: str
) -> referral_pb2.ReferralSettings:
    return referral_pb2.ReferralSettings(
        name="referralSettings",
        threshold_minor=terms.threshold_minor,
        referrer_voucher_minor=terms.referrer_voucher_minor,
        voucher_valid_days=terms.voucher_valid_days,
        referrer_points=terms.referrer_points,
        referee_points=terms.referee_points,
        currency_code=currency_code,
        update_time=ts(update_time) if update_time else None,
    )


def referral_terms_from_proto(p: referral_pb2.ReferralSettings) -> ReferralTerms:
    return ReferralTerms(
        threshold_minor=p.threshold_minor,
        referrer_voucher_minor=p.referrer_voucher_minor,
        voucher_valid_days=p.voucher_valid_days,
        referrer_points=p.referrer_points,
        referee_points=p.referee_points,
    )
