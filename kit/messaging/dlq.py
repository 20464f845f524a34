"""Dead letters: list, show, replay and purge what a service's consumers gave up on.

A consumer that cannot handle an event after ``max_deliver`` attempts copies it (data and headers,
plus ``Peony-Dlq-*`` headers saying who, why and from where) to ``peony.<service>.dlq.<durable>``
in the service's own stream, and terminates the original (:mod:`kit.messaging.consumer`). This
module is what ``peony dlq`` runs on.

**Replay** publishes the event again on its original subject, then deletes the dead letter. Every
consumer of that subject receives it again, and each one's inbox (``(consumer, event_id)``) makes
that harmless: a consumer that already applied the event only acks it; the one that dead-lettered
it applies it now (fix the cause first, or it dead-letters again). The republished copy gets its
own ``Nats-Msg-Id`` (``replay.<service>.<dead letter seq>``), so a replay that is repeated within
the stream's duplicate window, e.g. after a timeout, publishes once. A replayed event arrives
after newer events of its aggregate; Peony's projections are version-guarded, so an older state
never overwrites a newer one.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from datetime import datetime

import nats.js.errors
from google.protobuf.message import DecodeError
from nats.js import JetStreamContext
from peony.events.v1.envelope_pb2 import EventEnvelope

from kit.messaging.consumer import (
    HEADER_DLQ_CONSUMER,
    HEADER_DLQ_DELIVERIES,
    HEADER_DLQ_ORIGINAL_MSG_ID,
    HEADER_DLQ_REASON,
    HEADER_DLQ_STREAM,
    HEADER_DLQ_STREAM_SEQ,
    HEADER_DLQ_SUBJECT,
)
from kit.messaging.outbox import HEADER_MSG_ID
from kit.messaging.streams import dlq_subject, stream_name

__all__ = ["DeadLetter", "dead_letter", "dead_letters", "purge", "replay"]

_DLQ_HEADER_PREFIX = "peony-dlq-"


@dataclass(frozen=True)
class DeadLetter:
    seq: int
    """Sequence in the service's stream: what ``show``/``replay``/``purge`` take."""
    consumer: str
    reason: str
    deliveries: int
    original_subject: str
    original_stream: str
    original_seq: int
    original_msg_id: str
    dead_lettered_at: datetime | None
    size: int
    event_id: str = ""
    event_type: str = ""
    tenant: str = ""
    aggregate: str = ""
    data: bytes = field(default=b"", repr=False)
    headers: dict[str, str] = field(default_factory=dict, repr=False)


_NO_MESSAGE_FOUND = 10057  # JetStream's JSNoMessageFoundErr


async def _delete(js: JetStreamContext, service: str, seq: int) -> bool:
    """Delete a dead letter; False when it is already gone (e.g. a concurrent replay took it)."""
    try:
        return bool(await js.delete_msg(stream_name(service), seq))
    except nats.js.errors.NotFoundError:
        return False
    except nats.js.errors.APIError as exc:
        if exc.err_code == _NO_MESSAGE_FOUND:
            return False
        raise


def _subject_filter(service: str, consumer: str | None) -> str:
    return dlq_subject(service, consumer) if consumer else dlq_subject(service, "*")


def _parse(msg: nats.js.api.RawStreamMsg) -> DeadLetter:
    headers = dict(msg.headers or {})
    data = msg.data or b""
    envelope = EventEnvelope()
    with contextlib.suppress(DecodeError):  # an unparseable message was dead-lettered as such
        envelope = EventEnvelope.FromString(data)

    def number(key: str) -> int:
        try:
            return int(headers.get(key, "0"))
        except ValueError:
            return 0

    return DeadLetter(
        seq=int(msg.seq or 0),
        consumer=headers.get(HEADER_DLQ_CONSUMER, ""),
        reason=headers.get(HEADER_DLQ_REASON, ""),
        deliveries=number(HEADER_DLQ_DELIVERIES),
        original_subject=headers.get(HEADER_DLQ_SUBJECT, ""),
        original_stream=headers.get(HEADER_DLQ_STREAM, ""),
        original_seq=number(HEADER_DLQ_STREAM_SEQ),
        original_msg_id=headers.get(HEADER_DLQ_ORIGINAL_MSG_ID, ""),
        dead_lettered_at=msg.time,
        size=len(data),
        event_id=envelope.event_id,
        event_type=envelope.event_type,
        tenant=envelope.tenant,
        aggregate=f"{envelope.aggregate_type}/{envelope.aggregate_id}" if envelope.aggregate_type else "",
        data=data,
        headers=headers,
    )


async def dead_letters(
    js: JetStreamContext, service: str, *, consumer: str | None = None, limit: int = 100
) -> list[DeadLetter]:
    """The service's dead letters (of one consumer, or all), oldest first, at most ``limit``."""
    stream, subject = stream_name(service), _subject_filter(service, consumer)
    out: list[DeadLetter] = []
    seq = 1
    while len(out) < limit:
        try:
            msg = await js.get_msg(stream, seq, subject=subject, next=True)
        except nats.js.errors.NotFoundError:
            break
        out.append(_parse(msg))
        seq = int(msg.seq or seq) + 1
    return out


async def dead_letter(js: JetStreamContext, service: str, seq: int) -> DeadLetter | None:
    """The dead letter at ``seq`` of the service's stream; None if there is none (or not a dead letter)."""
    try:
        msg = await js.get_msg(stream_name(service), seq)
    except nats.js.errors.NotFoundError:
        return None
    if not (msg.subject or "").startswith(dlq_subject(service, "")):
        return None
    return _parse(msg)


async def replay(
    js: JetStreamContext, service: str, letter: DeadLetter, *, publish_timeout_s: float = 5.0
) -> None:
    """Publish ``letter`` again on its original subject, then delete it from the dead letters."""
    if not letter.original_subject:
        raise ValueError(f"dead letter {letter.seq} does not say which subject it came from")
    headers = {
        k: v
        for k, v in letter.headers.items()
        if not k.lower().startswith(_DLQ_HEADER_PREFIX) and not k.lower().startswith("nats-")
    }
    headers[HEADER_MSG_ID] = f"replay.{service}.{letter.seq}"
    await js.publish(letter.original_subject, letter.data, headers=headers, timeout=publish_timeout_s)
    await _delete(js, service, letter.seq)


async def purge(
    js: JetStreamContext, service: str, *, seq: int | None = None, consumer: str | None = None
) -> int:
    """Delete one dead letter (``seq``) or all of them (of one consumer); how many were deleted."""
    if seq is not None:
        if await dead_letter(js, service, seq) is None:
            return 0
        return 1 if await _delete(js, service, seq) else 0
    count = len(await dead_letters(js, service, consumer=consumer, limit=1_000_000))
    if count:
        await js.purge_stream(stream_name(service), subject=_subject_filter(service, consumer))
    return count
