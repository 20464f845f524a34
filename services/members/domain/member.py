"""The member (会员): one identity across every store of the chain."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field, fields, replace
from datetime import datetime

from kit.errors import InvalidArgument, Violations
from services.members.domain import values

GENDERS = ("unspecified", "female", "male", "other")
CHANNELS = ("unspecified", "store", "online", "mini_program", "referral")

_REFERRAL_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read out over the counter


def generate_referral_code() -> str:
    return "".join(secrets.choice(_REFERRAL_ALPHABET) for _ in range(8))


@dataclass
class Consent:
    """Marketing needs an opt-in per channel; transactional messages go out unless opted out."""

    marketing_sms: bool = False
    marketing_wechat: bool = False
    marketing_email: bool = False
    update_time: datetime | None = None
    marketing_app_push: bool = False
    transactional_sms_opt_out: bool = False
    transactional_email_opt_out: bool = False
    transactional_wechat_opt_out: bool = False
    transactional_app_push_opt_out: bool = False

    # The boolean flags, in the order they are stored and sent.
    FLAGS = (
        "marketing_sms",
        "marketing_wechat",
        "marketing_email",
        "marketing_app_push",
        "transactional_sms_opt_out",
        "transactional_email_opt_out",
        "transactional_wechat_opt_out",
        "transactional_app_push_opt_out",
    )


@dataclass
class CareProfile:
    skin_type: str = ""
    allergies: list[str] = field(default_factory=list)
    past_treatments: list[str] = field(default_factory=list)
    favourite_staff: str = ""
    massage_style: str = ""
    notes: str = ""


@dataclass
class MemberTier:
    tier_id: str
    since: datetime | None = None
    staff_override: bool = False
    override_reason: str = ""


@dataclass
class Member:
    member_id: str
    display_name: str
    phone: str  # normalised E.164; encrypted by the repository, never stored in clear
    home_store_id: str
    member_number: str = ""
    gender: str = "unspecified"
    email: str = ""
    address: str = ""
    birthday: str = ""  # YYYY-MM-DD; encrypted at rest
    id_number: str = ""  # encrypted at rest
    photo_uri: str = ""
    registration_channel: str = "unspecified"
    agreement_version: str = ""
    consent: Consent = field(default_factory=Consent)
    tags: list[str] = field(default_factory=list)
    custom_attributes: dict[str, str] = field(default_factory=dict)
    care_profile: CareProfile = field(default_factory=CareProfile)
    referral_code: str = ""
    referrer_id: str | None = None
    tier: MemberTier | None = None
    state: str = "active"
    create_time: datetime | None = None
    update_time: datetime | None = None
    # Contact data for notifications; encrypted at rest like phone (email too).
    wechat_openid: str = ""
    push_tokens: list[str] = field(default_factory=list)
    locale: str = values.DEFAULT_LOCALE

    # Fields a caller may change with UpdateMember (AIP-134 update_mask paths).
    MUTABLE_FIELDS = (
        "display_name",
        "gender",
        "phone",
        "email",
        "address",
        "birthday",
        "id_number",
        "photo_uri",
        "home_store",
        "agreement_version",
        "consent",
        "tags",
        "custom_attributes",
        "care_profile",
        "wechat_openid",
        "push_tokens",
        "locale",
    )
    # Personal data: changing it needs permission to read it (members.pii.read).
    PII_FIELDS = ("phone", "email", "birthday", "id_number", "wechat_openid", "push_tokens")


def validate_profile(m: Member, v: Violations, prefix: str = "member") -> None:
    """Checks every profile field, collecting all problems; normalises phone in place."""
    if not m.display_name.strip():
        v.add(f"{prefix}.display_name", "is required")
    elif len(m.display_name) > 100:
        v.add(f"{prefix}.display_name", "must be at most 100 characters")
    if not m.phone:
        v.add(f"{prefix}.phone", "is required")
    else:
        normalised = values.normalise_phone(m.phone)
        if normalised is None:
            v.add(f"{prefix}.phone", "must be a mobile number such as 13812345678 or +8613812345678")
        else:
            m.phone = normalised
    if m.email and not values.valid_email(m.email):
        v.add(f"{prefix}.email", "is not an email address")
    if m.wechat_openid and not values.valid_openid(m.wechat_openid):
        v.add(f"{prefix}.wechat_openid", "must be 1-64 characters of A-Z a-z 0-9 _ -")
    if len(m.push_tokens) > values.MAX_PUSH_TOKENS or not all(map(values.valid_push_token, m.push_tokens)):
        v.add(
            f"{prefix}.push_tokens",
            f"at most {values.MAX_PUSH_TOKENS} tokens of 1-{values.MAX_PUSH_TOKEN} printable ASCII "
            "characters",
        )
    if not m.locale:
        m.locale = values.DEFAULT_LOCALE
    elif m.locale not in values.LOCALES:
        v.add(f"{prefix}.locale", f"must be one of {', '.join(values.LOCALES)}")
    if m.birthday and values.parse_birthday(m.birthday) is None:
        v.add(f"{prefix}.birthday", "must be a past date YYYY-MM-DD")
    if m.id_number and not values.valid_id_number(m.id_number):
        v.add(f"{prefix}.id_number", "must be 6-32 letters, digits or '-'")
    if m.gender not in GENDERS:
        v.add(f"{prefix}.gender", "unknown gender")
    for name in ("address", "photo_uri", "agreement_version"):
        if len(getattr(m, name)) > values.MAX_TEXT:
            v.add(f"{prefix}.{name}", f"must be at most {values.MAX_TEXT} characters")
    if len(m.tags) > values.MAX_TAGS or any(not t.strip() or len(t) > 40 for t in m.tags):
        v.add(f"{prefix}.tags", f"at most {values.MAX_TAGS} non-empty tags of up to 40 characters")
    if len(m.custom_attributes) > values.MAX_CUSTOM_ATTRIBUTES:
        v.add(f"{prefix}.custom_attributes", f"at most {values.MAX_CUSTOM_ATTRIBUTES} attributes")
    for key, value in m.custom_attributes.items():
        if not values.valid_attribute_key(key):
            v.add(f"{prefix}.custom_attributes[{key}]", "keys must match [a-z][a-z0-9_]{0,39}")
        if len(value) > values.MAX_TEXT:
            v.add(
                f"{prefix}.custom_attributes[{key}]", f"values must be at most {values.MAX_TEXT} characters"
            )
    cp = m.care_profile
    if any(
        len(x) > values.MAX_TEXT for x in (cp.skin_type, cp.favourite_staff, cp.massage_style, cp.notes)
    ) or any(len(x) > 200 for x in (*cp.allergies, *cp.past_treatments)):
        v.add(f"{prefix}.care_profile", "a care profile entry is too long")


def apply_update(current: Member, patch: Member, paths: list[str], *, home_store_id: str | None) -> list[str]:
    """Copies the masked fields of `patch` onto `current`; returns the top-level fields changed.

    `paths` are update_mask paths; sub-paths such as `consent.marketing_sms` and
    `care_profile.skin_type` update one field of a nested message.
    """
    v = Violations()
    changed: list[str] = []
    for path in paths:
        top, _, sub = path.partition(".")
        if top not in Member.MUTABLE_FIELDS:
            v.add("update_mask", f"{path!r} is not a field you can update")
            continue
        if top == "home_store":
            if sub:
                v.add("update_mask", f"{path!r} has no sub-fields")
                continue
            assert home_store_id is not None
            current.home_store_id = home_store_id
        elif top in ("consent", "care_profile") and sub:
            target, source = getattr(current, top), getattr(patch, top)
            if sub not in {f.name for f in fields(target)} or sub == "update_time":
                v.add("update_mask", f"{path!r} is not a field you can update")
                continue
            setattr(target, sub, getattr(source, sub))
        elif sub:
            v.add("update_mask", f"{path!r} has no sub-fields")
            continue
        else:
            value = getattr(patch, top)
            if isinstance(value, Consent | CareProfile):
                value = replace(value)
            setattr(current, top, value)
        if top not in changed:
            changed.append(top)
    if v:
        raise InvalidArgument(v.items)
    return changed
