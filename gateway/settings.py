"""The gateway's own settings (``PEONY_GATEWAY_*``), read from the service config and validated at start.

Deadlines of backend calls, by route class (a client's ``X-Request-Timeout`` can only shorten them):

PEONY_GATEWAY_READ_TIMEOUT_SECONDS       5     GET routes
PEONY_GATEWAY_WRITE_TIMEOUT_SECONDS      10    every other method (mutations)
PEONY_GATEWAY_LONG_TIMEOUT_SECONDS       30    the RPCs listed in PEONY_GATEWAY_LONG_RPCS
PEONY_GATEWAY_LONG_RPCS                  "peony.wallet.v1.WalletService/GetCommissionReport" and
                                         insights' QueryMetric and ExportMetric:
                                         comma-separated ``package.Service/Method`` names of reports
                                         and exports that may legitimately take long
PEONY_GATEWAY_HEALTH_INTERVAL_SECONDS    5     how often every backend's health is checked for the
                                               ``peony.gateway.backend.serving`` gauge (0: only
                                               when ``/readyz`` is asked)
PEONY_GATEWAY_RETRY_AFTER_SECONDS        1     ``Retry-After`` of a 429/503 from a backend that gave
                                               no ``RetryInfo``

Rate limits (token buckets in each gateway process; see gateway/ratelimit.py). ``*_RPS`` is the
sustained rate, ``*_BURST`` the bucket size; an RPS of 0 switches that limit off:

PEONY_GATEWAY_RATE_TENANT_RPS / _BURST       500 / 1000  per tenant (from a verified token)
PEONY_GATEWAY_RATE_TOKEN_RPS / _BURST        50 / 100    per bearer token
PEONY_GATEWAY_RATE_ANON_IP_RPS / _BURST      5 / 10      requests without a valid token, per client IP
PEONY_GATEWAY_RATE_ANON_TOTAL_RPS / _BURST   50 / 100    ... all of them together, per process
PEONY_GATEWAY_RATE_REPLICAS                  1     gateway replicas sharing the limits: each process
                                                   enforces RPS/replicas and BURST/replicas
PEONY_GATEWAY_RATE_MAX_KEYS                  10000 buckets kept per table (least recently used
                                                   dropped first)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from kit.config import ConfigError, ServiceConfig

__all__ = ["GatewaySettings", "RateLimit", "gateway_settings"]

DEFAULT_LONG_RPCS = (
    "peony.wallet.v1.WalletService/GetCommissionReport",
    # KPIs over years of facts, and their exports
    "peony.insights.v1.InsightsService/QueryMetric",
    "peony.insights.v1.InsightsService/ExportMetric",
)


@dataclass(frozen=True, slots=True)
class RateLimit:
    """A token bucket's refill rate (tokens per second) and size; ``rate == 0`` means no limit."""

    rate: float
    burst: float

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def per_replica(self, replicas: int) -> RateLimit:
        # Never below one token of burst: a bucket that can never hold a whole token refuses all.
        return RateLimit(self.rate / replicas, max(1.0, self.burst / replicas))


@dataclass(frozen=True)
class GatewaySettings:
    read_timeout_s: float = 5.0
    write_timeout_s: float = 10.0
    long_timeout_s: float = 30.0
    long_rpcs: frozenset[str] = frozenset(DEFAULT_LONG_RPCS)
    retry_after_s: int = 1
    health_interval_s: float = 5.0
    tenant_limit: RateLimit = RateLimit(500, 1000)
    token_limit: RateLimit = RateLimit(50, 100)
    anon_ip_limit: RateLimit = RateLimit(5, 10)
    anon_total_limit: RateLimit = RateLimit(50, 100)
    replicas: int = 1
    max_keys: int = 10_000

    def timeout_for(self, http_method: str, grpc_path: str) -> float:
        """The deadline of a route's backend call: its class's default."""
        if grpc_path.lstrip("/") in self.long_rpcs:
            return self.long_timeout_s
        if http_method == "GET":
            return self.read_timeout_s
        return self.write_timeout_s


def gateway_settings(config: ServiceConfig | None) -> GatewaySettings:
    """Settings from ``config.extra`` (every ``PEONY_GATEWAY_*`` variable); defaults without a config."""
    extra: Mapping[str, str] = getattr(config, "extra", None) or {}
    problems: list[str] = []

    def get(name: str) -> str:
        return (extra.get(name) or "").strip()

    def number(name: str, default: float, lo: float, hi: float, *, integer: bool = False) -> float:
        raw = get(name)
        if not raw:
            return default
        try:
            value = int(raw) if integer else float(raw)
        except ValueError:
            problems.append(f"{name}={raw!r} is not a number")
            return default
        if not lo <= value <= hi:  # also refuses nan
            problems.append(f"{name}={raw!r} must be between {lo:g} and {hi:g}")
            return default
        return value

    def limit(prefix: str, default: RateLimit) -> RateLimit:
        rate = number(f"{prefix}_RPS", default.rate, 0, 1_000_000)
        burst = number(f"{prefix}_BURST", max(default.burst, rate), 1, 10_000_000)
        return RateLimit(rate, burst)

    long_raw = get("PEONY_GATEWAY_LONG_RPCS")
    long_rpcs = frozenset(DEFAULT_LONG_RPCS)
    if long_raw:
        names = [n.strip().lstrip("/") for n in long_raw.split(",") if n.strip()]
        bad = [n for n in names if "/" not in n]
        if bad:
            problems.append(f"PEONY_GATEWAY_LONG_RPCS has names that are not package.Service/Method: {bad}")
        long_rpcs = frozenset(names)
    settings = GatewaySettings(
        read_timeout_s=number("PEONY_GATEWAY_READ_TIMEOUT_SECONDS", 5.0, 0.01, 600),
        write_timeout_s=number("PEONY_GATEWAY_WRITE_TIMEOUT_SECONDS", 10.0, 0.01, 600),
        long_timeout_s=number("PEONY_GATEWAY_LONG_TIMEOUT_SECONDS", 30.0, 0.01, 3600),
        long_rpcs=long_rpcs,
        retry_after_s=int(number("PEONY_GATEWAY_RETRY_AFTER_SECONDS", 1, 1, 3600, integer=True)),
        health_interval_s=number("PEONY_GATEWAY_HEALTH_INTERVAL_SECONDS", 5.0, 0, 3600),
        tenant_limit=limit("PEONY_GATEWAY_RATE_TENANT", RateLimit(500, 1000)),
        token_limit=limit("PEONY_GATEWAY_RATE_TOKEN", RateLimit(50, 100)),
        anon_ip_limit=limit("PEONY_GATEWAY_RATE_ANON_IP", RateLimit(5, 10)),
        anon_total_limit=limit("PEONY_GATEWAY_RATE_ANON_TOTAL", RateLimit(50, 100)),
        replicas=int(number("PEONY_GATEWAY_RATE_REPLICAS", 1, 1, 1000, integer=True)),
        max_keys=int(number("PEONY_GATEWAY_RATE_MAX_KEYS", 10_000, 10, 10_000_000, integer=True)),
    )
    if problems:
        raise ConfigError(problems)
    return settings
