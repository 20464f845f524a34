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

# The timeout the caller set on a call, in whole milliseconds, sent beside gRPC's own `grpc-timeout`
# (which gRPC core consumes: a handler sees only the deadline core computed when the call arrived).
# With both, a server learns how long the call waited before its handler ran -- in gRPC core's queue
# of received-but-unrequested calls and the event loop, which no in-flight count sees -- as
# `budget - time_remaining()`: durations on each side, so no clock is compared across machines.
BUDGET_HEADER = "peony-timeout-ms"
# A budget header beyond this is ignored (a call that waited longer than any sane timeout is
# still bounded by its deadline; an absurd value must not make every call look queued).
MAX_BUDGET_MS = 24 * 3600 * 1000

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


def budget_metadata(timeout_s: float) -> tuple[str, str]:
    """The metadata entry a client adds to a call made with ``timeout_s``, so the server can tell
    how long the call queued before it ran (see ``waited``)."""
    return (BUDGET_HEADER, str(max(0, int(timeout_s * 1000))))


def waited(budget_ms: str | None, time_left: float | None) -> float | None:
    """Seconds a call spent between the caller sending it and its handler starting: the caller's
    timeout (``BUDGET_HEADER``) less what is left of it now; ``None`` when the caller sent no
    (valid) budget or the call has no deadline. Network transit is included -- it is small, and it
    is part of what the caller waits for anyway."""
    if budget_ms is None or time_left is None or len(budget_ms) > 12:
        return None
    if not (budget_ms.isascii() and budget_ms.isdigit()):
        return None
    budget = int(budget_ms)
    if budget > MAX_BUDGET_MS:
        return None
    return max(0.0, budget / 1000 - time_left)
