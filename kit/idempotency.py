"""AIP-155 request ids: a mutation runs once per `(tenant, method, request_id)`.

The key row and the original response are written in the same transaction as the effect, so a
crash can never leave an effect without its key (or a key without its effect). A transaction-
scoped advisory lock on the key makes a concurrent duplicate fail fast with ABORTED instead of
queueing behind the first; once the first commits, retries replay its response.

A replay answers only the caller who made the first call (same subject, roles and store scope):
the stored key holds the request's hash followed by the caller's, and another caller presenting
the same request id is PERMISSION_DENIED — a replay must never hand a stored response to someone
the handler's own authorization would have refused. Keys written before the caller's hash was kept
(32 bytes) replay for any caller of the tenant, as they did.

An effect that applies its whole request in one database call may write the record itself, in
that call: the unit of work carries the record to write (`uow.pending_response`, a
:class:`PendingResponse`) and, once the effect took it, `run` writes nothing more.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from google.protobuf.message import Message
from sqlalchemy import MetaData, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from kit.crypto import PiiCipher
from kit.db import idempotency_table
from kit.errors import Aborted, InvalidArgument, PermissionDenied
from kit.ids import is_request_id
from kit.uow import UnitOfWork, UnitOfWorkFactory

R = TypeVar("R", bound=Message)
U = TypeVar("U", bound=UnitOfWork)


def request_fingerprint(request: Message) -> bytes:
    """Hash of the request without its request_id: what "the same request" means."""
    copy = type(request)()
    copy.CopyFrom(request)
    copy.ClearField("request_id")  # type: ignore[arg-type]
    return hashlib.sha256(copy.SerializeToString(deterministic=True)).digest()


def caller_fingerprint(caller: str) -> bytes:
    return hashlib.sha256(caller.encode()).digest()


def _lock_key(tenant: str, method: str, request_id: str) -> int:
    digest = hashlib.blake2b(f"{tenant}\x00{method}\x00{request_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


@dataclass
class PendingResponse:
    """The idempotency record of the mutation a unit of work runs, still to be written: the effect
    may take it (`take`) to write it in its own one-call apply, else `Idempotency.run` writes it."""

    tenant: str
    method: str
    request_id: str
    request_hash: bytes
    seal: Callable[[bytes], bytes]
    taken: bool = False

    def take(self, response: Message) -> dict:
        """The row (column -> value, the response sealed) recording `response`; the caller writes
        it in the same transaction as the effect."""
        self.taken = True
        return {
            "tenant_id": self.tenant,
            "method": self.method,
            "request_id": self.request_id,
            "request_hash": self.request_hash,
            "response": self.seal(response.SerializeToString()),
        }


class Idempotency:
    def __init__(self, cipher: PiiCipher, metadata: MetaData):
        self._cipher = cipher
        self._table = idempotency_table(metadata)

    @staticmethod
    def key_hash(request: Message, caller: str) -> bytes:
        """What the key row stores as ``request_hash``: the request's hash, then the caller's.
        Raises INVALID_ARGUMENT when the request has no valid request_id."""
        request_id: str = request.request_id  # type: ignore[attr-defined]
        if not request_id:
            raise InvalidArgument([("request_id", "is required on every mutation (a UUID is recommended)")])
        if not is_request_id(request_id):
            raise InvalidArgument([("request_id", "must be 1-64 characters of A-Z a-z 0-9 _ . : -")])
        return request_fingerprint(request) + caller_fingerprint(caller)

    def replay(
        self, tenant: str, key_hash: bytes, stored_hash: bytes, stored: bytes, response_type: type[R]
    ) -> R:
        """The recorded response of a request whose key exists (``stored_hash``, ``stored``: the
        row's columns), or the error when the id was used for another request or by another caller."""
        if stored_hash[:32] != key_hash[:32]:
            raise InvalidArgument(
                [("request_id", "was already used for a different request")],
                reason="REQUEST_ID_REUSED",
            )
        if len(stored_hash) > 32 and stored_hash[32:] != key_hash[32:]:
            raise PermissionDenied(
                "this request_id belongs to a request of another caller",
                reason="REQUEST_ID_OF_ANOTHER_CALLER",
            )
        return response_type.FromString(self._cipher.open(tenant, "idempotency", stored))

    async def recorded(
        self, session: AsyncSession, tenant: str, method: str, request_id: str
    ) -> tuple[bytes, bytes] | None:
        """The key row's (``request_hash``, ``response``) when the request was recorded."""
        table = self._table
        row = (
            await session.execute(
                select(table.c.request_hash, table.c.response).where(
                    table.c.tenant_id == tenant, table.c.method == method, table.c.request_id == request_id
                )
            )
        ).first()
        return (bytes(row.request_hash), bytes(row.response)) if row is not None else None

    def seal(self, tenant: str, response: Message) -> bytes:
        """The ``response`` column of a key row."""
        return self._cipher.seal(tenant, "idempotency", response.SerializeToString())

    async def run(
        self,
        uows: UnitOfWorkFactory[U],
        *,
        tenant: str,
        method: str,
        request: Message,
        caller: str,
        response_type: type[R],
        effect: Callable[[U], Awaitable[R]],
    ) -> R:
        request_id: str = request.request_id  # type: ignore[attr-defined]
        key_hash = self.key_hash(request, caller)
        table = self._table

        async def attempt(uow: U) -> R:
            session = uow.session
            locked = await session.scalar(
                select(func.pg_try_advisory_xact_lock(_lock_key(tenant, method, request_id)))
            )
            if not locked:
                raise Aborted(
                    "a request with this request_id is still being processed; retry shortly",
                    reason="REQUEST_IN_FLIGHT",
                )
            recorded = await self.recorded(session, tenant, method, request_id)
            if recorded is not None:
                return self.replay(tenant, key_hash, *recorded, response_type)
            uow.request_id = request_id
            uow.pending_response = pending = PendingResponse(
                tenant,
                method,
                request_id,
                key_hash,
                lambda data: self._cipher.seal(tenant, "idempotency", data),
            )
            response = await effect(uow)
            if pending.taken:  # written by the effect's own database call
                return response
            await session.execute(
                insert(table).values(
                    tenant_id=tenant,
                    method=method,
                    request_id=request_id,
                    request_hash=key_hash,
                    response=self.seal(tenant, response),
                )
            )
            return response

        return await uows.run(tenant, attempt)
