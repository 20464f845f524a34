"""kit.logging: JSON lines on stdout, trace ids, PII redaction (keys, text, exceptions)."""

from __future__ import annotations

import json
import logging
import uuid

import pytest
from opentelemetry.sdk.trace import TracerProvider

from kit.logging import REDACTED, configure_logging, get_logger, redact, scrub_text

PHONE = "13800138000"
ID_NUMBER = "11010119900307123X"
JWT = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJtZW1iZXJzLzQyIn0.c2lnbmF0dXJlLXBhcnQtXw"


@pytest.fixture
def lines(capsys: pytest.CaptureFixture[str]):
    """Configure logging for a test and return a function reading the JSON lines written so far."""
    configure_logging("test-svc", level="INFO", fmt="json")
    capsys.readouterr()

    def read() -> list[dict]:
        out = capsys.readouterr().out
        raw = [line for line in out.split("\n") if line]
        return [json.loads(line) for line in raw]

    yield read
    configure_logging("test-svc", level="INFO", fmt="json")


def test_one_json_object_per_line_with_standard_fields(lines, capsys) -> None:
    log = get_logger("peony.test")
    log.info("member.registered", tenant="spa-1", count=3)
    try:
        raise RuntimeError("boom\nsecond line")
    except RuntimeError:
        log.exception("handler.failed")
    logging.getLogger("alembic.runtime").warning("upgrade %s -> %s", "a1", "b2")

    records = lines()
    assert len(records) == 3
    first, second, third = records
    assert first["event"] == "member.registered"
    assert first["level"] == "info"
    assert first["service"] == "test-svc"
    assert first["logger"] == "peony.test"
    assert first["tenant"] == "spa-1" and first["count"] == 3
    assert first["timestamp"].endswith("Z") and "T" in first["timestamp"]
    assert "trace_id" not in first  # no active span

    assert second["level"] == "error"
    assert "RuntimeError: boom" in second["exception"]
    assert "Traceback" in second["exception"]

    # standard-library records go through the same renderer
    assert third == third | {"event": "upgrade a1 -> b2", "level": "warning", "logger": "alembic.runtime"}
    assert third["service"] == "test-svc" and "timestamp" in third


def test_multiline_exception_still_one_line(lines, capsys) -> None:
    try:
        raise ValueError("a\nb\nc")
    except ValueError:
        logging.getLogger("peony.stdlib").exception("failed")
    out = capsys.readouterr().out
    assert out.count("\n") == 1
    record = json.loads(out)
    assert "ValueError: a\nb\nc" in record["exception"]


def test_levels_and_noisy_libraries(lines) -> None:
    logging.getLogger("sqlalchemy.engine.Engine").info("SELECT 1")
    logging.getLogger("grpc._server").info("noise")
    logging.getLogger("nats.aio.client").info("noise")
    get_logger("peony.x").debug("hidden at INFO")
    logging.getLogger("grpc._server").warning("kept")
    assert [r["event"] for r in lines()] == ["kept"]

    configure_logging("test-svc", level="DEBUG")
    get_logger("peony.x").debug("shown at DEBUG")
    logging.getLogger("sqlalchemy.engine.Engine").info("still hidden")
    assert [r["event"] for r in lines()] == ["shown at DEBUG"]

    configure_logging("test-svc", level="WARNING")
    get_logger("peony.x").info("hidden at WARNING")
    assert lines() == []


def test_configure_is_idempotent(lines) -> None:
    configure_logging("test-svc")
    configure_logging("test-svc")
    handlers = [h for h in logging.getLogger().handlers if getattr(h, "_peony", False)]
    assert len(handlers) == 1
    get_logger().info("once")
    assert [r["event"] for r in lines()] == ["once"]


def test_trace_and_span_ids_inside_a_span(lines) -> None:
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("work") as span:
        get_logger("peony.test").info("inside")
        logging.getLogger("peony.stdlib").warning("stdlib inside")
        ctx = span.get_span_context()
    get_logger("peony.test").info("outside")

    inside, stdlib_inside, outside = lines()
    for record in (inside, stdlib_inside):
        assert record["trace_id"] == format(ctx.trace_id, "032x")
        assert record["span_id"] == format(ctx.span_id, "016x")
    assert "trace_id" not in outside and "span_id" not in outside


def test_sensitive_keys_redacted_at_any_depth(lines) -> None:
    member_id = uuid.UUID("0b7e2a38-4e7f-4c1e-9a3b-413800138000")
    get_logger("peony.test").info(
        "member.updated",
        phone="+86 138 0013 8000",
        Mobile="x",
        id_number=ID_NUMBER,
        birthday="1990-03-07",
        password="hunter2",
        pin="1234",
        authorization="Bearer abc",
        access_token="opaque",
        clientSecret="s",
        member={
            "name": "Li Na",
            "phoneNumber": "anything",
            "contacts": [{"mobile": "y", "relation": "mother"}, {"note": f"call {PHONE}"}],
        },
        amount_minor=100000,
        member_no="M00000042",
        member_id=member_id,
        shipping="express",
    )
    (record,) = lines()
    for key in ("phone", "Mobile", "id_number", "birthday", "password", "pin", "authorization"):
        assert record[key] == REDACTED, key
    assert record["access_token"] == REDACTED and record["clientSecret"] == REDACTED
    assert record["member"]["name"] == "Li Na"
    assert record["member"]["phoneNumber"] == REDACTED
    assert record["member"]["contacts"][0] == {"mobile": REDACTED, "relation": "mother"}
    assert record["member"]["contacts"][1] == {"note": f"call {REDACTED}"}
    # not over-redacted
    assert record["amount_minor"] == 100000
    assert record["member_no"] == "M00000042"
    assert record["member_id"] == str(member_id)
    assert record["shipping"] == "express"


def test_pii_scrubbed_from_messages_and_exception_text(lines, capsys) -> None:
    log = get_logger("peony.test")
    log.info(f"sms to {PHONE} for id {ID_NUMBER} with {JWT}")
    try:
        raise ValueError(f"duplicate phone {PHONE}; header Bearer {JWT}")
    except ValueError:
        log.exception("register.failed", detail=f"id={ID_NUMBER}")
    logging.getLogger("peony.stdlib").error("lookup %s failed", "+44 20 7946 0958")

    raw = capsys.readouterr().out
    for secret in (PHONE, ID_NUMBER, JWT, "7946 0958"):
        assert secret not in raw
    message, failure, stdlib = (json.loads(line) for line in raw.splitlines())
    assert message["event"] == f"sms to {REDACTED} for id {REDACTED} with {REDACTED}"
    assert failure["detail"] == f"id={REDACTED}"
    assert f"ValueError: duplicate phone {REDACTED}; header Bearer {REDACTED}" in failure["exception"]
    assert stdlib["event"] == f"lookup {REDACTED} failed"


@pytest.mark.parametrize(
    "text",
    [
        PHONE,
        "138-0013-8000",
        "138 0013 8000",
        "+86 138 0013 8000",
        "+8613800138000",
        "+1-415-555-0199",
        f"手机号{PHONE}",
        ID_NUMBER,
        "110101199003071234",
        JWT,
        "Bearer Zm9vYmFyYmF6cXV4",
    ],
)
def test_scrub_text_catches(text: str) -> None:
    scrubbed = scrub_text(f"value: {text}.")
    assert REDACTED in scrubbed
    assert not any(ch.isdigit() for ch in scrubbed.replace("Bearer", "")), scrubbed


@pytest.mark.parametrize(
    "text",
    [
        "100000",
        "amount 1380013800 minor units",  # 10 digits
        "0b7e2a38-4e7f-4c1e-9a3b-413800138000",
        "4bf92f3577b34da6a3ce929d0e0e4736",
        "M00000042",
        "members/13800138000abc",
        "2024-01-15T10:00:00+08:00",
        "UTC+8 2024-01-15 10:00",
        "order 1234567890123456789",  # 19-digit snowflake id
        "the bearer of news",
    ],
)
def test_scrub_text_leaves_ordinary_values(text: str) -> None:
    assert scrub_text(text) == text


def test_redact_public_function_is_pure_and_recursive() -> None:
    original = {"user": {"Password": "p", "tags": ["vip", PHONE]}, "n": 5, "t": (PHONE, 1)}
    result = redact(original)
    assert result == {"user": {"Password": REDACTED, "tags": ["vip", REDACTED]}, "n": 5, "t": (REDACTED, 1)}
    assert original["user"]["Password"] == "p"  # input not mutated
    assert redact(f"Bearer {JWT}") == f"Bearer {REDACTED}"
    assert redact(100000) == 100000 and redact(None) is None


def test_console_format_for_local_development(capsys) -> None:
    try:
        configure_logging("test-svc", fmt="console")
        get_logger("peony.test").info("readable", phone=PHONE)
        out = capsys.readouterr().out
        assert "readable" in out and PHONE not in out and REDACTED in out
        with pytest.raises(ValueError):
            configure_logging("test-svc", fmt="xml")
    finally:
        configure_logging("test-svc")
