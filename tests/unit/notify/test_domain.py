"""Notify's domain and delivery sinks, without I/O beyond a temporary file."""

from __future__ import annotations

import asyncio
import io
import json
import uuid
from datetime import UTC, datetime

import pytest

from kit.config import ConfigError, load_config
from services.notify.adapters.sinks import ConsoleSink, Delivery, FileSink
from services.notify.domain.message import (
    CHANNEL_EMAIL,
    CHANNEL_SMS,
    STATE_DELIVERED,
    STATE_FAILED,
    STATE_SENT,
    Message,
    MessageStateError,
    message_id_for,
)
from services.notify.domain.templates import TemplateBook, TemplateError, normalise_locale
from services.notify.domain.welcome import WELCOME_CHANNEL, welcome_message
from services.notify.settings import DEFAULT_SINK, notify_settings

EVENT = str(uuid.uuid4())
BOOK = TemplateBook()


def test_message_id_is_a_pure_function_of_trigger_channel_recipient():
    a = message_id_for("acme", EVENT, CHANNEL_SMS, "members/m1")
    assert a == message_id_for("acme", EVENT.upper(), CHANNEL_SMS, "members/m1")  # same UUID, other spelling
    assert uuid.UUID(a).version == 5
    others = {
        message_id_for("other", EVENT, CHANNEL_SMS, "members/m1"),
        message_id_for("acme", str(uuid.uuid4()), CHANNEL_SMS, "members/m1"),
        message_id_for("acme", EVENT, CHANNEL_EMAIL, "members/m1"),
        message_id_for("acme", EVENT, CHANNEL_SMS, "members/m2"),
    }
    assert a not in others and len(others) == 4
    with pytest.raises(ValueError):
        message_id_for("acme", EVENT, "pigeon", "members/m1")


def test_welcome_is_sms_in_chinese_by_default_and_english_on_request():
    zh = welcome_message(
        BOOK,
        tenant="acme",
        trigger_event_id=EVENT,
        recipient="members/m1",
        display_name="小美",
        member_number="M1",
    )
    assert zh.channel == WELCOME_CHANNEL == CHANNEL_SMS
    assert zh.locale == "zh-CN"
    assert zh.body == "亲爱的小美，欢迎加入！您的会员号 M1。"  # noqa: RUF001
    assert zh.message_id == message_id_for("acme", EVENT, CHANNEL_SMS, "members/m1")
    assert zh.is_transactional
    en = welcome_message(
        BOOK,
        tenant="acme",
        trigger_event_id=EVENT,
        recipient="members/m1",
        display_name="",
        member_number="M2",
        locale="en-GB",
    )
    assert (en.locale, en.body) == ("en", "Welcome, member! Your member number is M2.")


def test_locales_fall_back_to_the_default():
    assert normalise_locale("fr-FR") == "zh-CN"
    assert normalise_locale("EN_us") == "en"
    assert normalise_locale("zh-Hans") == "zh-CN"
    only_en = TemplateBook({("welcome", CHANNEL_SMS, "en"): "Hi {display_name}"})
    assert only_en.render("welcome", CHANNEL_SMS, "en", {"display_name": "A"}).body == "Hi A"
    with pytest.raises(TemplateError):
        BOOK.render("welcome", CHANNEL_SMS, "en", {"display_name": "A"})  # member_number missing
    with pytest.raises(TemplateError):
        BOOK.render("birthday", CHANNEL_SMS, "en", {})


def test_state_transitions():
    m = Message.new(
        tenant="t",
        recipient="members/x",
        channel="sms",
        trigger="welcome",
        trigger_event_id=EVENT,
        locale="en",
        body="b",
    )
    now = datetime.now(UTC)
    m.mark_sent(now)
    assert (m.state, m.attempts, m.send_time) == (STATE_SENT, 1, now)
    with pytest.raises(MessageStateError):
        m.mark_sent(now)
    m.mark_delivered()
    assert m.state == STATE_DELIVERED
    f = Message.new(
        tenant="t",
        recipient="members/x",
        channel="sms",
        trigger="welcome",
        trigger_event_id=EVENT,
        locale="en",
        body="b",
    )
    f.mark_failed("x" * 1000)
    assert (f.state, f.attempts, len(f.last_error)) == (STATE_FAILED, 1, 500)
    with pytest.raises(ValueError):
        Message.new(
            tenant="t",
            recipient="members/x",
            channel="sms",
            trigger="nope",
            trigger_event_id=EVENT,
            locale="en",
            body="",
        )


def _delivery(n: int) -> Delivery:
    return Delivery(
        message=f"messages/{uuid.uuid5(uuid.NAMESPACE_OID, str(n))}",
        tenant="acme",
        recipient=f"members/{n}",
        channel="sms",
        trigger="welcome",
        trigger_event_id=EVENT,
        body=f"hello {n} 你好",
        sent_at=datetime.now(UTC),
    )


def _lines(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


async def test_file_sink_writes_each_message_once_even_across_reopen(tmp_path):
    path = tmp_path / "deep" / "outbox.jsonl"
    sink = FileSink(path)
    assert await sink.deliver(_delivery(1)) is True
    assert await sink.deliver(_delivery(1)) is False
    # A "restarted process": a new instance loads the ids already in the file.
    again = FileSink(path)
    assert await again.deliver(_delivery(1)) is False
    assert await again.deliver(_delivery(2)) is True
    # The first instance learns about lines other writers appended before it writes.
    assert await sink.deliver(_delivery(2)) is False
    lines = _lines(path)
    assert [line["recipient"] for line in lines] == ["members/1", "members/2"]
    assert set(lines[0]) == {
        "message",
        "tenant",
        "recipient",
        "channel",
        "trigger",
        "trigger_event_id",
        "body",
        "sent_at",
    }
    assert lines[0]["body"] == "hello 1 你好"


async def test_file_sink_survives_a_torn_last_line(tmp_path):
    path = tmp_path / "outbox.jsonl"
    sink = FileSink(path)
    await sink.deliver(_delivery(1))
    with path.open("ab") as fh:
        fh.write(b'{"message":"messages/torn","ten')  # a crash mid-write
    fresh = FileSink(path)
    assert await fresh.deliver(_delivery(3)) is True
    text = path.read_text(encoding="utf-8").splitlines()
    assert len(text) == 3 and text[1].startswith('{"message":"messages/torn"')
    assert json.loads(text[2])["recipient"] == "members/3"
    assert await FileSink(path).deliver(_delivery(3)) is False


async def test_file_sink_concurrent_deliveries_are_not_duplicated(tmp_path):
    path = tmp_path / "outbox.jsonl"
    a, b = FileSink(path), FileSink(path)
    results = await asyncio.gather(*(s.deliver(_delivery(n)) for n in range(20) for s in (a, b)))
    assert sum(results) == 20
    assert sorted(line["recipient"] for line in _lines(path)) == sorted(f"members/{n}" for n in range(20))


async def test_console_sink_prints_once():
    out = io.StringIO()
    sink = ConsoleSink(out)
    assert await sink.deliver(_delivery(1)) is True
    assert await sink.deliver(_delivery(1)) is False
    assert len(out.getvalue().splitlines()) == 1


def test_sink_setting_defaults_and_validation(tmp_path):
    base = {"PEONY_NOTIFY_DATABASE_URL": "postgresql://x@127.0.0.1/db"}
    assert notify_settings(load_config("notify", base), environ={}).sink == DEFAULT_SINK
    config = load_config("notify", {**base, "PEONY_NOTIFY_SINK": "console"})
    assert notify_settings(config, environ={}).sink == "console"
    with pytest.raises(ConfigError):
        notify_settings(load_config("notify", {**base, "PEONY_NOTIFY_SINK": str(tmp_path)}), environ={})
