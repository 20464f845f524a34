"""kit.logging.hot_logger: the line get_logger().info writes, by a cheaper path (the access line)."""

from __future__ import annotations

import json
import logging

import pytest
import structlog
from opentelemetry.sdk.trace import TracerProvider

from kit.logging import REDACTED, configure_logging, get_logger, hot_logger

PHONE = "13800138000"


@pytest.fixture
def only_our_handler(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch):
    """The production set-up: configure_logging's stdout handler is the root's only handler
    (pytest's own capture handlers are set aside for the test, so the cheap path is the one taken)."""
    configure_logging("gateway", level="INFO", fmt="json")
    root = logging.getLogger()
    capsys.readouterr()

    def read() -> list[str]:
        # pytest adds its capture handlers to the root for the test's call phase, after this
        # fixture ran: set them aside on every read (which is also what the tests call first).
        monkeypatch.setattr(root, "handlers", [h for h in root.handlers if getattr(h, "_peony", False)])
        return [line for line in capsys.readouterr().out.split("\n") if line]

    yield read
    configure_logging("gateway", level="INFO", fmt="json")


def _pair(read, name: str, event: str, **fields):
    """The generic logger's line and the hot logger's line for the same call."""
    get_logger(name).info(event, **dict(fields))
    hot_logger(name).info(event, **dict(fields))
    generic, hot = (json.loads(line) for line in read())
    generic.pop("timestamp"), hot.pop("timestamp")
    return generic, hot


def test_same_line_as_the_generic_logger(only_our_handler) -> None:
    only_our_handler()
    assert hot_logger("peony.gateway")._sole_stdout_handler() is not None  # the cheap path is taken
    tracer = TracerProvider().get_tracer("test")
    structlog.contextvars.bind_contextvars(job="nightly")
    try:
        with tracer.start_as_current_span("request") as span:
            generic, hot = _pair(
                only_our_handler,
                "peony.gateway",
                "http.access",
                method="GET",
                route="/v1/{name=members/*}",
                status=200,
                duration_ms=1.25,
                trace_id="ab" * 16,
            )
            ctx = span.get_span_context()
    finally:
        structlog.contextvars.clear_contextvars()
    assert list(hot) == list(generic)  # same keys in the same order
    assert hot == generic
    assert hot["span_id"] == format(ctx.span_id, "016x") and hot["job"] == "nightly"
    assert hot["service"] == "gateway" and hot["logger"] == "peony.gateway" and hot["level"] == "info"


def test_redaction_is_kept(only_our_handler) -> None:
    only_our_handler()
    generic, hot = _pair(
        only_our_handler,
        "peony.gateway",
        "http.access",
        phone=PHONE,
        authorization="Bearer abcdefghijk",
        note=f"call {PHONE}",
        nested={"idNumber": "x", "ok": 1},
    )
    assert hot == generic
    assert hot["phone"] == REDACTED and hot["authorization"] == REDACTED
    assert hot["note"] == f"call {REDACTED}" and hot["nested"] == {"idNumber": REDACTED, "ok": 1}


def test_level_is_honoured(only_our_handler) -> None:
    configure_logging("gateway", level="WARNING", fmt="json")
    only_our_handler()
    hot_logger("peony.gateway").info("http.access", status=200)
    assert only_our_handler() == []


def test_any_other_handler_sees_the_line(only_our_handler) -> None:
    """With another handler on the root (an OTLP log exporter, a test's capture) the line goes
    through logging as usual, so that handler gets it too."""
    seen: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    keep = Keep()
    only_our_handler()
    logging.getLogger().addHandler(keep)
    try:
        hot_logger("peony.gateway").info("http.access", status=201)
    finally:
        logging.getLogger().removeHandler(keep)
    assert len(seen) == 1
    assert hot_logger("peony.gateway")._sole_stdout_handler() is not None  # back once it is gone
    (line,) = only_our_handler()
    assert json.loads(line)["status"] == 201  # and stdout still has it
