"""The trigger table: which event of which service becomes which message, to whom, how.

One row per trigger. Adding a trigger is one row here and one default template per locale in
``templates.DEFAULT_TEMPLATES`` — the consumers, the policy step and the dispatcher are generic:
the event's own fields are the template's variables (see ``context.event_context``).

Columns:
  key         the template key and the message's ``trigger`` (``[a-z][a-z0-9_]*``);
  event_type  the event's full protobuf name, e.g. ``peony.wallet.v1.BalanceChanged``;
  stream      the producing service (whose JetStream stream notify consumes);
  purpose     ``transactional`` (goes out unless the member opted out of the channel) or
              ``marketing`` (needs opt-in; frequency-capped; stopped first by the spend cap);
  channels    preference order; the policy takes the first the recipient can be reached on;
  audience    ``member`` (addresses from members' ResolveContact) or ``staff`` (the store's
              configured staff contact, see ``settings.StaffDirectory``);
  recipient   the event field naming the recipient (``members/{id}`` or, for staff, ``stores/{id}``);
  timing      ``urgent`` (sent even in quiet hours), ``normal`` (deferred out of quiet hours) or
              ``reminder`` (deferred to the quiet-hours edge, never past the appointment);
  where       optional filter on the event's fields (enum names / values) for triggers that
              share an event, e.g. top-up vs spend notices of ``BalanceChanged``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from services.notify.domain.message import CHANNEL_APP_PUSH, CHANNEL_EMAIL, CHANNEL_SMS, CHANNEL_WECHAT

TRANSACTIONAL = "transactional"
MARKETING = "marketing"
PURPOSES = (TRANSACTIONAL, MARKETING)

AUDIENCE_MEMBER = "member"
AUDIENCE_STAFF = "staff"

URGENT = "urgent"
NORMAL = "normal"
REMINDER = "reminder"


@dataclass(frozen=True)
class Trigger:
    key: str
    event_type: str
    stream: str
    purpose: str
    channels: tuple[str, ...]
    audience: str = AUDIENCE_MEMBER
    recipient: str = "member"
    timing: str = NORMAL
    where: Mapping[str, frozenset] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def is_marketing(self) -> bool:
        return self.purpose == MARKETING

    def matches(self, event_fields: Mapping[str, object]) -> bool:
        return all(event_fields.get(name) in allowed for name, allowed in self.where.items())


# Member messages prefer the free, rich channels and fall back to SMS; security notices and
# time-critical ones go to SMS first, which every member has.
_RICH_FIRST = (CHANNEL_WECHAT, CHANNEL_APP_PUSH, CHANNEL_SMS, CHANNEL_EMAIL)
_SMS_FIRST = (CHANNEL_SMS, CHANNEL_WECHAT, CHANNEL_APP_PUSH, CHANNEL_EMAIL)
_STAFF = (CHANNEL_EMAIL, CHANNEL_SMS)

_SPEND_KINDS = frozenset({"TRANSACTION_KIND_SPEND", "TRANSACTION_KIND_CHECKOUT", "TRANSACTION_KIND_CAPTURE"})


def _row(key, event_type, purpose, channels, **kw) -> Trigger:
    stream = event_type.split(".")[1]  # peony.<service>.v1.Event
    return Trigger(key, event_type, stream, purpose, channels, **kw)


TRIGGERS: tuple[Trigger, ...] = (
    # members
    _row("welcome", "peony.members.v1.MemberRegistered", TRANSACTIONAL, _SMS_FIRST),
    _row("tier_changed", "peony.members.v1.TierChanged", TRANSACTIONAL, _RICH_FIRST),
    _row(
        "referral_reward",
        "peony.members.v1.ReferralRewardEarned",
        TRANSACTIONAL,
        _RICH_FIRST,
        recipient="referrer",
    ),
    # engagement: the birthday programme's greeting (its points come from the wallet)
    _row("birthday_greeting", "peony.members.v1.BirthdayBenefitDue", MARKETING, _RICH_FIRST),
    _row("lapse_reengagement", "peony.members.v1.MemberLapsed", MARKETING, _RICH_FIRST),
    _row("membership_anniversary", "peony.members.v1.MembershipAnniversaryDue", MARKETING, _RICH_FIRST),
    # campaigns: one event per recipient, the campaign's text and reward (granted by the wallet)
    _row("campaign_message", "peony.members.v1.CampaignMessageDue", MARKETING, _RICH_FIRST),
    _row("card_lost", "peony.members.v1.CardReportedLost", TRANSACTIONAL, _SMS_FIRST, timing=URGENT),
    # wallet
    _row(
        "top_up_notice",
        "peony.wallet.v1.BalanceChanged",
        TRANSACTIONAL,
        _SMS_FIRST,
        timing=URGENT,  # a balance change is a fraud signal: the member hears of it at once
        where=MappingProxyType({"reason": frozenset({"TRANSACTION_KIND_TOP_UP"})}),
    ),
    _row(
        "spend_notice",
        "peony.wallet.v1.BalanceChanged",
        TRANSACTIONAL,
        _SMS_FIRST,
        timing=URGENT,
        where=MappingProxyType({"reason": _SPEND_KINDS}),
    ),
    _row("points_earned", "peony.wallet.v1.PointsEarned", TRANSACTIONAL, _RICH_FIRST),
    _row("points_expiring", "peony.wallet.v1.PointsExpiring", MARKETING, _RICH_FIRST),
    # the paid membership (会员费): a receipt of the fee, the renewal notice, the lapse
    _row("membership_renewed", "peony.wallet.v1.MembershipRenewed", TRANSACTIONAL, _RICH_FIRST),
    _row("membership_renewal_due", "peony.wallet.v1.MembershipRenewalDue", TRANSACTIONAL, _RICH_FIRST),
    _row("membership_expired", "peony.wallet.v1.MembershipExpired", TRANSACTIONAL, _RICH_FIRST),
    # booking
    _row("appointment_booked", "peony.booking.v1.AppointmentBooked", TRANSACTIONAL, _RICH_FIRST),
    _row("appointment_rescheduled", "peony.booking.v1.AppointmentRescheduled", TRANSACTIONAL, _RICH_FIRST),
    _row("appointment_cancelled", "peony.booking.v1.AppointmentCancelled", TRANSACTIONAL, _RICH_FIRST),
    _row("reminder", "peony.booking.v1.ReminderDue", TRANSACTIONAL, _SMS_FIRST, timing=REMINDER),
    _row("follow_up", "peony.booking.v1.FollowUpDue", MARKETING, _RICH_FIRST),
    _row("waitlist_offer", "peony.booking.v1.WaitlistOffered", TRANSACTIONAL, _SMS_FIRST, timing=URGENT),
    _row("complaint_acknowledged", "peony.booking.v1.ComplaintOpened", TRANSACTIONAL, _RICH_FIRST),
    _row(
        "complaint_escalated",
        "peony.booking.v1.ComplaintSlaBreached",
        TRANSACTIONAL,
        _STAFF,
        audience=AUDIENCE_STAFF,
        recipient="store",
        timing=URGENT,
    ),
)

BY_KEY: Mapping[str, Trigger] = MappingProxyType({t.key: t for t in TRIGGERS})


_BY_EVENT_TYPE: dict[str, list[Trigger]] = {}
for _trigger in TRIGGERS:
    _BY_EVENT_TYPE.setdefault(_trigger.event_type, []).append(_trigger)


def triggers_for(event_type: str) -> list[Trigger]:
    """The trigger table's rows for ``event_type``, in table order (a dict lookup per event)."""
    return list(_BY_EVENT_TYPE.get(event_type, ()))


def event_types(stream: str) -> list[str]:
    """The event types of one producing service that some trigger uses."""
    return sorted({t.event_type for t in TRIGGERS if t.stream == stream})


def subjects(stream: str) -> list[str]:
    """NATS subjects of those events: ``peony.<service>.<EventName>``."""
    return [f"peony.{stream}.{event_type.rsplit('.', 1)[1]}" for event_type in event_types(stream)]
