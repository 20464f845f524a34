"""Delivery adapters ("sinks"): where a message goes when it is sent.

Development and tests use local sinks (a JSON-lines file, or the console); real SMS / e-mail /
WeChat / push providers will implement the same :class:`DeliverySink` protocol.

Exactly one delivery per message — why the sink must be idempotent by message id
-----------------------------------------------------------------------------------
The consumer handles an event in ONE database transaction: inbox row, message row, outbox row
(``MessageSent``). Delivery to the outside world cannot join that transaction, so there is an
unavoidable window: the sink write has happened but the commit has not (process killed, database
gone). The event is then redelivered, the transaction runs again — and would deliver again.

We close the window by identity instead of by ordering: the message id is deterministic
(UUIDv5 of tenant, trigger event, channel, recipient — see ``domain.message.message_id_for``), so
the re-run computes the *same* id, and every sink refuses to deliver an id it has already
delivered. :class:`FileSink` keeps the ids it wrote in memory (loaded from the file at start) and,
under an exclusive ``flock``, re-reads whatever other processes appended before it writes; each
line is flushed and ``fsync``-ed before ``deliver`` returns, so "written" survives a kill -9.
Hence: delivered ⇒ the line is on disk ⇒ any later attempt sees it and skips; and committed ⇒
the inbox row exists ⇒ no later attempt at all. Together: exactly one line per message.

Real providers get the message id as their idempotency / client-message id for the same effect
(most SMS gateways accept one); where a provider has none, the window is "at least once", which
is the best any provider without idempotent submission allows.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import sys
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol, TextIO

from kit.logging import get_logger

log = get_logger("peony.notify.sink")


@dataclass(frozen=True)
class Delivery:
    """What a provider needs to send one message."""

    message: str  # messages/{id}
    tenant: str
    recipient: str
    channel: str
    trigger: str
    trigger_event_id: str
    body: str
    sent_at: datetime

    def to_json_line(self) -> str:
        return json.dumps(
            {
                "message": self.message,
                "tenant": self.tenant,
                "recipient": self.recipient,
                "channel": self.channel,
                "trigger": self.trigger,
                "trigger_event_id": self.trigger_event_id,
                "body": self.body,
                "sent_at": self.sent_at.isoformat(),
            },
            ensure_ascii=False,
            separators=(",", ":"),
        )


class DeliveryError(Exception):
    """A delivery that did not happen. ``permanent``: retrying cannot help (e.g. invalid number);
    otherwise the event is retried with backoff by the consumer."""

    def __init__(self, message: str, *, permanent: bool = False):
        super().__init__(message)
        self.permanent = permanent


class DeliverySink(Protocol):
    async def deliver(self, delivery: Delivery) -> bool:
        """Send ``delivery``; True if sent now, False if this message was already delivered before.
        Raises :class:`DeliveryError` (or ``OSError``) when it could not be sent."""
        ...

    async def close(self) -> None: ...


class FileSink:
    """Appends one JSON line per delivered message to ``path``; never writes a message id twice."""

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)
        self._ids: set[str] = set()
        self._offset = 0  # how far into the file our id set is up to date
        self._lock = threading.Lock()
        self._alock = asyncio.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists() and not self.path.is_file():
            raise ValueError(f"notify sink {self.path} is not a regular file")
        # Open (and create) once to fail at start, not on the first message, when it is not writable.
        with self.path.open("a", encoding="utf-8"):
            pass
        with self._lock, self.path.open("rb") as fh:
            self._catch_up(fh)

    @property
    def delivered_ids(self) -> frozenset[str]:
        return frozenset(self._ids)

    def _catch_up(self, fh) -> bool:
        """Reads lines appended since ``self._offset``; returns whether the file ends with a newline.

        A torn last line (a crash mid-write, power loss) is not a delivery: it does not parse, so its
        id is not taken, and the next append starts on a fresh line.
        """
        fh.seek(self._offset)
        data = fh.read()
        complete = data.rfind(b"\n") + 1
        for raw in data[:complete].splitlines():
            try:
                self._ids.add(json.loads(raw)["message"])
            except (ValueError, KeyError, TypeError):
                log.warning("notify.sink_unreadable_line", path=str(self.path), offset=self._offset)
        self._offset += complete
        return complete == len(data)

    def _append(self, delivery: Delivery) -> bool:
        with self._lock, self.path.open("a+b") as fh:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)  # other processes sharing the file
            try:
                if delivery.message in self._ids:
                    return False
                ends_clean = self._catch_up(fh)
                if delivery.message in self._ids:
                    return False
                line = delivery.to_json_line().encode() + b"\n"
                if not ends_clean:
                    line = b"\n" + line
                fh.write(line)
                fh.flush()
                os.fsync(fh.fileno())
                self._offset = fh.tell()
                self._ids.add(delivery.message)
                return True
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)

    async def deliver(self, delivery: Delivery) -> bool:
        async with self._alock:
            if delivery.message in self._ids:
                return False
            return await asyncio.to_thread(self._append, delivery)

    async def close(self) -> None:
        return None


class ConsoleSink:
    """Prints one JSON line per delivered message (development). Skips ids it printed in this process;
    it has no memory across restarts, so after a crash in the window described above it may print
    a message again — use the file sink where that matters."""

    def __init__(self, stream: TextIO | None = None):
        self._stream = stream
        self._ids: set[str] = set()

    async def deliver(self, delivery: Delivery) -> bool:
        if delivery.message in self._ids:
            return False
        stream = self._stream or sys.stdout
        stream.write(delivery.to_json_line() + "\n")
        stream.flush()
        self._ids.add(delivery.message)
        return True

    async def close(self) -> None:
        return None


CONSOLE = "console"


def make_sink(spec: str) -> DeliverySink:
    """``console`` -> :class:`ConsoleSink`; anything else is the path of a :class:`FileSink`."""
    if spec == CONSOLE:
        return ConsoleSink()
    return FileSink(spec)
