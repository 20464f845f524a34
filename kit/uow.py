"""Unit of work: one database transaction that commits a change together with its events.

Handlers never commit by hand. They get a unit of work, change state through its repositories,
`emit()` integration events, and the unit of work writes those events to the outbox in the same
transaction on commit — so an event exists exactly when its change does.

An event consumer already has a transaction (its inbox row commits with the effect):
``SomeUnitOfWork.joined(session, ...)`` gives the same repositories and ``emit()`` on it, and its
``commit()`` only writes the emitted events to the outbox, leaving the commit to the consumer.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

from google.protobuf.message import Message
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kit.db import retry_transaction
from kit.messaging.envelope import new_envelope
from kit.messaging.outbox import add_all_to_outbox

T = TypeVar("T")
U = TypeVar("U", bound="UnitOfWork")

# (event, aggregate_type, aggregate_id) as emitted by a handler
Emitted = tuple[Message, str, str]
AfterCommit = Callable[[str, list[Emitted]], None]


class UnitOfWork:
    """Base class; services subclass it to attach their repositories in `_bind()`."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        service: str,
        tenant: str,
        after_commit: AfterCommit | None = None,
        **deps: Any,
    ):
        self._sessions = sessions
        self._after_commit = after_commit
        self.deps = deps
        self.service = service
        self.tenant = tenant
        self._pending: list[Emitted] = []
        self._joined = False
        self.session: AsyncSession
        # The AIP-155 request_id of the mutation this unit of work runs (set by `Idempotency`);
        # empty for reads and the service's own jobs. Records that name their request read it.
        self.request_id = ""
        # Its idempotency record, when an effect may write it itself (kit.idempotency).
        self.pending_response: Any = None
        # 0 on the first run; n on the n-th re-run after 40001/40P01 (e.g. a plan found stale: an
        # optimistic plan may re-plan under locks instead of hoping again).
        self.attempt = 0

    @classmethod
    def joined(cls: type[U], session: AsyncSession, *, service: str, tenant: str, **deps: Any) -> U:
        """A unit of work inside a transaction someone else began and will commit or roll back
        (an event consumer's). ``commit()`` writes the emitted events to the outbox in that
        transaction; no ``after_commit`` hook runs (the owner's commit is not this object's)."""
        uow = cls(None, service=service, tenant=tenant, **deps)  # type: ignore[arg-type]
        uow._joined = True
        uow.session = session
        uow._bind()
        return uow

    @property
    def is_joined(self) -> bool:
        """True for a unit of work made by :meth:`joined`: its ``commit()`` does not commit."""
        return self._joined

    def _bind(self) -> None:
        """Create repositories on `self.session` (using `self.deps`); override in subclasses."""

    async def __aenter__(self: U) -> U:
        if self._joined:
            return self
        self.session = self._sessions()
        await self.session.begin()
        self._pending = []
        self._bind()
        return self

    async def __aexit__(self, exc_type, exc, tb) -> None:
        if self._joined:
            return  # the owner of the transaction decides
        try:
            if self.session.in_transaction():
                await self.session.rollback()
        finally:
            await self.session.close()

    def emit(self, event: Message, *, aggregate_type: str, aggregate_id: str) -> None:
        self._pending.append((event, aggregate_type, aggregate_id))

    async def commit(self) -> None:
        committed, self._pending = self._pending, []
        await add_all_to_outbox(
            self.session,
            self.service,
            [
                new_envelope(
                    event, tenant=self.tenant, aggregate_type=aggregate_type, aggregate_id=aggregate_id
                )
                for event, aggregate_type, aggregate_id in committed
            ],
        )
        if self._joined:
            return
        await self.session.commit()
        if committed and self._after_commit is not None:
            # e.g. evict read caches at once, so this replica reads its own writes
            self._after_commit(self.tenant, committed)


class UnitOfWorkFactory(Generic[U]):
    """Makes units of work for one service; `deps` (e.g. the PII cipher) reach every one."""

    def __init__(
        self,
        cls: type[U],
        sessions: async_sessionmaker[AsyncSession],
        *,
        service: str,
        after_commit: AfterCommit | None = None,
        **deps: Any,
    ):
        self._cls = cls
        self._sessions = sessions
        self.service = service
        self._after_commit = after_commit
        self._deps = deps

    @property
    def deps(self) -> dict[str, Any]:
        """What every unit of work it makes is given (e.g. a pepper a caller also needs)."""
        return self._deps

    def __call__(self, tenant: str) -> U:
        return self._cls(
            self._sessions, service=self.service, tenant=tenant, after_commit=self._after_commit, **self._deps
        )

    async def run(self, tenant: str, fn: Callable[[U], Awaitable[T]], *, read_only: bool = False) -> T:
        """Runs `fn` in a fresh unit of work, committing on success, re-running on 40001/40P01."""

        attempts = 0

        async def attempt() -> T:
            nonlocal attempts
            async with self(tenant) as uow:
                uow.attempt, attempts = attempts, attempts + 1
                result = await fn(uow)
                if read_only:
                    await uow.session.rollback()
                else:
                    await uow.commit()
                return result

        return await retry_transaction(attempt)
