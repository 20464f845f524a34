"""The policy step (domain.policy.decide): each rule has a test that fails when it is removed."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest

from services.notify.domain.policy import (
    DEFER,
    SEND,
    SUPPRESS,
    QuietHours,
    Reach,
    Rules,
    Usage,
    decide,
)
from services.notify.domain.triggers import BY_KEY

RULES = Rules()
WELCOME = BY_KEY["welcome"]  # transactional, normal timing, SMS first
SPEND = BY_KEY["spend_notice"]  # transactional, urgent
FOLLOW_UP = BY_KEY["follow_up"]  # marketing, WeChat first
POINTS_EXPIRING = BY_KEY["points_expiring"]  # marketing
REMINDER = BY_KEY["reminder"]
NOON_SHANGHAI = datetime(2026, 12, 7, 4, 0, tzinfo=UTC)  # 12:00 in Shanghai


def reach(channels=("sms", "wechat"), opt_in=(), opt_out=(), tz="Asia/Shanghai", active=True) -> Reach:
    return Reach(frozenset(channels), frozenset(opt_in), frozenset(opt_out), tz, active)


# --- consent and addresses ----------------------------------------------------------------------
def test_marketing_needs_opt_in_on_the_channel():
    assert decide(FOLLOW_UP, reach(), now=NOON_SHANGHAI, rules=RULES).reason == "NO_CONSENT"
    d = decide(FOLLOW_UP, reach(opt_in=("sms",)), now=NOON_SHANGHAI, rules=RULES)
    assert (d.outcome, d.channel) == (SEND, "sms")  # WeChat is preferred but not consented


def test_transactional_goes_out_unless_opted_out_and_falls_to_the_next_channel():
    assert decide(WELCOME, reach(), now=NOON_SHANGHAI, rules=RULES).channel == "sms"
    d = decide(WELCOME, reach(opt_out=("sms",)), now=NOON_SHANGHAI, rules=RULES)
    assert (d.outcome, d.channel) == (SEND, "wechat")
    assert (
        decide(WELCOME, reach(opt_out=("sms", "wechat")), now=NOON_SHANGHAI, rules=RULES).reason
        == "NO_CONSENT"
    )


def test_no_address_skips_the_channel_and_none_at_all_suppresses():
    assert decide(WELCOME, reach(channels=("email",)), now=NOON_SHANGHAI, rules=RULES).channel == "email"
    assert decide(WELCOME, reach(channels=()), now=NOON_SHANGHAI, rules=RULES).reason == "NO_ADDRESS"
    assert decide(WELCOME, reach(active=False), now=NOON_SHANGHAI, rules=RULES).outcome == SUPPRESS


# --- frequency caps ---------------------------------------------------------------------------------
def test_marketing_is_capped_per_day_and_per_week_transactional_is_not():
    r = reach(opt_in=("wechat",))
    assert decide(FOLLOW_UP, r, now=NOON_SHANGHAI, rules=RULES, usage=Usage(2, 9)).outcome == SEND
    assert (
        decide(FOLLOW_UP, r, now=NOON_SHANGHAI, rules=RULES, usage=Usage(3, 3)).reason == "FREQUENCY_CAP_DAY"
    )
    assert (
        decide(FOLLOW_UP, r, now=NOON_SHANGHAI, rules=RULES, usage=Usage(0, 10)).reason
        == "FREQUENCY_CAP_WEEK"
    )
    assert decide(WELCOME, r, now=NOON_SHANGHAI, rules=RULES, usage=Usage(50, 500)).outcome == SEND


# --- spend cap -------------------------------------------------------------------------------------
def test_spend_cap_stops_paid_marketing_and_moves_transactional_to_free_channels():
    r = reach(opt_in=("sms",))
    assert (
        decide(POINTS_EXPIRING, r, now=NOON_SHANGHAI, rules=RULES, spend_exhausted=True).reason == "SPEND_CAP"
    )
    assert decide(POINTS_EXPIRING, r, now=NOON_SHANGHAI, rules=RULES).channel == "sms"
    d = decide(SPEND, reach(), now=NOON_SHANGHAI, rules=RULES, spend_exhausted=True)
    assert (d.outcome, d.channel) == (SEND, "wechat")
    only_sms = reach(channels=("sms",))
    assert decide(SPEND, only_sms, now=NOON_SHANGHAI, rules=RULES, spend_exhausted=True).reason == "SPEND_CAP"


# --- quiet hours in the store's zone ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("now", "tz", "until"),
    [
        # Shanghai, 22:00 -> 09:00 the next morning.
        (datetime(2026, 12, 7, 14, 0, tzinfo=UTC), "Asia/Shanghai", datetime(2026, 12, 8, 1, 0, tzinfo=UTC)),
        # New York the night clocks spring forward (8 March 2026): 22:00 EST -> 09:00 EDT, 10 h later.
        (datetime(2026, 3, 8, 3, 0, tzinfo=UTC), "America/New_York", datetime(2026, 3, 8, 13, 0, tzinfo=UTC)),
        # ... and fall back (1 November 2026): 23:00 EDT -> 09:00 EST, 11 h later.
        (
            datetime(2026, 11, 1, 3, 0, tzinfo=UTC),
            "America/New_York",
            datetime(2026, 11, 1, 14, 0, tzinfo=UTC),
        ),
        # After midnight, before 09:00: the same morning.
        (datetime(2026, 12, 7, 20, 30, tzinfo=UTC), "Asia/Shanghai", datetime(2026, 12, 8, 1, 0, tzinfo=UTC)),
    ],
)
def test_quiet_hours_defer_normal_messages_to_the_local_morning(now, tz, until):
    d = decide(WELCOME, reach(tz=tz), now=now, rules=RULES)
    assert (d.outcome, d.reason, d.not_before) == (DEFER, "QUIET_HOURS", until)
    assert d.channel == "sms"


def test_quiet_hours_are_the_stores_not_utc():
    # 14:00 UTC is 22:00 in Shanghai (quiet) but 09:00 in New York in winter (allowed).
    now = datetime(2026, 12, 7, 14, 0, tzinfo=UTC)
    assert decide(WELCOME, reach(tz="Asia/Shanghai"), now=now, rules=RULES).outcome == DEFER
    assert decide(WELCOME, reach(tz="America/New_York"), now=now, rules=RULES).outcome == SEND


def test_urgent_messages_ignore_quiet_hours():
    now = datetime(2026, 12, 7, 16, 0, tzinfo=UTC)  # midnight in Shanghai
    assert decide(SPEND, reach(), now=now, rules=RULES).outcome == SEND
    assert decide(WELCOME, reach(), now=now, rules=RULES).outcome == DEFER


def test_reminders_wait_for_the_quiet_hours_edge_only_when_it_comes_before_the_appointment():
    at_0800 = datetime(2026, 12, 8, 0, 0, tzinfo=UTC)  # 08:00 Shanghai, still quiet
    ten = datetime(2026, 12, 8, 2, 0, tzinfo=UTC)  # appointment at 10:00
    d = decide(REMINDER, reach(), now=at_0800, rules=RULES, appointment_start=ten)
    assert (d.outcome, d.not_before) == (DEFER, datetime(2026, 12, 8, 1, 0, tzinfo=UTC))  # 09:00
    half_past_eight = datetime(2026, 12, 8, 0, 30, tzinfo=UTC)  # before quiet hours end: now
    assert (
        decide(REMINDER, reach(), now=at_0800, rules=RULES, appointment_start=half_past_eight).outcome == SEND
    )
    started = decide(REMINDER, reach(), now=ten, rules=RULES, appointment_start=ten)
    assert (started.outcome, started.reason) == (SUPPRESS, "APPOINTMENT_STARTED")


def test_quiet_hours_window_shapes():
    q = QuietHours(time(21), time(9))
    assert (
        q.contains(time(21))
        and q.contains(time(8, 59))
        and not q.contains(time(9))
        and not q.contains(time(20, 59))
    )
    day = QuietHours(time(12), time(14))
    assert day.contains(time(13)) and not day.contains(time(14))
    assert not QuietHours(time(0), time(0)).contains(time(3))  # "off"
