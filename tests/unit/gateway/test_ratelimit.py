from __future__ import annotations

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from gateway.ratelimit import BucketTable, RateLimiter, Refusal, TenantOfToken
from gateway.settings import GatewaySettings, RateLimit
from kit.auth import TokenVerifier, mint_dev_token
from kit.config import load_config

OFF = RateLimit(0, 1)


def _limiter(reader: InMemoryMetricReader | None = None, **limits) -> RateLimiter:
    settings = GatewaySettings(
        **{"tenant_limit": OFF, "token_limit": OFF, "anon_ip_limit": OFF, "anon_total_limit": OFF, **limits}
    )
    provider = MeterProvider(metric_readers=[reader]) if reader else None
    return RateLimiter(settings, meter_provider=provider)


def test_bucket_refills_at_its_rate_up_to_its_burst():
    table = BucketTable(RateLimit(2, 3), max_keys=10)
    for _ in range(3):
        bucket, wait = table.refill("a", now=100.0)
        assert wait == 0
        bucket[0] -= 1
    _, wait = table.refill("a", now=100.0)
    assert wait == 0.5  # one token at 2/s
    bucket, wait = table.refill("a", now=100.5)
    assert wait == 0 and bucket[0] == 1.0
    bucket, _ = table.refill("a", now=1000.0)
    assert bucket[0] == 3.0  # never above the burst


def test_bucket_table_keeps_at_most_max_keys_least_recently_used_first_out():
    table = BucketTable(RateLimit(1, 1), max_keys=3)
    for key in "abc":
        table.refill(key, now=0.0)
    table.refill("a", now=0.0)  # a is used again: b is now the oldest
    table.refill("d", now=0.0)
    assert len(table) == 3
    assert list(table._buckets) == ["c", "a", "d"]


def test_tenant_and_token_limits_and_retry_after():
    limiter = _limiter(tenant_limit=RateLimit(1, 2), token_limit=RateLimit(0.5, 1))
    assert limiter.admit(tenant="t", token="x", client="ip", now=0.0) is None
    # Token x is empty: refused by the token bucket, and the tenant bucket keeps its token.
    assert limiter.admit(tenant="t", token="x", client="ip", now=0.0) == Refusal("token", 2)
    assert limiter.admit(tenant="t", token="y", client="ip", now=0.0) is None
    assert limiter.admit(tenant="t", token="z", client="ip", now=0.0) == Refusal("tenant", 1)
    assert limiter.admit(tenant="u", token="z", client="ip", now=0.0) is None


def test_anonymous_requests_draw_on_their_own_buckets():
    limiter = _limiter(
        tenant_limit=RateLimit(1, 1), anon_ip_limit=RateLimit(1, 1), anon_total_limit=RateLimit(1, 2)
    )
    assert limiter.admit(tenant=None, token=None, client="1.1.1.1", now=0.0) is None
    assert limiter.admit(tenant=None, token=None, client="1.1.1.1", now=0.0) == Refusal("anonymous", 1)
    assert limiter.admit(tenant=None, token=None, client="2.2.2.2", now=0.0) is None
    assert limiter.admit(tenant=None, token=None, client="3.3.3.3", now=0.0) == Refusal("anonymous", 1)
    assert limiter.admit(tenant="t", token="x", client="3.3.3.3", now=0.0) is None


def test_limits_are_divided_among_replicas():
    settings = GatewaySettings(tenant_limit=RateLimit(10, 4), replicas=2)
    limiter = RateLimiter(settings)
    results = [limiter.admit(tenant="t", token=f"k{i}", client="", now=0.0) for i in range(3)]
    assert results[:2] == [None, None]
    assert results[2] == Refusal("tenant", 1)


def test_refusals_are_counted_per_tenant_and_limit():
    reader = InMemoryMetricReader()
    limiter = _limiter(reader, tenant_limit=RateLimit(1, 1), anon_total_limit=RateLimit(1, 1))
    for _ in range(3):
        limiter.admit(tenant="t", token="x", client="", now=0.0)
    for _ in range(2):
        limiter.admit(tenant=None, token=None, client="", now=0.0)
    points = {
        tuple(sorted(p.attributes.items())): p.value
        for rm in reader.get_metrics_data().resource_metrics
        for sm in rm.scope_metrics
        for m in sm.metrics
        if m.name == "peony.gateway.rate_limited"
        for p in m.data.data_points
    }
    assert points == {
        (("peony.rate_limit", "tenant"), ("peony.tenant", "t")): 2,
        (("peony.rate_limit", "anonymous"),): 1,
    }


def test_no_limits_no_verification():
    assert not _limiter().needs_principal
    assert _limiter(anon_ip_limit=RateLimit(1, 1)).needs_principal


class CountingVerifier(TokenVerifier):
    """The real verifier, counting the tokens it actually had to decode."""

    decoded = 0

    def _decode(self, token: str):
        self.decoded += 1
        return super()._decode(token)


def _tenant_of() -> TenantOfToken:
    verifier = CountingVerifier(load_config("gateway", environ={"PEONY_ENV": "test"}).auth)
    return TenantOfToken(verifier, max_keys=2, refused_ttl_s=10.0)


def test_tenant_only_from_a_verified_token_each_verified_once():
    tenant_of = _tenant_of()
    good = "Bearer " + mint_dev_token(tenant="t1", subject="u", roles=["front_desk"])
    forged = "Bearer " + mint_dev_token(tenant="t1", subject="u", roles=["hq_admin"], secret="f" * 40)
    assert [tenant_of(good, now=0.0) for _ in range(3)] == ["t1"] * 3
    assert [tenant_of(forged, now=0.0) for _ in range(3)] == [None] * 3
    assert tenant_of(forged, now=5.0) is None
    assert tenant_of.verifier.decoded == 2  # one each: the verifier caches good, we cache refused
    # A refusal is remembered for a while only, and only for so many tokens.
    assert tenant_of(forged, now=10.5) is None
    assert tenant_of.verifier.decoded == 3
    for junk in ("Bearer a", "Bearer b", "Bearer c"):
        tenant_of(junk, now=11.0)
    assert len(tenant_of._refused) == 2
