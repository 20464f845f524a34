"""Client-side retries that do not amplify an overload: a retry budget per target, jittered
exponential backoff, and the server's ``RetryInfo`` delay.

The budget is gRPC's ``retryThrottling`` (gRFC A6): each target starts with ``max_tokens``
tokens; every failed attempt (a retryable status, or the deadline) takes one, every success gives
back ``token_ratio``; a retry is allowed only while more than half the tokens are left. A healthy
target keeps its budget full; a target that keeps failing gets its retries cut to about
``token_ratio`` per call (10 % with the defaults) instead of multiplying the load by the number
of attempts — the retry storm that turns a slow service into a dead one.

Budgets are process-wide per target (``budget_for(target)``), like gRPC's per-channel throttle:
every client of the same service in a process spends from the same bucket.

The budget and client-side throttling (kit/throttle.py) each count once: the throttle counts every
attempt as it goes on the wire (in the channel's interceptor), the budget only the failures the
target answered. A call the throttle refused locally (``kit.throttle.ThrottledLocally``) is not a
failure of the target: it spends no token and is not retried (kit.service_auth.call_with_retries).
"""

from __future__ import annotations

import random

import grpc
from google.rpc import error_details_pb2, status_pb2

DEFAULT_MAX_TOKENS = 10.0
DEFAULT_TOKEN_RATIO = 0.1
MAX_BACKOFF_S = 2.0


class RetryBudget:
    """A token bucket that allows retries while more than half of it is left (gRFC A6)."""

    def __init__(self, max_tokens: float = DEFAULT_MAX_TOKENS, token_ratio: float = DEFAULT_TOKEN_RATIO):
        self.max_tokens = max_tokens
        self.token_ratio = token_ratio
        self.tokens = max_tokens

    def on_success(self) -> None:
        self.tokens = min(self.max_tokens, self.tokens + self.token_ratio)

    def on_failure(self) -> None:
        self.tokens = max(0.0, self.tokens - 1.0)

    def can_retry(self) -> bool:
        return self.tokens > self.max_tokens / 2


_budgets: dict[str, RetryBudget] = {}


def budget_for(target: str) -> RetryBudget:
    """The process's retry budget for calls to ``target`` (created full on first use)."""
    budget = _budgets.get(target)
    if budget is None:
        budget = _budgets[target] = RetryBudget()
    return budget


def backoff_delay(retry: int, base_s: float) -> float:
    """Wait before the ``retry``-th retry (1, 2, ...): ``base_s`` doubled each time, capped, with
    equal jitter (half fixed, half random) so clients that failed together do not retry together."""
    ceiling = min(MAX_BACKOFF_S, base_s * 2 ** (retry - 1))
    return ceiling / 2 + random.uniform(0, ceiling / 2)  # jitter, not security


def retry_info_delay(err: grpc.aio.AioRpcError) -> float | None:
    """The ``google.rpc.RetryInfo.retry_delay`` (s) in a failed call's rich status, if any."""
    raw = dict(err.trailing_metadata() or ()).get("grpc-status-details-bin")
    if not raw:
        return None
    try:
        details = status_pb2.Status.FromString(raw).details
    except Exception:  # a malformed detail reads as "no advice"
        return None
    info = error_details_pb2.RetryInfo()
    for detail in details:
        if detail.Is(info.DESCRIPTOR) and detail.Unpack(info):
            return info.retry_delay.ToTimedelta().total_seconds()
    return None
