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

Load that spreads (every Peony client channel is built by :func:`client_channel_options`): an
HTTP/2 channel to one address sticks to one server for its whole life, so a replica the
autoscaler adds would get no traffic. Clients therefore resolve every address of the backend
(:func:`client_target`: ``dns:///wallet:50052`` on a headless Kubernetes Service, or an
``ipv4:`` list from ``peony up --replicas``) and spread calls over them with the ``round_robin``
policy; client-side health checking (``grpc.health.v1.Health/Watch``) takes a replica out of the
rotation as soon as it reports NOT_SERVING (it drains on SIGTERM), and keepalive pings find a
replica that vanished without closing its connections. Servers close connections after
``PEONY_GRPC_MAX_CONNECTION_AGE_MS`` (kit/grpc_server.py), and every close makes the client
resolve again: new replicas join within that age.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

__all__ = [
    "LB_POLICIES",
    "RETRYABLE_CODES",
    "ClientChannelSettings",
    "client_channel_options",
    "client_target",
    "error_reason",
    "retry_channel_options",
    "retry_service_config",
]

# `pick_first` is the opt-out: one connection per channel, as gRPC does by default.
LB_POLICIES = ("round_robin", "pick_first")
_SCHEMES = ("dns:", "ipv4:", "ipv6:", "unix:", "unix-abstract:", "xds:")


@dataclass(frozen=True)
class ClientChannelSettings:
    """How every service-to-service channel balances and keeps its connections alive.

    PEONY_GRPC_LB_POLICY               round_robin  or pick_first
    PEONY_GRPC_CLIENT_HEALTH_CHECK     on           skip replicas whose health is NOT_SERVING
    PEONY_GRPC_KEEPALIVE_TIME_MS       20000        ping an idle or busy connection this often ...
    PEONY_GRPC_KEEPALIVE_TIMEOUT_MS    10000        ... and drop it when the ping is not answered
    PEONY_GRPC_MAX_RECONNECT_BACKOFF_MS 1000        longest wait between attempts to reach a replica
                                                    that went away (gRPC's default is 120 s: a
                                                    restarted replica would wait that long for
                                                    traffic, and a rolling restart could take
                                                    every replica out of the rotation at once).
                                                    Unlike pick_first, round_robin does not try a
                                                    lost replica again when a call comes: only on
                                                    this schedule (a refused connect costs little)
    """

    lb_policy: str = "round_robin"
    health_check: bool = True
    keepalive_time_ms: int = 20_000
    keepalive_timeout_ms: int = 10_000
    max_reconnect_backoff_ms: int = 1_000


def client_target(addr: str) -> str:
    """The gRPC target for a ``PEONY_<SVC>_ADDR`` value, resolving to every replica.

    ``host:port`` becomes ``dns:///host:port`` (all A/AAAA records: a headless Service lists
    every ready pod); ``host1:p1,host2:p2`` (``peony up --replicas``) becomes an ``ipv4:`` list;
    a target that already names its scheme (``dns:``, ``ipv4:``, ``unix:`` ...) is kept.
    """
    addr = addr.strip()
    if addr.startswith(_SCHEMES):
        return addr
    if "," in addr:
        return "ipv4:" + ",".join(part.strip() for part in addr.split(",") if part.strip())
    return f"dns:///{addr}"


def _service_config(settings: ClientChannelSettings, retries: dict[str, Any] | None) -> str:
    config: dict[str, Any] = {"loadBalancingConfig": [{settings.lb_policy: {}}]}
    if settings.health_check:
        # gRFC A17: the channel watches each replica's health and picks only SERVING ones.
        config["healthCheckConfig"] = {"serviceName": ""}
    if retries is not None:
        config.update(json.loads(retry_service_config(**retries)))
    return json.dumps(config, separators=(",", ":"))


def client_channel_options(
    settings: ClientChannelSettings | None = None,
    *,
    retries: dict[str, Any] | None = None,
    max_message_bytes: int | None = None,
) -> list[tuple[str, Any]]:
    """Channel options of a balanced service-to-service channel (see the module docstring).

    ``retries``: keyword arguments of :func:`retry_service_config` to retry ``UNAVAILABLE`` in
    the channel (the gateway); None for clients that retry by themselves under their own budget.
    """
    settings = settings or ClientChannelSettings()
    options: list[tuple[str, Any]] = [
        ("grpc.service_config", _service_config(settings, retries)),
        ("grpc.service_config_disable_resolution", 1),  # a DNS TXT record cannot replace it
        ("grpc.keepalive_time_ms", settings.keepalive_time_ms),
        ("grpc.keepalive_timeout_ms", settings.keepalive_timeout_ms),
        # Idle connections are pinged too: a replica that vanished is noticed before a call needs it.
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.max_pings_without_data", 0),
        ("grpc.initial_reconnect_backoff_ms", min(100, settings.max_reconnect_backoff_ms)),
        ("grpc.max_reconnect_backoff_ms", settings.max_reconnect_backoff_ms),
    ]
    if retries is not None:
        # Without a policy gRPC still retries transparently (a call that never reached a server,
        # e.g. one refused by a draining replica's GOAWAY): never switched off.
        options.append(("grpc.enable_retries", 1))
    if max_message_bytes is not None:
        options += [
            ("grpc.max_send_message_length", max_message_bytes),
            ("grpc.max_receive_message_length", max_message_bytes),
        ]
    return options


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


def error_reason(err: Any) -> str:
    """The ErrorInfo reason of a failed call's rich status (a ``grpc.aio.AioRpcError``; '' when it
    has none): how a service tells one refusal of another's from the next."""
    from google.rpc import error_details_pb2, status_pb2

    raw = dict(err.trailing_metadata() or ()).get("grpc-status-details-bin")
    if not raw:
        return ""
    try:
        info = error_details_pb2.ErrorInfo()
        for detail in status_pb2.Status.FromString(raw).details:
            if detail.Unpack(info):
                return info.reason
    except Exception:  # a malformed detail reads as no reason
        return ""
    return ""
