"""What a request applied in one database call writes besides its own rows: its events' outbox rows
and its idempotency record, as JSON a database function inserts.

The hot paths (a booking, a checkout) plan in Python and apply the plan with one call to a PL/pgSQL
function; the outbox rows and the AIP-155 record go in that same call instead of two more
statements after it. The rows are exactly the ones :func:`kit.messaging.outbox.add_all_to_outbox`
and :class:`kit.idempotency.Idempotency` would write (binary columns base64-encoded: the function
decodes them with ``decode(..., 'base64')``), so the relay and a replay cannot tell them apart.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

from google.protobuf.message import Message

from kit.messaging.envelope import new_envelope
from kit.messaging.outbox import notify_channel, outbox_rows
from kit.uow import Emitted, UnitOfWork

__all__ = ["writes_for_one_call"]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def writes_for_one_call(
    uow: UnitOfWork, events: Sequence[Emitted], response: Message | None
) -> dict[str, Any]:
    """``{"outbox": [row, ...], "notify": channel}`` for `events` (in order), plus
    ``"idempotency": {...}`` recording `response` when `uow` runs an idempotent mutation — which
    then writes no record of its own. The events must not also be emitted on `uow`. Raises
    :class:`kit.messaging.outbox.EventTooLarge` before anything is written, as the outbox does."""
    envelopes = [
        new_envelope(event, tenant=uow.tenant, aggregate_type=aggregate_type, aggregate_id=aggregate_id)
        for event, aggregate_type, aggregate_id in events
    ]
    out: dict[str, Any] = {
        "outbox": [
            {
                **row,
                "event_id": str(row["event_id"]),
                "payload": _b64(row["payload"]),
            }
            for row in outbox_rows(uow.service, envelopes)
        ],
        "notify": notify_channel(uow.service),
    }
    if response is not None and uow.pending_response is not None:
        record = uow.pending_response.take(response)
        out["idempotency"] = {
            "method": record["method"],
            "request_id": record["request_id"],
            "request_hash": _b64(record["request_hash"]),
            "response": _b64(record["response"]),
        }
    return out
