"""The chain's rules, in one pure step before anything is sent: :func:`decide`.

Given the trigger, what is known of the recipient (which channels reach them, consents, the home
store's time zone), their recent marketing volume and whether the tenant's paid-channel budget
for the day is spent, it returns one :class:`Decision`: send now on channel C, defer until T, or
suppress because R. No I/O: the dispatcher gathers the facts, applies the decision, and — when
the database refuses the spend reservation the decision assumed — decides again with
``spend_exhausted=True`` (plan, apply, re-plan when stale).

Rules, in order:
  1. only active recipients;
  2. consent: marketing needs opt-in on the channel; transactional goes out unless the member
     opted out of it; a channel without an address is skipped (next in the trigger's order);
  3. spend cap: once the tenant's paid-channel budget for the day is spent, marketing on a paid
     channel stops (suppressed), transactional falls back to the free channels it can use;
  4. frequency caps (marketing only; transactional is deduplicated by the message id instead);
  5. quiet hours in the store's zone: ``normal`` messages wait for the end of quiet hours;
     ``reminder`` messages wait for it only when it comes before the appointment, and otherwise
     go out now (never after the appointment: a reminder for a started appointment is dropped);
     ``urgent`` ones go out at any hour.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from services.notify.domain.message import CHANNEL_SMS
from services.notify.domain.triggers import REMINDER, URGENT, Trigger

PAID_CHANNELS = frozenset({CHANNEL_SMS})

SEND = "send"
DEFER = "defer"
SUPPRESS = "suppress"

# Reasons recorded on the message (and in metrics): stable, upper-case codes.
NOT_ACTIVE = "RECIPIENT_NOT_ACTIVE"
NO_ADDRESS = "NO_ADDRESS"
NO_CONSENT = "NO_CONSENT"
SPEND_CAP = "SPEND_CAP"
FREQUENCY_CAP_DAY = "FREQUENCY_CAP_DAY"
FREQUENCY_CAP_WEEK = "FREQUENCY_CAP_WEEK"
QUIET_HOURS = "QUIET_HOURS"
APPOINTMENT_STARTED = "APPOINTMENT_STARTED"
ALLOWED = "ALLOWED"


@dataclass(frozen=True)
class QuietHours:
    """A daily window, possibly across midnight (the default, 21:00-09:00)."""

    start: time = time(21, 0)
    end: time = time(9, 0)

    def contains(self, local: time) -> bool:
        if self.start == self.end:
            return False
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end

    def next_end(self, now: datetime, zone: ZoneInfo) -> datetime:
        """The first end of quiet hours after ``now``, as an aware UTC-comparable datetime."""
        local = now.astimezone(zone)
        candidate = datetime.combine(local.date(), self.end, tzinfo=zone)
        if candidate <= local:
            candidate = datetime.combine(local.date() + timedelta(days=1), self.end, tzinfo=zone)
        return candidate


@dataclass(frozen=True)
class Rules:
    quiet_hours: QuietHours = field(default_factory=QuietHours)
    marketing_per_day: int = 3
    marketing_per_week: int = 10


@dataclass(frozen=True)
class Reach:
    """What the policy knows of the recipient (no addresses: only whether there is one)."""

    channels: frozenset[str]  # channels with an address
    marketing_opt_in: frozenset[str]
    transactional_opt_out: frozenset[str]
    time_zone: str
    active: bool = True


@dataclass(frozen=True)
class Usage:
    """Marketing messages sent to the recipient in the last 24 hours and 7 days."""

    marketing_day: int = 0
    marketing_week: int = 0


@dataclass(frozen=True)
class Decision:
    outcome: str  # SEND | DEFER | SUPPRESS
    reason: str
    channel: str = ""  # the channel to send on (SEND, DEFER)
    not_before: datetime | None = None  # DEFER: when to decide again
    fallbacks: tuple[str, ...] = ()  # further usable channels, in order

    def describe(self) -> str:
        """The decision as recorded on the message, e.g. ``deferred until ...: QUIET_HOURS``."""
        if self.outcome == SEND:
            return f"send on {self.channel}: {self.reason}"
        if self.outcome == DEFER:
            assert self.not_before is not None
            return f"deferred until {self.not_before.isoformat()}: {self.reason}"
        return f"suppressed: {self.reason}"


def _usable(trigger: Trigger, reach: Reach) -> tuple[list[str], bool]:
    """Channels in the trigger's order the recipient may get this on; and whether consent (not
    a missing address) is what ruled out the others."""
    usable: list[str] = []
    consent_blocked = False
    for channel in trigger.channels:
        if channel not in reach.channels:
            continue
        allowed = (
            channel in reach.marketing_opt_in
            if trigger.is_marketing
            else channel not in reach.transactional_opt_out
        )
        if allowed:
            usable.append(channel)
        else:
            consent_blocked = True
    return usable, consent_blocked


def decide(
    trigger: Trigger,
    reach: Reach,
    *,
    now: datetime,
    rules: Rules,
    usage: Usage = Usage(),
    spend_exhausted: bool = False,
    appointment_start: datetime | None = None,
) -> Decision:
    if not reach.active:
        return Decision(SUPPRESS, NOT_ACTIVE)
    usable, consent_blocked = _usable(trigger, reach)
    if not usable:
        return Decision(SUPPRESS, NO_CONSENT if consent_blocked else NO_ADDRESS)
    if spend_exhausted:
        if trigger.is_marketing and usable[0] in PAID_CHANNELS:
            return Decision(SUPPRESS, SPEND_CAP)
        usable = [c for c in usable if c not in PAID_CHANNELS]
        if not usable:
            return Decision(SUPPRESS, SPEND_CAP)
    if trigger.is_marketing:
        if usage.marketing_day >= rules.marketing_per_day:
            return Decision(SUPPRESS, FREQUENCY_CAP_DAY)
        if usage.marketing_week >= rules.marketing_per_week:
            return Decision(SUPPRESS, FREQUENCY_CAP_WEEK)
    channel, fallbacks = usable[0], tuple(usable[1:])
    if trigger.timing == REMINDER and appointment_start is not None and now >= appointment_start:
        return Decision(SUPPRESS, APPOINTMENT_STARTED)
    zone = ZoneInfo(reach.time_zone)
    if trigger.timing != URGENT and rules.quiet_hours.contains(
        now.astimezone(zone).timetz().replace(tzinfo=None)
    ):
        edge = rules.quiet_hours.next_end(now, zone)
        if trigger.timing != REMINDER or appointment_start is None or edge < appointment_start:
            return Decision(DEFER, QUIET_HOURS, channel, edge, fallbacks)
        # The reminder's appointment comes before quiet hours end: now is the last moment before it.
    return Decision(SEND, ALLOWED, channel, None, fallbacks)


def reach_from(
    channels: Mapping[str, bool],
    marketing_opt_in: Mapping[str, bool],
    transactional_opt_out: Mapping[str, bool],
    *,
    time_zone: str,
    active: bool = True,
) -> Reach:
    return Reach(
        channels=frozenset(c for c, has in channels.items() if has),
        marketing_opt_in=frozenset(c for c, yes in marketing_opt_in.items() if yes),
        transactional_opt_out=frozenset(c for c, yes in transactional_opt_out.items() if yes),
        time_zone=time_zone,
        active=active,
    )
