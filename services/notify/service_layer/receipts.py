"""Delivery receipts: a provider's callback moves its messages from sent to delivered / failed.

The callback reaches notify through the gateway's public route; the provider's adapter verifies
its signature and parses it (``Provider.parse_receipt``) before anything is read or written, so a
forged, malformed or unsigned callback changes nothing. Receipts are matched to messages by
(provider, provider message id) — the one cross-tenant lookup — and each change is written with
its event (``MessageDelivered`` / ``MessageFailed``) in the message's tenant, in one transaction.
Repeated receipts are no-ops (a delivered message stays delivered).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from peony.notify.v1 import events_pb2
from sqlalchemy.ext.asyncio import AsyncEngine

from kit import auth
from kit.auth import Principal
from kit.db import retry_transaction, session_factory
from kit.errors import InvalidArgument, NotFound
from kit.logging import get_logger
from services.notify.adapters.providers.base import InvalidReceipt, ProviderRegistry, UnknownProvider
from services.notify.adapters.repository import find_by_provider_id, keep_early_receipt, lock_provider_ids
from services.notify.domain.message import STATE_SENT, Message
from services.notify.service_layer.handlers import channel_to_proto
from services.notify.service_layer.unit_of_work import SERVICE, NotifyUnitOfWork

log = get_logger("peony.notify.receipts")


def apply_receipt(
    uow: NotifyUnitOfWork, message: Message, status: str, reason: str | None, occurred_at: datetime
) -> bool:
    """Moves a sent message to delivered / failed and emits the event; False for a repeat."""
    if message.state != STATE_SENT:
        return False
    if status == "delivered":
        message.mark_delivered(occurred_at)
        event: Any = events_pb2.MessageDelivered(
            message=message.name,
            recipient=message.recipient,
            channel=channel_to_proto(message.channel),  # type: ignore[arg-type]
            trigger=message.trigger,
            provider=message.provider,
        )
    else:
        message.mark_failed(f"{message.provider}: {reason or 'undelivered'}")
        event = events_pb2.MessageFailed(
            message=message.name,
            recipient=message.recipient,
            channel=channel_to_proto(message.channel),  # type: ignore[arg-type]
            trigger=message.trigger,
            error=message.last_error,
        )
    uow.emit(event, aggregate_type="message", aggregate_id=message.message_id)
    return True


def authorize(caller: Principal) -> None:
    caller.require(auth.NOTIFY_RECEIPTS_RECORD)  # only the gateway's identity (receipt_forwarder)


class Receipts:
    def __init__(self, engine: AsyncEngine, registry: ProviderRegistry):
        self._sessions = session_factory(engine)
        self._registry = registry

    async def record(
        self,
        caller: Principal,
        provider_name: str,
        headers: Mapping[str, str],
        body: bytes,
        query: Mapping[str, str],
    ) -> tuple[int, tuple[str, bytes]]:
        """(receipts applied, the provider's expected answer)."""
        authorize(caller)
        try:
            provider = self._registry.by_name(provider_name)
        except UnknownProvider:
            raise NotFound(f"no provider {provider_name!r}", reason="UNKNOWN_PROVIDER") from None
        try:
            receipts = provider.parse_receipt(headers, body, query)
        except InvalidReceipt as exc:
            log.warning("notify.receipt_refused", provider=provider_name, error=str(exc)[:200])
            raise InvalidArgument([("body", str(exc)[:200])], reason="INVALID_RECEIPT") from None

        async def apply() -> int:
            applied = 0
            async with self._sessions() as session, session.begin():
                # Serialises with the dispatcher recording these sends (see dispatch._record_batch).
                await lock_provider_ids(session, [(r.provider, r.provider_message_id) for r in receipts])
                uows: dict[str, NotifyUnitOfWork] = {}
                for receipt in receipts:
                    found = await find_by_provider_id(session, receipt.provider, receipt.provider_message_id)
                    if found is None:
                        # Not recorded yet (the provider was faster than our commit) or not ours:
                        # kept, and applied when the send is recorded.
                        await keep_early_receipt(
                            session,
                            receipt.provider,
                            receipt.provider_message_id,
                            receipt.status,
                            receipt.reason or "",
                            receipt.occurred_at,
                        )
                        continue
                    tenant, message = found
                    uow = uows.setdefault(
                        tenant, NotifyUnitOfWork.joined(session, service=SERVICE, tenant=tenant)
                    )
                    if apply_receipt(uow, message, receipt.status, receipt.reason, receipt.occurred_at):
                        await uow.messages.save(message)
                        applied += 1
                for uow in uows.values():
                    await uow.commit()
            return applied

        return await retry_transaction(apply), provider.receipt_ack
