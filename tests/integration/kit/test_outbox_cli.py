"""`peony outbox status|parked|show|retry` against a real database (and a relay that parked rows)."""

from __future__ import annotations

import json
import uuid

import pytest
from google.protobuf.wrappers_pb2 import StringValue
from nats.js import JetStreamContext
from sqlalchemy.ext.asyncio import AsyncEngine

from cli.main import _parser
from cli.outbox import run_outbox
from kit.db import session_factory
from kit.messaging import OutboxRelay, add_to_outbox, ensure_stream, new_envelope
from tests.integration.kit.helpers import outbox_rows, write_events

pytestmark = pytest.mark.integration


@pytest.fixture
async def parked(engine: AsyncEngine, js: JetStreamContext, service: str) -> list[str]:
    """Two rows parked by the relay (larger than their stream's 4 KiB limit), one published, one pending."""
    await ensure_stream(js, service, max_msg_size=4096)
    sessions = session_factory(engine)
    ids = []
    for aggregate in ("X", "Y"):
        env = new_envelope(
            StringValue(value="b" * 6000), tenant="t1", aggregate_type="thing", aggregate_id=aggregate
        )
        async with sessions() as session, session.begin():
            await add_to_outbox(session, service, env)
        ids.append(env.event_id)
    await write_events(engine, service, [("X", "published")])
    relay = OutboxRelay(engine, js, service, park_after=1)
    assert await relay.run_once() == 0  # both heads parked
    assert await relay.run_once() == 1  # X's next event flows
    await write_events(engine, service, [("Z", "pending")])
    return ids


async def cli(engine: AsyncEngine, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run `peony <argv>` for service members pointed at the test database; (rc, stdout, stderr)."""
    args = _parser().parse_args(list(argv))
    url = engine.url.render_as_string(hide_password=False)
    capsys.readouterr()
    rc = await run_outbox(args, {"PEONY_MEMBERS_DATABASE_URL": url})
    out, err = capsys.readouterr()
    return rc, out, err


async def test_status_and_parked_list(engine: AsyncEngine, parked: list[str], capsys) -> None:
    rc, out, _ = await cli(engine, capsys, "outbox", "status", "members", "--json")
    status = json.loads(out)
    assert rc == 0
    assert (status["pending"], status["parked"]) == (1, 2)
    assert 0 <= status["oldest_pending_age_s"] < 60 and status["oldest_pending_at"]

    rc, out, _ = await cli(engine, capsys, "outbox", "parked", "members", "--json")
    rows = json.loads(out)
    assert rc == 0
    assert [r["event_id"] for r in rows] == parked
    first = rows[0]
    assert first["event_type"] == "google.protobuf.StringValue"
    assert first["aggregate"] == "thing/X" and first["state"] == "parked"
    assert first["attempts"] == 1 and first["rejections"] == 1
    assert first["size"] > 6000 and "10054" in first["error"]

    rc, out, _ = await cli(engine, capsys, "outbox", "parked", "members")
    lines = out.splitlines()
    assert lines[0].split() == ["SEQ", "EVENT_ID", "EVENT_TYPE", "AGGREGATE", "ATTEMPTS", "SIZE", "ERROR"]
    assert [line.split()[1] for line in lines[1:]] == parked

    rc, out, _ = await cli(engine, capsys, "outbox", "status", "members")
    assert rc == 0 and "parked" in out and "pending" in out


async def test_show(engine: AsyncEngine, parked: list[str], capsys) -> None:
    rc, out, _ = await cli(engine, capsys, "outbox", "show", "members", parked[1], "--json")
    row = json.loads(out)
    assert rc == 0
    assert row["event_id"] == parked[1] and row["aggregate"] == "thing/Y" and row["state"] == "parked"
    assert row["tenant"] == "t1" and row["subject"].endswith(".StringValue") and row["parked_at"]
    assert row["headers"]["Nats-Msg-Id"] == parked[1]

    rc, _, err = await cli(engine, capsys, "outbox", "show", "members", str(uuid.uuid4()))
    assert rc == 1 and "no outbox event" in err
    rc, _, err = await cli(engine, capsys, "outbox", "show", "members", "not-an-id")
    assert rc == 2 and "not an event id" in err


async def test_retry_one_then_all(engine: AsyncEngine, parked: list[str], capsys) -> None:
    rc, out, _ = await cli(engine, capsys, "outbox", "retry", "members", parked[0])
    assert rc == 0 and "un-parked 1" in out
    by_id = {r["event_id"]: r for r in await outbox_rows(engine)}
    assert by_id[parked[0]]["parked_at"] is None and by_id[parked[0]]["rejections"] == 0
    assert by_id[parked[0]]["due_in_s"] <= 0  # the relay takes it at once
    assert by_id[parked[1]]["parked_at"] is not None

    rc, out, _ = await cli(engine, capsys, "outbox", "retry", "members", parked[0])
    assert rc == 1 and "nothing parked" in out

    rc, out, _ = await cli(engine, capsys, "outbox", "retry", "members", "--all", "--json")
    assert rc == 0 and json.loads(out) == {"unparked": 1}
    assert all(r["parked_at"] is None for r in await outbox_rows(engine))


async def test_needs_the_service_configuration(capsys) -> None:
    args = _parser().parse_args(["outbox", "status", "wallet"])
    assert await run_outbox(args, {}) == 2
    assert "PEONY_DATABASE_URL" in capsys.readouterr().err
