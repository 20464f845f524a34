"""Notify end to end against real PostgreSQL and NATS: MemberRegistered in, one welcome out."""

from __future__ import annotations

import asyncio
import uuid

import grpc
import pytest
from nats.js.api import DeliverPolicy
from peony.notify.v1 import events_pb2, message_pb2
from peony.notify.v1 import notify_service_pb2 as pb

from kit.messaging import EventEnvelope, unpack
from services.notify.domain.message import message_id_for
from tests.integration.notify.conftest import (
    NotifyUnderTest,
    auth,
    eventually,
    publish,
    registration,
)

pytestmark = pytest.mark.integration


def _tenant() -> str:
    return f"t-{uuid.uuid4().hex[:10]}"


def _by_event(lines: list[dict]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for line in lines:
        counts[line["trigger_event_id"]] = counts.get(line["trigger_event_id"], 0) + 1
    return counts


async def test_one_welcome_per_registration_even_when_the_event_arrives_twice(notify: NotifyUnderTest):
    tenant = _tenant()
    envelopes = [registration(tenant, display_name=f"会员{i}") for i in range(3)]
    for env in envelopes:
        await publish(notify.js, env)
    # The same event again under another NATS message id: the stream keeps both copies.
    await publish(notify.js, envelopes[0], msg_id=f"copy-{uuid.uuid4()}")
    await publish(notify.js, envelopes[1], msg_id=f"copy-{uuid.uuid4()}")

    await eventually(lambda: len(notify.lines(tenant)) >= 3, what="three welcomes")
    await asyncio.sleep(0.5)  # let the copies be handled too (they must not add lines)
    lines = notify.lines(tenant)
    assert _by_event(lines) == {env.event_id: 1 for env in envelopes}
    first = next(line for line in lines if line["trigger_event_id"] == envelopes[0].event_id)
    assert first["channel"] == "sms" and first["trigger"] == "welcome"
    assert first["body"].startswith("亲爱的会员0，欢迎加入！您的会员号 M")  # noqa: RUF001
    member = unpack_member(envelopes[0])
    assert first["recipient"] == member
    assert first["message"] == f"messages/{message_id_for(tenant, envelopes[0].event_id, 'sms', member)}"

    rows = await notify.rows(tenant)
    assert len(rows) == 3 and {r["state"] for r in rows} == {"sent"} and {r["attempts"] for r in rows} == {1}


def unpack_member(envelope: EventEnvelope) -> str:
    from peony.members.v1 import events_pb2 as members_events

    return unpack(envelope, members_events.MemberRegistered).member


async def test_messages_are_readable_over_grpc_and_tenant_scoped(notify: NotifyUnderTest):
    tenant = _tenant()
    envelopes = [registration(tenant) for _ in range(3)]
    for env in envelopes:
        await publish(notify.js, env)
    await eventually(lambda: len(notify.lines(tenant)) == 3, what="three welcomes")
    name = next(x["message"] for x in notify.lines(tenant) if x["trigger_event_id"] == envelopes[0].event_id)

    got = (await notify.stub.GetMessage(pb.GetMessageRequest(name=name), metadata=auth(tenant))).message
    assert got.name == name
    assert got.recipient == unpack_member(envelopes[0])
    assert got.channel == message_pb2.CHANNEL_SMS
    assert got.state == message_pb2.MESSAGE_STATE_SENT
    assert (got.trigger, got.trigger_event_id, got.locale, got.attempts) == (
        "welcome",
        envelopes[0].event_id,
        "zh-CN",
        1,
    )
    assert got.HasField("send_time") and got.HasField("create_time") and got.body.startswith("亲爱的")

    # Paging, newest first, two pages of 2 + 1.
    first = await notify.stub.ListMessages(pb.ListMessagesRequest(page_size=2), metadata=auth(tenant))
    assert len(first.messages) == 2 and first.next_page_token
    second = await notify.stub.ListMessages(
        pb.ListMessagesRequest(page_size=2, page_token=first.next_page_token), metadata=auth(tenant)
    )
    assert len(second.messages) == 1 and not second.next_page_token
    listed = [m.name for m in [*first.messages, *second.messages]]
    assert len(set(listed)) == 3
    times = [(m.create_time.ToDatetime(), m.name) for m in [*first.messages, *second.messages]]
    assert times == sorted(times, reverse=True)

    by_recipient = await notify.stub.ListMessages(
        pb.ListMessagesRequest(recipient=got.recipient, trigger="welcome"), metadata=auth(tenant)
    )
    assert [m.name for m in by_recipient.messages] == [name]

    # Another tenant sees nothing of it.
    other = _tenant()
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await notify.stub.GetMessage(pb.GetMessageRequest(name=name), metadata=auth(other))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    assert not (await notify.stub.ListMessages(pb.ListMessagesRequest(), metadata=auth(other))).messages
    # A page token is bound to its tenant and filters.
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await notify.stub.ListMessages(
            pb.ListMessagesRequest(page_size=2, page_token=first.next_page_token), metadata=auth(other)
        )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT

    for bad in ("messages/not-a-uuid", "members/x", ""):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await notify.stub.GetMessage(pb.GetMessageRequest(name=bad), metadata=auth(tenant))
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await notify.stub.ListMessages(pb.ListMessagesRequest(recipient="stores/s1"), metadata=auth(tenant))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await notify.stub.GetMessage(pb.GetMessageRequest(name=name), metadata=auth(tenant, ["beautician"]))
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await notify.stub.GetMessage(pb.GetMessageRequest(name=name))
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_message_sent_event_is_published(notify: NotifyUnderTest):
    tenant = _tenant()
    env = registration(tenant)
    sub = await notify.js.subscribe(
        "peony.notify.MessageSent",
        stream="PEONY_NOTIFY",
        ordered_consumer=True,
        deliver_policy=DeliverPolicy.NEW,
    )
    try:
        await publish(notify.js, env)
        while True:
            msg = await sub.next_msg(timeout=20)
            envelope = EventEnvelope.FromString(msg.data)
            if envelope.tenant == tenant:
                break
    finally:
        await sub.unsubscribe()
    sent = unpack(envelope, events_pb2.MessageSent)
    assert sent.trigger_event_id == env.event_id
    assert sent.recipient == unpack_member(env)
    assert sent.channel == message_pb2.CHANNEL_SMS and sent.trigger == "welcome"
    assert sent.message == notify.lines(tenant)[0]["message"]
    assert envelope.aggregate_type == "message" and msg.headers["Nats-Msg-Id"] == envelope.event_id
