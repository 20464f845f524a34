"""What every service's gRPC servicer shares: mutations run once per request_id, reads in a
read-only unit of work, both for the calling tenant."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from google.protobuf.message import Message

from kit.auth import current_principal
from kit.idempotency import Idempotency
from kit.pagination import PageTokens
from kit.uow import UnitOfWork, UnitOfWorkFactory

R = TypeVar("R", bound=Message)
T = TypeVar("T")
U = TypeVar("U", bound=UnitOfWork)


class ServicerKit(Generic[U]):
    def __init__(self, uows: UnitOfWorkFactory[U], idempotency: Idempotency, page_tokens: PageTokens):
        self._uows = uows
        self._idem = idempotency
        self._tokens = page_tokens

    async def _mutate(
        self, method: str, request: Message, response_type: type[R], effect: Callable[[U], Awaitable[R]]
    ) -> R:
        """Runs `effect` once per (tenant, method, request_id); a retry replays the first response."""
        principal = current_principal()
        return await self._idem.run(
            self._uows,
            tenant=principal.tenant,
            caller=principal.binding(),
            method=method,
            request=request,
            response_type=response_type,
            effect=effect,
        )

    async def _recorded_response(self, method: str, request: Message, response_type: type[R]) -> R | None:
        """The stored response when this request (same id, same caller) already ran, else None:
        for a mutation that must check something outside its transaction first (e.g. that a card is
        still usable), so a retry of a call that succeeded replays instead of being refused."""
        principal = current_principal()
        key_hash = self._idem.key_hash(request, principal.binding())
        request_id: str = request.request_id  # type: ignore[attr-defined]

        async def lookup(uow: U) -> tuple[bytes, bytes] | None:
            return await self._idem.recorded(uow.session, principal.tenant, method, request_id)

        found = await self._uows.run(principal.tenant, lookup, read_only=True)
        if found is None:
            return None
        return self._idem.replay(principal.tenant, key_hash, found[0], found[1], response_type)

    async def _read(self, fn: Callable[[U], Awaitable[T]]) -> T:
        return await self._uows.run(current_principal().tenant, fn, read_only=True)
