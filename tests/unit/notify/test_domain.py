"""Notify's domain without I/O: message ids and lifecycle, the trigger table, templates."""
# ruff: noqa: RUF001 - Chinese punctuation in expected message texts

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from google.protobuf import descriptor_pool
from google.protobuf.timestamp_pb2 import Timestamp
from peony.booking.v1 import events_pb2 as booking_events
from peony.members.v1 import events_pb2 as members_events
from peony.wallet.v1 import events_pb2 as wallet_events

from services.notify.domain.context import event_context
from services.notify.domain.default_templates import DEFAULT_TEMPLATES
from services.notify.domain.message import Message, MessageStateError, message_id_for
from services.notify.domain.templates import (
    ANY_CHANNEL,
    LOCALES,
    Template,
    TemplateBook,
    normalise_locale,
    validate,
)
from services.notify.domain.triggers import BY_KEY, TRIGGERS, subjects, triggers_for
from services.notify.service_layer import handlers  # noqa: F401 - registers the event types

EVENT = str(uuid.uuid4())
BOOK = TemplateBook()


def _ts(dt: datetime) -> Timestamp:
    out = Timestamp()
    out.FromDatetime(dt)
    return out


def test_message_id_is_a_pure_function_of_tenant_event_trigger_recipient():
    a = message_id_for("acme", EVENT, "welcome", "members/m1")
    assert a == message_id_for("acme", EVENT.upper(), "welcome", "members/m1")  # same UUID, other spelling
    assert uuid.UUID(a).version == 5
    others = {
        message_id_for("other", EVENT, "welcome", "members/m1"),
        message_id_for("acme", str(uuid.uuid4()), "welcome", "members/m1"),
        message_id_for("acme", EVENT, "card_lost", "members/m1"),
        message_id_for("acme", EVENT, "welcome", "members/m2"),
    }
    assert a not in others and len(others) == 4
    with pytest.raises(ValueError):
        message_id_for("acme", EVENT, "Not A Key", "members/m1")


def test_message_lifecycle_refuses_impossible_transitions():
    m = Message("id", "members/m1", "welcome", EVENT, "transactional")
    m.mark_suppressed("suppressed: NO_CONSENT")
    with pytest.raises(MessageStateError):
        m.mark_sent(datetime.now(UTC), channel="sms", provider="p", provider_message_id="x")
    m = Message("id", "members/m1", "welcome", EVENT, "transactional")
    m.mark_failed("down")
    with pytest.raises(MessageStateError):
        m.mark_delivered(datetime.now(UTC))
    m.requeue(datetime.now(UTC))
    assert (m.state, m.attempts) == ("queued", 0)
    with pytest.raises(MessageStateError):  # only a claimed message is sent: the claim commits first
        m.mark_sent(datetime.now(UTC), channel="sms", provider="p", provider_message_id="x")
    now = datetime.now(UTC)
    m.claim(now, now + timedelta(seconds=30))
    assert (m.state, m.attempts, m.due_time) == ("sending", 1, now + timedelta(seconds=30))
    m.retry_later(now, "p: busy")  # the claim counted the attempt
    assert (m.state, m.attempts) == ("queued", 1)
    m.claim(now, now)
    m.mark_sent(datetime.now(UTC), channel="sms", provider="p", provider_message_id="x")
    m.mark_delivered(datetime.now(UTC))
    assert (m.state, m.attempts) == ("delivered", 2)


# --- the trigger table ------------------------------------------------------------------------
EXPECTED = {
    "peony.members.v1.MemberRegistered": {"welcome"},
    "peony.members.v1.TierChanged": {"tier_changed"},
    "peony.members.v1.ReferralRewardEarned": {"referral_reward"},
    "peony.members.v1.CardReportedLost": {"card_lost"},
    "peony.members.v1.BirthdayBenefitDue": {"birthday_greeting"},
    "peony.members.v1.MemberLapsed": {"lapse_reengagement"},
    "peony.members.v1.MembershipAnniversaryDue": {"membership_anniversary"},
    "peony.members.v1.CampaignMessageDue": {"campaign_message"},
    "peony.wallet.v1.BalanceChanged": {"top_up_notice", "spend_notice"},
    "peony.wallet.v1.PointsEarned": {"points_earned"},
    "peony.wallet.v1.PointsExpiring": {"points_expiring"},
    "peony.wallet.v1.MembershipRenewed": {"membership_renewed"},
    "peony.wallet.v1.MembershipRenewalDue": {"membership_renewal_due"},
    "peony.wallet.v1.MembershipExpired": {"membership_expired"},
    "peony.booking.v1.AppointmentBooked": {"appointment_booked"},
    "peony.booking.v1.AppointmentRescheduled": {"appointment_rescheduled"},
    "peony.booking.v1.AppointmentCancelled": {"appointment_cancelled"},
    "peony.booking.v1.ReminderDue": {"reminder"},
    "peony.booking.v1.FollowUpDue": {"follow_up"},
    "peony.booking.v1.WaitlistOffered": {"waitlist_offer"},
    "peony.booking.v1.ComplaintOpened": {"complaint_acknowledged"},
    "peony.booking.v1.ComplaintSlaBreached": {"complaint_escalated"},
}


def test_every_trigger_of_the_issue_is_a_row_on_a_real_event_with_a_recipient_field():
    assert {et: {t.key for t in triggers_for(et)} for et in EXPECTED} == EXPECTED
    assert len(TRIGGERS) == len(BY_KEY) == sum(len(v) for v in EXPECTED.values())
    for trigger in TRIGGERS:
        event = descriptor_pool.Default().FindMessageTypeByName(trigger.event_type)  # exists
        assert trigger.recipient in event.fields_by_name, trigger.key
        for name in trigger.where:
            assert name in event.fields_by_name, trigger.key
    assert "peony.wallet.BalanceChanged" in subjects("wallet")
    assert "peony.booking.ComplaintSlaBreached" in subjects("booking")


def test_every_trigger_has_valid_default_templates_in_both_locales():
    for trigger in TRIGGERS:
        event = descriptor_pool.Default().FindMessageTypeByName(trigger.event_type)
        for locale in LOCALES:
            template = DEFAULT_TEMPLATES[(trigger.key, ANY_CHANNEL, locale)]
            assert validate(event, template) == [], (trigger.key, locale)
            assert template.subject, (trigger.key, locale)


def test_balance_changed_becomes_a_top_up_or_a_spend_notice_by_its_reason():
    top_up = event_context(wallet_events.BalanceChanged(member="members/m", reason=1, delta_minor=100))
    spend = event_context(wallet_events.BalanceChanged(member="members/m", reason=16, delta_minor=-100))
    hold = event_context(wallet_events.BalanceChanged(member="members/m", reason=5, delta_minor=-100))
    notices = triggers_for("peony.wallet.v1.BalanceChanged")
    assert [t.key for t in notices if t.matches(top_up)] == ["top_up_notice"]
    assert [t.key for t in notices if t.matches(spend)] == ["spend_notice"]
    assert [t.key for t in notices if t.matches(hold)] == []


# --- templates -----------------------------------------------------------------------------------
def _render(trigger: str, event, locale: str, tz: str = "Asia/Shanghai", name: str = "王静怡") -> str:
    return BOOK.render(
        trigger, "sms", locale, event=event_context(event), member={"display_name": name}, tz=tz
    ).body


def test_spend_notice_formats_money_in_the_members_locale():
    event = wallet_events.BalanceChanged(
        member="members/m",
        reason=16,
        delta_minor=-12800,
        principal_minor=50000,
        bonus_minor=1250,
        currency_code="CNY",
    )
    assert (
        _render("spend_notice", event, "zh-CN")
        == "您的会员账户消费 ¥128.00，当前余额 ¥512.50。如有疑问请联系门店。"
    )
    assert _render("spend_notice", event, "en") == (
        "You spent CN¥128.00 from your account. Balance: CN¥512.50. Questions? Contact the store."
    )


def test_reminder_times_are_in_the_store_zone_and_locale():
    start = datetime(2026, 3, 8, 14, 30, tzinfo=UTC)  # 22:30 in Shanghai, 10:30 in New York (EDT)
    event = booking_events.ReminderDue(
        member="members/m",
        services=[booking_events.AppointmentServiceSummary(display_name="面部护理")],
        start_time=_ts(start),
    )
    assert "3月8日周日 22:30" in _render("reminder", event, "zh-CN")
    assert "Sun, Mar 8 10:30" in _render("reminder", event, "en", tz="America/New_York")
    assert "面部护理" in _render("reminder", event, "zh-CN")


def test_welcome_and_unknown_locales_fall_back_to_zh_cn():
    # The name comes from members at send time: the event carries no personal data.
    event = members_events.MemberRegistered(member="members/m", member_number="M00000001")
    assert _render("welcome", event, "fr", name="小美") == "亲爱的小美，欢迎加入！您的会员号 M00000001。"
    assert normalise_locale("en_US") == "en" and normalise_locale("zh-Hans") == "zh-CN"


def test_tenant_overrides_win_per_channel_then_any_channel():
    book = TemplateBook(
        {
            ("welcome", "sms", "en"): Template("SMS hi {{ event.display_name }}"),
            ("welcome", ANY_CHANNEL, "en"): Template("Any hi {{ event.display_name }}"),
        }
    )
    event = event_context(members_events.MemberRegistered(display_name="Ann"))
    kw = {"event": event, "member": {"display_name": "Ann"}, "tz": "UTC"}
    assert book.render("welcome", "sms", "en", **kw).body == "SMS hi Ann"
    assert book.render("welcome", "email", "en", **kw).body == "Any hi Ann"
    assert book.render("welcome", "sms", "zh-CN", **kw).body.startswith("亲爱的Ann")


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ("{{ event.display_name ", "syntax error"),
        ("{{ phone }}", "unknown variables ['phone']"),
        ("{{ event.phone }}", "event.phone does not exist"),
        ("{{ member.phone }}", "member.phone does not exist"),
        ("{{ event.__class__.__mro__ }}", "does not exist"),
        ("{{ ''.__class__.__mro__[1].__subclasses__() }}", "does not render"),
        ("{{ event.member_number|tail('x') }}", "does not render"),
    ],
)
def test_bad_templates_are_refused_at_save_time_with_the_field(body: str, fragment: str):
    event = members_events.MemberRegistered.DESCRIPTOR
    problems = validate(event, Template(body))
    assert problems and problems[0][0] == "template.body", problems
    assert fragment in problems[0][1], problems


def test_subject_is_validated_too_and_sizes_are_bounded():
    event = members_events.MemberRegistered.DESCRIPTOR
    assert validate(event, Template("ok", subject="{{ nope }}"))[0][0] == "template.subject"
    assert validate(event, Template("x" * 2001))[0] == ("template.body", "must be at most 2000 characters")
    assert validate(event, Template(" "))[0] == ("template.body", "is required")


def test_birthday_greeting_mentions_the_points_only_when_there_are_some():
    with_points = _render(
        "birthday_greeting", members_events.BirthdayBenefitDue(member="members/m", points=300), "zh-CN"
    )
    without = _render(
        "birthday_greeting", members_events.BirthdayBenefitDue(member="members/m"), "en", name="Ann"
    )
    assert "王静怡" in with_points and "300" in with_points
    assert without.startswith("Happy birthday, Ann!") and "points" not in without


def test_anniversary_greeting_names_the_years_and_the_points_only_when_there_are_some():
    due = members_events.MembershipAnniversaryDue(
        member="members/m", year=2027, years=3, reward=members_events.ProgrammeReward(points=88)
    )
    zh = _render("membership_anniversary", due, "zh-CN")
    en = _render("membership_anniversary", members_events.MembershipAnniversaryDue(years=1), "en", name="Ann")
    assert "3 年" in zh and "88" in zh
    assert en.startswith("Ann, thank you for 1 year(s)") and "points" not in en


def test_a_campaign_message_renders_the_campaigns_own_text_with_the_members_name():
    event = event_context(
        members_events.CampaignMessageDue(
            member="members/m", body="{{ member.display_name }}，送您 {{ event.points }} 积分", points=200
        )
    )
    rendered = TemplateBook().render(
        "campaign_message", "sms", "zh-CN", event=event, member={"display_name": "小林"}, tz="Asia/Shanghai"
    )
    assert rendered.body == "小林，送您 200 积分"
    # a body naming itself renders empty instead of recursing
    looped = event_context(
        members_events.CampaignMessageDue(member="members/m", body="{{ event.body|render_body }}")
    )
    assert (
        TemplateBook().render("campaign_message", "sms", "en", event=looped, member={}, tz="UTC").body == ""
    )
