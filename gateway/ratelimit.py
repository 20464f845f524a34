"""Per-tenant and per-token rate limits at the gateway: token buckets, in process, before any backend.

One tenant's storm (a retry loop in a front-desk app, a campaign booking hundreds of appointments)
must not starve the other tenants. Every proxied request takes one token from each bucket that
applies, or is refused with 429 ``RATE_LIMITED`` and a ``Retry-After`` — before its body is read
and before any backend sees it:

- a request with a **verified** token (``kit.auth.TokenVerifier``, the services' own verifier, so a
  forged token naming tenant X cannot drain X's budget): its tenant's bucket and its token's bucket;
- any other request (no token, a malformed, expired or forged one): a small bucket per client IP
  and one shared by all of them, so unauthenticated floods cannot take the backends' capacity from
  tenants. Such requests still go to the backend, which answers 401 (the services keep verifying).

The buckets live in this process: with R gateway replicas behind a load balancer the effective
limit is R times the configured one, unless ``PEONY_GATEWAY_RATE_REPLICAS`` = R divides it. Each
table keeps at most ``max_keys`` buckets and drops the least recently used one beyond that (an idle
bucket refills to full anyway, so dropping it changes nothing). Behind a proxy the client IP is the
proxy's, so the per-IP bucket degrades to a second shared bucket; ``X-Forwarded-For`` is not
trusted (anyone can write it).

Cost per request: one or two ordered-dict lookups and a little float arithmetic; the token's
verification is a dict lookup after its first request (the verifier caches it until it expires).
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from opentelemetry import metrics

from gateway.settings import GatewaySettings, RateLimit
from kit.auth import TokenVerifier
from kit.errors import Unauthenticated

__all__ = ["BucketTable", "RateLimiter", "Refusal", "TenantOfToken"]

TENANT = "tenant"
TOKEN = "token"  # noqa: S105 - the name of a limit, not a secret
ANONYMOUS = "anonymous"


@dataclass(frozen=True, slots=True)
class Refusal:
    limit: str  # which bucket was empty: "tenant", "token" or "anonymous"
    retry_after_s: int  # whole seconds until it holds a token again (at least 1)


class BucketTable:
    """Token buckets by key: ``rate`` tokens per second up to ``burst``; least recently used dropped."""

    __slots__ = ("_buckets", "burst", "max_keys", "rate")

    def __init__(self, limit: RateLimit, max_keys: int):
        self.rate = limit.rate
        self.burst = limit.burst
        self.max_keys = max_keys
        self._buckets: OrderedDict[str, list[float]] = OrderedDict()  # key -> [tokens, refilled at]

    def __len__(self) -> int:
        return len(self._buckets)

    def refill(self, key: str, now: float) -> tuple[list[float], float]:
        """``key``'s bucket refilled up to ``now``, and the seconds until it holds a whole token."""
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = [self.burst, now]
            if len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
            bucket[0] = min(self.burst, bucket[0] + (now - bucket[1]) * self.rate)
            bucket[1] = now
        if bucket[0] >= 1.0:
            return bucket, 0.0
        return bucket, (1.0 - bucket[0]) / self.rate


class TenantOfToken:
    """The tenant of a request's ``Authorization`` header if its token verifies, else None.

    Verified tokens are cached by the verifier until they expire. Refused ones are remembered here
    for ``refused_ttl_s``: a client looping with an expired or forged token would otherwise cost a
    full verification (~150-200 µs of CPU) per request. Remembering a refusal is harmless — it
    only makes the request anonymous for the rate limits; the backend verifies it again.
    """

    def __init__(self, verifier: TokenVerifier, *, max_keys: int, refused_ttl_s: float = 10.0):
        self.verifier = verifier
        self.max_keys = max_keys
        self.refused_ttl_s = refused_ttl_s
        self._refused: OrderedDict[str, float] = OrderedDict()  # header -> refused until (monotonic)

    def __call__(self, authorization: str, now: float) -> str | None:
        until = self._refused.get(authorization)
        if until is not None:
            if until > now:
                return None
            del self._refused[authorization]
        try:
            return self.verifier.verify_header(authorization).tenant
        except Unauthenticated:
            self._refused[authorization] = now + self.refused_ttl_s
            if len(self._refused) > self.max_keys:
                self._refused.popitem(last=False)
            return None


class RateLimiter:
    """The gateway's limits (``PEONY_GATEWAY_RATE_*``), each divided among the configured replicas.

    Metric ``peony.gateway.rate_limited`` (counter): refused requests, with ``peony.rate_limit``
    (which bucket) and ``peony.tenant`` (verified tenants only; a tenant id is low-cardinality).
    """

    def __init__(self, settings: GatewaySettings, meter_provider: metrics.MeterProvider | None = None):
        def table(limit: RateLimit) -> BucketTable | None:
            if not limit.enabled:
                return None
            return BucketTable(limit.per_replica(settings.replicas), settings.max_keys)

        self.tenants = table(settings.tenant_limit)
        self.tokens = table(settings.token_limit)
        self.anonymous_ips = table(settings.anon_ip_limit)
        self.anonymous_total = table(settings.anon_total_limit)
        # Which bucket a request draws on depends on whether its token verifies; with every limit
        # off there is no reason to verify tokens at the gateway.
        self.needs_principal = any(
            t is not None for t in (self.tenants, self.tokens, self.anonymous_ips, self.anonymous_total)
        )
        meter = metrics.get_meter("peony.gateway", meter_provider=meter_provider)
        self._refused = meter.create_counter(
            "peony.gateway.rate_limited",
            unit="{request}",
            description="Requests refused by the gateway's rate limits (429 RATE_LIMITED)",
        )
        self._attrs: dict[tuple[str, str], dict[str, Any]] = {}

    def admit(
        self, *, tenant: str | None, token: str | None, client: str, now: float | None = None
    ) -> Refusal | None:
        """Take a token from each bucket that applies, or none of them and say why not.

        ``tenant`` only from a verified token (None otherwise: the request is anonymous); ``token``
        identifies that token (the ``Authorization`` header); ``client`` is the peer IP.
        """
        now = time.monotonic() if now is None else now
        if tenant is not None:
            checks = ((self.tenants, tenant, TENANT), (self.tokens, token or "", TOKEN))
        else:
            checks = ((self.anonymous_ips, client, ANONYMOUS), (self.anonymous_total, "", ANONYMOUS))
        taken: list[list[float]] = []
        for table, key, limit in checks:
            if table is None:
                continue
            bucket, wait = table.refill(key, now)
            if wait:
                self._count(limit, tenant)
                return Refusal(limit, max(1, math.ceil(wait)))
            taken.append(bucket)
        # Only once every bucket had a token: a request refused by one bucket costs the others nothing.
        for bucket in taken:
            bucket[0] -= 1.0
        return None

    def _count(self, limit: str, tenant: str | None) -> None:
        key = (limit, tenant or "")
        attrs = self._attrs.get(key)
        if attrs is None:
            attrs = {"peony.rate_limit": limit}
            if tenant:
                attrs["peony.tenant"] = tenant
            if len(self._attrs) < 4096:  # bounded like kit.telemetry's attribute caches
                self._attrs[key] = attrs
        self._refused.add(1, attrs)
