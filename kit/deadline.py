"""The deadline of the RPC being served, for code that needs to know how much time is left.

The server interceptor (``kit.grpc_server``) sets it from the caller's gRPC deadline
(``context.time_remaining()``) before the handler runs; service-to-service clients
(``kit.service_auth.call_with_retries``) read it to pass the rest of it on. Work that is not
serving an RPC (consumers, jobs, the relay) has no deadline: ``remaining()`` is ``None``.

A contextvar, so each request's task (and whatever it awaits) sees its own deadline. The value is
an absolute ``time.monotonic()`` instant, so reading it costs a clock read and a subtraction.
"""

from __future__ import annotations

import time
from contextvars import ContextVar, Token

# A call with less than this left cannot do useful work (decoding, a transaction, the reply):
# the server answers DEADLINE_EXCEEDED without running it, and a client does not send it.
MIN_REMAINING_S = 0.005

_deadline: ContextVar[float | None] = ContextVar("peony_rpc_deadline", default=None)


def remaining() -> float | None:
    """Seconds left before the current RPC's deadline (may be negative), or ``None`` without one."""
    at = _deadline.get()
    return None if at is None else at - time.monotonic()


def expires_at() -> float | None:
    """The current RPC's deadline as a ``time.monotonic()`` instant, or ``None``."""
    return _deadline.get()


def set_deadline(seconds_left: float | None) -> Token[float | None]:
    """Start a deadline ``seconds_left`` from now (``None``: no deadline); undo with ``reset``."""
    return _deadline.set(None if seconds_left is None else time.monotonic() + seconds_left)


def reset(token: Token[float | None]) -> None:
    _deadline.reset(token)
