from __future__ import annotations

import json

import pytest

from gateway.settings import GatewaySettings, RateLimit, gateway_settings
from kit.config import ConfigError, load_config
from kit.grpc_client import retry_channel_options, retry_service_config


def _settings(**env: str) -> GatewaySettings:
    return gateway_settings(load_config("gateway", environ={"PEONY_ENV": "test", **env}))


def test_defaults_are_documented_values():
    s = _settings()
    assert (s.read_timeout_s, s.write_timeout_s, s.long_timeout_s) == (5.0, 10.0, 30.0)
    assert s.tenant_limit == RateLimit(500, 1000)
    assert s.token_limit == RateLimit(50, 100)
    assert s.retry_after_s == 1
    assert s.timeout_for("GET", "/peony.members.v1.MembersService/GetMember") == 5.0
    assert s.timeout_for("POST", "/peony.members.v1.MembersService/CreateMember") == 10.0
    assert s.timeout_for("GET", "/peony.wallet.v1.WalletService/GetCommissionReport") == 30.0


def test_overrides_and_rate_limit_off():
    s = _settings(
        PEONY_GATEWAY_READ_TIMEOUT_SECONDS="2.5",
        PEONY_GATEWAY_RATE_TENANT_RPS="0",
        PEONY_GATEWAY_RATE_TOKEN_RPS="500",
        PEONY_GATEWAY_LONG_RPCS="a.B/C, /d.E/F",
    )
    assert s.read_timeout_s == 2.5
    assert not s.tenant_limit.enabled
    assert s.token_limit == RateLimit(500, 500)  # burst defaults to at least one second's worth
    assert s.long_rpcs == frozenset({"a.B/C", "d.E/F"})


def test_per_replica_share_keeps_a_whole_token():
    assert RateLimit(100, 200).per_replica(4) == RateLimit(25, 50)
    assert RateLimit(1, 2).per_replica(4) == RateLimit(0.25, 1.0)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PEONY_GATEWAY_READ_TIMEOUT_SECONDS", "0"),
        ("PEONY_GATEWAY_WRITE_TIMEOUT_SECONDS", "soon"),
        ("PEONY_GATEWAY_RATE_TENANT_RPS", "-1"),
        ("PEONY_GATEWAY_RATE_TOKEN_BURST", "0.5"),
        ("PEONY_GATEWAY_RATE_REPLICAS", "1.5"),
        ("PEONY_GATEWAY_RETRY_AFTER_SECONDS", "0"),
        ("PEONY_GATEWAY_LONG_RPCS", "GetCommissionReport"),
    ],
)
def test_bad_values_stop_the_process_naming_the_variable(name, value):
    with pytest.raises(ConfigError) as info:
        _settings(**{name: value})
    assert name in str(info.value)


def test_retry_service_config_retries_unavailable_only_under_a_budget():
    config = json.loads(retry_service_config())
    (method,) = config["methodConfig"]
    assert method["name"] == [{}]
    assert method["retryPolicy"]["retryableStatusCodes"] == ["UNAVAILABLE"]
    assert method["retryPolicy"]["maxAttempts"] == 3
    assert config["retryThrottling"] == {"maxTokens": 10, "tokenRatio": 0.1}
    options = dict(retry_channel_options())
    assert options["grpc.enable_retries"] == 1
    assert json.loads(options["grpc.service_config"]) == config
    with pytest.raises(ValueError):
        retry_service_config(max_attempts=1)
