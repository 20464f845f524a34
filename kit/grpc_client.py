"""Client channels that retry without amplifying overload (gRPC service config, ``grpc.service_config``).

A retry is only safe and useful when the server did not do the work and is likely to succeed on
another attempt. :func:`retry_service_config` therefore retries ``UNAVAILABLE`` only (the server
was unreachable, restarting or draining), never ``RESOURCE_EXHAUSTED``: a server that sheds load
asks the caller to come back after its ``RetryInfo`` delay, and retrying at once is exactly the
storm it is refusing.

Why a retried mutation cannot apply twice: gRPC retries a call only while it is not *committed*,
i.e. before the client has received any response headers from a server. An ``UNAVAILABLE`` that
ends a committed call is not retried. And every Peony mutation carries a ``request_id``
(AIP-155) whose first outcome the server stores atomically with the effect, so even a replay
that did reach a server answers the original response.

``retryThrottling`` is the retry budget (gRPC A6): each failed attempt costs one token of
``max_tokens``, each success returns ``token_ratio``; retries stop while fewer than half the tokens
remain, so a backend that is down gets at most ~(1 + ratio of successes) attempts per call, not
``max_attempts`` times the offered load. The backoff between attempts is randomized by gRPC itself
(uniform in ``[0, current backoff]``), so retries of many clients do not synchronize.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["RETRYABLE_CODES", "retry_channel_options", "retry_service_config"]

RETRYABLE_CODES: tuple[str, ...] = ("UNAVAILABLE",)


def retry_service_config(
    *,
    max_attempts: int = 3,
    initial_backoff_s: float = 0.1,
    max_backoff_s: float = 1.0,
    backoff_multiplier: float = 2.0,
    max_tokens: int = 10,
    token_ratio: float = 0.1,
) -> str:
    """The JSON service config: retry ``UNAVAILABLE`` on every method, under a retry budget."""
    if not 2 <= max_attempts <= 5:  # gRPC caps maxAttempts at 5; 1 would be no retry policy at all
        raise ValueError("max_attempts must be between 2 and 5")
    config: dict[str, Any] = {
        "methodConfig": [
            {
                "name": [{}],  # every service and method of the channel
                "retryPolicy": {
                    "maxAttempts": max_attempts,
                    "initialBackoff": f"{initial_backoff_s:g}s",
                    "maxBackoff": f"{max_backoff_s:g}s",
                    "backoffMultiplier": backoff_multiplier,
                    "retryableStatusCodes": list(RETRYABLE_CODES),
                },
            }
        ],
        "retryThrottling": {"maxTokens": max_tokens, "tokenRatio": token_ratio},
    }
    return json.dumps(config, separators=(",", ":"))


def retry_channel_options(**kwargs: Any) -> list[tuple[str, Any]]:
    """Channel options enabling :func:`retry_service_config` (keyword arguments are passed to it).

    ``grpc.service_config_disable_resolution`` keeps this config authoritative: a DNS TXT record
    cannot replace it.
    """
    return [
        ("grpc.enable_retries", 1),
        ("grpc.service_config", retry_service_config(**kwargs)),
        ("grpc.service_config_disable_resolution", 1),
    ]
