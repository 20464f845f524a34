"""`peony dlq list|show|replay|purge` against real NATS JetStream and a real consumer that dead-letters."""

from __future__ import annotations

import json
import uuid

import pytest
from google.protobuf.wrappers_pb2 import StringValue
from nats.js import JetStreamContext
from peony.events.v1.envelope_pb2 import EventEnvelope
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from cli.dlq import run_dlq
from cli.main import _parser
from kit.messaging import EventConsumer, ensure_stream, new_envelope, subject_for
from kit.messaging.envelope import unpack
from kit.messaging.streams import stream_name
from tests.integration.kit.helpers import eventually

pytestmark = pytest.mark.integration


class World:
    """A producer stream, one consumer (service ``<producer>c``) whose handler fails while ``broken``."""

    def __init__(self, engine: AsyncEngine, js: JetStreamContext, producer: str, nats_url: str) -> None:
        self.engine, self.js, self.producer, self.nats_url = engine, js, producer, nats_url
        self.service = f"{producer}c"
        self.subject = subject_for(producer, "google.protobuf.StringValue")
        self.broken = True
        self.applied: list[str] = []
        self.consumer = EventConsumer(
            engine,
            js,
            service=self.service,
            durable="worker",
            stream_service=producer,
            subjects=[self.subject],
            handler=self.handle,
            max_deliver=1,
            backoff=[0.1],
            fetch_timeout=0.5,
        )

    async def handle(self, session: AsyncSession, env: EventEnvelope) -> None:
        if self.broken:
            raise RuntimeError("cannot handle it yet")
        self.applied.append(unpack(env, StringValue).value)

    async def publish(self, value: str) -> EventEnvelope:
        env = new_envelope(StringValue(value=value), tenant="t1", aggregate_type="thing", aggregate_id=value)
        await self.js.publish(
            self.subject,
            env.SerializeToString(),
            headers={"Nats-Msg-Id": env.event_id, "Peony-Event-Type": env.event_type},
        )
        return env

    async def dead_count(self) -> int:
        return (await self.js.stream_info(stream_name(self.service))).state.messages

    async def cli(self, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
        args = _parser().parse_args(["dlq", *argv])
        capsys.readouterr()
        rc = await run_dlq(args, {"PEONY_NATS_URL": self.nats_url, "PEONY_ENV": "test"})
        # `peony dlq` itself logs only warnings (cli.dlq.run); in this test process the NATS
        # client's info lines are printed too: keep the command's own output.
        lines = capsys.readouterr().out.splitlines()
        return rc, "\n".join(line for line in lines if not line.startswith("20"))


@pytest.fixture
async def world(engine: AsyncEngine, js: JetStreamContext, service: str, infra, monkeypatch):
    # The CLI takes the service from its choices; dead letters are looked up in PEONY_<SERVICE>.
    await ensure_stream(js, service)
    w = World(engine, js, service, infra.nats_url)
    monkeypatch.setattr("cli.main.SERVICE_MODULES", {w.service: "unused"})
    await w.consumer.start()
    try:
        yield w
    finally:
        await w.consumer.stop()


async def test_list_show_replay_and_purge(world: World, capsys) -> None:
    first, second, third = [await world.publish(v) for v in ("a", "b", "c")]
    await eventually(lambda: _at_least(world, 3), within=60, what="three events dead-lettered")

    rc, out = await world.cli(capsys, "list", world.service, "--json")
    letters = json.loads(out)
    assert rc == 0
    assert [x["event_id"] for x in letters] == [first.event_id, second.event_id, third.event_id]
    assert {x["consumer"] for x in letters} == {"worker"}
    assert all(x["reason"].startswith("RuntimeError") and x["subject"] == world.subject for x in letters)

    rc, out = await world.cli(capsys, "show", world.service, str(letters[0]["seq"]), "--json")
    shown = json.loads(out)
    assert rc == 0 and shown["event_type"] == "google.protobuf.StringValue"
    assert shown["headers"]["Peony-Dlq-Consumer"] == "worker"

    # The cause is fixed: a replay applies the event once, and the dead letter is gone.
    world.broken = False
    rc, out = await world.cli(capsys, "replay", world.service, str(letters[0]["seq"]))
    assert rc == 0 and "replayed 1" in out
    await eventually(lambda: _applied(world, ["a"]), within=60, what="replayed event applied")
    assert await world.dead_count() == 2
    # Replaying the same seq again: nothing left to replay.
    rc, _ = await world.cli(capsys, "replay", world.service, str(letters[0]["seq"]))
    assert rc == 1

    # Purge one, then replay the rest with --all.
    rc, out = await world.cli(capsys, "purge", world.service, str(letters[1]["seq"]), "--json")
    assert (rc, json.loads(out)) == (0, {"purged": 1})
    rc, out = await world.cli(capsys, "replay", world.service, "--all", "--json")
    assert (rc, json.loads(out)) == (0, {"replayed": 1})
    await eventually(lambda: _applied(world, ["a", "c"]), within=60, what="c applied")
    rc, out = await world.cli(capsys, "list", world.service, "--json")
    assert (rc, json.loads(out)) == (0, [])
    assert sorted(world.applied) == ["a", "c"]  # "b" was purged, never applied


async def test_a_replay_is_applied_once_even_by_a_consumer_that_already_had_it(
    world: World, engine: AsyncEngine, capsys
) -> None:
    await world.publish("x")
    await eventually(lambda: _at_least(world, 1), within=60, what="dead-lettered")
    _, out = await world.cli(capsys, "list", world.service, "--json")
    (letter,) = json.loads(out)
    world.broken = False
    # Published twice in a row (an operator retrying after a timeout): one copy reaches the
    # stream (same Nats-Msg-Id), and the consumer's inbox would drop a second one anyway.
    from kit.messaging import dlq

    found = await dlq.dead_letter(world.js, world.service, letter["seq"])
    assert found is not None
    await dlq.replay(world.js, world.service, found)
    await dlq.replay(world.js, world.service, found)
    await eventually(lambda: _applied(world, ["x"]), within=60, what="x applied")
    async with engine.connect() as conn:
        query = text("SELECT count(*) FROM inbox WHERE event_id = :id")
        inbox = (await conn.execute(query, {"id": uuid.UUID(letter["event_id"])})).scalar()
    assert inbox == 1
    assert world.applied == ["x"]


async def test_bad_input_is_refused(world: World, capsys) -> None:
    rc, _ = await world.cli(capsys, "show", world.service, "999999")
    assert rc == 1
    with pytest.raises(SystemExit):
        _parser().parse_args(["dlq", "show", world.service, "-3"])
    with pytest.raises(SystemExit):
        _parser().parse_args(["dlq", "replay", world.service])  # a seq or --all is required


async def _at_least(world: World, n: int) -> bool:
    return await world.dead_count() >= n


async def _applied(world: World, values: list[str]) -> bool:
    return sorted(world.applied) == values
